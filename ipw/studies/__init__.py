"""Studies: many runs as one experiment.

A study file (TOML) names shared settings (``[base]``) and the values to
sweep (``[matrix]``); every combination is one cell, every cell one ordinary
run under ``<output_dir>/<name>/runs/``. The modules, one idea each:

    spec           the TOML, its checks, the cells and their stable names
    keys           the study keys and the type each value must have
    redaction      a study's credentials: registered, and kept out of every file it writes
    state          study.json and its journal, what counts as a complete cell, one runner at a time
    runner         run the cells not yet complete (local executor), via ipw.api
    repeats        repeats = "auto": repeat a cell until its figure's interval is tight
    goodput        the goodput search: bisect a load level against an SLO target, and its study keys
    goodput_cells  search = "goodput" in a study: each cell's probes as runs, the cell as its chosen level
    ray_executor   the same as Ray tasks: placed by resources, one measured cell per node, packs verified
    report         one row per cell: accuracy (Wilson 95 %), IPW, IPJ, J/query, J/token, latency
    figures        accuracy vs J/query with the Pareto front, IPW vs each axis
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import build_report, format_report, study_rows, wilson_interval, write_csv, write_parquet
from .runner import EXECUTORS, StudyObserver, StudyOutcome, run_study
from .spec import Cell, StudySpec, cell_name, load_spec, parse_spec
from .state import StudyState, inspect_run

__all__ = [
    "EXECUTORS",
    "Cell",
    "StudyObserver",
    "StudyOutcome",
    "StudySpec",
    "StudyState",
    "build_report",
    "cell_name",
    "format_report",
    "inspect_run",
    "load_spec",
    "parse_spec",
    "run_study",
    "study_rows",
    "study_status",
    "wilson_interval",
    "write_csv",
    "write_parquet",
]


def study_status(study_dir: Path) -> list[dict[str, Any]]:
    """Every cell's recorded state, each checked against its ledger (nothing is written)."""
    state = StudyState.load(Path(study_dir))
    out = []
    for cell in state.cells:
        run = inspect_run(state.run_dir(cell["name"]))
        on_disk = {"complete": "completed", "partial": "partial", "absent": "not started"}[run.state]
        out.append({"name": cell["name"], "params": cell["params"], "status": cell["status"],
                    "on_disk": on_disk, "message": cell.get("message"), "head_hash": run.head_hash,
                    "run_dir": cell["run_dir"]})
    return out
