"""The two energy benchmark scripts run and report what they promise (short windows here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from .fakes import FakeGpu, FakeNvml

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"ipw_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_monitor_benchmark_reports_rate_and_cpu(monkeypatch):
    monkeypatch.delenv("IPW_ENERGY_MONITOR", raising=False)
    result = _load("bench_monitor").run_monitor_benchmark(duration_s=1.5)
    assert set(result) == {"monitor_achieved_hz", "monitor_cpu_percent"}
    # it measured a rate and a CPU cost; whether they meet the 95 Hz / 3 % targets depends on the machine,
    # so benchmarks/run.py reports them and no test holds them
    assert result["monitor_achieved_hz"] > 0 and result["monitor_cpu_percent"] > 0


def test_nvml_agreement_compares_counter_and_integrated_power(monkeypatch):
    fake = FakeNvml([FakeGpu("GPU-00000000-0000-0000-0000-000000000000", power_w=200.0)])
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)  # stands in for NVIDIA's library
    monkeypatch.setitem(sys.modules, "torch", None)  # no load on this machine: the script says so
    result = _load("nvml_agreement").measure(load_s=0.4, margin_s=0.2)
    assert (result["name"], result["driver"]) == ("NVIDIA H100 80GB HBM3", "580.159.04")
    assert result["load"].startswith("no load: torch is not installed")
    assert result["counter_reads"] >= 5 and result["power_samples"] > 3 * result["counter_reads"]
    assert result["counter_energy_j"] == pytest.approx(200.0 * result["window_s"], rel=0.02)
    assert result["disagreement_percent"] < 1.0 and result["within_5_percent"] is True
    assert not fake.initialized  # NVML shut down again
