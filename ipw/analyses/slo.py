"""Service-level objectives: which queries were served fast enough, and the work done within them.

``--slo ttft_ms=200,tpot_ms=50,e2e_ms=5000`` (any of the three; ``--option
slo=…`` on a replay) sets upper bounds on a query's time to first token, time
per output token and end-to-end latency, in milliseconds. A measured query
meets the SLO when every bound given holds for it:

- a figure the query does not have cannot violate its bound (an answer of one
  token has no TPOT), except TTFT: a query with no first token fails a TTFT bound;
- a truncated stream (cut short by the service) never meets an SLO.

attainment       queries meeting the SLO ÷ measured queries
goodput          queries per second and output tokens per second of the queries
                 meeting the SLO, over the latency analysis's wall span
violations       per bound, how many queries broke it

In the summary, ``joules_per_correct_within_slo`` is the run's total energy
divided by the answers that were both correct and within the SLO, with the
total's bound divided the same way: the cost of one answer a user would accept.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import UsageError
from ._numbers import finite

__all__ = ["SLO_OPTION", "SLO_KEYS", "parse_slo", "meets_slo", "slo_block"]

SLO_OPTION = "slo"
SLO_KEYS: dict[str, str] = {"ttft_ms": "ttft_s", "tpot_ms": "tpot_s", "e2e_ms": "e2e_s"}
_HINT = "write it as ttft_ms=200,tpot_ms=50,e2e_ms=5000 (any of them, milliseconds)"


def parse_slo(value: Any) -> dict[str, float] | None:
    """The SLO bounds in ms (sorted by name), from ``"ttft_ms=200,tpot_ms=50"`` or a mapping; None when unset."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = []
        for part in (p.strip() for p in value.split(",")):
            key, sep, number = part.partition("=")
            if not sep:
                raise UsageError(f"slo: {part!r} is not name=milliseconds", hint=_HINT)
            pairs.append((key.strip(), number.strip()))
    else:
        raise UsageError(f"slo: {value!r} is not a list of bounds", hint=_HINT)
    out: dict[str, float] = {}
    for key, number in pairs:
        if key not in SLO_KEYS:
            raise UsageError(f"slo: unknown bound {key!r}", hint=f"use {', '.join(SLO_KEYS)}; {_HINT}")
        try:
            ms = float(number)
        except (TypeError, ValueError):
            raise UsageError(f"slo: {key}={number!r} is not a number of milliseconds", hint=_HINT) from None
        if not math.isfinite(ms) or ms <= 0:
            raise UsageError(f"slo: {key} must be a positive number of milliseconds, got {number}", hint=_HINT)
        out[key] = ms
    return dict(sorted(out.items())) or None


def _broken(row: Mapping[str, Any], slo: Mapping[str, float]) -> list[str]:
    """The bounds ``row`` (a latency per-query row) breaks."""
    out = []
    for key, ms in slo.items():
        value = row.get(SLO_KEYS[key])
        if value is None:
            if key == "ttft_ms":
                out.append(key)
        elif value * 1000.0 > ms:
            out.append(key)
    return out


def meets_slo(row: Mapping[str, Any], slo: Mapping[str, float]) -> bool:
    """Whether one query (a latency per-query row) meets every bound of ``slo``."""
    return not row.get("truncated") and not _broken(row, slo)


def slo_block(rows: list[Mapping[str, Any]], span_s: float | None, slo: Mapping[str, float]) -> dict[str, Any]:
    """Attainment, goodput and violations of the measured queries ``rows`` against ``slo``."""
    met = [r for r in rows if meets_slo(r, slo)]
    violations = {key: sum(1 for r in rows if key in _broken(r, slo)) for key in slo}
    tokens = sum(r["completion_tokens"] for r in met)
    return {
        "targets_ms": dict(slo),
        "queries": len(rows),
        "queries_met": len(met),
        "queries_truncated": sum(1 for r in rows if r.get("truncated")),
        "attainment": finite(len(met) / len(rows)) if rows else None,
        "goodput_queries_per_s": finite(len(met) / span_s) if span_s else None,
        "goodput_tokens_per_s": finite(tokens / span_s) if span_s else None,
        "violations": violations,
    }
