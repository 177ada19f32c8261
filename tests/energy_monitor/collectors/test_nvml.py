"""The NVML collector against a stand-in pynvml module, through a real gRPC server."""

from __future__ import annotations

import sys

import pytest

from ipw.errors import BackendMissingError, CollectorError
from ipw.events import DeviceSeen, TelemetryStatus
from ipw_energy_monitor.collectors import DevicePermissionError, probe_collectors
from ipw_energy_monitor.collectors.base import PowerIntegrator
from ipw_energy_monitor.collectors.nvml import NvmlCollector, visible_indices

from ..fakes import FakeClock, FakeGpu, FakeNvml

UUIDS = ["GPU-1f2e3d4c-aaaa-bbbb-cccc-000000000000", "GPU-9a8b7c6d-aaaa-bbbb-cccc-111111111111"]


STEP_NS = 5_000_000  # the fake clock moves 5 ms each time it is read
TICK_NS = 3 * STEP_NS  # a tick reads it once to schedule the counter, then once per GPU (two here)
COUNTER_TICKS = -(-100_000_000 // TICK_NS)  # the counter is read on the first tick 100 ms after the last: every 7th


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(STEP_NS)


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch, clock: FakeClock):
    """Install a two-GPU stand-in for ``pynvml`` where the collector imports it, on ``clock``'s time."""
    fake = FakeNvml([FakeGpu(UUIDS[0], power_w=150.0), FakeGpu(UUIDS[1], power_w=90.0)], clock=clock)
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return fake


def test_counter_present_streams_measured_energy(nvml, clock, serve, session_for, event_log):
    server = serve([NvmlCollector(monotonic_ns=clock)])
    session = session_for(server.address)
    assert event_log.wait_samples("nvidia:1", 40)
    seen = {e.device: e for e in event_log.snapshot() if isinstance(e, DeviceSeen)}
    assert set(seen) == {"nvidia:0", "nvidia:1"}
    assert seen["nvidia:0"].capabilities == {"energy_counter": True, "power": True, "temperature": True, "memory": True}
    assert seen["nvidia:0"].metadata["uuid"] == UUIDS[0]
    assert seen["nvidia:0"].vendor == "NVIDIA"
    for device, watts in (("nvidia:0", 150.0), ("nvidia:1", 90.0)):
        samples = event_log.samples(device)
        assert {s.source for s in samples} == {"measured"}
        assert {s.power_w for s in samples} == {watts}
        # power every tick, stamped by the injected clock (mapped onto ours by one constant offset)
        assert {b.t_ns - a.t_ns for a, b in zip(samples, samples[1:])} == {TICK_NS}
        # the slow counter, with temperature and memory, every 100 ms of that clock and never sooner
        counted_at = [i for i, s in enumerate(samples) if s.energy_j is not None]
        assert len(counted_at) >= 3 and {b - a for a, b in zip(counted_at, counted_at[1:])} == {COUNTER_TICKS}
        counted = [samples[i] for i in counted_at]
        assert all(s.temperature_c == 45.0 and s.memory_used_bytes == 2 << 30 for s in counted)
        # the stand-in's counter holds the exact energy up to each reading's t_ns
        for a, b in zip(counted, counted[1:]):
            assert b.energy_j - a.energy_j == pytest.approx(watts * (b.t_ns - a.t_ns) / 1e9, rel=1e-12)
        # the counter (7,000 J since the driver loaded) is reported from the collector's first read,
        # which came after the clock's start
        since_start_s = (counted[0].t_ns - session.clock_offset_ns - clock.start_ns) / 1e9
        assert 0.0 <= counted[0].energy_j <= watts * since_start_s < 7_000


def test_counter_missing_integrates_power_as_derived(nvml, clock, serve, session_for, event_log):
    nvml.gpus[0].has_energy_counter = False
    server = serve([NvmlCollector(monotonic_ns=clock)])
    session_for(server.address)
    assert event_log.wait_samples("nvidia:0", 40)
    seen = next(e for e in event_log.snapshot() if isinstance(e, DeviceSeen) and e.device == "nvidia:0")
    assert seen.capabilities["energy_counter"] is False
    samples = event_log.samples("nvidia:0")
    assert {s.source for s in samples} == {"derived"}
    assert {b.t_ns - a.t_ns for a, b in zip(samples, samples[1:])} == {TICK_NS}
    for a, b in zip(samples, samples[1:]):  # constant power: the trapezoid is exact, each tick adds 150 W x 15 ms
        assert b.energy_j - a.energy_j == pytest.approx(150.0 * TICK_NS / 1e9, rel=1e-9)
    assert {s.source for s in event_log.samples("nvidia:1")} == {"measured"}


