"""The validity block on synthetic runs: every check with its measured value, threshold and status.

The runs are those of ``test_steady_state`` (a known ramp-up and drain) with
one thing changed per test: too short, an under-used batch, power past the
TDP or under idle, a hole in the power trace, a lost monitor, no TDP, no energy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _energy_runs import device, make_run, ns, power_samples, run_started
from test_steady_state import _q, closed_loop_events

from ipw.analyses.summary import SummaryProjection
from ipw.errors import UsageError


def _validity(tmp_path: Path, events: list[dict], **options) -> dict:
    return SummaryProjection().compute(make_run(tmp_path, events), options)["validity"]


def _check(validity: dict, name: str) -> dict:
    found = [c for c in validity["checks"] if c["check"] == name]
    assert len(found) == 1, validity["checks"]
    return found[0]


def test_a_good_run_passes_every_check_with_its_measured_values(tmp_path: Path) -> None:
    validity = _validity(tmp_path, closed_loop_events(), min_steady_s=20)
    assert [c["check"] for c in validity["checks"]] == ["steady_state_s", "mean_in_flight", "power_in_range",
                                                       "monitor_coverage"]
    steady = _check(validity, "steady_state_s")
    assert (steady["value"], steady["threshold"], steady["unit"], steady["status"]) == (pytest.approx(29.0), 20.0,
                                                                                      "s", "pass")
    in_flight = _check(validity, "mean_in_flight")
    assert (in_flight["value"], in_flight["threshold"], in_flight["status"]) == (pytest.approx(2.0),
                                                                                pytest.approx(1.7), "pass")
    power = _check(validity, "power_in_range")
    assert power["device"] == "cpu:estimate" and power["status"] == "pass"
    assert power["value"] == pytest.approx(50.0)  # the mean over the window [1 s, 30 s]
    assert power["threshold"] == {"min_w": pytest.approx(10.0), "max_w": 100.0}  # idle median; tdp_w metadata
    coverage = _check(validity, "monitor_coverage")
    assert (coverage["value"], coverage["threshold"], coverage["status"]) == (pytest.approx(1.0), 0.95, "pass")
    assert validity["valid"] is True and validity["failures"] == [] and validity["unknown"] == []


def test_a_steady_state_under_the_minimum_fails(tmp_path: Path) -> None:
    summary = SummaryProjection().compute(make_run(tmp_path, closed_loop_events()), {})  # default 30 s
    validity = summary["validity"]
    assert _check(validity, "steady_state_s")["status"] == "fail"
    assert validity["valid"] is False and validity["failures"] == ["steady_state_s"]
    assert any(n.startswith("validity: failed steady_state_s") for n in summary["notes"])
    assert summary["options"]["min_steady_s"] == 30.0


def test_an_under_used_batch_fails_mean_in_flight(tmp_path: Path) -> None:
    events = [run_started(max_concurrency=4)]
    events += _q(1, 0.0, 1.0) + _q(2, 0.1, 1.0) + _q(3, 0.2, 40.0) + _q(4, 0.3, 40.0) + _q(5, 5.0, 40.0)
    validity = _validity(tmp_path, events)
    check = _check(validity, "mean_in_flight")
    assert check["value"] == pytest.approx((4 * 0.7 + 2 * 4.0 + 3 * 35.0) / 39.7)
    assert check["threshold"] == pytest.approx(3.4) and check["status"] == "fail"
    assert _check(validity, "steady_state_s")["status"] == "pass"  # 39.7 s: long enough, but under-used
    assert "mean_in_flight" in validity["failures"]


def test_no_window_fails_the_steady_state_and_measures_in_flight_over_the_run(tmp_path: Path) -> None:
    validity = _validity(tmp_path, [run_started(max_concurrency=4)] + _q(1, 0, 10) + _q(2, 1, 11))
    steady = _check(validity, "steady_state_s")
    assert (steady["value"], steady["status"]) == (0.0, "fail")
    assert steady["reason"] == "the in-flight count never reached its target of 4 (peak 2)"
    in_flight = _check(validity, "mean_in_flight")
    assert in_flight["value"] == pytest.approx(20 / 11) and in_flight["status"] == "fail"
    assert in_flight["reason"] == "no steady state: the mean over the whole run"


def test_power_past_the_tdp_fails(tmp_path: Path) -> None:
    events = [e if e["kind"] != "device_seen" else device("cpu:estimate", "cpu", tdp_w="40")
              for e in closed_loop_events()]
    check = _check(_validity(tmp_path, events, min_steady_s=0), "power_in_range")
    assert (check["value"], check["threshold"]["max_w"], check["status"]) == (pytest.approx(50.0), 40.0, "fail")


def test_power_without_a_tdp_is_unknown_with_why(tmp_path: Path) -> None:
    events = [e if e["kind"] != "device_seen" else device("cpu:estimate", "cpu") for e in closed_loop_events()]
    validity = _validity(tmp_path, events, min_steady_s=0)
    check = _check(validity, "power_in_range")
    assert check["status"] == "unknown" and check["reason"] == "no TDP in the device's metadata"
    assert check["value"] == pytest.approx(50.0)  # measured all the same
    assert validity["valid"] is None and validity["unknown"] == ["power_in_range[cpu:estimate]"]


def test_a_device_power_under_its_idle_baseline_fails(tmp_path: Path) -> None:
    times = [k * 0.5 for k in range(-10, 73)]
    events = [e for e in closed_loop_events() if e["kind"] != "power_sample"]
    events += power_samples("cpu:estimate", times, power_w=[5.0 if 0 <= t <= 31 else 10.0 for t in times])
    check = _check(_validity(tmp_path, events, min_steady_s=0), "power_in_range")
    assert check["status"] == "fail" and check["value"] == pytest.approx(5.0)


def _busy_host_events(source: str, tdp_w: str) -> list[dict]:
    """A host busy throughout: idle readings at 10 W, 9.962 W while it runs (just under the idle median)."""
    times = [k * 0.5 for k in range(-10, 73)]
    events = [e if e["kind"] != "device_seen" else device("cpu:estimate", "cpu", tdp_w=tdp_w)
              for e in closed_loop_events() if e["kind"] != "power_sample"]
    return events + power_samples("cpu:estimate", times, power_w=[9.962 if 0 <= t <= 31 else 10.0 for t in times],
                                  source=source)


def test_an_estimated_power_whose_idle_median_is_its_tdp_is_unknown_never_a_fail(tmp_path: Path) -> None:
    # the estimate collector on a busy host: its idle readings are its TDP, so the range is 10 W to 10 W
    validity = _validity(tmp_path, _busy_host_events("estimated", "10"), min_steady_s=0)
    check = _check(validity, "power_in_range")
    assert check["status"] == "unknown" and check["value"] == pytest.approx(9.962)
    assert check["threshold"] == {"min_w": pytest.approx(10.0), "max_w": 10.0}
    assert check["reason"] == ("power is estimated, not measured: a model cannot validate the hardware; "
                               "the idle baseline (10 W) is not below the TDP (10 W): the range is degenerate")
    assert "power_in_range[cpu:estimate]" in validity["unknown"] and validity["failures"] == []


def test_an_estimated_power_is_unknown_even_inside_a_sound_range(tmp_path: Path) -> None:
    events = [e if e["kind"] != "power_sample" else {**e, "source": "estimated"} for e in closed_loop_events()]
    check = _check(_validity(tmp_path, events, min_steady_s=0), "power_in_range")
    assert (check["status"], check["value"]) == ("unknown", pytest.approx(50.0))  # 10 W < 50 W < 100 W
    assert check["reason"] == "power is estimated, not measured: a model cannot validate the hardware"


@pytest.mark.parametrize("tdp_w", ["10", "8"])
def test_a_measured_device_whose_idle_baseline_is_not_below_its_tdp_is_unknown(tmp_path: Path, tdp_w: str) -> None:
    validity = _validity(tmp_path, _busy_host_events("measured", tdp_w), min_steady_s=0)
    check = _check(validity, "power_in_range")
    assert check["status"] == "unknown" and check["value"] == pytest.approx(9.962)  # under idle and over 8 W
    assert check["reason"] == f"the idle baseline (10 W) is not below the TDP ({tdp_w} W): the range is degenerate"
    assert "power_in_range" not in " ".join(validity["failures"])


def test_a_hole_in_the_trace_and_a_lost_monitor_cost_coverage(tmp_path: Path) -> None:
    times = [k * 0.5 for k in range(-10, 73) if not 10 < k * 0.5 < 20]  # no reading for 10 s
    events = [e for e in closed_loop_events() if e["kind"] != "power_sample"]
    events += power_samples("cpu:estimate", times, power_w=[50.0 if 0 <= t <= 31 else 10.0 for t in times])
    events += [{"kind": "telemetry_status", "t_ns": ns(25), "status": "lost"},
               {"kind": "telemetry_status", "t_ns": ns(27), "status": "connected"}]
    check = _check(_validity(tmp_path, events, min_steady_s=0), "monitor_coverage")
    assert check["value"] == pytest.approx(1 - 12 / 31)  # 10 s without readings + 2 s lost, of 0 s..31 s
    assert check["status"] == "fail"


def test_a_run_without_energy_says_unknown_never_pass(tmp_path: Path) -> None:
    events = [e for e in closed_loop_events() if e["kind"] not in ("power_sample", "device_seen")]
    validity = _validity(tmp_path, events, min_steady_s=0)
    for name in ("power_in_range", "monitor_coverage"):
        check = _check(validity, name)
        assert check["status"] == "unknown" and check["value"] is None and check["reason"]
    assert validity["valid"] is None


@pytest.mark.parametrize("bad", ["-1", "soon", "nan"])
def test_min_steady_s_must_be_seconds(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError, match="min_steady_s"):
        SummaryProjection().compute(make_run(tmp_path, closed_loop_events()), {"min_steady_s": bad})


def test_the_terminal_summary_flags_a_failed_check(tmp_path: Path) -> None:
    from ipw.reports.summary_table import format_summary

    text = format_summary(SummaryProjection().compute(make_run(tmp_path, closed_loop_events()), {}))
    assert "validity: NOT VALID: failed steady_state_s" in text
    row = next(line for line in text.splitlines() if line.startswith("steady_state_s"))
    assert row.split()[:4] == ["steady_state_s", "FAIL", "29", "s"] and "at least 30 s" in row
    passed = format_summary(SummaryProjection().compute(make_run(tmp_path, closed_loop_events(), "ok"),
                                                        {"min_steady_s": 10}))
    assert "validity: valid: every check passed" in passed and "FAIL" not in passed


def test_the_study_table_and_the_html_flag_a_cell_that_fails_a_check(tmp_path: Path) -> None:
    from ipw.reports.html_study import leaderboard
    from ipw.reports.html_validity import validity_section
    from ipw.reports.study_table import runs_table

    short = make_run(tmp_path, closed_loop_events(), "short")  # 29 s of steady state, under the default 30 s
    table = runs_table([short, short], ["default", "lenient"])
    assert [(r.valid, r.validity_failures) for r in table.rows] == [("no", "steady_state_s")] * 2
    lenient = runs_table([short], ["lenient"], {"min_steady_s": 20}).rows[0]
    assert (lenient.valid, lenient.validity_failures) == ("yes", None)
    html = leaderboard(table)
    assert html.count('<td class="invalid" data-column="valid" data-value="&quot;no&quot;">no</td>') == 2
    section = validity_section(SummaryProjection().compute(short, {})["validity"])
    assert 'class="invalid" data-check="steady_state_s" data-status="fail"' in section
    assert 'data-check="mean_in_flight" data-status="pass"' in section
    assert "NOT VALID: failed steady_state_s" in section


def test_the_html_run_report_has_the_validity_section(tmp_path: Path) -> None:
    from ipw.reports.html import report_html

    make_run(tmp_path, closed_loop_events(), "run")
    html = report_html([tmp_path / "run"])
    assert 'id="validity-section"' in html and 'data-check="monitor_coverage[cpu:estimate]"' in html
