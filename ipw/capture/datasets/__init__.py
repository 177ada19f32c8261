"""Datasets: where the questions of a run come from.

``BuiltinDataset`` ships with ipw; ``FileDataset`` reads local files and HF
``save_to_disk`` folders; ``IpwDataset`` reads the upstream format and needs
an LLM judge. ``CATALOGUE`` names the benchmarks behind ``--dataset mmlu-pro``
and the others (``BenchmarkDataset``); ``HubDataset`` is ``hf:ORG/NAME`` and
``MixDataset`` a seeded ``mix:``. ``prompt_for`` renders a record as a
base-model completion prompt.
"""

from __future__ import annotations

from .base import (
    SCORER_NAMES,
    DatasetProvider,
    DatasetRecord,
    format_choices,
    prompt_for,
    validate_record,
)
from .benchmarks import BenchmarkDataset, HubDataset
from .builtin import BuiltinDataset
from .catalogue import CATALOGUE
from .files import FileDataset, IpwDataset
from .mix import MixDataset

__all__ = [
    "CATALOGUE",
    "SCORER_NAMES",
    "BenchmarkDataset",
    "BuiltinDataset",
    "DatasetProvider",
    "DatasetRecord",
    "FileDataset",
    "HubDataset",
    "IpwDataset",
    "MixDataset",
    "format_choices",
    "prompt_for",
    "validate_record",
]
