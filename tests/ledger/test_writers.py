"""One writer per run (SPEC §8), with real processes.

Every command here is a separate ``python -m ipw.cli`` process, as a user
would start them in two terminals. The capture talks to a small OpenAI
streaming stub on loopback (tests/_openai_stub.py) whose gate holds answers,
so a capture is provably still running while a second writer tries its luck.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from ipw import events as ev
from ipw.errors import LedgerLockedError
from ipw.ledger import LedgerReader, LedgerWriter, read_events, verify
from ipw.ledger.lock import LOCK_NAME, RunLock, active_writer, read_holder
from tests._openai_stub import OpenAIStub, openai_stub

QUERIES = 12


def ipw(*args: str) -> list[str]:
    return [sys.executable, "-m", "ipw.cli", *args]


def run(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ipw(*args), capture_output=True, text=True, timeout=timeout_s)


def record_args(stub: OpenAIStub, out: Path, name: str, *extra: str) -> list[str]:
    return ["record", "--client", "openai", "--client-base-url", stub.base_url, "--model", "stub",
            "--max-queries", str(QUERIES), "--energy", "none", "--output-dir", str(out), "--run-name", name, *extra]


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finished_queries(run_dir: Path) -> int:
    if not (run_dir / "events").is_dir():
        return 0
    return sum(1 for _ in LedgerReader(run_dir).events(kinds={"query_finished"}))


def assert_refused_by(result: subprocess.CompletedProcess[str], pid: int, command: str | None) -> None:
    """Exit 3 and one line naming the holder: its pid, its command and since when."""
    assert result.returncode == 3, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ipw: error: "), result.stderr
    assert f"pid {pid} (" in lines[0] and " since " in lines[0], lines[0]
    if command is not None:
        assert f"({command})" in lines[0], lines[0]
    assert "--wait" in lines[0]


def test_a_live_capture_refuses_a_judging_replay_and_a_repair_and_readers_see_whole_frames(tmp_path: Path) -> None:
    run_dir = tmp_path / "live"
    with openai_stub(delay_s=0.005, chunks=3) as stub:
        stub.hold(after=4)  # then the capture waits on its fifth answer: alive, idle, holding its lock
        recorder = subprocess.Popen(ipw(*record_args(stub, tmp_path, "live")), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: finished_queries(run_dir) >= 4 and stub.started >= 5, "the capture to wait on the stub")
            acknowledged = read_events(run_dir)
            segments_before = {p.name: p.read_bytes() for p in (run_dir / "events").iterdir() if p.is_file()}

            judging = run("replay", str(run_dir), "--analysis", "accuracy")
            assert_refused_by(judging, recorder.pid, "ipw record")
            repairing = run("ledger", "repair", str(run_dir))
            assert_refused_by(repairing, recorder.pid, "ipw record")

            # readers take no lock and change nothing
            verifying = run("ledger", "verify", str(run_dir))
            assert verifying.returncode == 0, verifying.stderr
            assert f"pid {recorder.pid} " in verifying.stdout  # the note says a writer is appending
            info = run("ledger", "info", str(run_dir), "--json")
            assert info.returncode == 0 and json.loads(info.stdout)["problem"] is None, info.stdout + info.stderr
            exported = run("ledger", "export", str(run_dir), "--kind", "query_finished")
            assert exported.returncode == 0 and len(exported.stdout.splitlines()) >= 4, exported.stderr
            assert recorder.poll() is None, "the capture must still be running for this test to mean anything"
            segments_after = {p.name: p.read_bytes() for p in (run_dir / "events").iterdir() if p.is_file()}
            assert all(segments_after[name].startswith(data) for name, data in segments_before.items())
            assert not (run_dir / "events" / "quarantine").exists()

            waiting = subprocess.Popen(ipw("replay", str(run_dir), "--analysis", "accuracy", "--wait"),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert waiting.stderr is not None
            line = waiting.stderr.readline()  # it says whom it waits for, then waits
            assert line.startswith("ipw: waiting for pid ") and "ipw record" in line, line
            assert waiting.poll() is None
        finally:
            stub.release()
        out, err = recorder.communicate(timeout=120)
        assert recorder.returncode == 0, err
        w_out, w_err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, w_err
    assert verify(run_dir).ok
    final = read_events(run_dir)
    assert final[: len(acknowledged)] == acknowledged  # nothing acknowledged was lost or rewritten
    finished = [e for e in final if isinstance(e, ev.QueryFinished)]
    assert len(finished) == QUERIES
    (run_finished,) = [e for e in final if isinstance(e, ev.RunFinished)]
    assert run_finished.queries_completed == QUERIES
    verdicts = [e for e in final if isinstance(e, ev.Verdict)]
    assert sorted(v.query_id for v in verdicts) == sorted(q.query_id for q in finished)  # the waiter judged all
    assert final.index(run_finished) < min(final.index(v) for v in verdicts)
    assert run("ledger", "verify", str(run_dir)).returncode == 0


def test_two_resumes_at_once_one_runs_and_one_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "twice"
    with openai_stub(delay_s=0.005, chunks=3) as stub:
        stub.hold(after=3)
        first = subprocess.Popen(ipw(*record_args(stub, tmp_path, "twice")), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        wait_for(lambda: finished_queries(run_dir) >= 3 and stub.started >= 4, "the first capture to wait on the stub")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        acknowledged = read_events(run_dir)  # the valid prefix: everything the killed capture acknowledged

        stub.hold()  # whichever resume gets the lock stays inside its capture until released
        resumes = [subprocess.Popen(ipw(*record_args(stub, tmp_path, "twice", "--resume")), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            wait_for(lambda: any(p.poll() is not None for p in resumes), "one resume to be refused")
        finally:
            stub.release()
        results = [(p, *p.communicate(timeout=120)) for p in resumes]
    codes = sorted(p.returncode for p, _out, _err in results)
    assert codes == [0, 3], [(p.returncode, err) for p, _out, err in results]
    winner = next(p for p, _o, _e in results if p.returncode == 0)
    loser_err = next(err for p, _o, err in results if p.returncode == 3)
    assert_refused_by(subprocess.CompletedProcess([], 3, "", loser_err), winner.pid, "ipw record")
    assert run("ledger", "verify", str(run_dir)).returncode == 0
    final = read_events(run_dir)
    assert final[: len(acknowledged)] == acknowledged
    records = [e.record_id for e in final if isinstance(e, ev.QueryStarted) and not e.warmup]
    done = {e.query_id for e in final if isinstance(e, ev.QueryFinished)}
    started_by_qid = {e.query_id: e.record_id for e in final if isinstance(e, ev.QueryStarted)}
    assert sorted(started_by_qid[q] for q in done) == sorted(set(records))  # each record finished once
    assert len(done) == QUERIES


# -- a writer holding the lock while a frame is half written -------------------------

HALF_FRAME_WRITER = r"""
import os, sys, time
from ipw import events as ev
from ipw.errors import LedgerLockedError
from ipw.ledger import LedgerWriter
from ipw.ledger import _format as fmt

