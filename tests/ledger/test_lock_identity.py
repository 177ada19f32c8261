"""A lock holder's identity: its start time, read from /proc on Linux, must be psutil's to the tick.

The writer lock tells a live holder from a killed one (or a reused pid) by the
process's start time. ipw reads it from /proc without importing psutil (which
costs a run tens of ms), and a holder written by either reading must match the
other, so the two are compared here on live processes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from ipw.ledger import lock


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the /proc reading exists on Linux only")
def test_the_start_time_from_proc_is_psutils() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid in (os.getpid(), child.pid, 1):
            assert abs(lock._started_s(pid) - psutil.Process(pid).create_time()) < 0.02, pid
    finally:
        child.kill()
        child.wait()
    with pytest.raises(ProcessLookupError):
        lock._started_s(child.pid)  # reaped: no such process


def test_a_holder_is_alive_only_while_the_same_process_runs() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = lock._process_started_s(child.pid)
        assert started is not None
        holder = lock.LockHolder(pid=child.pid, host="h", command="ipw record", since="now",
                                 process_started_s=started)
        assert lock._alive(holder)
        reused = lock.LockHolder(pid=child.pid, host="h", command="ipw record", since="now",
                                 process_started_s=started - 3600)  # the pid, but an hour older: another process
        assert not lock._alive(reused)
    finally:
        child.kill()
        child.wait()
    assert not lock._alive(holder)
