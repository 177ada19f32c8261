"""The routing analysis of a study folder, and its forms: ``report/routing.json`` and terminal text.

:func:`study_routing` replays every cell of ``study.json`` that has a run and
hands their answers to :func:`ipw.reports.routing.route`; the definitions are
in that module's docstring. The HTML section is :mod:`ipw.reports.html_routing`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from .._atomic import write_atomic
from .labels import LABELS
from .routing import ROUTING_OPTIONS, CellOutcomes, Routing, cell_outcomes, route
from .study_file import cell_run_dir, read_study

__all__ = ["STRATEGY_COLUMNS", "study_routing", "routing_document", "routing_text", "write_routing"]

# the columns of the strategy table, in order: key and terminal heading (LABELS has each one's label and unit)
STRATEGY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("records", "records"), ("correct", "correct"), ("accuracy", "acc"), ("accuracy_ci_low", "acc lo"),
    ("accuracy_ci_high", "acc hi"), ("total_energy_j", "energy J"), ("total_energy_j_bound", "± J"),
    ("mean_energy_per_query_j", "J/query"), ("mean_power_w", "power W"), ("intelligence_per_watt", "IPW 1/W"),
    ("intelligence_per_joule", "IPJ 1/J"), ("energy_saved_vs_best_j", "saved J"),
    ("energy_saved_vs_best_fraction", "saved"),
)


def study_routing(study_dir: Path, options: dict[str, Any] | None = None,
                  cascade: list[str] | None = None) -> Routing:
    """Coverage, the oracle router and the cascade over the cells of a study folder."""
    from ._metrics import load_views

    options = {k: v for k, v in (options or {}).items() if k in ROUTING_OPTIONS}
    cells = []
    for cell in read_study(Path(study_dir)).cells:
        run_dir = cell_run_dir(Path(study_dir), cell)
        if not (run_dir / "events").is_dir():
            cells.append(CellOutcomes(cell.name, left_out=f"no run recorded ({cell.status})"))
            continue
        cells.append(cell_outcomes(cell.name, load_views([run_dir])[0], options))
    return route(cells, cascade=cascade, options=options)


def routing_document(routing: Routing) -> dict[str, Any]:
    """The analysis as JSON-ready data, with the label of every strategy column."""
    doc = msgspec.to_builtins(routing)
    doc["labels"] = {key: LABELS[key] for key, _ in STRATEGY_COLUMNS}
    return doc


def write_routing(study_dir: Path, routing: Routing) -> Path:
    """``report/routing.json`` of the study folder, written whole or not at all."""
    out = Path(study_dir) / "report"
    out.mkdir(exist_ok=True)
    # not durable: computed again from the cells' ledgers
    return write_atomic(out / "routing.json",
                        json.dumps(routing_document(routing), indent=2, sort_keys=True, allow_nan=False) + "\n")


def _fraction(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def routing_text(routing: Routing) -> str:
    """The analysis for the terminal: the record counts, coverage, the strategy table, the routes taken."""
    from .tables import format_table

    r = routing
    lines = [
        f"routing over {len(r.cells)} cells: {r.records_compared} records compared, {r.records_dropped} dropped",
        f"coverage: {_fraction(r.coverage)} (95% {_fraction(r.coverage_ci_low)}–{_fraction(r.coverage_ci_high)}), "
        f"{r.covered} of {r.records_compared} records answered correctly by at least one cell",
        format_table(["strategy", *(short for _, short in STRATEGY_COLUMNS)],
                     [[s.name, *(getattr(s, key) for key, _ in STRATEGY_COLUMNS)] for s in r.strategies]),
        f"best single cell (most accurate, then least energy): {r.best_cell}",
        "oracle sends: " + ", ".join(f"{c} {n}" for c, n in r.oracle_records_by_cell.items()),
        f"cascade: {' → '.join(r.cascade_order)} ({r.cascade_order_rule}); answered right at each step: "
        + ", ".join(str(n) for n in r.cascade_settled_by_step),
    ]
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
