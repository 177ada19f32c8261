"""A real llama_cpp.server with its default ``interrupt_requests``: overlapping streams are cut short.

That server ends a stream with ``[DONE]`` and no finish reason when another
request arrives. ipw must record those queries as truncated, count them in
latency and the summary, and warn on stderr in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from ipw.events import QueryFinished, RunFinished
from ipw.ledger import read_events
from tests._servers import llama_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def interrupting_server_url() -> Iterator[str]:
    """Its own server, started WITHOUT --interrupt_requests False (the shared one queues requests)."""
    with llama_server(interrupt_requests=True) as url:
        yield url


def test_streams_cut_by_the_server_are_truncated_counted_and_warned(
    tmp_path: Path, cli, interrupting_server_url: str
) -> None:
    result = cli(
        "profile", "--client", "openai", "--client-base-url", interrupting_server_url, "--model", "gemma",
        "--client-param", "api=completions", "--max-queries", "8", "--max-concurrency", "4",
        "--gen-param", "max_tokens=16", "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "cut",
    )
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "cut"
    events = read_events(run)
    finished = [e for e in events if isinstance(e, QueryFinished)]
    assert len(finished) == 8
    truncated = [e for e in finished if e.truncated]
    assert truncated, "four overlapping streams on an interrupting server: some must have been cut"
    assert all(e.finish_reason is None for e in truncated)
    assert all(e.finish_reason is not None for e in finished if not e.truncated)
    assert [e.queries_truncated for e in events if isinstance(e, RunFinished)] == [len(truncated)]

    warnings = [line for line in result.stderr.splitlines() if line.startswith("ipw: warning:")]
    assert warnings == [
        f"ipw: warning: {len(truncated)} of 8 streams ended without a finish reason (truncated); "
        "if this is llama_cpp.server, start it with --interrupt_requests False"
    ]
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert summary["metrics"]["queries_truncated"]["value"] == len(truncated)
    latency = json.loads((run / "analysis" / "latency.json").read_text())
    assert latency["queries_truncated"] == len(truncated)
    assert latency["e2e_s"]["n"] == 8 - len(truncated)


def test_the_shared_queueing_server_truncates_nothing(tmp_path: Path, cli, llama_server_url: str) -> None:
    result = cli(
        "record", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
        "--client-param", "api=completions", "--max-queries", "4", "--max-concurrency", "4",
        "--gen-param", "max_tokens=4", "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "whole",
    )
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    finished = [e for e in read_events(tmp_path / "whole") if isinstance(e, QueryFinished)]
    assert len(finished) == 4 and not any(e.truncated for e in finished)
