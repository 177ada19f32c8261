"""The amdsmi collector against a stand-in for ROCm's amdsmi bindings."""

from __future__ import annotations

import sys
import time

import pytest

from ipw_energy_monitor.collectors import DevicePermissionError
from ipw_energy_monitor.collectors.amdsmi import AmdSmiCollector

from .fakes import FakeAmdGpu, FakeAmdSmi


@pytest.fixture
def amd(monkeypatch: pytest.MonkeyPatch) -> FakeAmdSmi:
    fake = FakeAmdSmi([FakeAmdGpu(power_w=300.0), FakeAmdGpu(uuid="b2", power_w=120.0, has_energy_counter=False)])
    monkeypatch.setitem(sys.modules, "amdsmi", fake.module)
    return fake


def _read_for(collector: AmdSmiCollector, seconds: float) -> dict[str, list]:
    out: dict[str, list] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for reading in collector.read():
            out.setdefault(reading.device, []).append(reading)
        time.sleep(0.01)
    return out


def test_counter_when_present_power_otherwise(amd):
    collector = AmdSmiCollector()
    collector.require()
    devices = {d.device: d for d in collector.devices()}
    assert devices["amd:0"].name == "AMD Instinct MI300X" and devices["amd:0"].vendor == "AMD"
    assert devices["amd:0"].capabilities.energy_counter and not devices["amd:1"].capabilities.energy_counter
    readings = _read_for(collector, 0.6)
    for device, watts, source in (("amd:0", 300.0, "measured"), ("amd:1", 120.0, "derived")):
        series = readings[device]
        assert {r.source for r in series} == {source}
        assert {r.power_w for r in series} == {watts}  # "N/A" fields are skipped for the first number
        rate_w = (series[-1].energy_j - series[0].energy_j) / ((series[-1].t_ns - series[0].t_ns) / 1e9)
        assert rate_w == pytest.approx(watts, rel=0.03)
    assert readings["amd:0"][0].temperature_c == 52.0 and readings["amd:0"][0].memory_used_bytes == 4 << 30
    collector.close()


def test_permission_error_is_typed(amd):
    amd.gpus[0].no_permission = True
    collector = AmdSmiCollector()
    with pytest.raises(DevicePermissionError) as info:
        collector.require()
    assert "amd:0" in info.value.message and "render" in info.value.one_line()


def test_error_mid_run_is_reported_once(amd):
    collector = AmdSmiCollector()
    collector.require()
    collector.read()
    amd.gpus[1].no_permission = True
    assert [r.device for r in collector.read()] == ["amd:0"]
    assert [r.device for r in collector.read()] == ["amd:0"]
    (status,) = collector.take_statuses()
    assert status.device == "amd:1" and status.status == "error" and "no permission" in status.message
    amd.gpus[1].no_permission = False
    assert [r.device for r in collector.read()] == ["amd:0", "amd:1"]
    assert [s.status for s in collector.take_statuses()] == ["ok"]
