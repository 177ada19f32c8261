"""The powermetrics collector, with a stand-in for Apple's ``powermetrics`` binary.

The stand-in is a script that speaks like ``powermetrics -f plist``: one XML
property list per interval, each followed by a NUL byte, with the processor
dictionary in milliwatts and millijoules; or, when not root, the refusal the
real tool prints.
"""

from __future__ import annotations

import plistlib
import sys
import textwrap
import time

import pytest

from ipw_energy_monitor.collectors import DevicePermissionError
from ipw_energy_monitor.collectors.powermetrics import PowermetricsCollector, energy_increments_j, parse_plists

FAKE_POWERMETRICS = textwrap.dedent('''\
    #!{python}
    import plistlib, sys, time
    args = sys.argv[1:]
    if {refuse}:
        sys.stderr.write("powermetrics must be invoked as the superuser\\n")
        sys.exit(1)
    assert args[:2] == ["--samplers", "cpu_power,gpu_power"] and args[4:] == ["-f", "plist"], args
    interval_ms = int(args[args.index("-i") + 1])
    for n in range({samples}):
        time.sleep(interval_ms / 1000)
        sample = {{
            "elapsed_ns": interval_ms * 1_000_000,
            "processor": {{
                "cpu_power": 5000.0, "cpu_energy": 5 * interval_ms,
                "gpu_power": 2500.0, "ane_power": 0.0, "combined_power": 7500.0,
            }},
        }}
        sys.stdout.buffer.write(plistlib.dumps(sample) + b"\\0")
        sys.stdout.flush()
''')


def _fake(tmp_path, *, refuse: bool = False, samples: int = 20):
    path = tmp_path / "powermetrics"
    path.write_text(FAKE_POWERMETRICS.format(python=sys.executable, refuse=refuse, samples=samples))
    path.chmod(0o755)
    return str(path)


def test_parse_stream_with_partial_documents():
    one = plistlib.dumps({"elapsed_ns": 100_000_000, "processor": {"cpu_power": 1000.0}})
    buffer = bytearray(one + b"\0" + one[:20])
    assert len(list(parse_plists(buffer))) == 1
    assert bytes(buffer) == one[:20]  # the unfinished document waits for the rest
    buffer.extend(one[20:] + b"\0")
    assert len(list(parse_plists(buffer))) == 1 and not buffer


def test_energy_prefers_reported_millijoules_over_power():
    parts = energy_increments_j({"elapsed_ns": 200_000_000,
                                 "processor": {"cpu_power": 9000.0, "cpu_energy": 1000, "gpu_power": 500.0}})
    assert parts["cpu"] == pytest.approx((1.0, 5.0))  # 1000 mJ over 0.2 s
    assert parts["gpu"] == pytest.approx((0.1, 0.5))
    assert "ane" not in parts


def test_collector_reads_cpu_gpu_and_ane(tmp_path):
    collector = PowermetricsCollector(50, executable=_fake(tmp_path))
    collector.require()
    assert [d.device for d in collector.devices()] == ["apple:cpu", "apple:gpu", "apple:ane"]
    readings = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and len(readings) < 30:
        readings.extend(collector.read())
        time.sleep(0.02)
    collector.close()
    cpu = [r for r in readings if r.device == "apple:cpu"]
    assert {r.source for r in readings} == {"measured"}
    assert [r.energy_j for r in cpu] == pytest.approx([0.25 * (i + 1) for i in range(len(cpu))])  # 250 mJ each
    assert all(r.power_w == pytest.approx(5.0) for r in cpu)
    gpu = [r for r in readings if r.device == "apple:gpu"]
    assert gpu[-1].energy_j == pytest.approx(2.5 * 0.05 * len(gpu))  # no gpu_energy: power x elapsed


def test_not_root_is_explained(tmp_path):
    collector = PowermetricsCollector(50, executable=_fake(tmp_path, refuse=True))
    with pytest.raises(DevicePermissionError) as info:
        collector.require()
    line = info.value.one_line()
    assert "superuser" in line and "sudo ipw-energy-monitor" in line and "IPW_ENERGY_MONITOR" in line


def test_a_process_that_ends_is_reported_lost(tmp_path):
    collector = PowermetricsCollector(20, executable=_fake(tmp_path, samples=3))
    collector.require()
    deadline = time.monotonic() + 5
    statuses = []
    while time.monotonic() < deadline and not statuses:
        collector.read()
        statuses = collector.take_statuses()
        time.sleep(0.02)
    collector.close()
    assert {s.status for s in statuses} == {"lost"} and "exited with code 0" in statuses[0].message


def test_only_probed_on_macos(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    collector = PowermetricsCollector()
    assert not collector.probe() and "only on macOS" in collector.unavailable_reason
