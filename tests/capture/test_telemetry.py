"""The ipw side: launching, reusing and stopping the monitor; a session that survives its death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from ipw.capture.telemetry import ENV_ENDPOINT, MonitorLauncher, TelemetrySession, launch_monitor, read_live
from ipw.errors import TelemetryError
from ipw.events import DeviceSeen, PowerSample, TelemetryStatus

from tests._event_log import EventLog


def _monitor_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ipw_energy_monitor" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


def test_session_events_in_order_on_the_local_clock():
    log = EventLog()
    with launch_monitor(interval_ms=10, collectors="estimate") as launcher:
        assert not launcher.reused and launcher.pid is not None
        with TelemetrySession(launcher.endpoint, log, 10, flush_ms=20) as session:
            assert log.wait_samples("cpu:estimate", 20)
        assert session.samples_received >= 20 and session.lost is False
    events = log.snapshot()
    assert isinstance(events[0], DeviceSeen) and events[0].device == "cpu:estimate"
    connected = events[1]
    assert isinstance(connected, TelemetryStatus) and connected.status == "connected"
    # One machine, one monotonic clock, read by the monitor between the two ends of each probe: the true
    # offset is 0, and the measured one errs by at most half the round trip it comes from.
    half_rtt_ns = session.clock_rtt_ns // 2 + 1
    assert connected.endpoint == launcher.endpoint and abs(connected.clock_offset_ns) <= half_rtt_ns
    assert isinstance(events[-1], TelemetryStatus) and events[-1].status == "stopped"
    samples = [e for e in events if isinstance(e, PowerSample)]
    assert all(s.source == "estimated" for s in samples)
    assert samples[-1].t_ns <= events[-1].t_ns + half_rtt_ns  # mapped onto this process's monotonic clock


def test_clock_offset_is_measured_and_applied():
    log = EventLog()
    shift_ns = 1_000_000_000_000  # a run clock 1000 s ahead of the monitor's: far more than this test can last
    launched_ns = time.monotonic_ns() + shift_ns
    with launch_monitor(interval_ms=10, collectors="estimate") as launcher:
        with TelemetrySession(launcher.endpoint, log, 10, flush_ms=20, clock=lambda: time.monotonic_ns() + shift_ns) as s:
            assert log.wait_samples("cpu:estimate", 5)
            received_ns = time.monotonic_ns() + shift_ns
    # the monitor reads this machine's monotonic clock between the two ends of each probe, so the
    # measured offset is the shift to within half the round trip it comes from, however slow that was
    half_rtt_ns = s.clock_rtt_ns // 2 + 1
    assert abs(s.clock_offset_ns - shift_ns) <= half_rtt_ns
    # a sample is taken after the monitor was launched and before it is received, both on the run clock
    first = log.samples("cpu:estimate")[0]
    assert launched_ns - half_rtt_ns <= first.t_ns <= received_ns + half_rtt_ns


def test_killing_the_monitor_is_an_event_not_an_exception():
    log = EventLog()
    launcher = launch_monitor(interval_ms=10, collectors="estimate")
    pid, port = launcher.pid, int(launcher.endpoint.rpartition(":")[2])
    session = TelemetrySession(launcher.endpoint, log, 10, flush_ms=20, reconnect_interval_s=0.2).start()
    try:
        assert log.wait_samples("cpu:estimate", 5)
        os.kill(pid, signal.SIGKILL)
        assert log.wait_for(lambda evs: any(isinstance(e, TelemetryStatus) and e.status == "lost" for e in evs))
        (lost,) = log.statuses("lost")
        assert launcher.endpoint in lost.message and "stopped answering" in lost.message
        assert session.lost and session.lost_count == 1
        time.sleep(0.6)  # a few failed reconnection attempts: still one "lost", still no exception
        assert len(log.statuses("lost")) == 1
        launcher.stop()
        assert _gone(pid)
        with MonitorLauncher(port=port, interval_ms=10, collectors="estimate"):  # a monitor back at the same address
            assert log.wait_for(lambda evs: any(isinstance(e, TelemetryStatus) and e.status == "reconnected" for e in evs))
            count = len(log.samples("cpu:estimate"))
            assert log.wait_samples("cpu:estimate", count + 5)
            assert session.reconnects == 1 and not session.lost
    finally:
        session.stop()
        launcher.stop()
    assert log.snapshot()[-1].status == "stopped"
    assert _monitor_children() == []


def test_stop_leaves_no_process_behind():
    launcher = launch_monitor(collectors="estimate")
    pid = launcher.pid
    assert psutil.Process(pid).is_running()
    launcher.stop()
    launcher.stop()  # idempotent
    assert _gone(pid) and _monitor_children() == []


def test_monitor_dies_with_a_killed_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from ipw.capture.telemetry import launch_monitor
        launcher = launch_monitor(collectors="estimate")
        print(launcher.pid, flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        monitor_pid = int(parent.stdout.readline())
        assert psutil.Process(monitor_pid).is_running()
        parent.kill()  # kill -9: no atexit, no handler; the monitor notices its parent is gone
        parent.wait()
        assert _gone(monitor_pid)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_sigterm_to_ipw_stops_the_monitor_first(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import time
        from ipw.capture.telemetry import launch_monitor
        launcher = launch_monitor(collectors="estimate")
        print(launcher.pid, flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    monitor_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=15) == -signal.SIGTERM  # still dies of SIGTERM, as without the handler
    # stopped and reaped by the parent before it died, not later by the monitor's own watch on its parent
    assert not psutil.pid_exists(monitor_pid)


def test_reuses_the_monitor_named_by_the_environment(monkeypatch):
    with launch_monitor(collectors="estimate", interval_ms=20) as own:
        monkeypatch.setenv(ENV_ENDPOINT, own.endpoint)
        with launch_monitor(collectors="rapl") as reused:  # collectors do not matter: nothing is started
            assert reused.reused and reused.pid is None and reused.endpoint == own.endpoint
            assert reused.health["collectors"] == ["estimate"]
            result = read_live(reused.endpoint, 0.5, 20)
        assert psutil.Process(own.pid).is_running()  # reuse never stops someone else's monitor
    assert [d["device"] for d in result["devices"]] == ["cpu:estimate"]


def test_a_dead_configured_address_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(ENV_ENDPOINT, "127.0.0.1:9")
    with pytest.raises(TelemetryError) as info:
        launch_monitor()
    assert f"no energy monitor answers at 127.0.0.1:9 (from the ${ENV_ENDPOINT})" in info.value.one_line()
    assert info.value.exit_code == 7


def test_a_monitor_that_cannot_start_is_a_clear_error():
    with pytest.raises(TelemetryError) as info:
        launch_monitor(collectors="rapl", rapl_root="/nonexistent")
    assert "could not start: no powercap tree at /nonexistent" in info.value.message
    assert _monitor_children() == []


def test_a_session_to_nothing_reports_lost_and_never_raises():
    log = EventLog()
    with TelemetrySession("127.0.0.1:9", log, 10, reconnect_interval_s=0.1) as session:
        assert log.wait_for(lambda evs: any(isinstance(e, TelemetryStatus) and e.status == "lost" for e in evs))
    assert "cannot be reached" in log.statuses("lost")[0].message
    assert not session.connected_once and log.snapshot()[-1].status == "stopped"


def test_a_failing_sink_ends_the_session_quietly():
    calls = []

    def sink(event):
        calls.append(event)
        if isinstance(event, PowerSample):
            raise OSError("ledger closed")

    with launch_monitor(interval_ms=10, collectors="estimate") as launcher:
        session = TelemetrySession(launcher.endpoint, sink, 10, flush_ms=20).start()
        deadline = time.monotonic() + 10
        while session.error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        session.stop()
    assert session.error == "the telemetry sink failed: OSError: ledger closed"
    assert sum(isinstance(e, PowerSample) for e in calls) == 1
