"""The steady-state window of a run: the stretch where the load was what the run asked for.

ML.ENERGY measures energy only while the batch is full, never during ramp-up or
drain. ipw reports the same window beside its whole-run figures (never instead
of them), and :mod:`ipw.analyses.validity` checks how long it lasted.

In flight
    n(t) counts the attempts started at or before t that have not ended: every
    non-warmup query, failed attempts included (they held a slot). At equal
    times ends are counted before starts, so a closed loop that replaces a
    finished query at once stays at its level.

Target
    With a closed loop (no ``request_rate``) the target is the run's
    ``max_concurrency``. With ``request_rate`` (open loop, Poisson arrivals)
    the level is not fixed; the target is the mean in-flight count Little's law
    predicts for the arrivals: round(rate × mean end-to-end latency of the
    measured queries), at least 1 and at most ``max_concurrency``.

Window
    It opens the first time n(t) reaches the target, and closes when the drain
    begins: the first end after the last start, from which on n(t) only falls
    because no query is left to start. A run that never reaches its target, or
    whose drain begins before it does, has no window (``window: null`` and the
    reason). A resumed run is one window per capture session; the longest one
    is reported.

Figures over the window
    Energy: E_d(close) − E_d(open) of each device in the total, with the sensor
    model's bound (see :mod:`ipw.analyses.energy`); mean power is that over the
    window's length. Tokens per second counts the token events of measured
    queries inside (open, close]. Latency percentiles are over the measured
    queries that ran entirely inside [open, close].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..replay.engine import RunView
from ._numbers import describe, finite
from .attribution import activity_of

__all__ = ["SteadyState", "steady_state", "in_flight_mean", "steady_energy", "steady_latency", "window_tokens"]


@dataclass(frozen=True)
class SteadyState:
    """The steady-state window (``None`` with ``reason`` when the run has none) and the in-flight levels."""

    target_in_flight: int | None
    target_rule: str  # "max_concurrency" or "request_rate × mean e2e (Little's law)"
    window_ns: tuple[int, int] | None
    mean_in_flight: float | None  # over the window; over the whole run when there is no window
    peak_in_flight: int
    reason: str | None = None

    @property
    def duration_s(self) -> float:
        return (self.window_ns[1] - self.window_ns[0]) / 1e9 if self.window_ns else 0.0

    def window_dict(self) -> dict[str, Any]:
        return {
            "start_ns": None if self.window_ns is None else self.window_ns[0],
            "end_ns": None if self.window_ns is None else self.window_ns[1],
            "duration_s": self.duration_s,
            "target_in_flight": self.target_in_flight,
            "target_rule": self.target_rule,
            "mean_in_flight": finite(self.mean_in_flight),
            "peak_in_flight": self.peak_in_flight,
            "reason": self.reason,
        }


def _steps(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n(t) as a step function: the change times and the count from each on (ends before starts at a tie)."""
    t = np.concatenate((ends, starts))
    d = np.concatenate((-np.ones(len(ends), dtype=np.int64), np.ones(len(starts), dtype=np.int64)))
    order = np.lexsort((d, t))  # by time, then -1 before +1
    t, d = t[order], d[order]
    n = np.cumsum(d)
    last = np.ones(len(t), dtype=bool)
    last[:-1] = t[1:] != t[:-1]  # the count after every change at a time
    return t[last], n[last]


def in_flight_mean(starts: np.ndarray, ends: np.ndarray, a_ns: int, b_ns: int) -> float | None:
    """The time-average of n(t) over [a, b]."""
    if b_ns <= a_ns:
        return None
    overlap = np.clip(np.minimum(ends, b_ns) - np.maximum(starts, a_ns), 0, None)
    return float(overlap.sum()) / (b_ns - a_ns)


def _target(view: RunView, measured_e2e_s: list[float]) -> tuple[int | None, str]:
    config = view.config
    try:
        cap = max(1, int(config.get("max_concurrency") or 1))
    except (TypeError, ValueError):
        cap = 1
    rate = config.get("request_rate")
    if not rate:
        return cap, "max_concurrency"
    rule = "request_rate × mean e2e (Little's law)"
    if not measured_e2e_s:
        return None, rule
    return int(min(cap, max(1, round(float(rate) * float(np.mean(measured_e2e_s)))))), rule


