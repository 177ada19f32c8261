"""Whether a run's figures hold up: ML.ENERGY-style checks, each with what it measured and its threshold.

Every check has ``status`` ``pass``, ``fail`` or ``unknown`` (with ``reason``:
a check that cannot be evaluated never passes silently), the measured
``value``, the ``threshold`` it is held to and the ``unit``.

steady_state_s     the steady-state window (:mod:`ipw.analyses.steady_state`)
                   lasted at least ``min_steady_s`` seconds (an option; default
                   30, as ML.ENERGY); no window is 0 s
mean_in_flight     the mean in-flight count over the window is at least
                   0.85 × its target (an under-used batch); without a window
                   it is the mean over the whole run
power_in_range     per device in the total: its mean power over the window (the
                   run's sessions when there is no window) lies between its idle
                   baseline (the energy analysis's median idle power) and its
                   TDP (``tdp_w``, ``power_limit_w`` or ``max_power_w`` in
                   ``device_seen.metadata``); a bound that is crossed fails, a
                   bound that is missing makes the check unknown. It is unknown,
                   never failed, for an ``estimated`` device (a utilisation × TDP
                   model lies in that range by construction, so it cannot
                   validate the hardware; on a busy host its idle median is the
                   TDP itself) and when the idle baseline is not below the TDP
                   (a degenerate range)
monitor_coverage   per device in the total: the share of the run window (first
                   measured start to last end) covered by readings, where a
                   stretch between readings over 2 sample intervals (the
                   run's ``sample_interval_ms``, else the median interval) and a
                   lost energy monitor are not covered; at least 0.95

``valid`` is true when every check passes, false when one fails, and null
when none fails but one is unknown; ``failures`` and ``unknown`` name them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import UsageError
from ..replay.engine import RunView
from ._numbers import finite, median
from .attribution import telemetry_gaps
from .steady_state import SteadyState

__all__ = ["MIN_STEADY_OPTION", "DEFAULT_MIN_STEADY_S", "IN_FLIGHT_FRACTION", "MIN_COVERAGE", "TDP_KEYS",
           "min_steady_s", "validity_block"]

MIN_STEADY_OPTION = "min_steady_s"
DEFAULT_MIN_STEADY_S = 30.0
IN_FLIGHT_FRACTION = 0.85
MIN_COVERAGE = 0.95
GAP_INTERVALS = 2
TDP_KEYS: tuple[str, ...] = ("tdp_w", "power_limit_w", "max_power_w")


def min_steady_s(value: Any) -> float:
    """The ``min_steady_s`` option: a number of seconds, at least 0."""
    if value is None:
        return DEFAULT_MIN_STEADY_S
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out) or out < 0:
        raise UsageError(f"min_steady_s must be a number of seconds, at least 0; got {value!r}",
                         hint="e.g. --option min_steady_s=30")
    return out


def _check(name: str, value: Any, threshold: Any, unit: str | None, status: str, reason: str | None = None,
           device: str | None = None) -> dict[str, Any]:
    out = {"check": name, "status": status, "value": value, "threshold": threshold, "unit": unit, "reason": reason}
    if device is not None:
        out["device"] = device
    return out


def _tdp_w(view: RunView, device: str) -> float | None:
    seen = view.devices.get(device)
    meta = dict(seen.metadata) if seen is not None else {}
    for key in TDP_KEYS:
        try:
            value = float(meta[key])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(value) and value > 0:
            return value
    return None


def _untestable(source: str, idle_w: float | None, tdp_w: float | None) -> list[str]:
    """Why a device's range check can say nothing either way (empty when it can)."""
    why = []
    if source == "estimated":
        why.append("power is estimated, not measured: a model cannot validate the hardware")
    if idle_w is not None and tdp_w is not None and not idle_w < tdp_w:
        why.append(f"the idle baseline ({idle_w:.4g} W) is not below the TDP ({tdp_w:.4g} W): the range is degenerate")
    return why


def _power_checks(view: RunView, attribution: Any, steady: SteadyState) -> list[dict[str, Any]]:
    if not attribution.measured:
        return [_check("power_in_range", None, None, "W", "unknown",
                       attribution.not_measured_reason or "energy was not measured")]
    windows = [steady.window_ns] if steady.window_ns else None
    out = []
    for d, (curve, _model) in sorted(attribution.curves.items()):
        dev = attribution.devices[d]
        if not dev.in_total:
            continue
        spans = windows or _sessions(view)
        edges = curve.energy_at(np.asarray(spans, dtype=np.int64).ravel())
        seconds = sum(b - a for a, b in spans) / 1e9
        mean_w = finite(float((edges[1::2] - edges[0::2]).sum()) / seconds) if seconds > 0 else None
        idle_w, tdp_w = dev.baseline_power_w, _tdp_w(view, d)
        threshold = {"min_w": finite(idle_w), "max_w": tdp_w}
        missing = [why for bound, why in ((idle_w, "no idle baseline (no idle readings)"),
                                          (tdp_w, "no TDP in the device's metadata")) if bound is None]
        untestable = _untestable(dev.source, idle_w, tdp_w)
        if mean_w is None:
            out.append(_check("power_in_range", None, threshold, "W", "unknown", "no window to average over", d))
        elif untestable:
            out.append(_check("power_in_range", mean_w, threshold, "W", "unknown", "; ".join(untestable + missing), d))
        elif (idle_w is not None and mean_w < idle_w) or (tdp_w is not None and mean_w > tdp_w):
            out.append(_check("power_in_range", mean_w, threshold, "W", "fail", None, d))
        elif missing:
            out.append(_check("power_in_range", mean_w, threshold, "W", "unknown", "; ".join(missing), d))
        else:
            out.append(_check("power_in_range", mean_w, threshold, "W", "pass", None, d))
    return out


