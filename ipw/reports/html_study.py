"""Reading a study folder for a report: its cells, their parameters and run folders.

A study folder (SPEC §9) holds ``study.json`` and ``runs/<cell run name>/``.
``study.json`` has ``cells``: a list of objects with the cell's name
(``name``, ``cell`` or ``id``), its parameters (``params`` or
``parameters``), its run folder (``run_dir`` or ``run``; relative paths are
taken from the study folder; default ``runs/<name>``) and its ``status``.
A cell whose run folder holds no ledger is reported as missing, not fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = ["StudyCell", "is_study", "study_cells", "cells_from_runs"]

_MAX_STUDY_JSON_BYTES = 64 * 1024 * 1024  # a study file is metadata; anything larger is not one


@dataclass(frozen=True)
class StudyCell:
    """One cell of a study: what it was run with and where its run lives."""

    name: str
    run_dir: Path
    params: dict[str, Any] = field(default_factory=dict)
    status: str | None = None
    problem: str | None = None  # why the cell cannot be reported, or None


def is_study(path: Path) -> bool:
    return (Path(path) / "study.json").is_file()


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if mapping.get(key) is not None:
            return mapping[key]
    return None


def study_cells(study_dir: Path) -> list[StudyCell]:
    """The cells listed in ``study_dir/study.json``, in file order."""
    path = Path(study_dir) / "study.json"
    if path.stat().st_size > _MAX_STUDY_JSON_BYTES:
        raise UsageError(f"{path} is larger than a study file can be", hint="check that it is the study's study.json")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid JSON ({exc})", hint="rerun 'ipw study run' to rewrite it") from None
    raw = doc.get("cells") if isinstance(doc, dict) else None
    if not isinstance(raw, list):
        raise UsageError(f"{path} has no list of cells", hint="rerun 'ipw study run' to rewrite it")
    cells = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        name = str(_first(item, "name", "cell", "id", "run_name") or f"cell-{index}")
        params = _first(item, "params", "parameters") or {}
        run = _first(item, "run_dir", "run", "run_folder") or f"runs/{name}"
        run_dir = Path(run) if Path(run).is_absolute() else Path(study_dir) / run
        problem = None if (run_dir / "events").is_dir() else f"no run recorded in {run_dir}"
        cells.append(StudyCell(name, run_dir, dict(params) if isinstance(params, dict) else {},
                               item.get("status"), problem))
    if not cells:
        raise UsageError(f"{path} lists no cells", hint="run the study first: ipw study run FILE")
    return cells


def cells_from_runs(run_dirs: list[Path], labels: list[str]) -> list[StudyCell]:
    """Plain run folders as the cells of an ad-hoc comparison."""
    return [StudyCell(label, Path(d)) for d, label in zip(run_dirs, labels)]
