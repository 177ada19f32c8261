"""The per-benchmark leaderboards of the HTML report: one run's benchmarks, and a study's cells × benchmarks.

The numbers are the summary analysis's ``by_benchmark`` (accuracy with its
95 % Wilson interval, energy per query, IPW, IPJ; see
:mod:`ipw.analyses.benchmarks`). Every value cell carries the benchmark
(``data-benchmark``), its key (``data-key``) and exact value (``data-value``),
and in a study the cell (``data-cell``), so the page can be checked against
``summary.json``.
"""

from __future__ import annotations

from typing import Any

from . import html_page as h
from .labels import LABELS
from .study_table import StudyTable

__all__ = ["RUN_KEYS", "run_benchmarks", "study_benchmarks"]

RUN_KEYS = ("correct", "decided", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "mean_energy_per_query_j",
            "intelligence_per_watt", "intelligence_per_joule")


def _td(benchmark: str, key: str, value: Any, *, scope: str = "", text: str | None = None) -> str:
    data = h.esc(h.data_value(value))
    scoped = f' data-cell="{h.esc(scope)}"' if scope else ""
    return (f'<td class="num" data-benchmark="{h.esc(benchmark)}" data-key="{key}"{scoped} data-value="{data}" '
            f'data-sort="{data}">{h.esc(h.number_text(value) if text is None else text)}</td>')


def _decided(figures: dict[str, Any]) -> int:
    return int(figures.get("correct") or 0) + int(figures.get("incorrect") or 0)


def run_benchmarks(by_benchmark: dict[str, dict[str, Any]]) -> str:
    """One run's section: a row per benchmark, its accuracy with the interval, J/query, IPW and IPJ."""
    if not by_benchmark:
        return ""
    rows = []
    for name, figures in by_benchmark.items():
        values = {**figures, "decided": _decided(figures)}
        rows.append(f'<td data-field="benchmark" data-sort="{h.esc(name)}">{h.esc(name)}</td>'
                    + "".join(_td(name, key, values.get(key)) for key in RUN_KEYS))
    headers = ["Benchmark", *((LABELS[key], key) for key in RUN_KEYS)]
    return h.section("Accuracy by benchmark", '<p class="sub">accuracy over the decided answers with its 95% '
                     "Wilson interval; IPW divides by the run's mean power, IPJ by the benchmark's own energy per "
                     "query</p>" + h.table(headers, rows, sortable=True, table_id="benchmarks"),
                     section_id="benchmarks-section")


def _accuracy_text(figures: dict[str, Any] | None) -> str:
    if not figures or figures.get("accuracy") is None:
        return "—"
    low, high = figures.get("accuracy_ci_low"), figures.get("accuracy_ci_high")
    return f"{figures['accuracy']:.3g} [{low:.3g}–{high:.3g}] of {_decided(figures)}"


def study_benchmarks(table: StudyTable) -> str:
    """The study's leaderboard per benchmark: a row per cell, a column per benchmark's accuracy."""
    benchmarks = table.benchmarks
    if not benchmarks:
        return ""
    rows = []
    for row in table.rows:
        cells = "".join(_td(b, "accuracy", (row.by_benchmark.get(b) or {}).get("accuracy"), scope=row.cell,
                            text=_accuracy_text(row.by_benchmark.get(b))) for b in benchmarks)
        rows.append(f'<td data-field="benchmark-cell" data-sort="{h.esc(row.cell)}">{h.esc(row.cell)}</td>' + cells)
    headers = ["Cell", *(f"{b}: accuracy (fraction) [95% interval] of decided" for b in benchmarks)]
    return h.section("Accuracy by benchmark", '<p class="sub">each cell\'s accuracy on each benchmark over the '
                     "decided answers, with its 95% Wilson interval and the number it rests on</p>"
                     + h.table(headers, rows, sortable=True, table_id="benchmark-leaderboard"),
                     section_id="benchmark-leaderboard-section")
