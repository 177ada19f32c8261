"""Which benchmark a query belongs to: the one place that says so for every per-benchmark figure.

A record drawn from a mixture (``--dataset mix:mmlu-pro=200,…``) carries its
benchmark id on its ``query_started`` event (``benchmark``); a query without
one belongs to the run's dataset, as ``run_started``'s config names it
(``builtin``, ``mmlu-pro``, ``file`` …). A record is identified across runs by
(benchmark, record id), so two benchmarks that both number their records from
0 never collide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..replay import QueryRecord, RunView

__all__ = ["UNKNOWN_BENCHMARK", "run_benchmark", "benchmark_of", "record_key"]

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
