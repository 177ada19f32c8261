"""The study table: one typed row per cell, computed here and nowhere else.

Every view of a study renders this table: the terminal (``ipw study
report``), ``report.json``, CSV, Parquet, the HTML leaderboard and the
DuckDB ``cells`` view (see :mod:`ipw.reports.study_outputs` and
:mod:`ipw.reports.html_study`). A row holds the cell's name, parameters and
status, then the columns of :data:`COLUMNS`, each declared once with its
label and unit:

- accuracy over the decided answers with its 95 % Wilson interval
  (:mod:`ipw.reports.study_stats`);
- intelligence per watt and per joule, mean power, joules per query and per
  output token, output tokens per joule, TTFT and end-to-end p50/p99,
  throughput, and the provenance of the energy numbers: the ``summary`` and
  ``latency`` analyses' own numbers, replayed from the cell's ledger;
- ``valid`` (yes, no or unknown) and ``validity_failures``: the summary's
  validity checks (:mod:`ipw.analyses.validity`), so a cell that fails one is flagged;
- ``joules_per_correct``: the run's total energy over its correct answers;
- for an agent's run, ``success_rate``, ``joules_per_task`` and
  ``joules_per_solved_task``: the summary's tasks block (:mod:`ipw.analyses.tasks`);
  None for a cell without tasks;
- for a study with ``search = "goodput"`` (:mod:`ipw.studies.goodput_cells`), the cell's row is
  the run at its chosen level: ``goodput_level`` (None when no level met the target), and, from the
  summary with the study's SLO, ``slo_attainment``, ``goodput_queries_per_s`` and
  ``joules_per_correct_within_slo`` (None for a study without an SLO);
- whether the cell is on the Pareto front of accuracy against joules per query;
- ``by_benchmark``: the summary's per-benchmark accuracy, interval, IPW and IPJ
  (the per-benchmark leaderboard; not a flat column).

A study that repeats its cells also gets ``repeats``: for each cell run more
than once, the mean, 95 % t-interval and CV of each headline figure across
its repeats (:mod:`ipw.reports.repeat_stats`). A repeat that ``repeats =
"auto"`` found it did not need (status ``not_needed``) has no run and no row.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import msgspec

from ..errors import BackendMissingError, UsageError
from ..replay.engine import RunView
from .labels import LABELS
from .repeat_stats import repeat_groups
from .study_file import cell_run_dir, read_study
from .study_stats import pareto_front, wilson_interval

__all__ = ["Column", "COLUMNS", "CellRow", "StudyTable", "NOTES", "cell_row", "study_table", "runs_table",
           "with_front"]


class Column(msgspec.Struct, frozen=True):
    """One metric column: its key, its label with a unit, its terminal heading, and its type."""

    name: str
    label: str
    short: str
    kind: str  # count, number or text
    from_summary: bool = False  # the value is the summary analysis's metric of the same name


def _column(name: str, short: str, kind: str = "number", *, from_summary: bool = False) -> Column:
    return Column(name, LABELS[name], short, kind, from_summary)


COLUMNS: tuple[Column, ...] = (
    _column("queries", "queries", "count"),
    _column("correct", "correct", "count", from_summary=True),
    _column("decided", "decided", "count"),
    _column("accuracy", "acc", from_summary=True),
    _column("accuracy_ci_low", "acc lo"),
    _column("accuracy_ci_high", "acc hi"),
    _column("intelligence_per_watt", "IPW 1/W", from_summary=True),
    _column("intelligence_per_joule", "IPJ 1/J", from_summary=True),
    _column("mean_power_w", "power W", from_summary=True),
    _column("mean_energy_per_query_j", "J/query", from_summary=True),
    _column("joules_per_correct", "J/correct"),
    _column("success_rate", "solved"),
    _column("joules_per_task", "J/task"),
    _column("joules_per_solved_task", "J/solved"),
    _column("joules_per_output_token", "J/token", from_summary=True),
    _column("output_tokens_per_joule", "tokens/J", from_summary=True),
    _column("ttft_p50_s", "TTFT p50 s", from_summary=True),
    _column("ttft_p99_s", "TTFT p99 s"),
    _column("e2e_p50_s", "e2e p50 s"),
    _column("e2e_p99_s", "e2e p99 s"),
    _column("throughput_tokens_per_s", "tokens/s", from_summary=True),
    _column("energy_provenance", "energy", "text"),
    _column("goodput_level", "goodput lvl", "count"),
    _column("slo_attainment", "SLO att"),  # the summary's, present only when it had an SLO
    _column("goodput_queries_per_s", "goodput q/s"),
    _column("joules_per_correct_within_slo", "J/correct in SLO"),
    _column("valid", "valid", "text"),
    _column("validity_failures", "failed checks", "text"),
)
NOTES = (
    "Accuracy 95% low/high: the Wilson score interval, 95 %, over the decided answers (correct + incorrect)",
    "Energy per output token: the summary's attributed joules over the output tokens; output tokens per joule "
    "is its inverse",
)


class CellRow(msgspec.Struct, frozen=True, kw_only=True):
    """One cell of the table; a cell with no run has its metrics as None."""

    cell: str
    params: dict[str, Any] = {}
    status: str = "completed"
    queries: int | None = None
    correct: int | None = None
    decided: int | None = None
    accuracy: float | None = None
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    intelligence_per_watt: float | None = None
    intelligence_per_joule: float | None = None
    mean_power_w: float | None = None
    mean_energy_per_query_j: float | None = None
    joules_per_correct: float | None = None
    success_rate: float | None = None  # an agent's run: tasks solved over tasks with an outcome
    joules_per_task: float | None = None
    joules_per_solved_task: float | None = None
    joules_per_output_token: float | None = None
    output_tokens_per_joule: float | None = None
    ttft_p50_s: float | None = None
    ttft_p99_s: float | None = None
    e2e_p50_s: float | None = None
    e2e_p99_s: float | None = None
    throughput_tokens_per_s: float | None = None
    energy_provenance: str | None = None
    goodput_level: int | None = None  # search = "goodput": the level this row's run was probed at, if it met the target
    slo_attainment: float | None = None
    goodput_queries_per_s: float | None = None
    joules_per_correct_within_slo: float | None = None
    valid: str | None = None  # yes / no / unknown: the summary's validity verdict
    validity_failures: str | None = None  # the failed checks, comma-separated
    on_pareto_front: bool = False
    by_benchmark: dict[str, dict[str, Any]] = {}  # the summary's by_benchmark: accuracy, interval, IPW, IPJ

    def value(self, name: str) -> Any:
        return getattr(self, name)


class StudyTable(msgspec.Struct, frozen=True):
    """The rows of a study in matrix order, its axes (parameter names) in the matrix's order, and its notes."""

    name: str | None
    axes: list[str]
    rows: list[CellRow]
    notes: list[str] = []
    repeats: list[dict[str, Any]] = []  # per cell run more than once: t-intervals and CV across its repeats

    @property
    def pareto_front(self) -> list[str]:
        return [r.cell for r in self.rows if r.on_pareto_front]

    @property
    def benchmarks(self) -> list[str]:
        """Every benchmark a cell answered, sorted: the columns of the per-benchmark leaderboard."""
        return sorted({b for r in self.rows for b in r.by_benchmark})


