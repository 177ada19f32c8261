"""Measurement overhead: the harness's CPU seconds and its estimated share of the CPU energy, with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ipw.analyses.energy import EnergyProjection
from ipw.analyses.summary import SummaryProjection
from ipw.reports.summary_table import format_summary

from _energy_runs import device, make_run, ns, power_samples, query, run_started


def harness_cpu(t_s: float, cpu_s: float, host_busy_s: float | None, pid: int = 100) -> dict[str, Any]:
    return {"kind": "harness_cpu", "t_ns": ns(t_s), "cpu_s": cpu_s, "host_busy_cpu_s": host_busy_s,
            "host_cpus": 4, "pid": pid}


def _run(tmp_path: Path, cpu_events: list[dict[str, Any]], source: str = "measured", gpu_only: bool = False,
         client: str = "openai"):
    events = [run_started(client=client)]
    if gpu_only:
        events += [device("nvidia:0", "gpu"), *power_samples("nvidia:0", range(0, 11), power_w=[100.0] * 11)]
    else:
        # a CPU at a steady 50 W over 10 s: 500 J
        events += [device("cpu:0", "cpu"), *power_samples("cpu:0", range(0, 11), power_w=[50.0] * 11, source=source)]
    events += query(0, 0.0, 10.0, [1.0, 5.0, 9.0])
    tmp_path.mkdir(parents=True, exist_ok=True)
    return make_run(tmp_path, events + cpu_events)


def test_harness_cpu_and_its_share_of_cpu_energy(tmp_path: Path) -> None:
    # the harness took 2 s of CPU while the host's CPUs were busy 8 s: a quarter of 500 J
    view = _run(tmp_path, [harness_cpu(0, 1.0, 1000.0), harness_cpu(5, 2.0, 1004.0), harness_cpu(10, 3.0, 1008.0)])
    overhead = EnergyProjection().compute(view, {})["measurement_overhead"]
    assert overhead["harness_cpu_s"] == pytest.approx(2.0)
    assert overhead["harness_cpu_provenance"] == "measured"
    assert overhead["share_of_cpu"] == pytest.approx(0.25)
    assert overhead["harness_energy_j"] == pytest.approx(125.0)
    assert overhead["provenance"] == "estimated"
    assert overhead["harness_cpu_percent_of_one_core"] == pytest.approx(20.0)


def test_without_host_figures_the_share_is_of_the_host_capacity(tmp_path: Path) -> None:
    view = _run(tmp_path, [harness_cpu(0, 0.0, None), harness_cpu(10, 4.0, None)])
    overhead = EnergyProjection().compute(view, {})["measurement_overhead"]
    assert overhead["share_of_cpu"] == pytest.approx(4.0 / (10 * 4))
    assert "capacity" in overhead["share_basis"]


def test_a_resumed_run_sums_its_sessions_and_skips_the_restart(tmp_path: Path) -> None:
    events = [harness_cpu(0, 5.0, 100.0, pid=1), harness_cpu(4, 6.0, 104.0, pid=1),
              harness_cpu(6, 0.5, 106.0, pid=2), harness_cpu(10, 1.5, 110.0, pid=2)]
    overhead = EnergyProjection().compute(_run(tmp_path, events), {})["measurement_overhead"]
    assert overhead["harness_cpu_s"] == pytest.approx(2.0)
    assert overhead["host_busy_cpu_s"] == pytest.approx(8.0)


def test_an_estimated_cpu_makes_the_overhead_estimated_and_no_cpu_power_means_no_joules(tmp_path: Path) -> None:
    estimated = _run(tmp_path / "a", [harness_cpu(0, 0.0, 0.0), harness_cpu(10, 1.0, 4.0)], source="estimated")
    assert EnergyProjection().compute(estimated, {})["measurement_overhead"]["provenance"] == "estimated"
    gpu_only = _run(tmp_path / "b", [harness_cpu(0, 0.0, 0.0), harness_cpu(10, 1.0, 4.0)], gpu_only=True)
    overhead = EnergyProjection().compute(gpu_only, {})["measurement_overhead"]
    assert overhead["harness_cpu_s"] == pytest.approx(1.0)
    assert overhead["harness_energy_j"] is None and overhead["provenance"] is None
    assert "no CPU power" in overhead["note"]


def test_an_old_run_says_the_overhead_was_not_measured(tmp_path: Path) -> None:
    overhead = EnergyProjection().compute(_run(tmp_path, []), {})["measurement_overhead"]
    assert overhead["measured"] is False and overhead["harness_cpu_s"] is None
    assert "harness_cpu" in overhead["note"]


def test_the_summary_shows_the_measurement_overhead_with_provenance(tmp_path: Path) -> None:
    view = _run(tmp_path, [harness_cpu(0, 1.0, 1000.0), harness_cpu(10, 3.0, 1008.0)])
    summary = SummaryProjection().compute(view, {})
    metrics = summary["metrics"]
    assert metrics["measurement_overhead_cpu_s"] == {"value": pytest.approx(2.0), "unit": "s", "provenance": "measured"}
    assert metrics["measurement_overhead_energy_j"]["value"] == pytest.approx(125.0)
    assert metrics["measurement_overhead_energy_j"]["provenance"] == "estimated"
    table = format_summary(summary)
    line = next(ln for ln in table.splitlines() if ln.startswith("measurement overhead (energy)"))
    assert "125" in line and line.rstrip().endswith("estimated")


@pytest.mark.parametrize("client", ["llamacpp", "vllm"])
def test_an_in_process_client_makes_the_overhead_an_upper_bound_and_says_so(tmp_path: Path, client: str) -> None:
    # the model runs in ipw's own process: its CPU counter holds the inference too
    view = _run(tmp_path, [harness_cpu(0, 1.0, 1000.0), harness_cpu(10, 3.0, 1008.0)], client=client)
    overhead = EnergyProjection().compute(view, {})["measurement_overhead"]
    assert overhead["includes_inference"] is True and "upper bound" in overhead["note"]
    summary = SummaryProjection().compute(view, {})
    assert any("includes the inference itself" in n for n in summary["notes"])
    remote = EnergyProjection().compute(_run(tmp_path / "remote", [harness_cpu(0, 1.0, 1000.0),
                                                                    harness_cpu(10, 3.0, 1008.0)]), {})
    assert remote["measurement_overhead"]["includes_inference"] is False
    assert remote["measurement_overhead"]["note"] is None