w = LedgerWriter.create(sys.argv[1], run_id="half", flush_interval_s=0)
w.extend([ev.Token(query_id=0, t_ns=i, text=str(i)) for i in range(50)])
w.flush()
frame, _ = fmt.encode_frame(b"x" * 400, 1, w.head_hash)
seg = sorted(p for p in (w.run_dir / "events").iterdir() if p.suffix == ".ipwl")[-1]
with open(seg, "ab") as fh:  # a frame in the middle of its write(2), as a reader may see it
    fh.write(frame[: len(frame) // 2])
print("ready", flush=True)
time.sleep(120)
"""


def test_readers_beside_a_writer_call_a_half_written_frame_in_flight_not_damage(tmp_path: Path) -> None:
    run_dir = tmp_path / "half"
    child = subprocess.Popen([sys.executable, "-c", HALF_FRAME_WRITER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        before = {p.name: p.read_bytes() for p in (run_dir / "events").iterdir()}
        assert active_writer(run_dir) is not None and active_writer(run_dir).pid == child.pid  # type: ignore[union-attr]
        report = verify(run_dir)
        assert report.ok and report.events == 50, report.one_line()
        assert any(f"pid {child.pid} " in note for note in report.notes)
        reader = LedgerReader(run_dir)
        assert len(list(reader.events())) == 50 and reader.problem is None
        info = run("ledger", "info", str(run_dir))
        assert info.returncode == 0 and "damaged" not in info.stdout, info.stdout
        assert run("ledger", "verify", str(run_dir)).returncode == 0
        assert {p.name: p.read_bytes() for p in (run_dir / "events").iterdir()} == before  # readers wrote nothing
        assert_refused_by(run("ledger", "repair", str(run_dir)), child.pid, None)
    finally:
        child.kill()
        child.wait()
    # the writer is gone: the same half frame is now a torn tail, and repair may take it
    assert active_writer(run_dir) is None
    assert not verify(run_dir).ok
    fixed = run("ledger", "repair", str(run_dir))
    assert fixed.returncode == 0, fixed.stderr
    assert verify(run_dir).ok and len(read_events(run_dir)) == 50


# -- the lock itself ----------------------------------------------------------------


def test_a_killed_writer_leaves_details_but_never_blocks_the_next(tmp_path: Path) -> None:
    run_dir = tmp_path / "stale"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from ipw.ledger.lock import RunLock; RunLock(sys.argv[1], command='ipw record').acquire("
         "create_dir=True); print('held', flush=True); time.sleep(120)", str(run_dir)],
        stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    with pytest.raises(LedgerLockedError) as refused:
        RunLock(run_dir).acquire()
    assert f"pid {child.pid} " in str(refused.value) and "(ipw record)" in str(refused.value)
    child.send_signal(signal.SIGKILL)
    child.wait()
    holder = read_holder(run_dir)
    assert holder is not None and holder.pid == child.pid  # its details stay behind …
    assert active_writer(run_dir) is None  # … but name no live writer
    with RunLock(run_dir) as lock:  # … and block nobody
        assert lock.held and read_holder(run_dir).pid == os.getpid()  # type: ignore[union-attr]
    assert read_holder(run_dir) is None  # released cleanly: nobody holds it


def test_the_library_writer_holds_the_lock_until_close(tmp_path: Path) -> None:
    run_dir = tmp_path / "lib"
    with LedgerWriter.create(run_dir, run_id="lib", flush_interval_s=0) as writer:
        writer.append(ev.Annotation(t_ns=0, key="k"))
        result = run("ledger", "repair", str(run_dir))
        assert_refused_by(result, os.getpid(), None)
    assert run("ledger", "repair", str(run_dir)).returncode == 0
    with LedgerWriter.open_append(run_dir, flush_interval_s=0) as writer:
        assert read_holder(run_dir).pid == os.getpid()  # type: ignore[union-attr]
    assert read_holder(run_dir) is None


def test_a_pack_leaves_the_lock_file_out(tmp_path: Path) -> None:
    import tarfile

    run_dir = tmp_path / "packed"
    with LedgerWriter.create(run_dir, run_id="p", flush_interval_s=0) as writer:
        writer.append(ev.Annotation(t_ns=0, key="k"))
    assert (run_dir / LOCK_NAME).exists()
    result = run("ledger", "pack", str(run_dir), "-o", str(tmp_path / "p.ipwpack"))
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "p.ipwpack") as tar:
        names = tar.getnames()
    assert LOCK_NAME not in names and not any(n.endswith(".lock") for n in names), names
