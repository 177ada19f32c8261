"""Short windows against a known truth: bracket reads pin the edges, the bound holds the truth, and a
window no reading measures is "not measured", never 0 J.

The device is ``KnownPowerCollector`` (benchmarks/bench_window.py): it stands in for a GPU whose NVML
counter is a known function of time (steps and ramps). It is read through the real hub (the Sampler's
tick and its on-demand ``read_now``, what the Read rpc serves) on a fake clock, so nothing here depends
on how fast this machine is; the real gRPC path is in test_energy_bracket.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ipw.analyses.energy import per_query_energy
from ipw.events import DeviceSeen, Event, PowerSample
from ipw_energy_monitor.hub import Sampler

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_window.py"
_spec = importlib.util.spec_from_file_location("bench_window", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # type: ignore[union-attr]

TICK_NS = 100_000_000  # the monitor's default interval
WINDOWS_S = (0.05, 0.1, 0.2, 0.37, 0.73, 1.0, 2.4, 4.6, 10.0)


class FakeClock:
    def __init__(self) -> None:
        self.t_ns = 1_000_000_000_000

    def __call__(self) -> int:
        return self.t_ns


def _event(r, bracket: str | None = None) -> PowerSample:
    return PowerSample(device=r.device, t_ns=r.t_ns, power_w=r.power_w, energy_j=r.energy_j, bracket=bracket)


def _record(length_s: float, phase_s: float, *, counter: bool = True, counter_update_s: float = 0.0,
            brackets: bool = True, gap_ns: int = 300_000, after_s: float = 0.3):
    """Sample a known device every 100 ms, run one window of ``length_s`` starting ``phase_s`` after a tick;
    returns (events, window start, window end, collector)."""
    clock = FakeClock()
    collector = bench.KnownPowerCollector(bench.Profile(), clock, t0_ns=clock.t_ns, counter=counter,
                                          counter_update_s=counter_update_s)
    sampler = Sampler([collector], interval_ms=100)
    sub = sampler.subscribe(100, 512)
    info = collector.devices()[0]
    events: list[Event] = [DeviceSeen(device=info.device, device_type="gpu", collector=info.collector,
                                      metadata=dict(info.metadata))]

    def tick_until(t_ns: int) -> None:
        while clock.t_ns + TICK_NS <= t_ns:
            clock.t_ns += TICK_NS
            sampler.tick(TICK_NS)
            taken = sub.take(0)
            assert taken is not None
            events.extend(_event(r) for r in taken[0])

    sampler.tick(TICK_NS)
    events.extend(_event(r) for r in sub.take(0)[0])  # type: ignore[index]
    start = clock.t_ns + 1_000_000_000 + int(phase_s * 1e9)
    end = start + int(round(length_s * 1e9))
    tick_until(start - gap_ns)
    if brackets:
        clock.t_ns = start - gap_ns  # the read happens just before the first query starts
        events.extend(_event(r, "start") for r in sampler.read_now())
    tick_until(end)
    if brackets:
        clock.t_ns = end + gap_ns  # and just after the last one ends
        events.extend(_event(r, "end") for r in sampler.read_now())
    tick_until(end + int(after_s * 1e9))
    return events, start, end, collector


@pytest.mark.parametrize("length_s", WINDOWS_S)
@pytest.mark.parametrize("phase_s", [0.0, 0.013, 0.05, 0.087])
def test_bracketed_windows_hold_the_truth_inside_their_bound(length_s: float, phase_s: float) -> None:
    events, a, b, collector = _record(length_s, phase_s)
    result = per_query_energy(bench.window_view(events, a, b))
    truth = collector.true_energy_j(b) - collector.true_energy_j(a)
    assert result.total_energy_j is not None and result.total_energy_j_bound is not None
    assert abs(result.total_energy_j - truth) <= result.total_energy_j_bound
    assert abs(result.energy_j[0] - truth) <= result.energy_j_bound[0]
    assert result.devices["gpu:0"].edges_bracketed
    # the bound is the model's, not a blanket: a bracketed edge costs about P x the 0.3 ms gap
    assert result.total_energy_j_bound <= 2 * 400.0 * 0.3e-3 * 1.01


@pytest.mark.parametrize("length_s", [0.05, 0.37, 2.4])
def test_without_brackets_the_error_is_larger_and_still_inside_the_bound(length_s: float) -> None:
    with_b, a, b, collector = _record(length_s, 0.05)
    without, a2, b2, _ = _record(length_s, 0.05, brackets=False)
    assert (a, b) == (a2, b2)
    truth = collector.true_energy_j(b) - collector.true_energy_j(a)
    bracketed = per_query_energy(bench.window_view(with_b, a, b))
    plain = per_query_energy(bench.window_view(without, a, b))
    assert plain.total_energy_j is not None and plain.total_energy_j_bound is not None
    assert abs(plain.total_energy_j - truth) <= plain.total_energy_j_bound
    assert plain.total_energy_j_bound > bracketed.total_energy_j_bound
    assert not plain.devices["gpu:0"].edges_bracketed


@pytest.mark.parametrize("length_s", [0.1, 0.37, 1.0, 4.6])
@pytest.mark.parametrize("phase_s", [0.0, 0.031, 0.071])
def test_a_counter_refreshed_every_100_ms_stays_inside_its_bound(length_s: float, phase_s: float) -> None:
    """NVML's counter advances about every 100 ms: a read can be that stale, and the bound says so."""
    events, a, b, collector = _record(length_s, phase_s, counter_update_s=0.1)
    result = per_query_energy(bench.window_view(events, a, b))
    truth = collector.true_energy_j(b) - collector.true_energy_j(a)
    assert abs(result.total_energy_j - truth) <= result.total_energy_j_bound
    assert result.devices["gpu:0"].sensor["counter_update_s"] == pytest.approx(0.1)
    if length_s <= 1.0:
        assert "total_energy_j" in result.uncertain()  # a 100 ms staleness is over 5 % of a short window


