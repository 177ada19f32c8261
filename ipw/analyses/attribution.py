"""The building blocks of energy attribution, whose policies :mod:`ipw.analyses.energy` documents.

Who was active when (:class:`Activity`), a device's cumulative energy function
(:class:`EnergyCurve`), its idle baseline power, and the gaps in its trace
(:class:`Gap`: no samples, a lost monitor, a counter reset), and the split of
a device's energy among the queries under a policy (:func:`split_energy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..replay.engine import PowerTrace, QueryRecord, RunView
from ._numbers import concat_tokens, median


# -- activity ------------------------------------------------------------------


@dataclass
class Activity:
    """The activity intervals of every query that ran, measured ones first (in query-id order).

    Warmup queries and failed or unfinished attempts are activity too (they
    drew power) but are not ``measured``. ``first_ns`` is clipped into
    [start, end]; where the first token is unknown it equals ``start_ns`` and
    ``has_first`` is False.
    """

    records: list[QueryRecord]
    start_ns: np.ndarray
    first_ns: np.ndarray
    end_ns: np.ndarray
    has_first: np.ndarray
    measured: np.ndarray

    @property
    def n_measured(self) -> int:
        return int(self.measured.sum())

    def span(self) -> tuple[int, int] | None:
        """[first start, last end] over every activity interval."""
        if not len(self.start_ns):
            return None
        return int(self.start_ns.min()), int(self.end_ns.max())

    def measured_window(self) -> tuple[int, int] | None:
        """[first start, last end] over the measured queries."""
        if not self.n_measured:
            return None
        m = self.measured
        return int(self.start_ns[m].min()), int(self.end_ns[m].max())

    def busy_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The union of all activity intervals as sorted, disjoint [start, end] blocks."""
        if not len(self.start_ns):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        order = np.argsort(self.start_ns, kind="stable")
        s, e = self.start_ns[order], self.end_ns[order]
        reach = np.maximum.accumulate(e)
        new = np.ones(len(s), dtype=bool)
        new[1:] = s[1:] > reach[:-1]
        return s[new], np.maximum.reduceat(e, np.flatnonzero(new))

    def is_idle(self, t_ns: np.ndarray) -> np.ndarray:
        """True where no query at all is active at ``t_ns``."""
        starts, ends = self.busy_blocks()
        if not len(starts):
            return np.ones(len(t_ns), dtype=bool)
        k = np.searchsorted(starts, t_ns, side="right") - 1
        return (k < 0) | (t_ns > ends[np.maximum(k, 0)])

    def idle_between(self, a_ns: np.ndarray, b_ns: np.ndarray) -> np.ndarray:
        """True where no activity overlaps the open interval (a, b)."""
        starts, ends = self.busy_blocks()
        if not len(starts):
            return np.ones(len(a_ns), dtype=bool)
        k = np.searchsorted(starts, b_ns, side="left") - 1  # the last block starting before b
        return (k < 0) | (ends[np.maximum(k, 0)] <= a_ns)


def _end_of_attempt(q: QueryRecord) -> int | None:
    start = q.start_ns
    if start is None:
        return None
    if q.end_ns is not None:
        return q.end_ns
    ends = [f.t_ns for f in q.failures if f.t_ns >= start]
    if q.n_token_events:
        ends.append(int(q.t_ns_array[-1]))
    return max(ends) if ends else None


def activity_of(view: RunView) -> Activity:
    """Who was active when: measured queries, then warmup and failed attempts."""
    measured = view.measured_queries()
    seen = {q.query_id for q in measured}
    others = [q for _, q in sorted(view.queries.items()) if q.query_id not in seen and _end_of_attempt(q) is not None]
    records = measured + others
    n = len(records)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    has_first = np.zeros(n, dtype=bool)
    for i, q in enumerate(records):
        s = q.start_ns
        e = _end_of_attempt(q)
        start[i] = s
        end[i] = max(s, e)  # type: ignore[type-var]
        ttft = q.ttft_ns
        has_first[i] = ttft is not None
        first[i] = min(max(s + ttft, s), end[i]) if ttft is not None else s  # type: ignore[operator]
    flags = np.zeros(n, dtype=bool)
    flags[: len(measured)] = True
    return Activity(records, start, first, end, has_first, flags)


# -- energy curves ---------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A stretch where a device's energy is interpolated rather than measured."""

    device: str
    start_ns: int
    end_ns: int
    reason: str  # "no_samples" | "telemetry_lost" | "counter_reset"

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_s": self.duration_s,
            "reason": self.reason,
        }


