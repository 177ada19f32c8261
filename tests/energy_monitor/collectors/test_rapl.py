"""RAPL against a powercap tree laid out as the kernel does, through a real monitor process."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ipw.capture.telemetry import MonitorLauncher, TelemetrySession
from ipw.events import DeviceSeen, Event, PowerSample
from ipw_energy_monitor.collectors.base import CounterTotal
from ipw_energy_monitor.collectors.rapl import RaplCollector, find_zones

from tests._event_log import EventLog
from ..fakes import FakeClock, FakePowercap, Zone

MAX_UJ = 3_000_000  # for the layout-only tests below, where nothing is sampled over time
WRAP_S = 0.8  # each counter wraps after 0.8 s of its power (a real package counter: after hours)
STEP_S = 0.3 * WRAP_S  # a lock step moves every counter 30 % of its range: less than a wrap, so none is missed
STEPS = 8  # 2.4 ranges: every counter wraps at least twice


def _range_uj(power_w: float) -> int:
    return int(power_w * WRAP_S * 1e6)


def _two_socket_tree(root: Path, clock: FakeClock | None = None) -> FakePowercap:
    return FakePowercap(root, [
        Zone("intel-rapl:0", "package-0", 30.0, _range_uj(30.0), counter_uj=_range_uj(30.0) - 200_000),
        Zone("intel-rapl:0:0", "core", 18.0, _range_uj(18.0)),
        Zone("intel-rapl:0:1", "uncore", 4.0, _range_uj(4.0)),
        Zone("intel-rapl:0:2", "dram", 6.0, _range_uj(6.0), counter_uj=_range_uj(6.0) - 10),
        Zone("intel-rapl:1", "package-1", 25.0, _range_uj(25.0)),
        Zone("intel-rapl:1:0", "core", 15.0, _range_uj(15.0)),
        Zone("intel-rapl:1:1", "dram", 5.0, _range_uj(5.0)),
        Zone("intel-rapl:2", "psys", 90.0, _range_uj(90.0)),
    ], clock=clock)


DEVICES = {  # device id -> zone it must follow
    "rapl:package-0": "intel-rapl:0",
    "rapl:dram-0": "intel-rapl:0:2",
    "rapl:package-1": "intel-rapl:1",
    "rapl:dram-1": "intel-rapl:1:1",
}


def tree_zone_range_j(tree: FakePowercap, key: str) -> float:
    return tree.zones[key].max_range_uj / 1e6


def _streamed_j(events: list[Event], device: str) -> float | None:
    return next((e.energy_j for e in reversed(events) if isinstance(e, PowerSample) and e.device == device), None)


def test_streamed_joules_match_the_counters_exactly(tmp_path):
    tree = _two_socket_tree(tmp_path)
    log = EventLog()
    with MonitorLauncher(collectors="rapl", rapl_root=str(tmp_path), interval_ms=10) as launcher:
        assert launcher.health["collectors"] == ["rapl"]
        with TelemetrySession(launcher.endpoint, log, 10, flush_ms=20):
            for device in DEVICES:
                assert log.wait_samples(device, 3)
            # Lock step: the counters move only once the monitor has streamed what they hold, so a monitor
            # stalled for any length of time (a real counter wraps after hours) still sees every wrap.
            for _ in range(STEPS):
                tree.advance(STEP_S)
                for device, zone in DEVICES.items():
                    truth_j = tree.truth_j(zone)
                    assert log.wait_for(lambda evs, d=device, t=truth_j: _streamed_j(evs, d) == t), (device, truth_j)
    seen = {e.device: e for e in log.snapshot() if isinstance(e, DeviceSeen)}
    # core and uncore are inside their package, psys contains everything: none is a device
    assert set(seen) == set(DEVICES)
    assert seen["rapl:dram-0"].device_type == "dram" and seen["rapl:package-0"].device_type == "cpu"
    for device, zone in DEVICES.items():
        samples = log.samples(device)
        assert {s.source for s in samples} == {"measured"}
        truth_j = tree.truth_j(zone)
        assert truth_j > 2 * tree_zone_range_j(tree, zone)  # wrapped more than once
        assert samples[0].energy_j == 0.0 and samples[-1].energy_j == truth_j  # the same microjoules
        # power is the counter's slope between readings: weighted by time, it adds up to the energy
        weighted_j = sum(b.power_w * (b.t_ns - a.t_ns) / 1e9 for a, b in zip(samples, samples[1:]))
        assert weighted_j == pytest.approx(truth_j, rel=1e-9)
    total_j = sum(log.samples(d)[-1].energy_j for d in DEVICES)
    not_counted_j = sum(tree.truth_j(z) for z in ("intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1:0", "intel-rapl:2"))
    assert total_j == pytest.approx(sum(tree.truth_j(z) for z in DEVICES.values()), rel=1e-12)
    assert total_j < sum(tree.truth_j(z) for z in DEVICES.values()) + not_counted_j * 0.5


def test_power_is_the_counters_slope_on_the_injected_clock(tmp_path):
    clock = FakeClock(10_000_000)  # the tree's counters are brought up to each instant the collector stamps
    tree = _two_socket_tree(tmp_path, clock)
    collector = RaplCollector(tmp_path, monotonic_ns=clock)
    collector.require()
    series: dict[str, list] = {}
    for _ in range(100):  # four domains, so 40 ms of the clock per read: 4 s, five wraps of every counter
        for reading in collector.read():
            series.setdefault(reading.device, []).append(reading)
    collector.close()
    for device, zone in DEVICES.items():
        readings, watts = series[device], tree.zones[zone].power_w
        assert len(readings) == 100 and {b.t_ns - a.t_ns for a, b in zip(readings, readings[1:])} == {40_000_000}
        assert all(r.power_w == pytest.approx(watts, rel=1e-9) for r in readings)  # the first, from the open, too
        energy_j = readings[-1].energy_j - readings[0].energy_j
        assert energy_j == pytest.approx(watts * (readings[-1].t_ns - readings[0].t_ns) / 1e9, rel=1e-9)
        assert energy_j > 4 * tree_zone_range_j(tree, zone)


def test_zones_are_found_once_whether_linked_or_nested(tmp_path):
    _two_socket_tree(tmp_path)
    zones = find_zones(tmp_path)
    assert [z.key for z in zones] == [
        "intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2",
        "intel-rapl:1", "intel-rapl:1:0", "intel-rapl:1:1", "intel-rapl:2",
    ]
    nested_only = tmp_path / "nested"
    FakePowercap(nested_only, [Zone("intel-rapl:0", "package-0", 10.0, MAX_UJ), Zone("intel-rapl:0:0", "dram", 2.0, MAX_UJ)])
    for link in nested_only.glob("intel-rapl:0:*"):
        link.unlink()  # some kernels list only the top-level zones in the class folder
    assert [z.name for z in find_zones(nested_only)] == ["package-0", "dram"]


def test_subzones_when_asked_are_marked_nested(tmp_path):
    _two_socket_tree(tmp_path)
    collector = RaplCollector(tmp_path, include_subzones=True)
    collector.require()
    by_id = {d.device: d for d in collector.devices()}
    assert by_id["rapl:core-0"].metadata["nested_in"] == "rapl:package-0"
    assert by_id["rapl:uncore-0"].metadata["nested_in"] == "rapl:package-0"
    assert "nested_in" not in by_id["rapl:dram-0"].metadata
    assert any("psys" in note for note in collector.notes)


def test_wraparound_arithmetic():
    counter = CounterTotal(range_max=1000)
    assert counter.update(990) == 0
    assert counter.update(5) == 16  # 990 -> 1000 is 10, 1000 -> 0 is 1, 0 -> 5 is 5
    assert counter.update(500) == 511
    reset = CounterTotal()  # no range: going backwards is a reset to zero
    reset.update(100)
    assert reset.update(30) == 30


def test_missing_tree_is_explained(tmp_path):
    collector = RaplCollector(tmp_path / "absent")
    assert not collector.probe()
    assert "no powercap tree" in collector.unavailable_reason and "modprobe intel_rapl_msr" in collector.unavailable_reason


def _without_dac_override() -> None:
    # Root reads any file. Dropping CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2)
    # from the bounding set before exec makes root meet a real EACCES, as an
    # unprivileged user does on a kernel that keeps energy_uj root-only.
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_unreadable_counter_says_the_exact_fix(tmp_path):
    FakePowercap(tmp_path, [Zone("intel-rapl:0", "package-0", 10.0, MAX_UJ), Zone("intel-rapl:0:0", "dram", 2.0, MAX_UJ)])
    for energy in tmp_path.resolve().rglob("energy_uj"):
        energy.chmod(0o000)
    proc = subprocess.run(
        [sys.executable, "-m", "ipw_energy_monitor.server", "--collectors", "rapl", "--rapl-root", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
        preexec_fn=_without_dac_override if os.geteuid() == 0 else None,
    )
    assert proc.returncode == 7, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "permission denied" in line
    assert f"sudo chmod a+r {tmp_path}/intel-rapl:*/energy_uj {tmp_path}/intel-rapl:*/intel-rapl:*/energy_uj" in line
    assert "run the energy monitor as root" in line
