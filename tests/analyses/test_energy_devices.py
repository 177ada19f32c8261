"""Which devices are summed, gaps, runs without energy, options, and byte-identical reruns."""

from __future__ import annotations

from pathlib import Path

import pytest

from _energy_runs import by_query, device, make_run, power_samples, query
from ipw.analyses.energy import EnergyProjection, per_query_energy
from ipw.errors import UsageError
from ipw.events import TelemetryStatus
from ipw.replay import load_run
from ipw.reports.analysis_files import write_analysis

TIMES = [i * 0.5 for i in range(9)]  # 0 … 4 s


def _constant(device_id: str, watts: float, source: str = "measured") -> list[dict]:
    return power_samples(device_id, TIMES, power_w=[watts] * len(TIMES), source=source)


@pytest.fixture
def many_devices(tmp_path: Path):
    # one query on [1, 3] (2 s) alone, every device at constant power
    return make_run(
        tmp_path,
        [
            device("nvidia:0", "gpu"),
            device("rapl:package-0", "cpu"),
            device("rapl:core", "cpu"),  # a RAPL subdomain: inside package-0
            device("cpu:cores", "cpu", parent="rapl:package-0"),  # declared nested by metadata
            device("rapl:dram", "dram"),  # a sibling of the package, not inside it
            device("wall", "system"),  # a wall meter includes everything
            device("cpu:estimate", "cpu"),
        ]
        + _constant("nvidia:0", 200)
        + _constant("rapl:package-0", 50)
        + _constant("rapl:core", 30)
        + _constant("cpu:cores", 20)
        + _constant("rapl:dram", 10)
        + _constant("wall", 400)
        + _constant("cpu:estimate", 45, source="estimated")
        + query(1, 1.0, 3.0, [2.0]),
    )


def test_nested_and_system_devices_are_not_double_counted(many_devices) -> None:
    result = EnergyProjection().compute(many_devices, {})
    devices = result["devices"]
    in_total = sorted(d for d, info in devices.items() if info["in_total"])
    assert in_total == ["nvidia:0", "rapl:dram", "rapl:package-0"]
    assert devices["rapl:core"]["nested_in"] == "rapl:package-0"
    assert devices["cpu:cores"]["nested_in"] == "rapl:package-0"
    assert "system meter" in devices["wall"]["note"]
    assert "measured" in devices["cpu:estimate"]["note"]
    assert result["total_energy_j"] == pytest.approx((200 + 50 + 10) * 2)
    assert by_query(result) == {1: pytest.approx(520)}
    assert result["energy_by_type_j"] == {"cpu": pytest.approx(100), "dram": pytest.approx(20), "gpu": pytest.approx(400)}
    assert result["per_query"][0]["by_device_j"]["rapl:core"] == pytest.approx(60)
    assert devices["wall"]["energy_j"] == pytest.approx(800)
    assert devices["nvidia:0"]["mean_power_w"] == pytest.approx(200)


def test_selecting_devices_by_id_or_type(many_devices) -> None:
    system = EnergyProjection().compute(many_devices, {"devices": "wall"})
    assert system["total_energy_j"] == pytest.approx(800)  # only a system meter: it is the total
    gpu = EnergyProjection().compute(many_devices, {"devices": ["gpu"]})
    assert list(gpu["devices"]) == ["nvidia:0"] and gpu["total_energy_j"] == pytest.approx(400)
    cpu = per_query_energy(many_devices, devices="cpu")
    assert cpu.total_energy_j == pytest.approx(100)  # package only: core nested, estimate left out
    assert cpu.provenance == "measured"
    estimate_only = per_query_energy(many_devices, devices="cpu:estimate")
    assert estimate_only.provenance == "estimated" and estimate_only.total_energy_j == pytest.approx(90)