def test_a_run_past_the_last_sample_is_not_measured_never_zero() -> None:
    """The reported bug: the run ended before the next sample; extrapolating made 0 J out of nothing."""
    events, a, b, _ = _record(0.03, 0.02, brackets=False, after_s=-0.09)
    assert max(e.t_ns for e in events if isinstance(e, PowerSample)) < a  # no reading inside or after
    result = per_query_energy(bench.window_view(events, a, b))
    assert result.total_energy_j is None and result.energy_j[0] is None
    assert result.not_measured_reason == "not measured: shorter than one sample"
    assert result.mean_power_w is None
    out = result.to_dict()
    assert out["not_measured"] == "not measured: shorter than one sample" and out["total_energy_j"] is None


def test_the_same_run_with_brackets_gets_its_energy() -> None:
    events, a, b, collector = _record(0.03, 0.02, after_s=-0.09)
    result = per_query_energy(bench.window_view(events, a, b))
    truth = collector.true_energy_j(b) - collector.true_energy_j(a)
    assert result.total_energy_j is not None and result.total_energy_j > 0
    assert abs(result.total_energy_j - truth) <= result.total_energy_j_bound


def test_power_only_device_with_no_sample_in_the_window_is_not_measured() -> None:
    events, a, b, _ = _record(0.05, 0.02, counter=False, brackets=False)
    result = per_query_energy(bench.window_view(events, a, b))
    assert result.total_energy_j is None
    assert result.devices["gpu:0"].note == "not measured: shorter than one sample"


def test_power_only_device_over_a_long_window_holds_the_truth() -> None:
    events, a, b, collector = _record(4.6, 0.04, counter=False)
    result = per_query_energy(bench.window_view(events, a, b))
    truth = collector.true_energy_j(b) - collector.true_energy_j(a)
    assert abs(result.total_energy_j - truth) <= result.total_energy_j_bound


def test_concurrent_queries_each_hold_their_truth_share() -> None:
    """Two queries at once on a device whose extra power is per query: each bound holds the fair share."""
    events, a, b, collector = _record(2.4, 0.03)
    from ipw.events import QueryFinished, QueryStarted, RunStarted
    from ipw.replay import build_view

    mid = a + 700_000_000
    run = [RunStarted(run_id="two", t_ns=0, wall_time_ns=0),
           QueryStarted(query_id=0, t_ns=a), QueryStarted(query_id=1, t_ns=mid),
           QueryFinished(query_id=0, t_ns=b), QueryFinished(query_id=1, t_ns=b)]
    result = per_query_energy(build_view([run + events]))
    e = collector.true_energy_j
    truth = {0: (e(mid) - e(a)) + (e(b) - e(mid)) / 2, 1: (e(b) - e(mid)) / 2}
    for qid, true_j in truth.items():
        assert abs(result.energy_j[qid] - true_j) <= result.energy_j_bound[qid]
    assert np.isclose(sum(result.energy_j.values()), result.total_energy_j)
