"""Bring a wall-plug power meter's log into a run, and see the energy analysis use it.

What it shows: a meter that logs ``timestamp,power_w`` rows (Unix seconds)
while a run is captured, ``ipw ledger import-power`` aligning that log to the
run's clock through the wall-clock anchor in ``run_started`` (every sample
marked ``imported``, the meter a ``system`` device), and ``ipw replay
--analysis energy`` integrating it: total and per-query joules, mean watts.

There is no meter here, so a thread stands in for one: every 100 ms it logs
the wall time and a reading of 30 W plus 0.4 W per percent of CPU busy. With
a real meter, skip the thread and pass its CSV export instead, or give it to
the capture directly with ``ipw profile … --power-trace meter.csv``.

How to run it (with any OpenAI-compatible server on this machine, e.g.
``python -m llama_cpp.server`` serving the packaged gemma-3-270m on port 8000):

    IPW_EXAMPLE_BASE_URL=http://127.0.0.1:8000/v1 python examples/import_meter_trace.py out/

Settings (environment): ``IPW_EXAMPLE_BASE_URL`` (default
http://127.0.0.1:8000/v1), ``IPW_EXAMPLE_MODEL`` (default ``gemma``). The
output folder (first argument, default ``runs/examples``) must not already
hold a run named ``metered``; the meter's log is written there as
``wallplug.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

IDLE_W = 30.0
W_PER_CPU_PERCENT = 0.4


def ipw(*args: str) -> str:
    """Run one ``ipw`` command and return its stdout; on failure, exit with its code (it printed why)."""
    proc = subprocess.run([sys.executable, "-m", "ipw.cli", *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    return proc.stdout


class SimulatedMeter:
    """Logs (Unix time, watts) every ``interval_s`` until stopped, like a wall-plug meter."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.rows: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._log, daemon=True)

    def _log(self) -> None:
        psutil.cpu_percent(interval=None)  # the first reading only starts the measurement
        while not self._stop.wait(self.interval_s):
            self.rows.append((time.time(), IDLE_W + W_PER_CPU_PERCENT * psutil.cpu_percent(interval=None)))

    def __enter__(self) -> "SimulatedMeter":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def write_csv(self, path: Path) -> None:
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["timestamp", "power_w"])
            writer.writerows((f"{t:.3f}", f"{w:.2f}") for t, w in self.rows)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/examples")
    base_url = os.environ.get("IPW_EXAMPLE_BASE_URL", "http://127.0.0.1:8000/v1")
    model = os.environ.get("IPW_EXAMPLE_MODEL", "gemma")

    with SimulatedMeter() as meter:
        time.sleep(0.3)  # the meter is already logging when the run starts
        run = ipw(
            "record", "--client", "openai", "--client-base-url", base_url, "--model", model,
            "--client-param", "api=completions", "--max-queries", "4", "--gen-param", "max_tokens=8",
            "--energy", "none", "--output-dir", str(out), "--run-name", "metered",
        ).strip()
        time.sleep(0.3)
    trace = out / "wallplug.csv"
    meter.write_csv(trace)
    print(f"recorded {run}; the meter logged {len(meter.rows)} readings to {trace}")

    print(ipw("ledger", "import-power", run, str(trace), "--device", "meter:wall").strip())
    print(ipw("ledger", "verify", run).strip())
    energy = json.loads(ipw("replay", run, "--analysis", "energy", "--option", "devices=system", "--json"))
    device = energy["devices"]["meter:wall"]
    print(f"meter:wall ({device['device_type']}, {device['source']}): {device['samples']} samples, "
          f"mean {device['mean_power_w']:.1f} W")
    print(f"energy over the run's activity ({energy['window']['span_s']:.2f} s): {energy['total_energy_j']:.1f} J, "
          f"{energy['idle_energy_j']:.1f} J of it idle; provenance {energy['provenance']}")
    for query in energy["per_query"]:
        print(f"  {query['record_id']}: {query['energy_j']:.2f} J")
    print(f"wrote {Path(run) / 'analysis' / 'energy.json'}")


if __name__ == "__main__":
    main()
