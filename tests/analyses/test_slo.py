"""SLO attainment, goodput and joules per correct answer within the SLO, on a run with known latencies.

Four queries, one after the other over 0 s..40 s at a constant 20 W (800 J in all):

    q1  TTFT 0.1 s, 10 tokens over 10 s (TPOT 1 s)     correct
    q2  TTFT 0.3 s, 10 tokens                            correct
    q3  TTFT 0.1 s, 2 tokens over 10 s (TPOT 9.9 s)     wrong
    q4  TTFT 0.1 s, 1 token (no TPOT)                    correct
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _energy_runs import device, make_run, power_samples, query, run_started, verdict

from ipw.analyses.latency import LatencyProjection
from ipw.analyses.slo import parse_slo
from ipw.analyses.summary import SummaryProjection
from ipw.errors import UsageError


def _run(tmp_path: Path):
    times = [k * 0.5 for k in range(-4, 84)]
    events = [run_started(), device("gpu:0", "gpu")]
    events += power_samples("gpu:0", times, power_w=[20.0] * len(times))
    events += query(1, 0, 10, [0.1 + k for k in range(10)], ttft_s=0.1)
    events += query(2, 10, 20, [10.3 + k * 0.5 for k in range(10)], ttft_s=0.3)
    events += query(3, 20, 30, [20.1, 30], ttft_s=0.1)
    events += query(4, 30, 40, [30.1], ttft_s=0.1)
    events += [verdict(1, True), verdict(2, True), verdict(3, False), verdict(4, True)]
    return make_run(tmp_path, events)


def test_attainment_and_goodput_count_the_queries_meeting_every_bound(tmp_path: Path) -> None:
    result = LatencyProjection().compute(_run(tmp_path), {"slo": "ttft_ms=200,tpot_ms=2000"})
    block = result["slo"]
    # q2 breaks TTFT (300 ms), q3 breaks TPOT (9.9 s); q4 has no TPOT, which breaks nothing
    assert block["targets_ms"] == {"tpot_ms": 2000.0, "ttft_ms": 200.0}
    assert (block["queries"], block["queries_met"], block["attainment"]) == (4, 2, 0.5)
    assert block["violations"] == {"tpot_ms": 1, "ttft_ms": 1}
    assert block["goodput_queries_per_s"] == pytest.approx(2 / 40)
    assert block["goodput_tokens_per_s"] == pytest.approx((10 + 1) / 40)
    assert [r["slo_met"] for r in result["per_query"]] == [True, False, False, True]
    assert result["options"] == {"slo": {"tpot_ms": 2000.0, "ttft_ms": 200.0}}


def test_without_an_slo_nothing_is_judged(tmp_path: Path) -> None:
    result = LatencyProjection().compute(_run(tmp_path), {})
    assert result["slo"] is None and result["options"] == {"slo": None}
    assert "slo_met" not in result["per_query"][0]


def test_the_summary_gives_joules_per_correct_answer_within_the_slo(tmp_path: Path) -> None:
    summary = SummaryProjection().compute(_run(tmp_path), {"slo": "ttft_ms=200,tpot_ms=2000"})
    m = summary["metrics"]
    assert m["slo_attainment"]["value"] == 0.5
    assert m["correct_within_slo"]["value"] == 2  # q1 and q4: correct and fast enough; q2 correct but slow
    assert m["joules_per_correct_within_slo"]["value"] == pytest.approx(800.0 / 2)
    assert m["joules_per_correct_within_slo"]["bound"] == pytest.approx(m["total_energy_j"]["bound"] / 2)
    assert m["goodput_tokens_per_s"]["value"] == pytest.approx(11 / 40)
    assert summary["options"]["slo"] == {"tpot_ms": 2000.0, "ttft_ms": 200.0}


def test_an_e2e_bound_alone(tmp_path: Path) -> None:
    summary = SummaryProjection().compute(_run(tmp_path), {"slo": {"e2e_ms": 9999}})
    assert summary["metrics"]["slo_attainment"]["value"] == 0.0  # every query took 10 s
    assert summary["metrics"]["joules_per_correct_within_slo"]["value"] is None  # never 800 J / 0


def test_a_truncated_stream_never_meets_an_slo(tmp_path: Path) -> None:
    events = [run_started()] + query(1, 0, 1, [0.1, 0.2], ttft_s=0.1)
    events[-1]["truncated"] = True
    result = LatencyProjection().compute(make_run(tmp_path, events), {"slo": "ttft_ms=1000"})
    assert result["slo"]["queries_met"] == 0 and result["slo"]["queries_truncated"] == 1


@pytest.mark.parametrize("bad", ["ttft=200", "ttft_ms", "ttft_ms=fast", "ttft_ms=-5", "ttft_ms=inf", "p99_ms=3"])
def test_a_malformed_slo_is_one_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="slo"):
        parse_slo(bad)


def test_parse_slo_sorts_and_accepts_a_mapping() -> None:
    assert parse_slo("tpot_ms=50, ttft_ms=200,e2e_ms=3000") == {"e2e_ms": 3000.0, "tpot_ms": 50.0, "ttft_ms": 200.0}
    assert parse_slo({"ttft_ms": 70}) == {"ttft_ms": 70.0}
    assert parse_slo(None) is None and parse_slo("") is None
