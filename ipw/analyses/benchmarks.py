"""Which benchmark a query belongs to: the one place that says so for every per-benchmark figure.

A record drawn from a mixture (``--dataset mix:mmlu-pro=200,…``) carries its
benchmark id on its ``query_started`` event (``benchmark``); a query without
one belongs to the run's dataset, as ``run_started``'s config names it
(``builtin``, ``mmlu-pro``, ``file`` …). A record is identified across runs by
(benchmark, record id), so two benchmarks that both number their records from
0 never collide.

``accuracy`` and ``summary`` report ``by_benchmark`` over the groups
:func:`queries_by_benchmark` makes of the measured queries. The summary adds
to each benchmark's counts (:func:`with_intelligence`):

    mean_energy_per_query_j  the mean attributed energy of the benchmark's queries
    intelligence_per_joule   its accuracy ÷ that mean
    intelligence_per_watt    its accuracy ÷ the run's mean power: a mixture's
                             benchmarks share the machine, so power is the run's

For a run of one benchmark they are the run's own IPW and IPJ.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ._numbers import finite

if TYPE_CHECKING:
    from ..replay import QueryRecord, RunView

__all__ = ["UNKNOWN_BENCHMARK", "run_benchmark", "benchmark_of", "record_key", "queries_by_benchmark",
           "with_intelligence"]

UNKNOWN_BENCHMARK = "(unknown)"  # a run whose config names no dataset (never written by ipw record)


def run_benchmark(view: RunView) -> str:
    """The benchmark of a query that names none: the run's dataset id."""
    dataset = view.config.get("dataset")
    return str(dataset) if dataset not in (None, "") else UNKNOWN_BENCHMARK


def benchmark_of(query: QueryRecord, default: str) -> str:
    """``query``'s benchmark: its own ``benchmark`` field when set, else ``default`` (:func:`run_benchmark`)."""
    own = getattr(query.started, "benchmark", None) if query.started is not None else None
    return str(own) if own else default


def record_key(query: QueryRecord, default: str) -> tuple[str, str]:
    """(benchmark, record id): what identifies one record across the runs of a study."""
    return benchmark_of(query, default), query.record_id


def queries_by_benchmark(view: RunView) -> dict[str, list[QueryRecord]]:
    """The run's measured queries grouped by benchmark, names sorted, each group in query-id order."""
    default = run_benchmark(view)
    groups: dict[str, list[QueryRecord]] = {}
    for q in view.measured_queries():
        groups.setdefault(benchmark_of(q, default), []).append(q)
    return dict(sorted(groups.items()))


def with_intelligence(view: RunView, by_benchmark: dict[str, dict[str, Any]], energy_j: dict[int, float | None] | None,
                      mean_power_w: float | None) -> dict[str, dict[str, Any]]:
    """Each benchmark's counts with its energy per query, IPW and IPJ (None where energy was not measured)."""
    groups = queries_by_benchmark(view)
    out = {}
    for name, counts in by_benchmark.items():
        values = [j for q in groups.get(name, []) if (j := (energy_j or {}).get(q.query_id)) is not None]
        mean_j = finite(math.fsum(values) / len(values)) if values else None
        accuracy = counts.get("accuracy")
        out[name] = {**counts, "mean_energy_per_query_j": mean_j,
                     "intelligence_per_watt": _ratio(accuracy, mean_power_w),
                     "intelligence_per_joule": _ratio(accuracy, mean_j)}
    return out


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return finite(numerator / denominator) if numerator is not None and denominator is not None and denominator > 0 \
        else None
