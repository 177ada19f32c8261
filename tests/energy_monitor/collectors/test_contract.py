"""The contract every collector keeps, run against each registered one (with stand-ins for absent hardware).

Beside the built-ins runs ``mymeter``, the plugin collector of the throwaway
distribution in :mod:`tests._plugins`, built the way the monitor builds every
collector: by its registry id (``create_collector``).
"""

from __future__ import annotations

import sys
import time

import pytest

from ipw.registry import REGISTRY
from ipw_energy_monitor.collectors import Collector, create_collector
from ipw_energy_monitor.collectors.amdsmi import AmdSmiCollector
from ipw_energy_monitor.collectors.base import DEVICE_TYPES, SOURCES
from ipw_energy_monitor.collectors.estimate import EstimatedCpuCollector
from ipw_energy_monitor.collectors.nvml import NvmlCollector
from ipw_energy_monitor.collectors.powermetrics import PowermetricsCollector
from ipw_energy_monitor.collectors.rapl import RaplCollector

from tests._plugins import PLUGIN_IDS, installed, write_contract_plugin
from ..fakes import FakeAmdGpu, FakeAmdSmi, FakeGpu, FakeNvml, FakePowercap, Zone
from .test_powermetrics import _fake as fake_powermetrics


PLUGIN = PLUGIN_IDS["collectors"]
COLLECTOR_IDS = [*REGISTRY.ids("collectors"), PLUGIN]


@pytest.fixture(autouse=True)
def plugin_installed(tmp_path):
    with installed(write_contract_plugin(tmp_path / "site")):
        yield


@pytest.fixture(params=COLLECTOR_IDS)
def collector(request, monkeypatch, tmp_path) -> Collector:
    name = request.param
    if name == PLUGIN:
        return create_collector(name)
    if name == "nvml":
        fake = FakeNvml([FakeGpu("GPU-aaaa", has_energy_counter=False), FakeGpu("GPU-bbbb")])
        monkeypatch.setitem(sys.modules, "pynvml", fake.module)
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        return NvmlCollector(counter_interval_ms=0)
    if name == "amdsmi":
        monkeypatch.setitem(sys.modules, "amdsmi", FakeAmdSmi([FakeAmdGpu(), FakeAmdGpu(has_energy_counter=False)]).module)
        return AmdSmiCollector()
    if name == "rapl":
        tree = FakePowercap(tmp_path / "powercap", [Zone("intel-rapl:0", "package-0", 20.0, 10**9),
                                                    Zone("intel-rapl:0:0", "dram", 3.0, 10**9)])
        tree.run()
        request.addfinalizer(tree.halt)
        return RaplCollector(tmp_path / "powercap")
    if name == "powermetrics":
        return PowermetricsCollector(20, executable=fake_powermetrics(tmp_path, samples=200))
    return EstimatedCpuCollector(30.0)


def test_every_collector_keeps_the_contract(collector):
    collector.require()
    devices = collector.devices()
    ids = [d.device for d in devices]
    assert devices and len(set(ids)) == len(ids)
    for info in devices:
        assert info.device_type in DEVICE_TYPES and info.collector == collector.name
        assert ":" in info.device  # "<family>:<which>"
        assert info.capabilities.energy_counter or info.capabilities.power
    series: dict[str, list] = {}
    for _ in range(30):
        for reading in collector.read():
            series.setdefault(reading.device, []).append(reading)
        time.sleep(0.01)
    assert set(series) <= set(ids) and series
    for readings in series.values():
        assert all(r.source in SOURCES for r in readings)
        t_ns = [r.t_ns for r in readings]
        assert t_ns == sorted(t_ns)
        energy = [r.energy_j for r in readings if r.energy_j is not None]
        assert energy == sorted(energy) and all(e >= 0 for e in energy)  # cumulative, from the collector's start
    assert collector.take_statuses() == []
    collector.close()
    collector.close()  # idempotent


@pytest.mark.parametrize("name", COLLECTOR_IDS)
def test_every_collector_is_registered(name):
    component = REGISTRY.get("collectors", name)
    module_name, _, attr = component.target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    assert issubclass(getattr(module, attr), Collector) and getattr(module, attr).name == name