def test_trapezoid_rule_on_varying_power():
    integrator = PowerIntegrator()
    assert integrator.add(0, 100.0) == 0.0
    assert integrator.add(1_000_000_000, 200.0) == pytest.approx(150.0)
    assert integrator.add(1_500_000_000, 0.0) == pytest.approx(200.0)


def test_permission_error_is_typed_and_explained(nvml):
    for gpu in nvml.gpus:
        gpu.no_permission.add("nvmlDeviceGetTotalEnergyConsumption")
    collector = NvmlCollector()
    assert collector.probe() is False
    assert "Insufficient Permissions" in collector.unavailable_reason
    assert "run the energy monitor as a user" in collector.unavailable_reason
    with pytest.raises(DevicePermissionError) as info:
        probe_collectors("nvml")
    assert info.value.exit_code == 7
    assert "nvidia:0" in info.value.message
    # auto falls back: NVML is noted as unusable, and the estimate is labelled as such
    collectors, notes = probe_collectors("auto", rapl_root="/nonexistent")
    assert [c.name for c in collectors] == ["estimate"]
    assert any(n.startswith("nvml:") and "Insufficient Permissions" in n for n in notes)


def test_permission_lost_mid_run_reports_device_error(nvml, serve, session_for, event_log):
    server = serve([NvmlCollector()])
    session_for(server.address)
    assert event_log.wait_samples("nvidia:0", 5)
    nvml.gpus[0].no_permission.add("nvmlDeviceGetPowerUsage")
    assert event_log.wait_for(lambda evs: any(isinstance(e, TelemetryStatus) and e.status == "device_error" for e in evs))
    (status,) = event_log.statuses("device_error")
    assert status.message.startswith("nvidia:0:") and "Insufficient Permissions" in status.message
    nvml.gpus[0].no_permission.clear()
    assert event_log.wait_for(lambda evs: any(isinstance(e, TelemetryStatus) and e.status == "device_ok" for e in evs))


def test_gpu_lost_mid_run_is_reported_not_fatal(nvml, serve, session_for, event_log):
    server = serve([NvmlCollector()])
    session = session_for(server.address)
    assert event_log.wait_samples("nvidia:0", 5)
    nvml.gpus[0].lost = True
    assert event_log.wait_for(lambda evs: any(isinstance(e, TelemetryStatus) and e.status == "device_lost" for e in evs))
    (lost,) = event_log.statuses("device_lost")
    assert "nvidia:0" in lost.message and "GPU is lost" in lost.message and "Xid" in lost.message
    before = len(event_log.samples("nvidia:0"))
    count_1 = len(event_log.samples("nvidia:1"))
    assert event_log.wait_samples("nvidia:1", count_1 + 20)  # the other GPU goes on
    assert len(event_log.samples("nvidia:0")) <= before + 2  # at most what was already in flight
    assert session.lost is False and not event_log.statuses("lost")
    listed = {d.device: d for d in server.sampler.collectors[0].devices()}
    assert set(listed) == {"nvidia:0", "nvidia:1"}
    assert server.sampler.device_states["nvidia:0"][0] == "lost"


def test_init_failures_are_explained(monkeypatch):
    fake = FakeNvml([], init_error=9)
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    collector = NvmlCollector()
    assert not collector.probe()
    assert "Driver Not Loaded" in collector.unavailable_reason and "nvidia-smi" in collector.unavailable_reason


def test_missing_pynvml_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes "import pynvml" fail like an absent package
    with pytest.raises(BackendMissingError) as info:
        NvmlCollector().require()
    assert "ipw[nvidia]" in info.value.one_line()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, [0, 1, 2]),
        ("1", [1]),
        ("2,0", [2, 0]),
        ("0,7,1", [0]),  # CUDA stops at the first entry naming no GPU
        ("", []),
        ("-1", []),
        ("GPU-9a8b", [1]),  # a unique UUID prefix
        ("GPU-", []),  # ambiguous prefix
        ("GPU-5555aaaa-0000-0000-0000-000000000000,1", [2, 1]),
        ("MIG-1234", []),
        (" 1 , 1 ", [1]),
    ],
)
def test_visible_indices_follow_cuda_semantics(spec, expected):
    uuids = [*UUIDS, "GPU-5555aaaa-0000-0000-0000-000000000000"]
    assert visible_indices(spec, uuids) == expected


def test_cuda_visible_devices_limits_and_keeps_stable_ids(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", UUIDS[1])
    collector = NvmlCollector()
    collector.require()
    (info,) = collector.devices()
    assert info.device == "nvidia:1"
    assert info.metadata["cuda_index"] == "0" and info.metadata["nvml_index"] == "1"
    assert [r.device for r in collector.read()] == ["nvidia:1"]
    collector.close()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    hidden = NvmlCollector()
    assert not hidden.probe()
    assert isinstance(hidden._probe_error, CollectorError)
    assert "none is visible" in hidden.unavailable_reason