def _sessions(view: RunView) -> list[tuple[int, int]]:
    from ._sessions import session_windows_ns

    measured = view.measured_queries()
    return session_windows_ns(view, [q.start_ns for q in measured], [q.end_ns for q in measured])


def _merged_s(spans: list[tuple[int, int]]) -> float:
    """Seconds covered by the union of ``spans``."""
    total, reach = 0, None
    for a, b in sorted(spans):
        if reach is None or a > reach:
            total += b - a
            reach = b
        elif b > reach:
            total += b - reach
            reach = b
    return total / 1e9


def coverage_of(t_ns: np.ndarray, window: tuple[int, int], interval_ns: float,
                lost: list[tuple[int, int]]) -> float:
    """The share of ``window`` covered by readings ``t_ns``: not in a stretch over 2 intervals, nor lost."""
    lo, hi = window
    t = np.sort(np.asarray(t_ns, dtype=np.int64))
    before, after = t[t <= lo], t[t >= hi]
    points = np.concatenate(([before[-1] if len(before) else lo], t[(t > lo) & (t < hi)],
                             [after[0] if len(after) else hi]))
    wide = np.flatnonzero(np.diff(points) > GAP_INTERVALS * interval_ns)
    holes = [(max(int(points[i]), lo), min(int(points[i + 1]), hi)) for i in wide]
    holes = [(max(a, lo), min(b, hi)) for a, b in holes + list(lost) if min(b, hi) > max(a, lo)]
    return max(0.0, 1.0 - _merged_s(holes) / ((hi - lo) / 1e9))


def _coverage_checks(view: RunView, attribution: Any) -> list[dict[str, Any]]:
    window = attribution.window_ns
    if not attribution.measured or window is None or window[1] <= window[0]:
        why = (attribution.not_measured_reason or "energy was not measured") if not attribution.measured \
            else "no measured window"
        return [_check("monitor_coverage", None, MIN_COVERAGE, None, "unknown", why)]
    configured = view.config.get("sample_interval_ms")
    lost = telemetry_gaps(view, window)
    out = []
    for d in sorted(attribution.devices):
        dev = attribution.devices[d]
        if not dev.in_total:
            continue
        t = view.power[d].t_ns
        interval_ns = float(configured) * 1e6 if configured else (median(np.diff(t)) if len(t) > 1 else math.inf)
        spans = _sessions(view)  # the pause before a --resume is not part of the run
        seconds = sum(b - a for a, b in spans) / 1e9
        share = sum(coverage_of(t, (a, b), interval_ns, [] if dev.source == "imported" else lost) * (b - a) / 1e9
                    for a, b in spans) / seconds if seconds > 0 else 1.0
        out.append(_check("monitor_coverage", finite(share), MIN_COVERAGE, None,
                          "pass" if share >= MIN_COVERAGE else "fail", None, d))
    return out


def validity_block(view: RunView, attribution: Any, steady: SteadyState, min_steady: float) -> dict[str, Any]:
    """Every check of the module docstring for one run, and the verdict over them."""
    checks = [_check("steady_state_s", steady.duration_s, min_steady, "s",
                     "pass" if steady.window_ns and steady.duration_s >= min_steady else "fail", steady.reason)]
    if steady.target_in_flight is None or steady.mean_in_flight is None:
        checks.append(_check("mean_in_flight", None, None, "queries", "unknown", steady.reason))
    else:
        need = IN_FLIGHT_FRACTION * steady.target_in_flight
        checks.append(_check("mean_in_flight", finite(steady.mean_in_flight), need, "queries",
                             "pass" if steady.mean_in_flight >= need else "fail",
                             None if steady.window_ns else "no steady state: the mean over the whole run"))
    checks += _power_checks(view, attribution, steady)
    checks += _coverage_checks(view, attribution)
    named = [(c["check"] + (f"[{c['device']}]" if "device" in c else ""), c["status"]) for c in checks]
    failures = [n for n, s in named if s == "fail"]
    unknown = [n for n, s in named if s == "unknown"]
    return {"valid": False if failures else (None if unknown else True), "failures": failures, "unknown": unknown,
            "steady_state": steady.window_dict(), "checks": checks}