def _window(starts: np.ndarray, ends: np.ndarray, target: int) -> tuple[tuple[int, int] | None, str | None]:
    t, n = _steps(starts, ends)
    reached = np.flatnonzero(n >= target)
    if not len(reached):
        return None, f"the in-flight count never reached its target of {target} (peak {int(n.max(initial=0))})"
    opened = int(t[reached[0]])
    last_start = int(starts.max())
    after = ends[ends > last_start]
    closed = int(after.min()) if len(after) else last_start
    if closed <= opened:
        return None, f"the drain began before the in-flight count reached its target of {target}"
    return (opened, closed), None


def steady_state(view: RunView) -> SteadyState:
    """The steady-state window of ``view`` by the rule in the module docstring."""
    act = activity_of(view)
    keep = np.array([not r.warmup for r in act.records], dtype=bool)
    starts, ends = act.start_ns[keep], act.end_ns[keep]
    e2e = [(q.end_ns - q.start_ns) / 1e9 for q in view.measured_queries()]
    target, rule = _target(view, e2e)
    if not len(starts):
        return SteadyState(target, rule, None, None, 0, "no queries ran")
    peak = int(_steps(starts, ends)[1].max(initial=0))
    whole = in_flight_mean(starts, ends, int(starts.min()), int(ends.max()))
    if target is None:
        return SteadyState(None, rule, None, whole, peak, "no measured query completed: no latency to set the target")
    bounds = np.asarray(sorted(r.t_ns for r in view.runs_started)[1:], dtype=np.int64)
    session = np.searchsorted(bounds, starts, side="right")
    best: tuple[int, int] | None = None
    reason: str | None = None
    for k in np.unique(session):
        s, e = starts[session == k], ends[session == k]
        window, why = _window(s, e, target)
        if window is not None and (best is None or window[1] - window[0] > best[1] - best[0]):
            best = window
        reason = reason or why
    if best is None:
        return SteadyState(target, rule, None, whole, peak, reason)
    return SteadyState(target, rule, best, in_flight_mean(starts, ends, *best), peak)


def window_tokens(view: RunView, window_ns: tuple[int, int]) -> int:
    """Tokens of the measured queries' token events in (open, close]."""
    a, b = window_ns
    total = 0
    for q in view.measured_queries():
        t = q.t_ns_array
        inside = (t > a) & (t <= b)
        total += int(q.counts_array[inside].sum())
    return total


def steady_energy(view: RunView, attribution: Any, steady: SteadyState) -> dict[str, Any]:
    """The energy block over the window: joules with their bound, mean power, tokens per second."""
    out: dict[str, Any] = {**steady.window_dict(), "total_energy_j": None, "total_energy_j_bound": None,
                           "mean_power_w": None, "mean_power_w_bound": None, "tokens_per_s": None,
                           "by_device_j": {}}
    if steady.window_ns is None:
        return out
    a, b = steady.window_ns
    span_s = steady.duration_s
    out["tokens_per_s"] = finite(window_tokens(view, steady.window_ns) / span_s)
    if not attribution.measured:
        out["reason"] = "energy was not measured"
        return out
    total = bound = 0.0
    for d, (curve, model) in sorted(attribution.curves.items()):
        dev = attribution.devices[d]
        e = curve.energy_at(np.array([a, b], dtype=np.int64))
        value = float(e[1] - e[0])
        out["by_device_j"][d] = finite(value)
        if dev.in_total:
            total += value
            bound += model.window_j(a, b, value)
    out["total_energy_j"], out["total_energy_j_bound"] = finite(total), finite(bound)
    out["mean_power_w"], out["mean_power_w_bound"] = finite(total / span_s), finite(bound / span_s)
    return out


def steady_latency(view: RunView, rows: list[dict[str, Any]], steady: SteadyState) -> dict[str, Any]:
    """The latency block over the window: percentiles of the queries entirely inside it, tokens per second."""
    out: dict[str, Any] = {**steady.window_dict(), "queries": 0, "tokens_per_s": None}
    names = ("ttft_s", "tpot_s", "e2e_s")
    if steady.window_ns is None:
        return {**out, **{k: describe(()) for k in names}}
    a, b = steady.window_ns
    inside = [r for r in rows if r["start_ns"] is not None and r["end_ns"] is not None
              and a <= r["start_ns"] and r["end_ns"] <= b]
    finished = [r for r in inside if not r["truncated"]]
    out["queries"] = len(inside)
    out["tokens_per_s"] = finite(window_tokens(view, steady.window_ns) / steady.duration_s)
    out["ttft_s"] = describe([np.nan if r["ttft_s"] is None else r["ttft_s"] for r in inside])
    for k in ("tpot_s", "e2e_s"):
        out[k] = describe([np.nan if r[k] is None else r[k] for r in finished])
    return out
