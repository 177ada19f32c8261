"""The amdsmi collector against a stand-in for ROCm's amdsmi bindings."""

from __future__ import annotations

import sys

import pytest

from ipw_energy_monitor.collectors import DevicePermissionError
from ipw_energy_monitor.collectors.amdsmi import AmdSmiCollector

from ..fakes import FakeAmdGpu, FakeAmdSmi, FakeClock

STEP_NS = 10_000_000  # the fake clock moves 10 ms each time it is read
TICK_NS = 3 * STEP_NS  # a read takes it once to schedule temperature and memory, then once per GPU (two here)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(STEP_NS)


@pytest.fixture
def amd(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> FakeAmdSmi:
    fake = FakeAmdSmi([FakeAmdGpu(power_w=300.0), FakeAmdGpu(uuid="b2", power_w=120.0, has_energy_counter=False)],
                      clock=clock)
    monkeypatch.setitem(sys.modules, "amdsmi", fake.module)
    return fake


def _read_times(collector: AmdSmiCollector, count: int) -> dict[str, list]:
    out: dict[str, list] = {}
    for _ in range(count):
        for reading in collector.read():
            out.setdefault(reading.device, []).append(reading)
    return out


def test_counter_when_present_power_otherwise(amd, clock):
    collector = AmdSmiCollector(monotonic_ns=clock)
    collector.require()
    devices = {d.device: d for d in collector.devices()}
    assert devices["amd:0"].name == "AMD Instinct MI300X" and devices["amd:0"].vendor == "AMD"
    assert devices["amd:0"].capabilities.energy_counter and not devices["amd:1"].capabilities.energy_counter
    readings = _read_times(collector, 20)
    resolution_j = amd.gpus[0].counter_resolution_uj / 1e6
    for device, watts, source, within_j in (("amd:0", 300.0, "measured", resolution_j), ("amd:1", 120.0, "derived", 1e-9)):
        series = readings[device]
        assert len(series) == 20 and {r.source for r in series} == {source}
        assert {r.power_w for r in series} == {watts}  # "N/A" fields are skipped for the first number
        assert {b.t_ns - a.t_ns for a, b in zip(series, series[1:])} == {TICK_NS}  # stamped by the injected clock
        # each interval's energy is the power times its length on that clock: exactly for the integrated
        # power, to within one tick of the accumulator (15.259 uJ) for the counter
        for a, b in zip(series, series[1:]):
            assert abs((b.energy_j - a.energy_j) - watts * TICK_NS / 1e9) < within_j
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
