"""The files under ``RUN/analysis/``: one JSON document per analysis, written deterministically.

They are derived and disposable: ``ipw replay`` rebuilds each from the ledger,
byte for byte (sorted keys, no timestamps of the replay itself). Each records
under ``"options"`` every option its analysis was computed with, defaults
included, so ``ipw ledger verify`` derives it again with those
(:mod:`ipw.reports.audit`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_atomic

__all__ = ["write_analysis", "dumps_result"]


def write_analysis(run_dir: Path, analysis_id: str, result: dict[str, Any]) -> Path:
    """Write ``RUN/analysis/<id>.json`` deterministically (sorted keys, no replay timestamps)."""
    directory = Path(run_dir) / "analysis"
    directory.mkdir(parents=True, exist_ok=True)
    # not durable: derived and disposable, ``ipw replay`` rebuilds it byte for byte
    return write_atomic(directory / f"{analysis_id}.json", dumps_result(result))


def dumps_result(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=True, allow_nan=False, default=_json_default) + "\n"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
