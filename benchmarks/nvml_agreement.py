"""NVML agreement: does integrated power agree with the GPU's own energy counter?

For an NVIDIA machine. Runs a GPU load (a torch matmul loop, when torch with
CUDA is installed) for ``--load-s`` seconds, with idle margins before and
after, while sampling NVML: power (``nvmlDeviceGetPowerUsage``, mW) at 100 Hz
and the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ)
every 100 ms, as the energy monitor does (on an H200 the counter advances
about ten times a second and one read costs about 4 ms of CPU). It integrates
power by the trapezoid rule and prints one JSON object with both joule figures
and their disagreement in percent of the counter (target: within 5 %).

The margins matter: on recent GPUs the power reading is a moving average, so
it lags the load by up to a second at each edge; sampling from idle to idle
lets the lag at the start and at the end cancel.

Needs only nvidia-ml-py (``pip install nvidia-ml-py``) and, for the load, torch.

    python benchmarks/nvml_agreement.py [--load-s 30] [--gpu 0] [--interval-ms 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any


def _load(stop: threading.Event, gpu: int, started: threading.Event) -> str:
    try:
        import torch
    except ImportError:
        started.set()
        return "no load: torch is not installed, so the GPU idles (the check still compares both figures)"
    if not torch.cuda.is_available():
        started.set()
        return "no load: torch sees no CUDA device"
    device = torch.device(f"cuda:{gpu}")
    a = torch.randn(8192, 8192, device=device, dtype=torch.float16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.float16)
    torch.cuda.synchronize(device)
    started.set()
    rounds = 0
    while not stop.is_set():
        for _ in range(20):
            a = (a @ b) * 1e-3
        torch.cuda.synchronize(device)
        rounds += 20
    return f"torch fp16 matmul 8192x8192 on cuda:{gpu}, {rounds} rounds"


def measure(load_s: float = 30.0, gpu: int = 0, interval_ms: int = 10, margin_s: float = 3.0,
            counter_interval_ms: int = 100) -> dict[str, Any]:
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(gpu)
        name = pynvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        samples: list[tuple[int, int]] = []  # (t_ns, power_mw)
        counter: list[tuple[int, int]] = []  # (t_ns, energy_mj)
        stop_sampling = threading.Event()

        def sample() -> None:
            interval_ns = interval_ms * 1_000_000
            next_ns = counter_due_ns = time.monotonic_ns()
            while not stop_sampling.is_set():
                t_ns = time.monotonic_ns()
                samples.append((t_ns, pynvml.nvmlDeviceGetPowerUsage(handle)))
                if t_ns >= counter_due_ns:
                    counter.append((t_ns, pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)))
                    counter_due_ns = t_ns + counter_interval_ms * 1_000_000
                next_ns += interval_ns
                delay_ns = next_ns - time.monotonic_ns()
                if delay_ns > 0:
                    time.sleep(delay_ns / 1e9)
                elif -delay_ns >= interval_ns:  # a whole interval behind: drop it rather than burst
                    next_ns += (-delay_ns // interval_ns) * interval_ns

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(margin_s)
        stop_load, started = threading.Event(), threading.Event()
        load_note: list[str] = []
        loader = threading.Thread(target=lambda: load_note.append(_load(stop_load, gpu, started)), daemon=True)
        loader.start()
        started.wait(120)
        time.sleep(load_s)
        stop_load.set()
        loader.join()
        time.sleep(margin_s)
        stop_sampling.set()
        sampler.join()
        counter.append((time.monotonic_ns(), pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)))
        samples.append((counter[-1][0], pynvml.nvmlDeviceGetPowerUsage(handle)))
    finally:
        pynvml.nvmlShutdown()
    # Both figures over the same span: from the first counter read to the last.
    counter_j = (counter[-1][1] - counter[0][1]) / 1000.0
    integrated_j = sum((p0 + p1) / 2000.0 * (t1 - t0) / 1e9 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))
    span_s = (samples[-1][0] - samples[0][0]) / 1e9
    disagreement = abs(integrated_j - counter_j) / counter_j * 100.0 if counter_j else float("nan")
    return {
        "gpu": gpu,
        "name": name,
        "driver": driver,
        "load": load_note[0] if load_note else "",
        "window_s": span_s,
        "power_samples": len(samples),
        "achieved_hz": (len(samples) - 1) / span_s if span_s else 0.0,
        "counter_reads": len(counter),
        "counter_energy_j": counter_j,
        "integrated_power_energy_j": integrated_j,
        "mean_power_w": counter_j / span_s if span_s else 0.0,
        "peak_power_w": max(p for _, p in samples) / 1000.0,
        "disagreement_percent": disagreement,
        "within_5_percent": disagreement <= 5.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-s", type=float, default=30.0, help="seconds of GPU load (default 30)")
    parser.add_argument("--gpu", type=int, default=0, help="NVML index of the GPU (default 0)")
    parser.add_argument("--interval-ms", type=int, default=10, help="sampling interval (default 10 ms: 100 Hz)")
    parser.add_argument("--margin-s", type=float, default=3.0, help="idle seconds sampled before and after the load")
    args = parser.parse_args(argv)
    try:
        import pynvml
    except ImportError:
        print("nvml_agreement: error: the pynvml module is missing; pip install nvidia-ml-py", file=sys.stderr)
        return 8
    try:
        result = measure(args.load_s, args.gpu, args.interval_ms, args.margin_s)
    except pynvml.NVMLError as exc:
        print(f"nvml_agreement: error: NVML failed: {exc} (is the NVIDIA driver loaded? does nvidia-smi work?)",
              file=sys.stderr)
        return 7
    print(json.dumps(result, indent=2))
    return 0 if result["within_5_percent"] else 1


if __name__ == "__main__":
    sys.exit(main())
