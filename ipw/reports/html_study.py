"""The HTML study page: the study table as a sortable leaderboard, and its Pareto figure.

The rows are :func:`ipw.reports.study_table.study_table`'s (or
:func:`~ipw.reports.study_table.runs_table`'s for three or more plain runs),
best intelligence per joule first; every cell carries its column's key
(``data-column``) and exact value (``data-value``), and a column that is the
summary analysis's own metric also carries ``data-metric``, so the page can be
checked against ``summary.json``, ``report.json`` and the ``cells`` view.
"""

from __future__ import annotations

from typing import Any

from . import html_page as h
from .html_benchmarks import study_benchmarks
from .labels import param_label
from .study_table import COLUMNS, Column, CellRow, StudyTable

__all__ = ["study_body"]


def _metric_td(column: Column, row: CellRow) -> str:
    value = getattr(row, column.name)
    if column.name == "energy_provenance":
        return f'<td data-column="{column.name}" data-value="{h.esc(value or "")}">{h.badge(value)}</td>'
    if column.name in ("valid", "validity_failures"):  # a cell that fails a validity check is flagged
        flag = ' class="invalid"' if row.valid == "no" else ""
        return (f'<td{flag} data-column="{column.name}" data-value="{h.esc(h.data_value(value))}">'
                f'{h.esc(value or "")}</td>')
    attrs = f'data-column="{column.name}" data-value="{h.esc(h.data_value(value))}"'
    if column.from_summary:
        attrs += f' data-metric="{column.name}" data-scope="{h.esc(row.cell)}"'
    return f'<td class="num" {attrs} data-sort="{h.esc(h.data_value(value))}">{h.esc(h.number_text(value))}</td>'


def _row(table: StudyTable, row: CellRow) -> str:
    css = ' class="front"' if row.on_pareto_front else ""
    return (
        f'<td{css} data-field="cell" data-sort="{h.esc(row.cell)}">{h.esc(row.cell)}'
        + ("&nbsp;★" if row.on_pareto_front else "") + "</td>"
        + "".join(h.value_cell(row.params.get(a), field=f"param.{a}", css="") for a in table.axes)
        + f'<td data-column="status" data-value="{h.esc(row.status)}">{h.esc(row.status)}</td>'
        + "".join(_metric_td(c, row) for c in COLUMNS)
    )


def _best_first(row: CellRow) -> tuple[bool, float]:
    ipj = row.intelligence_per_joule
    return (ipj is None, -(ipj or 0.0))


def leaderboard(table: StudyTable) -> str:
    headers: list[Any] = ["Cell", *(param_label(a) for a in table.axes), "Status",
                          *((c.label, c.name) for c in COLUMNS)]
    body = [_row(table, r) for r in sorted(table.rows, key=_best_first)]
    return h.table(headers, body, sortable=True, table_id="leaderboard")


def study_body(table: StudyTable, pareto_png: bytes, routing: str = "") -> str:
    """The leaderboard and the Pareto figure, then ``routing`` (:func:`ipw.reports.html_routing.routing_section`)."""
    missing = [f"{r.cell}: no run recorded ({r.status})" for r in table.rows if r.queries is None]
    return "".join([
        h.section("Leaderboard", h.notes(missing) + '<p class="sub">★ on the Pareto front (no cell is at least as '
                  "accurate for fewer joules); click a column to sort; the table scrolls sideways</p>"
                  + leaderboard(table) + h.notes(table.notes)),
        study_benchmarks(table),
        h.section("Pareto: accuracy vs energy per query", h.figure(
            pareto_png, "one point per cell, with its 95% Wilson interval; the Pareto front joined in red",
            figure_id="pareto")),
        routing,
    ])
