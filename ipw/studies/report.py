"""The study report: one row per cell, replayed from the cells' ledgers.

Each row holds the cell's parameters and status, then — for a cell whose
run exists — accuracy with its 95 % Wilson score interval (over the decided
answers), intelligence per watt and per joule, joules per query and per
output token, output tokens per joule, TTFT and end-to-end p50/p99,
throughput, and the provenance of the energy numbers. The numbers are the
``summary`` and ``latency`` analyses' own (one definition of each); joules
per output token is the attributed energy of the measured queries over
their output tokens.

The report is derived and rebuilt byte for byte: sorted keys, no
timestamps, cells in matrix order, figures with fixed metadata.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import BackendMissingError, UsageError
from .state import StudyState

__all__ = ["METRIC_COLUMNS", "WILSON_Z", "wilson_interval", "cell_metrics", "study_rows", "build_report",
           "write_csv", "write_parquet", "format_report"]

WILSON_Z = 1.959963984540054  # the 97.5th percentile of the standard normal: a two-sided 95 % interval
INTERVAL_NOTE = "accuracy_ci_low/high: Wilson score interval, 95 %, over the decided answers (correct + incorrect)"
METRIC_COLUMNS = (
    "queries", "correct", "decided", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
    "intelligence_per_watt", "intelligence_per_joule", "energy_j_per_query", "energy_j_per_output_token",
    "output_tokens_per_j", "ttft_p50_s", "ttft_p99_s", "e2e_p50_s", "e2e_p99_s", "throughput_tokens_per_s",
    "energy_provenance",
)


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion; (None, None) when there are no trials."""
    if trials <= 0:
        return None, None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # at 0 or n successes the bound is exactly 0 or 1; the formula leaves rounding noise there
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def cell_metrics(run_dir: Path) -> dict[str, Any]:
    """The report's numbers for one run, replayed from its ledger."""
    from ..analyses.latency import LatencyProjection
    from ..analyses.summary import SummaryProjection
    from ..replay import load_run

    view = load_run(run_dir)
    latency = LatencyProjection().compute(view, {})
    summary = SummaryProjection().compute(view, {}, latency=latency)
    m = {k: v["value"] for k, v in summary["metrics"].items()}
    correct, incorrect = m.get("correct") or 0, m.get("incorrect") or 0
    low, high = wilson_interval(correct, correct + incorrect)
    per_query_j, tokens = m.get("mean_energy_per_query_j"), latency["completion_tokens_total"]
    attributed_j = per_query_j * latency["queries"] if per_query_j is not None else None
    per_token_j = attributed_j / tokens if attributed_j is not None and tokens else None
    return {
        "queries": m.get("queries_measured"), "correct": correct, "decided": correct + incorrect,
        "accuracy": m.get("accuracy"), "accuracy_ci_low": low, "accuracy_ci_high": high,
        "intelligence_per_watt": m.get("intelligence_per_watt"),
        "intelligence_per_joule": m.get("intelligence_per_joule"),
        "energy_j_per_query": per_query_j, "energy_j_per_output_token": per_token_j,
        "output_tokens_per_j": 1.0 / per_token_j if per_token_j else None,
        "ttft_p50_s": latency["ttft_s"]["p50"], "ttft_p99_s": latency["ttft_s"]["p99"],
        "e2e_p50_s": latency["e2e_s"]["p50"], "e2e_p99_s": latency["e2e_s"]["p99"],
        "throughput_tokens_per_s": latency["throughput_tokens_per_s"],
        "energy_provenance": summary["metrics"]["mean_energy_per_query_j"]["provenance"]
        if summary["energy_measured"] else "not measured",
        "_damaged": view.problem is not None,
    }


