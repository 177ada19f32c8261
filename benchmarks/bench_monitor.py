"""Benchmark: the energy monitor's achieved sampling rate and CPU cost at 100 Hz.

Starts a real monitor subprocess with the ``estimate`` collector (it works on
any machine) at a 10 ms interval, streams from it like ipw does, and reports

- ``monitor_achieved_hz``: samples per second of ``cpu:estimate``, from the
  monitor's own timestamps over the window (target >= 95);
- ``monitor_cpu_percent``: the monitor process's CPU time over the window as a
  percentage of one core (target <= 3).

    python benchmarks/bench_monitor.py [--duration 5] [--collectors nvml --device nvidia:0]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

import psutil

from ipw.capture.telemetry import MonitorLauncher, TelemetrySession
from ipw.events import Event, PowerSample

INTERVAL_MS = 10
DEVICE = "cpu:estimate"


def run_monitor_benchmark(duration_s: float = 5.0, collectors: str = "estimate", device: str = DEVICE) -> dict[str, float]:
    """Measure a real monitor at 100 Hz for ``duration_s``; see the module docstring.

    ``collectors`` and ``device`` measure another collector instead (``nvml``, ``nvidia:0``).
    """
    t_ns: list[int] = []
    lock = threading.Lock()

    def sink(event: Event) -> None:
        if isinstance(event, PowerSample) and event.device == device:
            with lock:
                t_ns.append(event.t_ns)

    with MonitorLauncher(interval_ms=INTERVAL_MS, collectors=collectors) as launcher:
        assert launcher.endpoint is not None and launcher.pid is not None
        process = psutil.Process(launcher.pid)
        with TelemetrySession(launcher.endpoint, sink, INTERVAL_MS):
            time.sleep(0.5)  # let start-up work (imports, first batches) fall outside the window
            with lock:
                start = len(t_ns)
            cpu0, wall0 = process.cpu_times(), time.monotonic()
            time.sleep(duration_s)
            cpu1, wall1 = process.cpu_times(), time.monotonic()
            with lock:
                window = t_ns[start:]
    cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    span_s = (window[-1] - window[0]) / 1e9 if len(window) > 1 else 0.0
    return {
        "monitor_achieved_hz": (len(window) - 1) / span_s if span_s > 0 else 0.0,
        "monitor_cpu_percent": 100.0 * cpu_s / (wall1 - wall0),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds to measure (default 5)")
    parser.add_argument("--collectors", default="estimate", help="collectors to run (default estimate)")
    parser.add_argument("--device", default=DEVICE, help=f"device whose samples are counted (default {DEVICE})")
    args = parser.parse_args(argv)
    return run_monitor_benchmark(args.duration, args.collectors, args.device)


if __name__ == "__main__":
    print(json.dumps(main()))
