"""Bracket reads through the real gRPC monitor: the Read rpc reads every device now, the session records the
readings as bracket samples on ipw's clock, and a monitor that cannot answer never fails the caller.

The device is ``KnownPowerCollector`` (benchmarks/bench_window.py), standing in for a GPU whose energy
counter is a known function of time; here it reads the real monotonic clock, so nothing asserts on timing.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import grpc

from ipw.analyses.energy import per_query_energy
from ipw.events import DeviceSeen, PowerSample
from ipw_energy_monitor import energy_monitor_pb2 as pb2
from ipw_energy_monitor import energy_monitor_pb2_grpc as pb2_grpc

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_window.py"
_spec = importlib.util.spec_from_file_location("bench_window", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # type: ignore[union-attr]


def test_read_rpc_reads_now_and_leaves_the_streams_alone(serve) -> None:
    collector = bench.KnownPowerCollector(bench.Profile(), t0_ns=time.monotonic_ns())
    server = serve([collector], interval_ms=100)
    with grpc.insecure_channel(server.address) as channel:
        stub = pb2_grpc.EnergyMonitorStub(channel)
        before = time.monotonic_ns()
        batch = stub.Read(pb2.ReadRequest(label="start"), timeout=5)
        after = time.monotonic_ns()
    assert [s.device for s in batch.samples] == ["gpu:0"]
    sample = batch.samples[0]
    assert before <= sample.t_ns <= after  # read during the call, not at the last tick
    assert sample.HasField("energy_j") and sample.energy_j == collector.true_energy_j(sample.t_ns)


def test_a_window_between_two_ticks_gets_its_bracketed_energy(serve, session_for, event_log) -> None:
    collector = bench.KnownPowerCollector(bench.Profile(), t0_ns=time.monotonic_ns())
    server = serve([collector], interval_ms=1000)  # samples a second apart: the window falls between two
    session = session_for(server.address, interval_ms=1000)
    assert event_log.wait_samples("gpu:0", 1)
    assert session.read_bracket("start") == 1
    a = time.monotonic_ns()
    time.sleep(0.02)
    b = time.monotonic_ns()
    assert session.read_bracket("end") == 1
    events = [e for e in event_log.snapshot() if isinstance(e, (PowerSample, DeviceSeen))]
    brackets = [e for e in events if isinstance(e, PowerSample) and e.bracket]
    assert [e.bracket for e in brackets] == ["start", "end"]
    # mapped onto ipw's clock: read before a and after b, up to the offset's own error (half its round trip)
    half_rtt_ns = session.clock_rtt_ns // 2 + 1
    assert brackets[0].t_ns <= a + half_rtt_ns and brackets[1].t_ns >= b - half_rtt_ns
    result = per_query_energy(bench.window_view(events, a, b))
    truth = collector.true_energy_j(b) - collector.true_energy_j(a)
    assert result.total_energy_j is not None and result.total_energy_j > 0
    assert result.devices["gpu:0"].edges_bracketed
    # the monitor's clock is ipw's (same process) up to half a round trip: allow that much at 400 W
    slack_j = 400.0 * (session.clock_rtt_ns or 0) / 1e9
    assert abs(result.total_energy_j - truth) <= result.total_energy_j_bound + slack_j


def test_a_monitor_that_cannot_answer_is_a_recorded_miss_not_an_error(serve, session_for, event_log) -> None:
    collector = bench.KnownPowerCollector(bench.Profile(), t0_ns=time.monotonic_ns())
    server = serve([collector], interval_ms=100)
    session = session_for(server.address, interval_ms=100, reconnect_interval_s=30.0)
    assert event_log.wait_samples("gpu:0", 1)
    server.stop(grace_s=0)
    assert event_log.wait_for(lambda evs: any(getattr(e, "status", "") == "lost" for e in evs))
    assert session.read_bracket("end") == 0
    missed = event_log.statuses("bracket_missed")
    assert len(missed) == 1 and "end bracket" in missed[0].message
    assert not [e for e in event_log.samples() if e.bracket]
