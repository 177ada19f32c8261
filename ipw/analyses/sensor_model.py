"""The sensor model: how far a device's energy over a window can be from the true joules.

The rules are specified in :mod:`ipw.analyses.energy` (section "Uncertainty");
this module holds the per-device inputs (:class:`SensorSpec`, declared in
``device_seen.metadata`` or defaulted by collector) and the arithmetic
(:class:`DeviceBounds`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..replay.engine import RunView
from .attribution import Activity, EnergyCurve

__all__ = ["SensorSpec", "COLLECTOR_SPECS", "sensor_spec", "DeviceBounds", "query_bounds_j", "uncertain",
           "BRACKET_TOLERANCE_NS", "UNCERTAIN_FRACTION", "NOT_MEASURED_SHORT"]

BRACKET_TOLERANCE_NS = 50_000_000
"""A bracket read further than this from a window's edge does not count as bracketing it."""
UNCERTAIN_FRACTION = 0.05
"""A figure whose bound exceeds this fraction of its value is flagged as uncertain."""
NOT_MEASURED_SHORT = "not measured: shorter than one sample"
ESTIMATE_ERROR_FRACTION = 0.5
"""The relative error of an ``estimated`` device that declares none (a utilisation × TDP model)."""


@dataclass(frozen=True)
class SensorSpec:
    """What limits one device's readings, in seconds (and a fraction for a model)."""

    counter_update_s: float = 0.0  # how often the hardware refreshes its energy counter: a read is this stale at most
    power_average_s: float = 0.0  # the window a power reading averages over
    model_error_fraction: float = 0.0  # an estimate's relative error; 0 for a measurement

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


COLLECTOR_SPECS: dict[str, SensorSpec] = {
    # NVML's total-energy counter advances about every 100 ms; its power reading is a 1 s average
    # on Ampere and later (older GPUs report faster, so 1 s is the conservative choice)
    "nvml": SensorSpec(counter_update_s=0.1, power_average_s=1.0),
    "amdsmi": SensorSpec(counter_update_s=0.001, power_average_s=1.0),
    "rapl": SensorSpec(counter_update_s=0.001),  # RAPL refreshes its counters about every millisecond
    "powermetrics": SensorSpec(power_average_s=0.1),  # a power figure per sample interval
    # busy time is counted in 10 ms kernel ticks; the utilisation x TDP model itself is rough
    "estimate": SensorSpec(counter_update_s=0.01, power_average_s=0.2, model_error_fraction=ESTIMATE_ERROR_FRACTION),
}


def _declared(metadata: dict[str, Any], key: str, default: float) -> float:
    try:
        value = float(metadata[key])
    except (KeyError, TypeError, ValueError):
        return default
    return value if math.isfinite(value) and value >= 0 else default


def sensor_spec(view: RunView, device: str, source: str) -> SensorSpec:
    """The device's declared :class:`SensorSpec`, else its collector's, else a perfect sensor."""
    seen = view.devices.get(device)
    base = COLLECTOR_SPECS.get(seen.collector if seen is not None else "", SensorSpec())
    if source == "estimated" and not base.model_error_fraction:
        base = SensorSpec(base.counter_update_s, base.power_average_s, ESTIMATE_ERROR_FRACTION)
    meta = dict(seen.metadata) if seen is not None else {}
    return SensorSpec(
        _declared(meta, "counter_update_s", base.counter_update_s),
        _declared(meta, "power_average_s", base.power_average_s),
        _declared(meta, "model_error_fraction", base.model_error_fraction),
    )


