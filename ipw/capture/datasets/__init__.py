"""Datasets: where the questions of a run come from.

``BuiltinDataset`` ships with ipw; ``FileDataset`` reads local files and HF
``save_to_disk`` folders; ``IpwDataset`` reads the upstream format and needs
an LLM judge. ``prompt_for`` renders a record as a base-model completion prompt.
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
from .builtin import BuiltinDataset
from .files import FileDataset, IpwDataset

__all__ = [
    "SCORER_NAMES",
    "BuiltinDataset",
    "DatasetProvider",
    "DatasetRecord",
    "FileDataset",
    "IpwDataset",
    "format_choices",
    "prompt_for",
    "validate_record",
]
