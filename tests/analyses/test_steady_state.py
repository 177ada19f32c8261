"""Steady-state windows on synthetic runs with a known ramp-up, drain and under-used batch.

Each run is a ledger imported from JSON lines (``_energy_runs``); the window
edges, the mean in-flight count and the energy over the window are known
exactly from the timestamps and the piecewise-constant power written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _energy_runs import device, make_run, ns, power_samples, query, run_started

from ipw.analyses.energy import EnergyProjection
from ipw.analyses.latency import LatencyProjection
from ipw.analyses.steady_state import steady_state


def _tokens(start_s: float, end_s: float) -> list[float]:
    """One token every second, half a second after the start, before the end."""
    out, t = [], start_s + 0.5
    while t < end_s:
        out.append(t)
        t += 1.0
    return out


def _q(qid: int, start_s: float, end_s: float) -> list[dict]:
    return query(qid, start_s, end_s, _tokens(start_s, end_s), ttft_s=0.5)


def closed_loop_events(**config) -> list[dict]:
    """max_concurrency 2: ramp-up 0 → 1 s, full from 1 s, last start at 21 s, drain from 30 s to 31 s.

    q1 0–10, q2 1–11, q3 10–20 (replaces q1), q4 11–21, q5 20–30, q6 21–31. Power is 50 W from 0 s to
    31 s and 10 W outside, sampled every 0.5 s from −5 s to 36 s.
    """
    times = [k * 0.5 for k in range(-10, 73)]
    events = [run_started(max_concurrency=2, sample_interval_ms=500, **config),
              device("cpu:estimate", "cpu", tdp_w="100")]
    events += power_samples("cpu:estimate", times, power_w=[50.0 if 0 <= t <= 31 else 10.0 for t in times])
    for qid, (a, b) in enumerate([(0, 10), (1, 11), (10, 20), (11, 21), (20, 30), (21, 31)], start=1):
        events += _q(qid, a, b)
    return events


def test_the_window_opens_when_the_batch_is_full_and_closes_when_the_drain_begins(tmp_path: Path) -> None:
    view = make_run(tmp_path, closed_loop_events())
    steady = steady_state(view)
    assert steady.target_in_flight == 2 and steady.target_rule == "max_concurrency"
    assert steady.window_ns == (ns(1), ns(30))  # the second start; the first end after the last start (21 s)
    assert steady.duration_s == pytest.approx(29.0)
    assert steady.mean_in_flight == pytest.approx(2.0)
    assert steady.peak_in_flight == 2 and steady.reason is None


def test_energy_over_the_window_has_its_bound_beside_the_whole_run(tmp_path: Path) -> None:
    result = EnergyProjection().compute(make_run(tmp_path, closed_loop_events()), {})
    block = result["steady_state"]
    assert (block["start_ns"], block["end_ns"]) == (ns(1), ns(30))
    assert block["total_energy_j"] == pytest.approx(50.0 * 29)  # 50 W, constant over [1 s, 30 s]
    assert block["mean_power_w"] == pytest.approx(50.0)
    assert block["total_energy_j_bound"] is not None and block["total_energy_j_bound"] >= 0
    assert block["mean_power_w_bound"] == pytest.approx(block["total_energy_j_bound"] / 29)
    assert block["by_device_j"] == {"cpu:estimate": pytest.approx(1450.0)}
    # tokens at start + 0.5, + 1.5, …: those of every query inside (1 s, 30 s]
    inside = sum(1 for a, b in [(0, 10), (1, 11), (10, 20), (11, 21), (20, 30), (21, 31)]
                 for t in _tokens(a, b) if 1 < t <= 30)
    assert block["tokens_per_s"] == pytest.approx(inside / 29)
    assert result["total_energy_j"] == pytest.approx(50.0 * 31)  # the whole-run figure is still there


def test_latency_percentiles_cover_only_the_queries_inside_the_window(tmp_path: Path) -> None:
    result = LatencyProjection().compute(make_run(tmp_path, closed_loop_events()), {})
    block = result["steady_state"]
    assert block["queries"] == 4  # q2..q5; q1 starts before it opens, q6 ends after it closes
    assert block["e2e_s"]["n"] == 4 and block["e2e_s"]["mean"] == pytest.approx(10.0)
    assert block["ttft_s"]["p50"] == pytest.approx(0.5)
    assert result["e2e_s"]["n"] == 6  # whole-run figures unchanged beside it


def test_an_under_used_batch_has_a_low_mean_in_flight(tmp_path: Path) -> None:
    # max_concurrency 4 is reached at 0.3 s, then two queries end at 1 s and only one more comes at 5 s
    events = [run_started(max_concurrency=4)]
    events += _q(1, 0.0, 1.0) + _q(2, 0.1, 1.0) + _q(3, 0.2, 40.0) + _q(4, 0.3, 40.0) + _q(5, 5.0, 40.0)
    steady = steady_state(make_run(tmp_path, events))
    assert steady.window_ns == (ns(0.3), ns(40))
    expected = (4 * 0.7 + 2 * 4.0 + 3 * 35.0) / 39.7
    assert steady.mean_in_flight == pytest.approx(expected)


def test_a_run_that_never_reaches_its_target_has_no_window(tmp_path: Path) -> None:
    events = [run_started(max_concurrency=4)] + _q(1, 0, 10) + _q(2, 1, 11) + _q(3, 10, 20)
    view = make_run(tmp_path, events)
    steady = steady_state(view)
    assert steady.window_ns is None and steady.duration_s == 0.0
    assert steady.reason == "the in-flight count never reached its target of 4 (peak 2)"
    assert steady.mean_in_flight == pytest.approx((10 + 10 + 10) / 20)  # the whole run: 0 s to 20 s
    assert LatencyProjection().compute(view, {})["steady_state"]["queries"] == 0


def test_warmup_queries_do_not_open_the_window(tmp_path: Path) -> None:
    events = [run_started(max_concurrency=2)]
    events += query(1, 0, 5, [1], warmup=True) + query(2, 0, 5, [1], warmup=True)  # two at once, but warm-up
    events += _q(3, 6, 16) + _q(4, 8, 18) + _q(5, 16, 26)
    steady = steady_state(make_run(tmp_path, events))
    assert steady.window_ns == (ns(8), ns(18))  # q4 fills the batch; q4's end is the first after q5 starts


def test_with_a_request_rate_the_target_is_littles_law(tmp_path: Path) -> None:
    # 0.5 queries/s × a mean end-to-end of 4 s = 2 in flight on average
    events = [run_started(max_concurrency=8, request_rate=0.5)]
    events += _q(1, 0, 4) + _q(2, 2, 6) + _q(3, 4, 8) + _q(4, 6, 10)
    steady = steady_state(make_run(tmp_path, events))
    assert steady.target_in_flight == 2 and steady.target_rule.startswith("request_rate")
    assert steady.window_ns == (ns(2), ns(8))  # q2 makes two; q3 ends first after the last start (6 s)


def test_a_resumed_run_reports_its_longest_session(tmp_path: Path) -> None:
    events = [run_started(max_concurrency=1)] + _q(1, 0, 5)
    resumed = run_started(max_concurrency=1)
    resumed["t_ns"] = ns(100)
    events += [resumed] + _q(2, 101, 110) + _q(3, 110, 125)
    steady = steady_state(make_run(tmp_path, events))
    assert steady.window_ns == (ns(101), ns(125))  # not across the pause between the sessions