def cell_row(cell: str, params: dict[str, Any], status: str, view: RunView | None,
             options: dict[str, Any] | None = None) -> CellRow:
    """The row of one cell from its replayed run (``view``), or a row without metrics when it has none."""
    if view is None:
        return CellRow(cell=cell, params=params, status=status)
    from ..analyses.latency import LatencyProjection
    from ..analyses.summary import SummaryProjection

    latency = LatencyProjection().compute(view, {})
    summary = SummaryProjection().compute(view, dict(options or {}), latency=latency)
    metrics = summary["metrics"]
    m = {k: v["value"] for k, v in metrics.items()}
    correct, incorrect = m.get("correct") or 0, m.get("incorrect") or 0
    low, high = wilson_interval(correct, correct + incorrect)
    if view.problem is not None:
        status = f"{status} (ledger damaged: valid prefix)"
    return CellRow(
        cell=cell, params=params, status=status,
        queries=m.get("queries_measured"), correct=correct, decided=correct + incorrect,
        accuracy=m.get("accuracy"), accuracy_ci_low=low, accuracy_ci_high=high,
        joules_per_correct=m["total_energy_j"] / correct if correct and m.get("total_energy_j") is not None else None,
        ttft_p99_s=latency["ttft_s"]["p99"], e2e_p50_s=latency["e2e_s"]["p50"], e2e_p99_s=latency["e2e_s"]["p99"],
        energy_provenance=metrics["mean_energy_per_query_j"]["provenance"] if summary["energy_measured"]
        else "not measured",
        by_benchmark=summary.get("by_benchmark") or {},
        **{k: m.get(k) for k in ("slo_attainment", "goodput_queries_per_s", "joules_per_correct_within_slo")},
        **{k: (summary.get("tasks") or {}).get(k) for k in ("success_rate", "joules_per_task", "joules_per_solved_task")},
        valid={True: "yes", False: "no", None: "unknown"}[summary["validity"]["valid"]],
        validity_failures=", ".join(summary["validity"]["failures"]) or None,
        **{c.name: m.get(c.name) for c in COLUMNS if c.from_summary and c.name not in ("correct", "accuracy")},
    )


