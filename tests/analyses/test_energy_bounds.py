"""The summary shows each energy figure's bound, flags one over 5 %, and says "not measured" instead of 0 J."""

from __future__ import annotations

import json
from pathlib import Path

from _energy_runs import counter_of, device, make_run, power_samples, query, verdict
from ipw.analyses.energy import EnergyProjection
from ipw.analyses.summary import SummaryProjection
from ipw.reports.analysis_files import dumps_result
from ipw.reports.html_page import metric_cell
from ipw.reports.summary_table import format_summary

REASON = "not measured: shorter than one sample"


def _gpu(collector: str = "") -> dict:
    seen = device("nvidia:0", "gpu")
    if collector:
        seen["collector"] = collector  # which defaults of the sensor model apply (nvml: counter every 100 ms)
    return seen


def test_a_run_past_the_last_reading_is_not_measured_anywhere(tmp_path: Path) -> None:
    """The monitor read at 0.0 and 0.1 s, the run was 0.15-0.18 s and no bracket read came: no number."""
    times = [0.0, 0.1]
    events = [_gpu(), *query(1, 0.15, 0.18, [0.16]), verdict(1, True)]
    events += power_samples("nvidia:0", times, energy_j=counter_of(lambda t: 0.0, times))  # idle: 0 W held
    view = make_run(tmp_path, events)
    summary = SummaryProjection().compute(view, {})
    m = summary["metrics"]
    for name in ("total_energy_j", "mean_power_w", "mean_energy_per_query_j"):
        assert m[name]["value"] is None and m[name]["not_measured"] == REASON, name
    assert m["intelligence_per_watt"]["value"] is None
    assert any(n.startswith(REASON) for n in summary["notes"])
    assert REASON in format_summary(json.loads(dumps_result(summary)))
    energy = EnergyProjection().compute(view, {})
    assert energy["total_energy_j"] is None and energy["not_measured"] == REASON
    assert energy["per_query"][0]["energy_j"] is None
    assert REASON in metric_cell("total_energy_j", m["total_energy_j"])


def test_a_short_window_on_a_100_ms_counter_is_flagged_over_5_percent(tmp_path: Path) -> None:
    times = [k * 0.1 for k in range(21)]
    events = [_gpu("nvml"), *query(1, 0.5, 0.8, [0.6]), verdict(1, True)]
    events += power_samples("nvidia:0", times, energy_j=counter_of(lambda t: 150.0, times))
    view = make_run(tmp_path, events)
    energy = EnergyProjection().compute(view, {})
    assert abs(energy["total_energy_j"] - 45.0) < 1e-6
    # the counter may be up to 100 ms stale at 150 W: 15 J of a 45 J window
    assert energy["total_energy_j_bound"] >= 15.0
    assert "total_energy_j" in energy["uncertain"]
    assert energy["per_query"][0]["energy_j_bound"] >= 15.0
    assert energy["devices"]["nvidia:0"]["sensor"]["counter_update_s"] == 0.1
    summary = SummaryProjection().compute(view, {})
    total = summary["metrics"]["total_energy_j"]
    assert total["uncertain"] is True and total["bound"] == energy["total_energy_j_bound"]
    assert any(n.startswith("total energy: its bound") for n in summary["notes"])
    assert "(over 5 %)" in format_summary(json.loads(dumps_result(summary)))
    assert "bound over 5 %" in metric_cell("total_energy_j", total)


def test_a_long_window_on_an_exact_counter_is_not_flagged(tmp_path: Path) -> None:
    times = [k * 0.1 for k in range(101)]
    events = [_gpu(), *query(1, 0.5, 9.5, [0.6]), verdict(1, True)]
    events += power_samples("nvidia:0", times, energy_j=counter_of(lambda t: 150.0, times))
    summary = SummaryProjection().compute(make_run(tmp_path, events), {})
    total = summary["metrics"]["total_energy_j"]
    assert total["bound"] is not None and "uncertain" not in total
    assert not any("over 5 %" in n for n in summary["notes"])