def test_unknown_options_are_usage_errors(many_devices) -> None:
    with pytest.raises(UsageError, match="unknown device"):
        per_query_energy(many_devices, devices="tpu:9")
    with pytest.raises(UsageError, match="unknown policy"):
        per_query_energy(many_devices, policy="fair")
    with pytest.raises(UsageError, match="unknown idle_baseline"):
        per_query_energy(many_devices, idle_baseline="maybe")
    with pytest.raises(UsageError, match="no option"):
        EnergyProjection().compute(many_devices, {"polcy": "active"})


def test_gaps_are_reported_and_flag_overlapping_queries(tmp_path: Path) -> None:
    times = [i / 10 for i in range(101) if not 30 < i < 60]  # nothing between 3.0 s and 6.0 s
    events = (
        power_samples("nvidia:0", times, power_w=[100.0] * len(times))
        + query(1, 1.0, 2.0, [1.5])
        + query(2, 4.0, 5.0, [4.5])  # inside the sample gap
        + query(3, 7.0, 8.5, [8.0])  # the monitor is lost on [7.5, 8.0]
        + query(4, 9.0, 9.5, [9.2])
    )
    view = make_run(tmp_path, events)
    assert not view.telemetry
    lost = [
        TelemetryStatus(t_ns=events[0]["t_ns"] + 75 * 10**8, status="lost"),
        TelemetryStatus(t_ns=events[0]["t_ns"] + 80 * 10**8, status="reconnected"),
    ]
    view.telemetry.extend(lost)
    result = EnergyProjection().compute(view, {})
    gaps = [(g["reason"], round(g["start_ns"] - events[0]["t_ns"]), round(g["duration_s"], 6)) for g in result["gaps"]]
    assert gaps == [("no_samples", 3 * 10**9, 3.0), ("telemetry_lost", 75 * 10**8, 0.5)]
    assert by_query(result, "energy_complete") == {1: True, 2: False, 3: False, 4: True}
    assert result["queries_energy_incomplete"] == 2
    # across the gap the constant power is interpolated, so the energy is still right
    assert by_query(result)[2] == pytest.approx(100)


def test_counter_reset_is_a_gap_not_negative_energy(tmp_path: Path) -> None:
    counter = [0, 100, 200, 5, 105, 205, 305]  # the counter restarts between 2 s and 3 s
    view = make_run(tmp_path, power_samples("nvidia:0", range(7), energy_j=counter) + query(1, 1.0, 5.0, [2.0]))
    result = per_query_energy(view)
    assert [g.reason for g in result.gaps] == ["counter_reset"]
    assert result.energy_j[1] == pytest.approx(300)  # the reset second counts 0 J, never negative
    assert result.energy_complete[1] is False


@pytest.mark.parametrize("samples", [[], _constant("nvidia:0", 100)[:1]])
def test_no_energy_says_not_measured_never_zero(tmp_path: Path, samples: list[dict]) -> None:
    view = make_run(tmp_path, [device("nvidia:0", "gpu")] + samples + query(1, 1.0, 2.0, [1.5]))
    result = EnergyProjection().compute(view, {})
    assert result["measured"] is False
    assert result["note"].startswith("energy was not measured")
    for key in ("total_energy_j", "attributed_energy_j", "idle_energy_j", "mean_energy_per_query_j", "mean_power_w"):
        assert result[key] is None, key
    assert result["per_query"][0]["energy_j"] is None
    assert result["per_query"][0]["energy_complete"] is False
    assert result["provenance"] is None


def test_rerun_is_byte_identical(tmp_path: Path, many_devices) -> None:
    run_dir = many_devices.run_dir
    first = write_analysis(run_dir, "energy", EnergyProjection().compute(many_devices, {"policy": "tokens"})).read_bytes()
    again = EnergyProjection().compute(load_run(run_dir), {"policy": "tokens"})
    second = write_analysis(run_dir, "energy", again).read_bytes()
    assert first == second
    assert b"NaN" not in first and b"Infinity" not in first
