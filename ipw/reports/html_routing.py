"""The routing section of the HTML study page: coverage, the oracle router and the cascade against each cell.

The numbers are :func:`ipw.reports.routing_outputs.study_routing`'s; every
value cell carries its strategy (``data-strategy``), its column's key
(``data-column``) and its exact value (``data-value``), so the page can be
checked against ``report/routing.json``.
"""

from __future__ import annotations

from . import html_page as h
from .labels import LABELS
from .routing import Routing, Strategy
from .routing_outputs import STRATEGY_COLUMNS

__all__ = ["routing_section"]

_KIND = {"cell": "one cell", "oracle": "oracle router", "cascade": "cascade"}


def _td(strategy: Strategy, key: str) -> str:
    value = getattr(strategy, key)
    shown = h.esc(h.number_text(value))
    data = h.esc(h.data_value(value))
    return (f'<td class="num" data-strategy="{h.esc(strategy.name)}" data-column="{key}" data-value="{data}" '
            f'data-sort="{data}">{shown}</td>')


def _row(routing: Routing, s: Strategy) -> str:
    best = " (best cell)" if s.name == routing.best_cell else ""
    return (f'<td data-field="strategy" data-sort="{h.esc(s.name)}">{h.esc(s.name)}{h.esc(best)}</td>'
            f"<td>{h.esc(_KIND.get(s.kind, s.kind))}</td>" + "".join(_td(s, key) for key, _ in STRATEGY_COLUMNS))


def routing_section(routing: Routing | str) -> str:
    """The section; ``routing`` is the analysis, or the one line saying why this study has none."""
    if isinstance(routing, str):
        return h.section("Routing across cells", h.notes([routing]), section_id="routing")
    r = routing
    summary = h.table(
        ["Figure", "Value"],
        [h.label_cell("records_compared", "Records compared (records)") + h.value_cell(r.records_compared,
                                                                                       field="records_compared"),
         h.label_cell("records_dropped", "Records dropped (records)") + h.value_cell(r.records_dropped,
                                                                                     field="records_dropped"),
         h.label_cell("coverage", LABELS["coverage"]) + h.value_cell(r.coverage, field="coverage"),
         h.label_cell("coverage_ci_low", "Coverage 95% low (fraction)")
         + h.value_cell(r.coverage_ci_low, field="coverage_ci_low"),
         h.label_cell("coverage_ci_high", "Coverage 95% high (fraction)")
         + h.value_cell(r.coverage_ci_high, field="coverage_ci_high")],
        table_id="routing-summary",
    )
    headers = ["Strategy", "Kind", *((LABELS[key], key) for key, _ in STRATEGY_COLUMNS)]
    strategies = h.table(headers, [_row(r, s) for s in r.strategies], sortable=True, table_id="routing")
    lines = [
        f"Coverage: the share of the {r.records_compared} compared records that at least one cell answers "
        "correctly (95% Wilson interval).",
        "Oracle: each record goes to the cell that answered it correctly with the least energy; a record no cell "
        "answered correctly goes to its cheapest cell and counts as wrong. Sends: "
        + ", ".join(f"{c} {n}" for c, n in r.oracle_records_by_cell.items()) + ".",
        f"Cascade: {' → '.join(r.cascade_order)} ({r.cascade_order_rule}); a wrong answer escalates to the next "
        "cell and every cell tried is paid for. Answered right at each step: "
        + ", ".join(str(n) for n in r.cascade_settled_by_step) + ".",
        "Power here is the energy over the time spent answering, so IPW compares within this table only.",
    ]
    body = (summary + "".join(f'<p class="sub">{h.esc(line)}</p>' for line in lines) + strategies
            + h.notes(r.notes))
    return h.section("Routing across cells", body, section_id="routing")
