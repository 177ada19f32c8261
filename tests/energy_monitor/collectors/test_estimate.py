"""The estimated CPU collector: utilisation x TDP, always labelled estimated.

The kernel's CPU time comes in ticks, so a short interval can see more busy
time than it lasted; these tests feed the collector such readings (and zero-
length intervals, and counters that step back) through a stand-in for
/proc/stat and the monotonic clock, and check the power stays within the TDP.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ipw.errors import CollectorError, ConfigError
from ipw_energy_monitor.collectors import probe_collectors
from ipw_energy_monitor.collectors.estimate import (DEFAULT_W_PER_CPU, MAX_LAG_S, EstimatedCpuCollector,
                                                      resolve_tdp)

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")  # the unit of /proc/stat's CPU times


class _Kernel:
    """Stands in for the kernel: the first lines of /proc/stat, and CLOCK_MONOTONIC, as the test sets them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.busy_ticks = 0
        self.t_ns = 5_000_000_000_000  # an uptime-like origin
        self.write()

    def write(self) -> None:
        # cpu user nice system idle iowait irq softirq steal guest guest_nice: busy = user+nice+system+irq+softirq
        b = self.busy_ticks
        self.path.write_text(f"cpu  {b // 2} 0 {b - b // 2} 123456 7 0 0 9 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")

    def step(self, dt_ns: int, busy_ticks: int) -> None:
        self.t_ns += dt_ns
        self.busy_ticks = max(0, self.busy_ticks + busy_ticks)  # the kernel's counters are unsigned
        self.write()

    def monotonic_ns(self) -> int:
        return self.t_ns


@pytest.fixture(scope="module")
def stat_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proc") / "stat"


def _collector(kernel: _Kernel, tdp_w: float, cpu_count: int) -> EstimatedCpuCollector:
    collector = EstimatedCpuCollector(tdp_w, model_name="Test CPU", cpu_count=cpu_count,
                                      proc_stat=str(kernel.path), monotonic_ns=kernel.monotonic_ns)
    collector.require()
    return collector


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
    # the model can never exceed TDP for the time elapsed, in any interval, the first ones included
    assert energies[-1] - energies[0] <= 40.0 * elapsed_s * (1 + 1e-9)
    assert all(0.0 <= r.power_w <= 40.0 for r in readings)


STEPS = st.lists(
    st.tuples(
        st.one_of(st.just(0), st.integers(0, 2_000_000), st.integers(0, 300_000_000)),  # ns since the last read
        st.integers(-3_000, 3_000),  # busy ticks added: more than the interval could hold, or stepping back
    ),
    min_size=1, max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=STEPS, tdp_w=st.floats(1.0, 1_000.0), cpu_count=st.integers(1, 64))
@example(steps=[(1_000_000, 64)], tdp_w=40.0, cpu_count=64)  # a tick on every CPU, 1 ms after opening
@example(steps=[(0, 5), (0, 5), (10_000_000, 0)], tdp_w=40.0, cpu_count=1)  # busy time in zero-length intervals
@example(steps=[(10_000_000, 100), (10_000_000, -100), (10_000_000, 100)], tdp_w=40.0, cpu_count=4)  # a step back
def test_pathological_cpu_times_never_exceed_tdp(stat_path: Path, steps: list[tuple[int, int]], tdp_w: float,
                                                 cpu_count: int) -> None:
    kernel = _Kernel(stat_path)
    opened_ns, peak_ticks = kernel.t_ns, 0
    collector = _collector(kernel, tdp_w, cpu_count)
    readings = []
    for dt_ns, busy_ticks in steps:
        kernel.step(dt_ns, busy_ticks)
        peak_ticks = max(peak_ticks, kernel.busy_ticks)
        (reading,) = collector.read()
        readings.append(reading)
        assert reading.source == "estimated" and reading.t_ns == kernel.t_ns
        assert 0.0 <= reading.power_w <= tdp_w, (reading, steps)
        # never more energy than every CPU busy since opening, nor than the busiest the counter ever said
        assert reading.energy_j <= tdp_w * (kernel.t_ns - opened_ns) / 1e9 * (1 + 1e-9)
        assert reading.energy_j <= tdp_w * peak_ticks * TICK_S / cpu_count * (1 + 1e-9)
    collector.close()
    energies = [r.energy_j for r in readings]
    assert energies == sorted(energies) and energies[0] >= 0.0


@settings(max_examples=100, deadline=None)
@given(data=st.data(), tdp_w=st.floats(1.0, 1_000.0), cpu_count=st.integers(1, 64))
def test_honest_cpu_times_are_the_model_exactly(stat_path: Path, data: st.DataObject, tdp_w: float,
                                                cpu_count: int) -> None:
    """Busy time that each interval could hold is all credited: energy_j = tdp_w x busy seconds / cpu_count."""
    kernel = _Kernel(stat_path)
    collector = _collector(kernel, tdp_w, cpu_count)
    for _ in range(data.draw(st.integers(1, 30))):
        dt_ns = data.draw(st.integers(0, 50_000_000))
        most = int(dt_ns / 1e9 * cpu_count / TICK_S)
        kernel.step(dt_ns, data.draw(st.integers(0, most)))
        (reading,) = collector.read()
        model_j = tdp_w * kernel.busy_ticks * TICK_S / cpu_count
        assert reading.energy_j == pytest.approx(model_j, rel=1e-9, abs=1e-12)
    collector.close()


def test_a_tick_seen_early_is_credited_later_and_an_impossible_jump_is_dropped(stat_path: Path) -> None:
    kernel = _Kernel(stat_path)
    collector = _collector(kernel, 40.0, 4)
    kernel.step(1_000_000, 4)  # 1 ms: a tick on each of the 4 CPUs, 40 ms of CPU time in 4 ms of CPU capacity
    (early,) = collector.read()
    assert early.power_w == pytest.approx(40.0) and early.energy_j == pytest.approx(40.0 * 0.001)
    kernel.step(500_000_000, 0)  # then idle: the rest of the tick is credited now
    (later,) = collector.read()
    assert later.energy_j == pytest.approx(40.0 * 4 * TICK_S / 4)
    # a counter leaping by an hour of CPU time: at most MAX_LAG_S per CPU waits to be credited, the rest is dropped
    kernel.step(1_000_000, int(3600 / TICK_S))
    collector.read()
    kernel.step(100 * 1_000_000_000, 0)
    (after,) = collector.read()
    assert after.energy_j == pytest.approx(later.energy_j + 40.0 * MAX_LAG_S)  # tdp_w x MAX_LAG_S x 4 CPUs / 4 CPUs
    collector.close()


def test_a_missing_cpu_time_file_is_a_collector_error(tmp_path: Path) -> None:
    collector = EstimatedCpuCollector(40.0, cpu_count=1, proc_stat=str(tmp_path / "no-stat"))
    with pytest.raises(CollectorError, match="cannot read CPU times"):
        collector.require()


def test_auto_uses_the_estimate_only_when_nothing_is_measured(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as on a machine without the vendor libraries
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    collectors, notes = probe_collectors("auto", rapl_root=str(tmp_path / "none"), cpu_tdp_w=20.0)
    assert [c.name for c in collectors] == ["estimate"]
    assert any("rapl" in n for n in notes) and any(n.startswith("estimate:") for n in notes)
    for collector in collectors:
        collector.close()
