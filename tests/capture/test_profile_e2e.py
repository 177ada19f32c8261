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
