"""The study report: ``report/report.json``, its figures, CSV, Parquet and the terminal table.

Every one of them renders the one study table,
:func:`ipw.reports.study_table.study_table` (one typed row per cell, replayed
from the cells' ledgers; its module docstring lists the columns). This
module only writes the files.

The report is derived and rebuilt byte for byte: sorted keys, no
timestamps, cells in matrix order, figures with fixed metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._atomic import atomic_path, write_atomic
from ..errors import BackendMissingError, UsageError
from ..reports.study_outputs import (arrow_table, csv_text, records, report_document, table_from_document,
                                     terminal_text)
from ..reports.study_stats import wilson_interval
from ..reports.study_table import StudyTable, study_table

__all__ = ["wilson_interval", "study_rows", "build_report", "write_csv", "write_parquet", "format_report"]


def study_rows(study_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The matrix axes, and one flat row per cell in ``study.json`` order."""
    table = study_table(Path(study_dir))
    return list(table.axes), records(table)


def build_report(study_dir: Path, *, figures: bool = True) -> dict[str, Any]:
    """Replay every cell, write ``report/report.json`` (and the figures); returns the report."""
    study_dir = Path(study_dir)
    table = study_table(study_dir)
    report = report_document(table)
    out_dir = study_dir / "report"
    out_dir.mkdir(exist_ok=True)
    write_atomic(out_dir / "report.json", json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n")
    if figures:
        from .figures import write_figures

        report["figures"] = [str(p) for p in write_figures(table, out_dir)]
    return report


def _table(report: dict[str, Any] | StudyTable) -> StudyTable:
    return report if isinstance(report, StudyTable) else table_from_document(report)


# The exports are not durable: each is rendered again from the cells' ledgers.
def write_csv(report: dict[str, Any] | StudyTable, path: Path) -> Path:
    return write_atomic(path, csv_text(_table(report)))


def write_parquet(report: dict[str, Any] | StudyTable, path: Path) -> Path:
    """One Parquet row per cell, for Spark or DuckDB over many studies."""
    pq = BackendMissingError.require("pyarrow.parquet", "Parquet export", "analysis")
    try:
        table = arrow_table(_table(report))
    except UsageError as exc:
        raise UsageError(f"the report cannot be written as Parquet: {exc.message}", hint="use --csv or --json") from exc
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def format_report(report: dict[str, Any] | StudyTable) -> str:
    """The comparison table for the terminal, with the Pareto front and the notes under it."""
    return terminal_text(_table(report))