@dataclass
class EnergyCurve:
    """A device's cumulative energy E(t) in joules, piecewise between knots.

    ``method`` is ``counter`` (E linear between knots) or ``power`` (power
    linear between knots, E its exact integral). Knots include the held-power
    extensions that cover the activity span; ``sample_t_ns`` are the real
    sample times only.
    """

    device: str
    method: str
    origin_ns: int
    knots_s: np.ndarray
    cum_j: np.ndarray
    power_w: np.ndarray | None
    sample_t_ns: np.ndarray
    resets: list[tuple[int, int]]

    def energy_at(self, t_ns: np.ndarray) -> np.ndarray:
        x = (np.asarray(t_ns, dtype=np.int64) - self.origin_ns).astype(np.float64) / 1e9
        if self.power_w is None:
            return np.interp(x, self.knots_s, self.cum_j)
        xs, p = self.knots_s, self.power_w
        k = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 2)
        h = xs[k + 1] - xs[k]
        dt = np.clip(x - xs[k], 0.0, h)
        return self.cum_j[k] + p[k] * dt + (p[k + 1] - p[k]) * dt * dt / (2.0 * h)


def _unique(t: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keep the first sample at each time (``t`` is sorted)."""
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = t[1:] != t[:-1]
    return (t[keep], *(c[keep] for c in cols))


def build_curve(trace: PowerTrace, cover: tuple[int, int] | None) -> EnergyCurve | None:
    """E(t) of one device, extended to ``cover``; ``None`` when it has under two usable samples."""
    has_counter = ~np.isnan(trace.energy_j)
    has_power = ~np.isnan(trace.power_w)
    resets: list[tuple[int, int]] = []
    if has_counter.sum() >= 2:
        t, counter = _unique(trace.t_ns[has_counter], trace.energy_j[has_counter])
        method, p = "counter", None
    elif has_power.sum() >= 2:
        t, p = _unique(trace.t_ns[has_power], trace.power_w[has_power])
        method = "power"
    else:
        return None
    if len(t) < 2:
        return None
    origin = int(t[0])
    x = (t - origin).astype(np.float64) / 1e9
    h = np.diff(x)
    if p is None:
        steps = np.diff(counter)
        for i in np.flatnonzero(steps < 0):
            resets.append((int(t[i]), int(t[i + 1])))
        steps = np.maximum(steps, 0.0)
        first_w, last_w = steps[0] / h[0], steps[-1] / h[-1]
    else:
        steps = (p[:-1] + p[1:]) * 0.5 * h
        first_w, last_w = float(p[0]), float(p[-1])
    cum = np.concatenate(([0.0], np.cumsum(steps)))
    if cover is not None:
        lo = (cover[0] - origin) / 1e9
        hi = (cover[1] - origin) / 1e9
        if lo < x[0]:
            x = np.concatenate(([lo], x))
            cum = np.concatenate(([cum[0] - first_w * (x[1] - lo)], cum))
            p = None if p is None else np.concatenate(([first_w], p))
        if hi > x[-1]:
            cum = np.concatenate((cum, [cum[-1] + last_w * (hi - x[-1])]))
            x = np.concatenate((x, [hi]))
            p = None if p is None else np.concatenate((p, [last_w]))
    return EnergyCurve(trace.device, method, origin, x, cum, p, t, resets)


def baseline_power_w(trace: PowerTrace, activity: Activity) -> float | None:
    """Median power while no query is active; ``None`` with fewer than 3 idle readings."""
    power_ok = ~np.isnan(trace.power_w)
    if power_ok.any():
        t, p = trace.t_ns[power_ok], trace.power_w[power_ok]
        values = p[activity.is_idle(t)]
    else:
        ok = ~np.isnan(trace.energy_j)
        t, counter = _unique(trace.t_ns[ok], trace.energy_j[ok])
        if len(t) < 2:
            return None
        steps = np.diff(counter)
        h_s = np.diff(t).astype(np.float64) / 1e9
        whole = activity.idle_between(t[:-1], t[1:]) & (steps >= 0)
        values = steps[whole] / h_s[whole]
    if len(values) < 3:
        return None
    return median(values)


def sample_gaps(curve: EnergyCurve, cover: tuple[int, int]) -> list[Gap]:
    """Stretches inside ``cover`` with no samples for > max(3 × median interval, 1 s), and counter resets."""
    lo, hi = cover
    t = curve.sample_t_ns
    threshold = max(3 * median(np.diff(t)), 1e9)
    points = np.concatenate(([min(lo, int(t[0]))], t, [max(hi, int(t[-1]))]))
    gaps: list[Gap] = []
    for i in np.flatnonzero(np.diff(points) > threshold):
        a, b = max(int(points[i]), lo), min(int(points[i + 1]), hi)
        if b > a:
            gaps.append(Gap(curve.device, a, b, "no_samples"))
    for a, b in curve.resets:
        if b > lo and a < hi:
            gaps.append(Gap(curve.device, a, b, "counter_reset"))
    return gaps


LOST_STATUSES = frozenset({"lost", "disconnected", "error", "failed"})
BRACKET_STATUSES = frozenset({"bracket_missed"})


def telemetry_gaps(view: RunView, cover: tuple[int, int]) -> list[tuple[int, int]]:
    """[lost, next status] spans of the energy monitor, clipped to ``cover``."""
    lo, hi = cover
    spans: list[tuple[int, int]] = []
    lost_at: int | None = None
    for status in sorted(view.telemetry, key=lambda s: s.t_ns):
        if status.status in BRACKET_STATUSES:  # a bracket read that failed says nothing about the stream
            continue
        if status.status in LOST_STATUSES:
            lost_at = status.t_ns if lost_at is None else lost_at
        elif lost_at is not None:
            spans.append((lost_at, status.t_ns))
            lost_at = None
    if lost_at is not None:
        spans.append((lost_at, hi))
    return [(max(a, lo), min(b, hi)) for a, b in spans if min(b, hi) > max(a, lo)]


# -- the split among queries ------------------------------------------------------


@dataclass
class Split:
    """One device's energy split among the activity intervals, and what was left unattributed."""

    query_j: np.ndarray  # every activity interval, measured first
    prefill_j: np.ndarray
    idle_j: float  # nothing active, inside the window
    busy_j: float  # something active, inside the window, baseline removed
    baseline_j: float


def split_energy(
    curve: EnergyCurve,
    act: Activity,
    bounds: np.ndarray,
    policy: str,
    base_w: float | None,
    tokens: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    window: tuple[int, int],
) -> Split:
    """Split one device's energy among the activity intervals (formulas in :mod:`ipw.analyses.energy`)."""
    e_at = curve.energy_at(bounds)
    de = np.diff(e_at)
    dt_s = np.diff(bounds).astype(np.float64) / 1e9
    si = np.searchsorted(bounds, act.start_ns)
    fi = np.searchsorted(bounds, act.first_ns)
    ei = np.searchsorted(bounds, act.end_ns)
    m = len(de)
    delta = np.bincount(si, minlength=m + 1) - np.bincount(ei, minlength=m + 1)
    n = np.cumsum(delta)[:m]
    in_window = (bounds[:-1] >= window[0]) & (bounds[1:] <= window[1])
    busy = in_window & (n > 0)
    idle_j = float(de[in_window & (n == 0)].sum())
    baseline_j = 0.0
    if base_w is not None:
        baseline_j = float(base_w * dt_s[busy].sum())
        de = de - base_w * dt_s
    busy_j = float(de[busy].sum())
    if policy == "window":
        base = 0.0 if base_w is None else base_w
        to_s = 1e-9
        query = e_at[ei] - e_at[si] - base * (act.end_ns - act.start_ns) * to_s
        prefill = e_at[fi] - e_at[si] - base * (act.first_ns - act.start_ns) * to_s
        return Split(query, prefill, idle_j, busy_j, baseline_j)
    n_safe = np.maximum(n, 1)
    if policy == "active" or tokens is None:
        cum = np.concatenate(([0.0], np.cumsum(np.where(n > 0, de / n_safe, 0.0))))
        return Split(cum[ei] - cum[si], cum[fi] - cum[si], idle_j, busy_j, baseline_j)
    t_tok, n_tok, owner = tokens
    j = np.searchsorted(bounds, t_tok, side="left") - 1
    keep = (ei[owner] > si[owner]) & (n_tok > 0)
    j, n_tok, owner = j[keep], n_tok[keep], owner[keep]
    j = np.clip(j, si[owner], ei[owner] - 1)
    emitted = np.bincount(j, weights=n_tok, minlength=m)
    cum = np.concatenate(([0.0], np.cumsum(np.where((n > 0) & (emitted == 0), de / n_safe, 0.0))))
    share = de[j] * n_tok / emitted[j]
    k = len(act.start_ns)
    query = cum[ei] - cum[si] + np.bincount(owner, weights=share, minlength=k)
    in_prefill = j < fi[owner]
    prefill = cum[fi] - cum[si] + np.bincount(owner[in_prefill], weights=share[in_prefill], minlength=k)
    return Split(query, prefill, idle_j, busy_j, baseline_j)


def token_columns(act: Activity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every token event of every activity record: (times, token counts, owning record index)."""
    t_tok, offsets = concat_tokens([r.t_ns_array for r in act.records])
    n_tok, _ = concat_tokens([r.counts_array for r in act.records])
    owner = np.repeat(np.arange(len(act.records)), np.diff(offsets))
    return t_tok, n_tok.astype(np.float64), owner
