"""End to end: ``ipw profile`` against a real llama_cpp.server on loopback, with the real energy monitor."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ipw.events import PowerSample, QueryFinished, QueryStarted, Token
from ipw.ledger import read_events, verify

pytestmark = pytest.mark.e2e


def test_profile_openai_client_concurrency_4(tmp_path: Path, cli, llama_server_url: str) -> None:
    result = cli(
        "profile", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
        "--max-queries", "8", "--max-concurrency", "4", "--gen-param", "max_tokens=8",
        # the packaged gemma is a base model: the completions API, not the server's guessed chat format
        "--client-param", "api=completions",
        "--output-dir", str(tmp_path), "--run-name", "e2e", "--sample-interval-ms", "50",
    )
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "e2e"
    assert verify(run).ok
    assert (run / "manifest.json").is_file()
    accuracy = json.loads((run / "analysis" / "accuracy.json").read_text())
    assert {"correct", "incorrect", "unevaluated", "accuracy"} <= set(accuracy)
    assert accuracy["correct"] + accuracy["incorrect"] + accuracy["unevaluated"] == 8
    assert "intelligence" in result.stdout.lower() or "accuracy" in result.stdout.lower()

    events = read_events(run)
    started = {e.query_id: e for e in events if isinstance(e, QueryStarted)}
    finished = {e.query_id: e for e in events if isinstance(e, QueryFinished)}
    assert len(started) == len(finished) == 8
    # the queries really overlapped: some query started before an earlier one finished
    order = sorted(started.values(), key=lambda e: e.t_ns)
    assert any(later.t_ns < finished[earlier.query_id].t_ns for earlier, later in zip(order, order[1:]))
    with httpx.Client(timeout=120) as http:
        for qid, fin in finished.items():
            tokens = [e for e in events if isinstance(e, Token) and e.query_id == qid]
            assert tokens, qid
            times = [t.t_ns for t in tokens]
            assert times == sorted(times) and len(set(times)) == len(times)
            assert fin.ttft_ns is not None and fin.ttft_ns > 0
            assert fin.ttft_ns == tokens[0].t_ns - started[qid].t_ns
            # llama_cpp.server sends no usage in a stream; the prompt count comes from its tokenizer endpoint
            assert fin.usage_source in ("server", "tokenizer")
            # the server's own count for the same request, asked without streaming
            body = http.post(f"{llama_server_url}/completions", json={
                "model": "gemma", "prompt": started[qid].prompt_text,
                "temperature": 0, "max_tokens": 8, "seed": 0,
            }).json()
            assert fin.prompt_tokens == body["usage"]["prompt_tokens"]
            assert fin.completion_tokens == body["usage"]["completion_tokens"]
    power = [e for e in events if isinstance(e, PowerSample)]
    assert len(power) >= 5
    assert {p.source for p in power} <= {"measured", "derived", "estimated"}


UPSTREAM_ROWS = [
    {"problem": "What is the capital of France?", "answer": "Paris", "subject": "geography",
     "dataset_metadata": {"source": "handwritten for ipw tests"}},
    {"problem": "How many legs does a spider have?", "answer": "8", "subject": "science",
     "dataset_metadata": "{}"},
    {"problem": "Name the largest planet in the Solar System.", "answer": "Jupiter", "subject": "science",
     "dataset_metadata": {}},
]


def _upstream_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "ipw.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in UPSTREAM_ROWS))
    return path


def test_upstream_flow_with_an_llm_judge(tmp_path: Path, cli, llama_server_url: str) -> None:
    """The upstream README's typical flow: profile with --eval-* flags on the ipw dataset, then re-analyze."""
    data = _upstream_dataset(tmp_path)
    result = cli(
        "profile", "--client", "openai", "--client-base-url", llama_server_url, "--client-param", "api=completions",
        "--model", "gemma", "--gen-param", "max_tokens=6", "--energy", "none",
        "--eval-client", "openai", "--eval-base-url", llama_server_url, "--eval-model", "gemma",
        "--eval-param", "max_tokens=16",
        "--dataset", "ipw", "--dataset-param", f"path={data}", "--output-dir", str(tmp_path), "--run-name", "up",
    )
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "up"
    first = (run / "analysis" / "accuracy.json").read_text()
    accuracy = json.loads(first)
    assert accuracy["judge"] == "llm:openai:gemma:ipw-judge/v1"
    assert accuracy["correct"] + accuracy["incorrect"] + accuracy["unevaluated"] == len(UPSTREAM_ROWS)
    # the upstream re-run spelling judges nothing new and rewrites the same file
    again = cli("analyze", str(run), "--analysis", "accuracy", "--option", "model=gemma")
    assert again.exit_code == 0, again.stderr
    assert "judged" not in again.stderr
    assert (run / "analysis" / "accuracy.json").read_text() == first


def test_llm_judged_dataset_fails_fast_without_a_key(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch,
                                                     llama_server_url: str) -> None:
    from tests.conftest import assert_one_clean_line

    monkeypatch.delenv("IPW_EVAL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    data = _upstream_dataset(tmp_path)
    result = cli("profile", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
                 "--dataset", "ipw", "--dataset-param", f"path={data}", "--output-dir", str(tmp_path),
                 "--run-name", "nokey")
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert "IPW_EVAL_API_KEY" in result.stderr
    assert not (tmp_path / "nokey").exists()  # failed before the first query


def test_profile_no_eval_needs_no_judge_and_writes_every_analysis(
    tmp_path: Path, cli, llama_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the upstream 'ipw' dataset needs an LLM judge; with --no-eval none is built, so no key is needed
    for name in ("IPW_EVAL_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env to find
    rows = [{"problem": f"Name a colour ({i}).", "answer": "red", "subject": "art",
             "dataset_metadata": json.dumps({"answer_type": "short"})} for i in range(3)]
    source = tmp_path / "upstream.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli(
        "profile", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
        "--client-param", "api=completions", "--gen-param", "max_tokens=4", "--energy", "none",
        "--dataset", "ipw", "--dataset-param", f"path={source}", "--no-eval",
        "--output-dir", str(tmp_path), "--run-name", "noeval",
    )
    assert result.exit_code == 0, result.stderr
    assert "key" not in result.stderr.lower()
    analysis = tmp_path / "noeval" / "analysis"
    accuracy = json.loads((analysis / "accuracy.json").read_text())
    assert (accuracy["correct"], accuracy["incorrect"], accuracy["unevaluated"]) == (0, 0, 3)
    for name in ("energy", "latency", "summary"):
        assert (analysis / f"{name}.json").is_file(), name
    assert json.loads((analysis / "summary.json").read_text())["metrics"]["unevaluated"]["value"] == 3
