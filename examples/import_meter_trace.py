"""Bring a wall-plug power meter's log into a run, and see the energy analysis use it.

What it shows: a meter that logs ``timestamp,power_w`` rows (Unix seconds)
while a run is captured (:func:`ipw.api.record`), ``ipw ledger import-power`` aligning that log to the
run's clock through the wall-clock anchor in ``run_started`` (every sample
marked ``imported``, the meter a ``system`` device), and the energy
analysis (``ipw replay --analysis energy``, here :func:`ipw.api.analyse`)
integrating it: total and per-query joules, mean watts.

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
import threading
import time
from pathlib import Path

import psutil

from _local import ipw, output_dir, run, server_config
from ipw import api

IDLE_W = 30.0
W_PER_CPU_PERCENT = 0.4


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
    out = output_dir()

    with SimulatedMeter() as meter:
        time.sleep(0.3)  # the meter is already logging when the run starts
        metered = str(api.record(server_config(out, "metered", client_params={"api": "completions"}, max_queries=4,
                                               gen_params={"max_tokens": 8}, energy="none")).run_dir)
        time.sleep(0.3)
    trace = out / "wallplug.csv"
    meter.write_csv(trace)
    print(f"recorded {metered}; the meter logged {len(meter.rows)} readings to {trace}")

    print(ipw("ledger", "import-power", metered, str(trace), "--device", "meter:wall").strip())
    print(ipw("ledger", "verify", metered).strip())
    energy = api.analyse(Path(metered), ["energy"], {"devices": "system"}).results["energy"]
    device = energy["devices"]["meter:wall"]
    print(f"meter:wall ({device['device_type']}, {device['source']}): {device['samples']} samples, "
          f"mean {device['mean_power_w']:.1f} W")
    print(f"energy over the run's activity ({energy['window']['span_s']:.2f} s): {energy['total_energy_j']:.1f} J, "
          f"{energy['idle_energy_j']:.1f} J of it idle; provenance {energy['provenance']}")
    for query in energy["per_query"]:
        print(f"  {query['record_id']}: {query['energy_j']:.2f} J")
    print(f"wrote {Path(metered) / 'analysis' / 'energy.json'}")


if __name__ == "__main__":
    run(main)
