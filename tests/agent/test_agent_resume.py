"""``--resume`` of an agent run killed with SIGKILL in the middle of a task: the unfinished tasks run again.

A real ``ipw record --workload agent`` process is killed while the scripted
server (standing in for a tool-calling model) holds a model call open; the
resumed run keeps every acknowledged event as it was, runs the task that
was cut short again from the start under a new task id, skips the finished
one, and runs the one never started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ipw.events import QueryStarted, RunStarted, TaskFinished, TaskStarted
from ipw.ledger import read_events
from tests.agent._scripted_server import ScriptedServer, scripted_server

WRITE = json.dumps({"path": "out.txt", "content": "ok"})
SCRIPTS = {
    "first": [("tools", [("write_file", WRITE)]), ("say", "done")],
    "cut": [("tools", [("write_file", WRITE)]), ("stall",)],  # the second turn hangs the first time it is asked
    "last": [("say", "done")],
}


def _args(url: str, tasks: Path, out: Path) -> list[str]:
    return ["record", "--workload", "agent", "--tasks", str(tasks), "--client", "openai", "--client-base-url", url,
            "--model", "scripted", "--energy", "none", "--output-dir", str(out), "--run-name", "killed"]


def _wait_for(predicate, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_resume_after_sigkill_runs_the_unfinished_tasks(tmp_path: Path, cli) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": n, "prompt": f"[script:{n}] go", "check": check}) + "\n"
                             for n, check in (("first", "test -f out.txt"), ("cut", "test -f out.txt"),
                                              ("last", "true"))))
    run = tmp_path / "killed"
    server = ScriptedServer(SCRIPTS)
    with scripted_server(server) as url:
        proc = subprocess.Popen([sys.executable, "-m", "ipw.cli", *_args(url, tasks, tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert server.stalled.wait(120), proc.stderr.read().decode() if proc.poll() is not None else "no stall"

            def cut_turn_acknowledged() -> bool:
                return any(isinstance(e, QueryStarted) and e.task_id == "cut" and e.turn == 2
                           for e in read_events(run))

            _wait_for(cut_turn_acknowledged)  # the writer flushes at least every second
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        before = read_events(run)
        assert {e.task_id for e in before if isinstance(e, TaskFinished)} == {"first"}

        # the run says what it is: no --workload or --tasks needed to resume it
        result = cli("record", "--resume", "--client", "openai", "--client-base-url", url, "--model", "scripted",
                     "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "killed")
        assert result.exit_code == 0, result.stderr

    after = read_events(run)
    assert after[: len(before)] == before  # nothing acknowledged was lost or changed
    assert [e.resumed for e in after if isinstance(e, RunStarted)] == [False, True]
    started = [(e.task_id, e.record_id) for e in after if isinstance(e, TaskStarted)]
    assert started == [("first", "first"), ("cut", "cut"), ("cut#2", "cut"), ("last", "last")]
    finished = {e.task_id: e.outcome for e in after if isinstance(e, TaskFinished)}
    assert finished == {"first": "solved", "cut#2": "solved", "last": "solved"}  # "cut" stays unfinished
    query_ids = [e.query_id for e in after if isinstance(e, QueryStarted)]
    assert len(set(query_ids)) == len(query_ids)  # the resumed session's calls are new queries

    verified = cli("ledger", "verify", str(run))
    assert verified.exit_code == 0, verified.stdout + verified.stderr