class DeviceBounds:
    """Error bounds of one device's :class:`EnergyCurve`, from its readings and its :class:`SensorSpec`."""

    def __init__(self, curve: EnergyCurve, spec: SensorSpec, source: str, bracket_t_ns: np.ndarray) -> None:
        self.spec = spec
        self.t_ns = t = curve.sample_t_ns  # every reading, bracket reads included
        self.bracket_t_ns = np.sort(np.asarray(bracket_t_ns, dtype=np.int64))
        e = curve.energy_at(t)
        self.counter = curve.method == "counter"
        by_power = not self.counter or source == "derived"
        self.lag_s = spec.power_average_s if by_power else spec.counter_update_s
        self.h_s = h = np.diff(t).astype(np.float64) / 1e9
        # a stale counter can put a whole refresh into a short interval: no power is read off less than one
        mean_w = np.abs(np.diff(e)) / np.maximum(h, spec.counter_update_s if self.counter else 0.0)
        pad = np.concatenate((mean_w[:1], mean_w, mean_w[-1:]))
        local = np.maximum(np.maximum(pad[:-2], pad[1:-1]), pad[2:])  # an interval and its neighbours
        eps = np.zeros(len(h))
        if curve.power_w is not None:
            x = (t - curve.origin_ns).astype(np.float64) / 1e9
            p = np.abs(np.interp(x, curve.knots_s, curve.power_w))
            local = np.maximum(local, np.maximum(p[:-1], p[1:]))
            eps = np.abs(np.diff(p)) * h / 2.0  # a step inside the interval, missed by the trapezoid
        self.local_w = local
        self.cum_eps = np.concatenate(([0.0], np.cumsum(eps)))

    def _parts(self, x_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(interpolation error in J, local power in W) at each time."""
        t, x = self.t_ns, np.asarray(x_ns, dtype=np.int64)
        n = len(t)
        k = np.searchsorted(t, x, side="right") - 1
        kk = np.clip(k, 0, n - 2)
        local = self.local_w[kk]
        h = self.h_s[kk]
        f = np.clip((x - t[kk]).astype(np.float64) / 1e9 / h, 0.0, 1.0)
        outside_s = np.where(x < t[0], (t[0] - x) / 1e9, np.where(x > t[-1], (x - t[-1]) / 1e9, 0.0))
        inside = (k >= 0) & (k < n - 1)
        return np.where(inside, local * h * f * (1.0 - f), local * outside_s), local

    def boundary_j(self, x_ns: np.ndarray) -> np.ndarray:
        """The bound on E(x) at each boundary: interpolation plus a whole lag at the local power."""
        interp, local = self._parts(x_ns)
        return interp + local * self.lag_s

    def interior_j(self, a_ns: np.ndarray, b_ns: np.ndarray) -> np.ndarray:
        """Power steps the trapezoid missed, in the sample intervals overlapping each [a, b]."""
        t = self.t_ns
        lo = np.clip(np.searchsorted(t, a_ns, side="right") - 1, 0, len(t) - 1)
        hi = np.clip(np.searchsorted(t, b_ns, side="left"), 0, len(t) - 1)
        return np.maximum(self.cum_eps[np.maximum(hi, lo)] - self.cum_eps[lo], 0.0)

    def window_j(self, a_ns: int, b_ns: int, value_j: float) -> float:
        """The bound on E(b) − E(a): both edges, the larger lag, the missed steps, the model error."""
        interp, local = self._parts(np.array([a_ns, b_ns], dtype=np.int64))
        inner = self.interior_j(np.array([a_ns]), np.array([b_ns]))[0]
        return float(interp.sum() + local.max() * self.lag_s + inner + self.spec.model_error_fraction * abs(value_j))

    def readings_in(self, a_ns: int, b_ns: int) -> int:
        return int(np.searchsorted(self.t_ns, b_ns, side="right") - np.searchsorted(self.t_ns, a_ns, side="left"))

    def bracketed(self, t_ns: int) -> bool:
        """Whether a bracket read lies within :data:`BRACKET_TOLERANCE_NS` of ``t_ns``."""
        b = self.bracket_t_ns
        return bool(len(b)) and bool(np.min(np.abs(b - t_ns)) <= BRACKET_TOLERANCE_NS)

    def measured(self, a_ns: int, b_ns: int) -> bool:
        """Whether the readings measure [a, b]: one lies inside it or a bracket read at an edge; for a
        counter, readings on both sides also do (it counted the interval holding the window). A window
        past the readings is extrapolation, and power readings around a window do not resolve it."""
        if b_ns <= a_ns or self.readings_in(a_ns, b_ns) > 0 or self.bracketed(a_ns) or self.bracketed(b_ns):
            return True
        return self.counter and bool(self.t_ns[0] < a_ns) and bool(self.t_ns[-1] > b_ns)


def query_bounds_j(dev: DeviceBounds, act: Activity, bounds: np.ndarray, policy: str) -> np.ndarray:
    """The bound on every activity record's share of one device's energy, before the model error.

    An error δ_j in E at boundary b_j moves δ_j·(w_{j−1} − w_j) into a query whose
    weight in interval i is w_i (1/n_i under ``active``), so its bound is
    Σ_j e_j·|w_{j−1} − w_j|; ``tokens`` weights are only known to lie in [0, 1].
    """
    if len(bounds) < 2:  # every query has zero length: nothing to misattribute
        return np.zeros(len(act.start_ns))
    e = dev.boundary_j(bounds)
    si = np.searchsorted(bounds, act.start_ns)
    ei = np.searchsorted(bounds, act.end_ns)
    edges = e[si] + e[ei]
    if policy == "window":
        out = edges
    else:
        if policy == "active":
            m = len(bounds) - 1
            delta = np.bincount(si, minlength=m + 1) - np.bincount(ei, minlength=m + 1)
            inv = 1.0 / np.maximum(np.cumsum(delta)[:m], 1)
            jump = np.zeros(m + 1)
            jump[1:m] = np.abs(np.diff(inv))
            edges = e[si] * inv[np.minimum(si, m - 1)] + e[ei] * inv[np.maximum(ei - 1, 0)]
            c = np.cumsum(e * jump)
        else:
            c = np.cumsum(e)
        inner = np.where(ei - 1 > si, c[np.maximum(ei - 1, 0)] - c[si], 0.0)
        out = edges + inner
    out = np.where(ei > si, out, 0.0)
    return out + dev.interior_j(act.start_ns, act.end_ns)


def uncertain(value: float | None, bound: float | None) -> bool:
    """Whether ``bound`` is over :data:`UNCERTAIN_FRACTION` of ``value``."""
    if value is None or bound is None:
        return False
    return bound > UNCERTAIN_FRACTION * abs(value)
