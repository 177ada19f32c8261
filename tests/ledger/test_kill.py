"""SIGKILL at random moments loses nothing that was acknowledged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ipw import events as ev
from ipw.ledger import LedgerWriter, read_events, repair, verify

CHILD = r"""
import sys
from ipw import events as ev
from ipw.ledger import LedgerWriter

w = LedgerWriter.create(sys.argv[1], run_id="kill", flush_interval_s=0.05)
i = 0
while True:
    w.append(ev.Token(query_id=i % 3, t_ns=i, text=f" {i}"))
    i += 1
    if i % 200 == 0:
        acked = w.flush()
        sys.stdout.write(f"{acked}\n")
        sys.stdout.flush()
"""


def test_sigkill_twenty_times_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    for attempt in range(20):
        run = tmp_path / f"k{attempt}"
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(run)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is running and has acknowledged something
        assert first.strip().isdigit()
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        acked = int(first)
        for line in proc.stdout:  # everything it said before dying
            if line.strip().isdigit():
                acked = int(line)
        proc.wait()
        repair(run)
        assert verify(run).ok
        events = read_events(run)
        assert len(events) >= acked, (attempt, len(events), acked)
        assert events == [ev.Token(query_id=i % 3, t_ns=i, text=f" {i}") for i in range(len(events))]
        # and the ledger can be continued after the crash
        with LedgerWriter.open_append(run) as w:
            w.append(ev.Annotation(t_ns=0, key="resumed"))
        assert read_events(run)[-1] == ev.Annotation(t_ns=0, key="resumed")
        assert verify(run).ok
