"""The summary: intelligence per watt and per joule, and the provenance of every number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _energy_runs import device, make_run, power_samples, query, verdict
from ipw.analyses.summary import PROVENANCES, SummaryProjection
from ipw.reports.summary_table import format_summary
from ipw.errors import UsageError
from ipw.reports.analysis_files import dumps_result


def _run(tmp_path: Path, *, source: str | None = "measured"):
    # four queries back to back on [1, 2], [2, 3], [3, 4], [4, 5] at a constant 150 W; two correct
    events = [device("nvidia:0", "gpu")]
    for i in range(4):
        events += query(i + 1, 1.0 + i, 2.0 + i, [1.5 + i, 1.75 + i])
    events += [verdict(1, True), verdict(2, True), verdict(3, False), verdict(4, False)]
    if source is not None:
        times = [k * 0.1 for k in range(61)]
        events += power_samples("nvidia:0", times, power_w=[150.0] * len(times), source=source)
    return make_run(tmp_path, events)


def test_ratios_and_provenance(tmp_path: Path) -> None:
    result = SummaryProjection().compute(_run(tmp_path), {})
    m = result["metrics"]
    assert m["accuracy"] == {"value": 0.5, "unit": None, "provenance": "counted"}
    # constant power read by a sensor that declares no lag: the sensor model's bound is 0
    assert m["mean_power_w"] == {"value": pytest.approx(150.0), "unit": "W", "provenance": "measured",
                                 "bound": pytest.approx(0.0)}
    assert m["mean_energy_per_query_j"]["value"] == pytest.approx(150.0)
    assert m["intelligence_per_watt"]["value"] == pytest.approx(0.5 / 150)
    assert m["intelligence_per_joule"]["value"] == pytest.approx(0.5 / 150)
    assert m["intelligence_per_watt"]["provenance"] == "derived"
    assert m["ttft_p50_s"] == {"value": pytest.approx(0.5), "unit": "s", "provenance": "measured"}
    assert m["completion_tokens_total"] == {"value": 8, "unit": "tokens", "provenance": "counted"}
    assert m["throughput_tokens_per_s"]["value"] == pytest.approx(8 / 4)
    for name, metric in m.items():
        # an energy figure carries the sensor model's bound beside it (SPEC §15)
        extra = {"bound"} if name in ("total_energy_j", "mean_power_w", "mean_energy_per_query_j") else set()
        assert set(metric) == {"value", "unit", "provenance"} | extra, name
        assert metric["provenance"] in PROVENANCES, name
    assert result["energy_measured"] is True
    assert result["model"] == "tiny" and result["client"] == "openai" and result["dataset"] == "builtin"
    assert result["hardware"]["cpu"] == "test cpu"
    assert result["energy_devices"] == {"nvidia:0": {"device_type": "gpu", "source": "measured"}}
    json.loads(dumps_result(result))  # JSON-ready, no NaN


def test_estimated_energy_makes_the_ratios_estimated(tmp_path: Path) -> None:
    m = SummaryProjection().compute(_run(tmp_path, source="estimated"), {})["metrics"]
    assert m["mean_power_w"]["provenance"] == "estimated"
    assert m["intelligence_per_watt"]["provenance"] == "estimated"
    assert m["intelligence_per_joule"]["provenance"] == "estimated"
    assert m["accuracy"]["provenance"] == "counted"


def test_without_energy_no_ratio_and_never_zero(tmp_path: Path) -> None:
    result = SummaryProjection().compute(_run(tmp_path, source=None), {})
    m = result["metrics"]
    assert result["energy_measured"] is False
    assert any("energy was not measured" in note for note in result["notes"])
    for name in ("mean_power_w", "mean_energy_per_query_j", "total_energy_j", "intelligence_per_watt", "intelligence_per_joule"):
        assert m[name] == {"value": None, "unit": m[name]["unit"], "provenance": None}, name
    assert m["accuracy"]["value"] == 0.5
    table = format_summary(result)
    assert "0 J" not in table and "energy was not measured" in table


def test_truncated_streams_are_counted_and_said(tmp_path: Path) -> None:
    events: list = []
    for i in range(4):
        events += query(i + 1, 1.0 + i, 2.0 + i, [1.5 + i, 1.75 + i])
    for e in events[-3:]:  # the last query's stream ended without a finish reason
        if e["kind"] == "query_finished":
            e["truncated"] = True
    result = SummaryProjection().compute(make_run(tmp_path, events, name="cut"), {})
    assert result["metrics"]["queries_truncated"] == {"value": 1, "unit": "queries", "provenance": "counted"}
    assert result["metrics"]["queries_measured"]["value"] == 4
    assert any(note.startswith("1 of 4 streams ended without a finish reason") for note in result["notes"])
    assert "queries truncated" in format_summary(result)
    plain = SummaryProjection().compute(make_run(tmp_path, query(1, 1.0, 2.0, [1.5]), name="plain"), {})
    assert plain["metrics"]["queries_truncated"]["value"] == 0
    assert not any("finish reason" in note for note in plain["notes"])


def test_format_summary_is_an_aligned_table(tmp_path: Path) -> None:
    result = SummaryProjection().compute(_run(tmp_path), {})
    text = format_summary(json.loads(dumps_result(result)))
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    rows = lines[lines.index(header) + 1:]
    ipw_row = next(line for line in rows if line.startswith("intelligence per watt"))
    assert "0.003333" in ipw_row and "1/W" in ipw_row and ipw_row.endswith("derived")
    value_end = header.index("value") + len("value")
    assert all(len(line) >= value_end and line[value_end - 1] != " " for line in rows if not line.startswith("note"))
    assert lines[0].split() == ["run", "test-run"]
    assert [line.split()[0] for line in rows[:2]] == ["accuracy", "correct"]


def test_options_are_checked(tmp_path: Path) -> None:
    view = _run(tmp_path)
    assert SummaryProjection().compute(view, {"model": "tiny", "judge": "exact"})["judge"] == "exact"
    with pytest.raises(UsageError, match="not 'other'"):
        SummaryProjection().compute(view, {"model": "other"})
    with pytest.raises(UsageError, match="no option"):
        SummaryProjection().compute(view, {"colour": "blue"})


def test_energy_per_output_token_is_a_ratio_of_sums(tmp_path: Path) -> None:
    # 4 queries × 150 J, 2 output tokens each: 600 J over 8 tokens
    m = SummaryProjection().compute(_run(tmp_path), {})["metrics"]
    assert m["joules_per_output_token"] == {"value": pytest.approx(75.0), "unit": "J/token", "provenance": "measured"}
    assert m["output_tokens_per_joule"] == {"value": pytest.approx(8 / 600), "unit": "tokens/J", "provenance": "derived"}
    assert "co2_g" not in m  # only when a carbon intensity is given


def test_energy_per_token_is_none_without_energy(tmp_path: Path) -> None:
    m = SummaryProjection().compute(_run(tmp_path, source=None), {})["metrics"]
    assert m["joules_per_output_token"]["value"] is None and m["output_tokens_per_joule"]["provenance"] is None


def test_carbon_intensity_adds_co2_derived(tmp_path: Path) -> None:
    result = SummaryProjection().compute(_run(tmp_path), {"carbon_intensity_g_per_kwh": 400})
    m = result["metrics"]
    total_j = m["total_energy_j"]["value"]
    assert m["co2_g"] == {"value": pytest.approx(total_j / 3.6e6 * 400), "unit": "g", "provenance": "derived"}
    assert m["co2_g_per_query"]["value"] == pytest.approx(150.0 / 3.6e6 * 400)
    assert m["co2_g_per_query"]["provenance"] == "derived"
    assert result["carbon_intensity_g_per_kwh"] == 400
    assert "co2 g" in format_summary(result)
    (tmp_path / "again").mkdir()
    view = _run(tmp_path / "again")
    for bad in (-1, "lots", True):
        with pytest.raises(UsageError, match="carbon intensity"):
            SummaryProjection().compute(view, {"carbon_intensity_g_per_kwh": bad})
