"""SIGTERM or SIGINT ends ``ipw record`` even when nobody reads its stderr and the stream is silent.

A real process and a real signal. The server (``_endless_server``'s
``silent`` mode, standing in for an inference server that hangs mid-answer)
sends an SSE head and then nothing. The pipe of the child's stderr is closed
before the signal, as when the terminal or the log reader went away: every
write there fails with EPIPE. The run must still end as interrupted, its
ledger whole. The 30 s wait is a give-up deadline, not a timing claim.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipw.events import QueryFailed, QueryStarted, RunFinished
from ipw.ledger import read_events
from tests.capture._endless_server import endless_server
from tests.conftest import run_cli


def _started(run: Path) -> bool:
    try:
        return any(isinstance(e, QueryStarted) for e in read_events(run))
    except Exception:  # nothing acknowledged yet
        return False


@pytest.mark.timeout(180)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_a_silent_run_whose_stderr_reader_is_gone(tmp_path: Path, sig: signal.Signals) -> None:
    run = tmp_path / "r"
    with endless_server("silent") as (url, state):
        proc = subprocess.Popen(
            [sys.executable, "-m", "ipw.cli", "record", "--client", "openai", "--client-base-url", url,
             "--model", "m", "--client-param", "api=completions", "--client-param", "timeout_s=600",
             "--output-dir", str(tmp_path), "--run-name", "r", "--max-queries", "3", "--energy", "none"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            proc.stderr.close()  # the reader of stderr is gone: the child's writes there now fail
            give_up = time.monotonic() + 90
            while not (state["posts"] and _started(run)):
                assert proc.poll() is None, "ipw record ended before its first query was in flight"
                assert time.monotonic() < give_up, "the first query never reached the server"
                time.sleep(0.05)
            proc.send_signal(sig)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"ipw record was still running 30 s after {sig.name}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
    assert proc.returncode == 130
    assert run_cli("ledger", "verify", str(run)).exit_code == 0
    events = read_events(run)
    [finished] = [e for e in events if isinstance(e, RunFinished)]
    assert finished.status == "interrupted"
    # the query cut short is recorded as interrupted (a resume asks it again), not as failed
    assert [(e.query_id, e.error_type) for e in events if isinstance(e, QueryFailed)] == [(0, "Interrupted")]
