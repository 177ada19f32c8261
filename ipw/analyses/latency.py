"""Latency and throughput of the measured queries, from the ledger's timestamps.

Per query (all in seconds):
    ttft_s   time to first token: ``query_finished.ttft_ns`` when the client
             reported it, else first token event − query start
    tpot_s   time per output token after the first:
             (end − first token) / (completion_tokens − 1), when completion_tokens > 1
    e2e_s    end-to-end: query end − query start
    decode_tokens_per_s  1 / tpot_s: the decode rate
Pooled:
    itl_s    inter-token latency: the differences between consecutive token
             events of the same query, pooled over every measured query (a
             token event carrying several tokens counts as one step)
Throughput over the wall span (first measured start → last measured end, summed
per capture session so the pause before a ``--resume`` is not counted):
    throughput_tokens_per_s = Σ completion_tokens / span; queries_per_s = n / span.

Steady state (``steady_state``): the same percentiles over the queries that
ran entirely inside the steady-state window, and its tokens/s, beside the
whole-run figures (see :mod:`ipw.analyses.steady_state`).

SLO (option ``slo``, e.g. ``ttft_ms=200,tpot_ms=50``): attainment, goodput and
violations in ``slo``, and ``slo_met`` per query (see :mod:`ipw.analyses.slo`).

Each distribution reports n, mean, p50, p90, p99, min and max; percentiles use
numpy's "linear" method (interpolation between closest ranks).

Truncated streams (``query_finished.truncated``: the stream ended without a
finish reason, cut short by the service) are counted in ``queries_truncated``
and flagged per query. Their TTFT is kept in ``ttft_s`` (the first token really
arrived then), but they are left out of ``tpot_s``, ``itl_s``, ``e2e_s`` and
``decode_tokens_per_s``: those depend on when the stream ended, and a cut
stream ends when the service gave up on it, not when the answer was done.
Their tokens still count in the totals and the throughput: they were produced.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..replay.engine import RunView
from ._numbers import concat_tokens, describe, finite
from ._options import applied_options, check_options
from ._sessions import sessions_span_s
from .slo import SLO_OPTION, meets_slo, parse_slo, slo_block
from .steady_state import steady_latency, steady_state

__all__ = ["LatencyProjection", "per_query_latency", "PERCENTILE_METHOD"]

PERCENTILE_METHOD = "linear"


def per_query_latency(view: RunView) -> dict[int, dict[str, Any]]:
    """Latency figures of each measured query, keyed by query id (in query-id order)."""
    out: dict[int, dict[str, Any]] = {}
    for q in view.measured_queries():
        start, end = q.start_ns, q.end_ns
        ttft_ns = q.ttft_ns
        tokens = q.completion_tokens
        e2e_s = (end - start) / 1e9 if start is not None and end is not None else None
        tpot_s = None
        if ttft_ns is not None and start is not None and end is not None and tokens > 1:
            tpot_s = (end - (start + ttft_ns)) / 1e9 / (tokens - 1)
        out[q.query_id] = {
            "query_id": q.query_id,
            "record_id": q.record_id,
            "ttft_s": None if ttft_ns is None else ttft_ns / 1e9,
            "tpot_s": finite(tpot_s),
            "e2e_s": e2e_s,
            "decode_tokens_per_s": finite(1.0 / tpot_s) if tpot_s else None,
            "completion_tokens": tokens,
            "truncated": bool(q.finished is not None and q.finished.truncated),
            "prompt_tokens": q.prompt_tokens,
            "start_ns": start,
            "end_ns": end,
        }
    return out


def _column(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=np.float64)


def inter_token_latencies_s(view: RunView, *, skip: frozenset[int] = frozenset()) -> np.ndarray:
    """Every gap between consecutive token events of the same measured query (but those in ``skip``), in seconds."""
    t, offsets = concat_tokens([q.t_ns_array for q in view.measured_queries() if q.query_id not in skip])
    if len(t) < 2:
        return np.zeros(0, dtype=np.float64)
    gaps = np.diff(t)
    same_query = np.ones(len(gaps), dtype=bool)
    cuts = offsets[1:-1] - 1  # the diff that crosses from one query's tokens into the next
    same_query[cuts[(cuts >= 0) & (cuts < len(gaps))]] = False
    return gaps[same_query].astype(np.float64) / 1e9


class LatencyProjection:
    """TTFT, TPOT, inter-token latency, end-to-end and throughput; option ``slo`` (see :mod:`ipw.analyses.slo`)."""

    analysis_id = "latency"

    def compute(self, view: RunView, options: dict[str, Any]) -> dict[str, Any]:
        check_options(self.analysis_id, options, (SLO_OPTION,))
        slo = parse_slo(options.get(SLO_OPTION))
        per_query = per_query_latency(view)
        rows = list(per_query.values())
        timed = [r for r in rows if r["start_ns"] is not None and r["end_ns"] is not None]
        span_s = sessions_span_s(view, [r["start_ns"] for r in timed], [r["end_ns"] for r in timed])
        completion = sum(r["completion_tokens"] for r in rows)
        prompts = [r["prompt_tokens"] for r in rows if r["prompt_tokens"] is not None]
        finished = [r for r in rows if not r["truncated"]]
        truncated = frozenset(r["query_id"] for r in rows if r["truncated"])
        per_query_out = [{k: v for k, v in r.items() if k not in ("start_ns", "end_ns")} for r in rows]
        if slo is not None:
            for out_row, row in zip(per_query_out, rows):
                out_row["slo_met"] = meets_slo(row, slo)
        return {
            "percentile_method": PERCENTILE_METHOD,
            "queries": len(rows),
            "queries_truncated": len(truncated),
            "wall_span_s": span_s,
            "completion_tokens_total": completion,
            "prompt_tokens_total": sum(prompts) if prompts else None,
            "throughput_tokens_per_s": finite(completion / span_s) if span_s else None,
            "queries_per_s": finite(len(rows) / span_s) if span_s else None,
            "ttft_s": describe(_column(rows, "ttft_s")),
            "tpot_s": describe(_column(finished, "tpot_s")),
            "itl_s": describe(inter_token_latencies_s(view, skip=truncated)),
            "e2e_s": describe(_column(finished, "e2e_s")),
            "decode_tokens_per_s": describe(_column(finished, "decode_tokens_per_s")),
            "steady_state": steady_latency(view, rows, steady_state(view)),
            "slo": None if slo is None else slo_block(rows, span_s, slo),
            "per_query": per_query_out,
            "options": applied_options(self.analysis_id, (SLO_OPTION,), {SLO_OPTION: slo}),
        }
