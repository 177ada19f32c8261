"""Group commit: one fsync covers every query that ended meanwhile, and an acknowledgement means durable.

The kill test runs a real writer in a child process with many threads ending
"queries" at once; each commit callback reports the query as acknowledged on
stdout. The child is killed with SIGKILL mid-stream, and every query it
acknowledged must be in the recovered ledger.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from ipw.events import QueryFinished, Token
from ipw.ledger import LedgerWriter, read_events, repair

_CHILD = textwrap.dedent(
    """
    import os, sys, threading
    from ipw.events import QueryFinished, Token
    from ipw.ledger import LedgerWriter

    writer = LedgerWriter.create(sys.argv[1], run_id="kill", flush_interval_s=1.0)
    lock = threading.Lock()

    def acked(qid):
        with lock:
            os.write(1, f"{qid}\\n".encode())

    def worker(w):
        qid = w
        while True:
            for i in range(20):
                writer.append(Token(query_id=qid, t_ns=qid * 100 + i, text="x"))
            writer.append(QueryFinished(query_id=qid, t_ns=qid * 100 + 99, completion_tokens=20))
            writer.commit(lambda q=qid: acked(q))
            qid += 16

    for w in range(16):
        threading.Thread(target=worker, args=(w,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_no_acknowledged_query_is_lost_under_kill_9(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(run)], stdout=subprocess.PIPE, env=env)
    acked: list[int] = []
    assert proc.stdout is not None
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in iter(proc.stdout.readline, b"")], daemon=True).start()
    try:
        while len(acked) < 300:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                raise AssertionError(f"the child acknowledged {len(acked)} queries, then nothing for 60 s") from None
            acked.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    repair(run)
    finished = {e.query_id for e in read_events(run) if isinstance(e, QueryFinished)}
    lost = sorted(set(acked) - finished)
    assert not lost, f"acknowledged but not in the ledger: {lost[:10]}"


def test_a_commit_callback_runs_only_after_its_events_are_acknowledged(tmp_path: Path) -> None:
    writer = LedgerWriter.create(tmp_path / "run", run_id="r", flush_interval_s=1.0)
    seen: list[tuple[int, int]] = []
    done = threading.Event()
    for qid in range(50):
        writer.append(Token(query_id=qid, t_ns=qid, text="x"))
        appended = qid + 1
        writer.commit(lambda a=appended: seen.append((a, writer.events_acknowledged)))
    writer.commit(done.set)
    assert done.wait(10), "the background flusher never ran the commits"
    writer.close()
    assert len(seen) == 50
    assert all(acked >= appended for appended, acked in seen)


def test_one_flush_covers_many_commits(tmp_path: Path) -> None:
    writer = LedgerWriter.create(tmp_path / "run", run_id="r", flush_interval_s=1.0)
    done = threading.Event()
    n = 0

    def count() -> None:
        nonlocal n
        n += 1

    with writer._lock:  # hold any flush back while 200 queries end, as a slow fsync would
        for qid in range(200):
            writer.append(QueryFinished(query_id=qid, t_ns=qid))
            writer.commit(count)
    writer.commit(done.set)
    assert done.wait(10)
    frames = writer._frames
    writer.close()
    assert n == 200
    assert frames <= 3  # the group: not one frame (and fsync) per query


def test_the_manifest_is_written_at_the_first_flush_and_close_not_per_flush(tmp_path: Path) -> None:
    run = tmp_path / "run"
    writer = LedgerWriter.create(run, run_id="r", flush_interval_s=0)
    writer.append(Token(query_id=0, t_ns=0, text="a"))
    writer.flush()
    first = (run / "manifest.json").read_bytes()
    for i in range(1, 5):
        writer.append(Token(query_id=0, t_ns=i, text="b"))
        writer.flush()
    assert (run / "manifest.json").read_bytes() == first
    writer.close()
    assert (run / "manifest.json").read_bytes() != first
    assert len(read_events(run)) == 5
