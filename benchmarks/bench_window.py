"""How close a short window's energy gets to the truth, through the real monitor, its Read rpc and the analysis.

The truth model
    One device whose power is a known piecewise-linear function of time
    (:data:`PROFILE`: steps between 80 and 400 W and ramps, period 3.1 s, so
    window edges land on every kind of stretch). Its cumulative energy is the
    exact integral, so the true energy of any window [a, b] is E(b) − E(a).
    :class:`KnownPowerCollector` reads that function: an exact counter (or,
    with ``counter_update_s``, one refreshed only that often, like NVML's).

What is measured
    ``energy_window_error_percent_max``: a real in-process energy monitor
    (gRPC, default 100 ms interval) streams the device into a
    TelemetrySession; for each window length in :data:`WINDOWS_S` (0.05 s to
    10 s) the session takes a bracket read, a "query" runs for the window, a
    bracket read follows, and the energy analysis's run total is compared with
    the exact integral between the query's edges. The figure is the largest
    relative error over windows of 0.1 s and more (the target is 1 %);
    ``energy_window_error_percent_by_window`` lists every window, 0.05 s too,
    and ``energy_window_inside_bound`` says whether the truth lay inside the
    reported bound each time.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any, Callable

import numpy as np

from ipw.events import DeviceSeen, Event, PowerSample, QueryFinished, QueryStarted, RunStarted
from ipw_energy_monitor.collectors.base import Capabilities, Collector, DeviceInfo, Reading

WINDOWS_S = (0.05, 0.1, 0.2, 0.37, 0.73, 1.0, 2.4, 4.6, 10.0)
PERIOD_S = 3.1
# (time in the period, watts): a repeated time is a step; otherwise power ramps linearly between knots
PROFILE = ((0.0, 80.0), (0.4, 80.0), (0.4, 400.0), (0.9, 400.0), (1.5, 150.0), (1.5, 300.0),
           (2.2, 300.0), (2.2, 90.0), (2.7, 250.0), (3.1, 80.0))


class Profile:
    """A periodic piecewise-linear power P(t) and its exact integral E(t) (t in seconds)."""

    def __init__(self, knots: tuple[tuple[float, float], ...] = PROFILE, period_s: float = PERIOD_S) -> None:
        self.t = np.array([k[0] for k in knots])
        self.w = np.array([k[1] for k in knots])
        self.period_s = period_s
        seg = np.diff(self.t) * (self.w[:-1] + self.w[1:]) / 2.0
        self.cum = np.concatenate(([0.0], np.cumsum(seg)))

    def _in_period(self, x: float) -> tuple[int, float]:
        k = min(int(np.searchsorted(self.t, x, side="right")) - 1, len(self.t) - 2)
        return k, x - self.t[k]

    def power_w(self, t_s: float) -> float:
        k, dx = self._in_period(t_s % self.period_s)
        h = self.t[k + 1] - self.t[k]
        return float(self.w[k] + (self.w[k + 1] - self.w[k]) * dx / h) if h > 0 else float(self.w[k + 1])

    def energy_j(self, t_s: float) -> float:
        whole, x = divmod(t_s, self.period_s)
        k, dx = self._in_period(x)
        h = self.t[k + 1] - self.t[k]
        slope = (self.w[k + 1] - self.w[k]) / h if h > 0 else 0.0
        return float(whole * self.cum[-1] + self.cum[k] + self.w[k] * dx + slope * dx * dx / 2.0)


class KnownPowerCollector(Collector):
    """A device whose energy is a known function of ``clock()``: stands in for a GPU's NVML counter.

    ``counter_update_s`` > 0 makes the counter refresh only that often (a
    read returns the value of the last refresh), as NVML's does; it is
    declared in the device's metadata for the analysis's sensor model.
    """

    name = "known"

    def __init__(self, profile: Profile, clock: Callable[[], int] = time.monotonic_ns, *, t0_ns: int = 0,
                 counter: bool = True, counter_update_s: float = 0.0, device: str = "gpu:0") -> None:
        super().__init__()
        self.profile, self.clock, self.t0_ns = profile, clock, t0_ns
        self.counter, self.counter_update_s, self.device = counter, counter_update_s, device

    def _open(self) -> None:
        return None

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(self.device, "gpu", "known power", "test", Capabilities(energy_counter=self.counter, power=True),
                           self.name, {"counter_update_s": f"{self.counter_update_s:g}", "power_average_s": "0"})]

    def true_energy_j(self, t_ns: int) -> float:
        return self.profile.energy_j((t_ns - self.t0_ns) / 1e9)

    def read(self) -> list[Reading]:
        t_ns = self.clock()
        t_s = (t_ns - self.t0_ns) / 1e9
        power = self.profile.power_w(t_s)
        if not self.counter:
            return [Reading(self.device, t_ns, power_w=power)]
        if self.counter_update_s > 0:
            t_s = np.floor(t_s / self.counter_update_s) * self.counter_update_s
        return [Reading(self.device, t_ns, power_w=power, energy_j=self.profile.energy_j(t_s))]


def window_view(events: list[Event], a_ns: int, b_ns: int) -> Any:
    """A RunView of one query over [a, b] with every power event recorded."""
    from ipw.replay import build_view

    run = [RunStarted(run_id="window", t_ns=0, wall_time_ns=0), QueryStarted(query_id=0, t_ns=a_ns, record_id="w"), QueryFinished(query_id=0, t_ns=b_ns)]
    return build_view([run + events])


def _measure(events: list[Event], windows: list[tuple[float, int, int]], truth: Callable[[int], float]) -> dict[str, Any]:
    from ipw.analyses.energy import per_query_energy

    errors: dict[str, float] = {}
    inside = True
    for length_s, a_ns, b_ns in windows:
        result = per_query_energy(window_view(events, a_ns, b_ns))
        true_j = truth(b_ns) - truth(a_ns)
        got_j = result.total_energy_j
        if got_j is None or result.total_energy_j_bound is None:
            errors[f"{length_s:g}"] = float("nan")
            inside = False
            continue
        errors[f"{length_s:g}"] = round(abs(got_j - true_j) / true_j * 100.0, 4)
        inside = inside and abs(got_j - true_j) <= result.total_energy_j_bound + 1e-9
    long_enough = [e for k, e in errors.items() if float(k) >= 0.1]
    return {
        "energy_window_error_percent_max": max(long_enough),
        "energy_window_error_percent_by_window": errors,
        "energy_window_inside_bound": inside,
    }


def run_window_benchmark(interval_ms: int = 100, seed: int = 0) -> dict[str, Any]:
    """Windows of 0.05–10 s through the real monitor (gRPC), bracket reads and the energy analysis."""
    from ipw.capture.telemetry import TelemetrySession
    from ipw_energy_monitor.server import MonitorServer

    rng = random.Random(seed)
    collector = KnownPowerCollector(Profile(), t0_ns=time.monotonic_ns())
    events: list[Event] = []
    lock = threading.Lock()

    def sink(event: Event) -> None:
        with lock:
            events.append(event)

    windows: list[tuple[float, int, int]] = []
    with MonitorServer([collector], interval_ms=interval_ms) as server:
        with TelemetrySession(server.address, sink, interval_ms) as session:
            for length_s in WINDOWS_S:
                time.sleep(rng.uniform(0.0, interval_ms / 1000.0))  # the edges fall anywhere between samples
                session.read_bracket("start")
                a_ns = time.monotonic_ns()
                time.sleep(length_s)
                b_ns = time.monotonic_ns()
                session.read_bracket("end")
                windows.append((length_s, a_ns, b_ns))
            time.sleep(2 * interval_ms / 1000.0)
    with lock:
        power = [e for e in events if isinstance(e, (PowerSample, DeviceSeen))]
    result = _measure(power, windows, collector.true_energy_j)
    brackets = np.array([e.t_ns for e in power if isinstance(e, PowerSample) and e.bracket])
    edges = np.array([t for _, a, b in windows for t in (a, b)])
    if len(brackets):  # how far each edge lies from its nearest bracket read
        gaps = np.min(np.abs(brackets[None, :] - edges[:, None]), axis=1)
        result["energy_window_bracket_gap_ms_max"] = round(float(gaps.max()) / 1e6, 3)
    return result


if __name__ == "__main__":
    print(json.dumps(run_window_benchmark(), indent=2))
