"""Warm-up queries, Poisson arrivals and a run stopped by SIGTERM, against the real llama.cpp server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipw.capture.arrivals import schedule_for
from ipw.capture.config import CaptureConfig
from ipw.events import Annotation, QueryFinished, QueryStarted, RunFinished
from ipw.ledger import read_events, verify
from ipw.replay import load_run

pytestmark = pytest.mark.e2e


def _base(url: str, out: Path, name: str, *extra: str) -> list[str]:
    return ["--client", "openai", "--client-base-url", url, "--client-param", "api=completions", "--model", "gemma",
            "--gen-param", "max_tokens=4", "--energy", "none", "--output-dir", str(out), "--run-name", name, *extra]


def test_warmup_queries_are_recorded_flagged_and_excluded(tmp_path: Path, cli, llama_server_url: str) -> None:
    result = cli("profile", *_base(llama_server_url, tmp_path, "warm", "--max-queries", "3", "--warmup-queries", "2"))
    assert result.exit_code == 0, result.stderr
    events = read_events(tmp_path / "warm")
    started = [e for e in events if isinstance(e, QueryStarted)]
    assert [e.warmup for e in started] == [True, True, False, False, False]
    finished = [e for e in events if isinstance(e, RunFinished)][-1]
    assert finished.queries_completed == 3
    accuracy = json.loads((tmp_path / "warm" / "analysis" / "accuracy.json").read_text())
    assert accuracy["correct"] + accuracy["incorrect"] + accuracy["unevaluated"] == 3


def test_poisson_arrivals_follow_the_requested_rate(tmp_path: Path, cli, llama_server_url: str) -> None:
    result = cli("record", *_base(llama_server_url, tmp_path, "rate", "--max-queries", "6", "--request-rate", "4",
                                  "--max-concurrency", "6"))
    assert result.exit_code == 0, result.stderr
    view = load_run(tmp_path / "rate")
    assert json.loads(json.dumps(view.config))["request_rate"] == 4
    (mark,) = [e for e in read_events(tmp_path / "rate") if isinstance(e, Annotation) and e.key == "arrival_schedule"]
    described = json.loads(mark.value)
    assert (described["kind"], described["request_rate"], described["arrivals"]) == ("poisson", 4, 6)
    assert described["seed"] == view.config["seed"]
    # the intended send times follow from the recorded seed, the same on every machine (their fit to the
    # exponential distribution is tested in test_arrivals.py): five gaps at 4/s, spread out, not all at once
    config = CaptureConfig(client="openai", model="gemma", request_rate=4, seed=described["seed"])
    intended_s = schedule_for(config, 6).offsets_s
    assert 0.05 < intended_s[-1] - intended_s[0] < 6.0
    # the runner followed them: each query started at its intended time or after it, never before (how much
    # after depends on the machine's load, so it is a benchmark's business, not a test's)
    starts_ns = [q.start_ns for q in view.measured_queries()]
    assert len(starts_ns) == 6
    assert all(start - mark.t_ns >= round(due_s * 1e9) for start, due_s in zip(starts_ns, intended_s))


def test_sigterm_finishes_the_run_as_interrupted(tmp_path: Path, llama_server_url: str) -> None:
    run = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "ipw.cli", "record",
                             *_base(llama_server_url, tmp_path, "term", "--max-queries", "60")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if sum(isinstance(e, QueryFinished) for e in read_events(run)) >= 2:
                break
        except Exception:  # not written yet
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("ipw: interrupted")
    assert "Traceback" not in err
    assert verify(run).ok
    events = read_events(run)
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert finished and finished[-1].status == "interrupted"
    completed = sum(isinstance(e, QueryFinished) for e in events)
    assert finished[-1].queries_completed == completed >= 2