def study_rows(study_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The matrix axes, and one row per cell in ``study.json`` order."""
    state = StudyState.load(study_dir)
    axes: list[str] = list(state.data.get("axes") or [])
    for cell in state.cells:
        axes.extend(k for k in cell["params"] if k not in axes)
    rows = []
    all_metrics = _map_cells(_metrics_if_recorded, [state.run_dir(c["name"]) for c in state.cells])
    for cell, metrics in zip(state.cells, all_metrics):
        row: dict[str, Any] = {"cell": cell["name"], **{a: cell["params"].get(a) for a in axes},
                               "status": cell["status"]}
        damaged = metrics.pop("_damaged", False)
        if damaged:
            row["status"] = f"{row['status']} (ledger damaged: valid prefix)"
        row.update({c: metrics.get(c) for c in METRIC_COLUMNS})
        rows.append(row)
    return axes, rows


def _metrics_if_recorded(run_dir: Path) -> dict[str, Any]:
    return cell_metrics(run_dir) if (run_dir / "events").is_dir() else {}


PARALLEL_FROM_CELLS = 32  # below this, starting worker processes costs more than it saves


def _map_cells(fn: Any, run_dirs: list[Path]) -> list[dict[str, Any]]:
    """``fn`` over every cell, on every core for a large study (each cell's replay is independent)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(run_dirs) < PARALLEL_FROM_CELLS or workers < 2 or "fork" not in mp.get_all_start_methods():
        return [fn(d) for d in run_dirs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(fn, run_dirs, chunksize=max(1, len(run_dirs) // (workers * 8))))


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: fewer joules per query and at least the accuracy."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return sorted(front)


def build_report(study_dir: Path, *, figures: bool = True) -> dict[str, Any]:
    """Replay every cell, write ``report/report.json`` (and the figures); returns the report."""
    study_dir = Path(study_dir)
    axes, rows = study_rows(study_dir)
    points = [(r["energy_j_per_query"], r["accuracy"]) for r in rows
              if r["energy_j_per_query"] is not None and r["accuracy"] is not None]
    named = [r["cell"] for r in rows if r["energy_j_per_query"] is not None and r["accuracy"] is not None]
    report = {
        "study": StudyState.load(study_dir).data.get("name"),
        "axes": axes,
        "columns": ["cell", *axes, "status", *METRIC_COLUMNS],
        "rows": rows,
        "pareto_front": [named[i] for i in pareto_front(points)],
        "notes": [INTERVAL_NOTE, "energy_j_per_output_token: attributed joules of the measured queries "
                                 "over their output tokens; output_tokens_per_j is its inverse"],
    }
    out_dir = study_dir / "report"
    out_dir.mkdir(exist_ok=True)
    _atomic_write(out_dir / "report.json", json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n")
    if figures:
        from .figures import write_figures

        report["figures"] = [str(p) for p in write_figures(report, out_dir)]
    return report


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_csv(report: dict[str, Any], path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=report["columns"], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow({k: ("" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else v)
                         for k, v in row.items()})
    _atomic_write(Path(path), buffer.getvalue())
    return Path(path)


def write_parquet(report: dict[str, Any], path: Path) -> Path:
    """One Parquet row per cell, for Spark or DuckDB over many studies."""
    pq = BackendMissingError.require("pyarrow.parquet", "Parquet export", "analysis")
    pa = BackendMissingError.require("pyarrow", "Parquet export", "analysis")
    columns = report["columns"]
    data = {c: [_scalar(r.get(c)) for r in report["rows"]] for c in columns}
    try:
        table = pa.table(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # an axis with mixed types: write it as text
        raise UsageError(f"the report cannot be written as Parquet: {exc}", hint="use --csv or --json") from exc
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def _scalar(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


_SHOWN = (("accuracy", "acc"), ("accuracy_ci_low", "lo"), ("accuracy_ci_high", "hi"),
          ("intelligence_per_watt", "IPW"), ("intelligence_per_joule", "IPJ"), ("energy_j_per_query", "J/query"),
          ("energy_j_per_output_token", "J/token"), ("output_tokens_per_j", "tokens/J"),
          ("ttft_p50_s", "TTFT p50 s"), ("ttft_p99_s", "TTFT p99 s"), ("e2e_p50_s", "e2e p50 s"),
          ("e2e_p99_s", "e2e p99 s"), ("throughput_tokens_per_s", "tok/s"), ("energy_provenance", "energy"))


def format_report(report: dict[str, Any]) -> str:
    """The comparison table for the terminal, with the notes under it."""
    from ..reports.tables import format_table

    headers = ["cell", *report["axes"], "status", *(label for _, label in _SHOWN)]
    keys = ["cell", *report["axes"], "status", *(key for key, _ in _SHOWN)]
    body = [[_scalar(r.get(k)) for k in keys] for r in report["rows"]]
    lines = [format_table(headers, body)]
    if report["pareto_front"]:
        lines.append(f"Pareto front (accuracy vs J/query): {', '.join(report['pareto_front'])}")
    lines.extend(f"note: {n}" for n in report["notes"])
    return "\n".join(lines)
