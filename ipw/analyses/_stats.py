"""Helpers shared by the energy, latency, regression and summary projections.

Two ideas live here: JSON-ready numbers (no NaN or inf: they become ``None``;
plain ``int``/``float``; deterministic order; numpy "linear" percentiles) and
the building blocks of energy attribution, documented in
:mod:`ipw.analyses.energy`: who was active when (:class:`Activity`), a
device's cumulative energy function (:class:`EnergyCurve`), its idle baseline
power and the gaps in its trace.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import UsageError
from ..replay.engine import PowerTrace, QueryRecord, RunView

# weakest first; matches ipw.replay.PowerTrace.source
PROVENANCE_ORDER: tuple[str, ...] = ("estimated", "imported", "derived", "measured")

PERCENTILES: tuple[int, ...] = (50, 90, 99)


def finite(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def weakest(sources: Iterable[str | None]) -> str | None:
    """The weakest provenance among ``sources`` (estimated < imported < derived < measured)."""
    present = {s for s in sources if s}
    if not present:
        return None
    for name in PROVENANCE_ORDER:
        if name in present:
            return name
    return sorted(present)[0]


def describe(values: np.ndarray | Sequence[float]) -> dict[str, Any]:
    """n, mean, p50, p90, p99, min, max of ``values`` (NaN dropped; numpy "linear" percentiles)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        out: dict[str, Any] = {"n": 0, "mean": None, "min": None, "max": None}
        out.update({f"p{p}": None for p in PERCENTILES})
        return out
    pct = np.percentile(arr, PERCENTILES, method="linear")
    out = {"n": int(arr.size), "mean": finite(arr.mean()), "min": finite(arr.min()), "max": finite(arr.max())}
    out.update({f"p{p}": finite(v) for p, v in zip(PERCENTILES, pct)})
    return out


def median(values: np.ndarray) -> float:
    """The median by sorting (np.median's partition is slow on the many equal sample intervals)."""
    ordered = np.sort(np.asarray(values))
    n = len(ordered)
    return float(ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0


def sorted_unique(*arrays: np.ndarray) -> np.ndarray:
    """The sorted distinct values of the arrays together (np.unique is slow on large int64 arrays)."""
    ordered = np.sort(np.concatenate(arrays))
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def concat_tokens(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate per-query integer lists into one int64 array plus the offsets of each list.

    ``offsets`` has ``len(lists) + 1`` entries; list ``i`` is ``out[offsets[i]:offsets[i+1]]``.
    """
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    if lists and all(isinstance(x, np.ndarray) for x in lists):
        out = np.concatenate(lists).astype(np.int64, copy=False) if total else np.empty(0, dtype=np.int64)
    else:
        out = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=total)
    return out, offsets


def choice_option(name: str, value: Any, choices: Sequence[str]) -> str:
    """Validate an option that must be one of ``choices``."""
    text = str(value).strip().lower()
    if text not in choices:
        raise UsageError(
            f"unknown {name} {value!r}",
            hint=f"choose one of: {', '.join(choices)} (e.g. --option {name}={choices[0]})",
        )
    return text


def check_options(analysis_id: str, options: dict[str, Any], accepted: Sequence[str]) -> None:
    """Refuse options an analysis does not know, naming the ones it accepts."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UsageError(
            f"the {analysis_id} analysis has no option(s) {', '.join(unknown)}",
            hint=f"it accepts: {', '.join(accepted) or 'no options'}",
        )


def list_option(value: Any) -> list[str] | None:
    """A list option given as a list or as a comma-separated string; ``None`` when absent or empty."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = [str(part).strip() for part in value]
    else:
        items = [str(value).strip()]
    items = [item for item in items if item]
    return items or None


def session_windows_ns(view: Any, starts_ns: Sequence[int] | np.ndarray,
                       ends_ns: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
    """[first start, last end] of the given queries in each capture session, in time order.

    A resumed run has one ``run_started`` per session; the pause between a
    crash and its ``--resume`` is not time the stack was serving. ``starts_ns``
    and ``ends_ns`` are paired, one entry per query.
    """
    s = np.asarray(starts_ns, dtype=np.int64)
    e = np.asarray(ends_ns, dtype=np.int64)
    if not len(s):
        return []
    bounds = np.asarray(sorted(r.t_ns for r in view.runs_started)[1:], dtype=np.int64)
    session = np.searchsorted(bounds, s, side="right")
    return [(int(s[session == k].min()), int(e[session == k].max())) for k in np.unique(session)]


def sessions_span_s(view: Any, starts_ns: Sequence[int] | np.ndarray, ends_ns: Sequence[int] | np.ndarray) -> float | None:
    """Seconds of :func:`session_windows_ns`, summed; None when there are no queries."""
    windows = session_windows_ns(view, starts_ns, ends_ns)
    return sum(b - a for a, b in windows) / 1e9 if windows else None


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


def telemetry_gaps(view: RunView, cover: tuple[int, int]) -> list[tuple[int, int]]:
    """[lost, next status] spans of the energy monitor, clipped to ``cover``."""
    lo, hi = cover
    spans: list[tuple[int, int]] = []
    lost_at: int | None = None
    for status in sorted(view.telemetry, key=lambda s: s.t_ns):
        if status.status in LOST_STATUSES:
            lost_at = status.t_ns if lost_at is None else lost_at
        elif lost_at is not None:
            spans.append((lost_at, status.t_ns))
            lost_at = None
    if lost_at is not None:
        spans.append((lost_at, hi))
    return [(max(a, lo), min(b, hi)) for a, b in spans if min(b, hi) > max(a, lo)]
