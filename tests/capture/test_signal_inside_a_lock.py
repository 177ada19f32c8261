"""A SIGINT that lands inside ``threading``'s own code still ends ``ipw record`` as interrupted, exit 130.

Left to Python, a signal raises ``KeyboardInterrupt`` at whatever bytecode the
main thread is running. The scheduler spends its time in
``Semaphore.acquire``, whose ``Condition.wait`` lets go of the semaphore's
lock and only then enters its ``try``: a ``KeyboardInterrupt`` raised between
the two left the ``with`` around it releasing that lock again
(``RuntimeError: release unlocked lock``): the run was recorded as
``failed``, the command exited 70 (an internal error), and a query thread
still blocked on a silent server held the exit. That moment is rare on an idle
machine and came up under load (a flaky stop test); here it is made exact: a
trace function in the child sends the SIGINT on the line right after
``_release_save()`` in ``Condition.wait`` while the scheduler waits for a
slot. A real process, a real signal, the real client and a loopback server
that sends an SSE head and then nothing. The 90 s wait is a give-up
deadline, not a timing claim.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipw.events import QueryFailed, RunFinished
from ipw.ledger import read_events
from tests.capture._endless_server import endless_server
from tests.conftest import run_cli

# Sends SIGINT to itself once, when the main thread is inside Condition.wait just after it released the
# lock, called from the runner's wait for a slot; the trace stays on until then. Exit 99: that moment
# never came (the runner no longer waits there, and this test must be rethought).
_DRIVER = r"""
import inspect, os, signal, sys, threading

src, first = inspect.getsourcelines(threading.Condition.wait)
after_release = next(first + i + 1 for i, line in enumerate(src) if "_release_save()" in line)
wait_code = threading.Condition.wait.__code__
fired = []

def in_wait(frame, event, arg):
    if event == "line" and frame.f_lineno == after_release and not fired:
        fired.append(True)
        os.kill(os.getpid(), signal.SIGINT)
    return in_wait

def calls(frame, event, arg):
    if fired or frame.f_code is not wait_code:
        return None
    caller = frame.f_back.f_back if frame.f_back is not None else None
    return in_wait if caller is not None and caller.f_code.co_name == "take_slot" else None

def give_up():
    threading.Event().wait(60)
    os._exit(99)

threading.Thread(target=give_up, daemon=True).start()
sys.settrace(calls)
from ipw.cli import main
main(sys.argv[1:])
"""


@pytest.mark.timeout(180)
def test_a_sigint_inside_the_schedulers_wait_for_a_slot_ends_the_run_as_interrupted(tmp_path: Path) -> None:
    run = tmp_path / "r"
    with endless_server("silent") as (url, _state):
        proc = subprocess.run(
            [sys.executable, "-c", _DRIVER, "record", "--client", "openai", "--client-base-url", url,
             "--model", "m", "--client-param", "api=completions", "--client-param", "timeout_s=600",
             "--output-dir", str(tmp_path), "--run-name", "r", "--max-queries", "3", "--energy", "none"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90,
        )
    assert proc.returncode != 99, "the scheduler never waited for a slot: the signal was not sent"
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "internal error" not in proc.stderr
    assert run_cli("ledger", "verify", str(run)).exit_code == 0
    events = read_events(run)
    [finished] = [e for e in events if isinstance(e, RunFinished)]
    assert finished.status == "interrupted"
    # the query in flight is recorded once, as interrupted (a resume asks it again)
    assert [(e.query_id, e.error_type) for e in events if isinstance(e, QueryFailed)] == [(0, "Interrupted")]
