"""``--resume`` after SIGKILL runs only the missing queries and ends with an uninterrupted run's set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipw.events import QueryFinished, QueryStarted, RunStarted
from ipw.ledger import read_events, verify
from ipw.replay import load_run

pytestmark = pytest.mark.e2e

N = 10


def _args(base_url: str, out: Path, name: str) -> list[str]:
    return ["record", "--client", "openai", "--client-base-url", base_url, "--model", "gemma",
            "--max-queries", str(N), "--gen-param", "max_tokens=6", "--client-param", "api=completions", "--energy", "none",
            "--output-dir", str(out), "--run-name", name]


def _finished(run: Path) -> int:
    try:
        return sum(isinstance(e, QueryFinished) for e in read_events(run))
    except Exception:  # the ledger may not exist yet at the very start
        return 0


def test_resume_after_sigkill(tmp_path: Path, cli, llama_server_url: str) -> None:
    reference = cli(*_args(llama_server_url, tmp_path, "whole"))
    assert reference.exit_code == 0, reference.stderr
    expected = {q.record_id for q in load_run(tmp_path / "whole").measured_queries()}
    assert len(expected) == N

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ipw.cli", *_args(llama_server_url, tmp_path, "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _finished(run) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {q.record_id for q in load_run(run).measured_queries()}
    assert 3 <= len(done_before) < N
    # judging the partial run first: after the resume, a replay must judge only what was added
    judged = cli("replay", str(run), "--analysis", "accuracy", "--json")
    assert judged.exit_code == 0, judged.stderr
    assert f"judged {len(done_before)} answers" in judged.stderr

    resumed = cli(*_args(llama_server_url, tmp_path, "killed"), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert verify(run).ok
    events = read_events(run)
    starts = [e for e in events if isinstance(e, RunStarted)]
    assert [s.resumed for s in starts] == [False, True]
    assert len({s.run_id for s in starts}) == 1
    # only the missing queries ran after the resume
    resume_t = starts[1].t_ns
    rerun = {e.record_id for e in events if isinstance(e, QueryStarted) and e.t_ns > resume_t}
    assert rerun == expected - done_before
    assert {q.record_id for q in load_run(run).measured_queries()} == expected
    replayed = cli("replay", str(run), "--analysis", "accuracy", "--json")
    assert replayed.exit_code == 0, replayed.stderr
    assert f"judged {N - len(done_before)} answers" in replayed.stderr
    result = json.loads(replayed.stdout)
    assert result["unevaluated"] == 0 and result["correct"] + result["incorrect"] == N
    assert result["queries_not_completed"] == 0  # the attempt cut by the kill was completed by the resume
    rerun = cli("replay", str(run), "--analysis", "accuracy", "--json")
    assert "judged" not in rerun.stderr and rerun.stdout == replayed.stdout