def with_front(rows: list[CellRow]) -> list[CellRow]:
    """The rows with ``on_pareto_front`` set: no other cell is at least as accurate for fewer joules."""
    placed = [i for i, r in enumerate(rows) if r.mean_energy_per_query_j is not None and r.accuracy is not None]
    front = {placed[k] for k in pareto_front([(rows[i].mean_energy_per_query_j, rows[i].accuracy)  # type: ignore[misc]
                                              for i in placed])}
    return [msgspec.structs.replace(r, on_pareto_front=i in front) for i, r in enumerate(rows)]


def _row_of_run(job: tuple[str, dict[str, Any], str, Path, dict[str, Any]]) -> CellRow:
    from ._metrics import load_views

    cell, params, status, run_dir, options = job
    recorded = (run_dir / "events").is_dir()
    return cell_row(cell, params, status, load_views([run_dir])[0] if recorded else None, options)


def study_table(study_dir: Path, options: dict[str, Any] | None = None) -> StudyTable:
    """The table of a study folder: every cell ``study.json`` lists, replayed from its run (if any)."""
    study_dir = Path(study_dir)
    study = read_study(study_dir)
    if not study.cells:
        raise UsageError(f"{study_dir / 'study.json'} lists no cells", hint="run the study first: ipw study run FILE")
    axes = list(study.axes)
    for cell in study.cells:
        axes.extend(k for k in cell.params if k not in axes)
    search = study.search if isinstance(study.search, dict) else {}
    if search.get("slo"):  # a searched study's rows are measured against its SLO
        options = {"slo": search["slo"], **(options or {})}
    shown = [c for c in study.cells if c.status != "not_needed"]
    jobs = [(c.name, dict(c.params), c.status, cell_run_dir(study_dir, c), dict(options or {})) for c in shown]
    rows = with_front([_with_level(r, c.goodput) for r, c in zip(_map(_row_of_run, jobs), shown)])
    notes = list(NOTES)
    try:
        repeats = repeat_groups(rows)
    except BackendMissingError as exc:  # the t quantile is scipy's: the table stands without the intervals
        repeats = []
        notes.append(f"no t-intervals across repeats: {exc.message}")
    return StudyTable(study.name, axes, rows, notes, repeats)


def _with_level(row: CellRow, goodput: Any) -> CellRow:
    """The row of a searched cell with the level its search chose."""
    level = goodput.get("level") if isinstance(goodput, dict) else None
    return msgspec.structs.replace(row, goodput_level=level) if isinstance(level, int) else row


def runs_table(views: list[RunView], labels: list[str], options: dict[str, Any] | None = None) -> StudyTable:
    """Runs already replayed, as the cells of an ad-hoc comparison (no parameters)."""
    rows = [cell_row(label, {}, "completed", view, options) for view, label in zip(views, labels)]
    return StudyTable(None, [], with_front(rows), list(NOTES))


PARALLEL_FROM_CELLS = 32  # below this, starting worker processes costs more than it saves


def _map(fn: Callable[[Any], CellRow], jobs: list[Any]) -> list[CellRow]:
    """``fn`` over every cell, on every core for a large study (each cell's replay is independent)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < PARALLEL_FROM_CELLS or workers < 2 or "fork" not in mp.get_all_start_methods():
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(fn, jobs, chunksize=max(1, len(jobs) // (workers * 8))))
