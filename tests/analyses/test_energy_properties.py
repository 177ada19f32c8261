"""Properties of attribution on random runs: energy is conserved, never invented or lost."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from ipw.analyses.energy import per_query_energy
from ipw.events import PowerSample, QueryFinished, QueryStarted, RunStarted, Token
from ipw.replay import build_view

MS = 1_000_000


@st.composite
def runs(draw):
    """Random overlapping queries (some warmup) with random tokens, on one device."""
    events = [RunStarted(run_id="prop", t_ns=0, wall_time_ns=0)]
    n = draw(st.integers(1, 6))
    for qid in range(n):
        start = draw(st.integers(0, 2000)) * MS
        length = draw(st.integers(0, 1500)) * MS
        events.append(QueryStarted(query_id=qid, t_ns=start, warmup=draw(st.booleans()) and qid > 0))
        for t in sorted(draw(st.lists(st.integers(0, length // MS), max_size=6))):
            events.append(Token(query_id=qid, t_ns=start + t * MS, text="x", n_tokens=draw(st.integers(1, 3))))
        events.append(QueryFinished(query_id=qid, t_ns=start + length))
    counter = draw(st.booleans())
    times = sorted(set(draw(st.lists(st.integers(0, 4000), min_size=2, max_size=40))))
    if len(times) < 2:
        times = [0, 4000]
    watts = draw(st.lists(st.floats(0, 500), min_size=len(times), max_size=len(times)))
    total = 0.0
    for i, (t, w) in enumerate(zip(times, watts)):
        if i:
            total += w * (t - times[i - 1]) / 1000
        events.append(PowerSample(device="gpu:0", t_ns=t * MS, energy_j=total) if counter
                      else PowerSample(device="gpu:0", t_ns=t * MS, power_w=w))
    return build_view([events])


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=150, deadline=None)
@given(view=runs(), policy=st.sampled_from(["active", "tokens"]), baseline=st.sampled_from(["none", "subtract"]))
def test_energy_is_conserved(view, policy: str, baseline: str) -> None:
    result = per_query_energy(view, policy=policy, idle_baseline=baseline)
    if not view.measured_queries():
        assert result.total_energy_j is None
        return
    if result.not_measured_reason is not None:  # no reading measures the window: no number at all, never 0 J
        assert result.total_energy_j is None and all(v is None for v in result.energy_j.values())
        return
    parts = result.attributed_energy_j + result.idle_energy_j + result.excluded_energy_j
    parts += result.baseline_energy_j or 0.0
    assert _close(parts, result.total_energy_j)
    for qid, energy in result.energy_j.items():
        if result.prefill_energy_j[qid] is not None:
            assert _close(result.prefill_energy_j[qid] + result.decode_energy_j[qid], energy)
        if baseline == "none":
            assert energy >= -1e-6  # power is never negative, so neither is a share of it


@settings(max_examples=100, deadline=None)
@given(view=runs())
def test_window_policy_never_charges_less_than_a_fair_share(view) -> None:
    fair = per_query_energy(view, policy="active")
    legacy = per_query_energy(view, policy="window")
    assert (fair.not_measured_reason is None) == (legacy.not_measured_reason is None)
    for qid, energy in fair.energy_j.items():
        if energy is None:
            assert legacy.energy_j[qid] is None
            continue
        assert legacy.energy_j[qid] >= energy - 1e-6
