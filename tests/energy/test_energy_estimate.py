"""The estimated CPU collector: utilisation x TDP, always labelled estimated."""

from __future__ import annotations

import sys
import time

import pytest

from ipw.errors import ConfigError
from ipw_energy_monitor.collectors import probe_collectors
from ipw_energy_monitor.collectors.estimate import DEFAULT_W_PER_CPU, EstimatedCpuCollector, resolve_tdp


def test_tdp_from_flag_lookup_or_default():
    assert resolve_tdp(65.0, "anything", 8) == (65.0, "flag")
    watts, source = resolve_tdp(None, "AMD EPYC 7763 64-Core Processor", 128)
    assert watts == 280.0 and source.startswith("lookup")
    assert resolve_tdp(None, "Mystery CPU", 4) == (DEFAULT_W_PER_CPU * 4, f"default: {DEFAULT_W_PER_CPU:g} W x 4 logical CPUs")
    with pytest.raises(ConfigError):
        resolve_tdp(-1.0, "x", 1)


def test_readings_are_estimated_and_bounded_by_tdp():
    collector = EstimatedCpuCollector(40.0, cpu_count=None)
    collector.require()
    (info,) = collector.devices()
    assert info.device == "cpu:estimate" and info.device_type == "cpu"
    assert info.metadata["tdp_w"] == "40" and info.metadata["tdp_source"] == "flag"
    t0 = time.monotonic()
    readings = []
    while time.monotonic() - t0 < 0.5:
        readings.extend(collector.read())
        sum(i * i for i in range(20_000))  # some work so the CPU is not idle
    collector.close()
    assert {r.source for r in readings} == {"estimated"}
    energies = [r.energy_j for r in readings]
    assert energies == sorted(energies) and energies[-1] > 0
    elapsed_s = (readings[-1].t_ns - readings[0].t_ns) / 1e9
    # the model can never exceed TDP for the time elapsed (one 10 ms tick of slack per CPU)
    assert energies[-1] - energies[0] <= 40.0 * (elapsed_s + 0.02)
    assert all(0.0 <= r.power_w <= 40.0 * 1.5 for r in readings[5:])


def test_auto_uses_the_estimate_only_when_nothing_is_measured(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as on a machine without the vendor libraries
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    collectors, notes = probe_collectors("auto", rapl_root=str(tmp_path / "none"), cpu_tdp_w=20.0)
    assert [c.name for c in collectors] == ["estimate"]
    assert any("rapl" in n for n in notes) and any(n.startswith("estimate:") for n in notes)
    for collector in collectors:
        collector.close()
