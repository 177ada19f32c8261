"""A resumed run: the pause between capture sessions is not serving time."""

from __future__ import annotations

from ipw.analyses.energy import per_query_energy
from ipw.analyses.latency import LatencyProjection
from ipw.events import PowerSample, QueryFinished, QueryStarted, RunStarted, Token
from ipw.replay import build_view

S = 1_000_000_000


def _session(run_started_ns: int, qid: int, resumed: bool) -> list:
    start = run_started_ns + S
    events = [RunStarted(run_id="r", t_ns=run_started_ns, wall_time_ns=run_started_ns, resumed=resumed),
              QueryStarted(query_id=qid, t_ns=start, record_id=f"rec{qid}")]
    events += [Token(query_id=qid, t_ns=start + k * S // 10, text="x") for k in range(1, 11)]
    events.append(QueryFinished(query_id=qid, t_ns=start + 2 * S, completion_tokens=10, prompt_tokens=5))
    # a monitor counter that restarts with each session, at 10 W
    events += [PowerSample(device="nvidia:0", t_ns=run_started_ns + k * S // 10, power_w=10.0,
                           energy_j=k / 10 * 10.0) for k in range(0, 41)]
    return events


def test_throughput_and_mean_power_leave_out_the_pause_before_a_resume() -> None:
    first = _session(0, 0, False)
    second = _session(600 * S, 1, True)  # ten minutes later
    view = build_view([sorted(first + second, key=lambda e: e.t_ns)])
    latency = LatencyProjection().compute(view, {})
    assert latency["wall_span_s"] == 4.0  # 2 s of serving in each session
    assert latency["throughput_tokens_per_s"] == 20 / 4.0
    energy = per_query_energy(view)
    assert energy.window_s == 4.0
    assert abs(energy.mean_power_w - 10.0) < 0.5
