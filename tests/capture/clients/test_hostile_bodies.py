"""Hostile server bodies at the OpenAI client: a JSON error nested 100,000 deep, a multi-gigabyte error
or answer, a stream chunk nested 100,000 deep or not UTF-8.

The server is the loopback stub of tests/_hostile_server.py (the real
llama_cpp.server never answers like this). Each must become a recorded
``query_failed`` with a bounded message and the run goes on; never exit 70.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipw.capture.clients import OpenAIClient
from ipw.errors import ServerResponseError
from ipw.events import QueryFailed, RunFinished
from ipw.ledger import read_events
from tests._hostile_server import HostileServer, record_against


def _stream(url: str) -> list:
    client = OpenAIClient(url, api="completions", usage_fallback="count", timeout_s=30)
    try:
        return list(client.stream("m", "2 + 2 =", {"max_tokens": 4}))
    finally:
        client.close()


def test_an_error_body_nested_100000_deep_is_a_bounded_server_error() -> None:
    with HostileServer("deep-error") as url:
        with pytest.raises(ServerResponseError) as caught:
            _stream(url)
    message = caught.value.one_line()
    assert "HTTP 500" in message and len(message) < 600


def test_a_multi_gigabyte_error_body_is_read_only_as_far_as_the_cap() -> None:
    stub = HostileServer("huge-error")
    with stub as url:
        with pytest.raises(ServerResponseError) as caught:
            _stream(url)
    assert "HTTP 500" in caught.value.one_line() and len(caught.value.one_line()) < 600
    # the client hung up after reading its cap; what the server got out is bounded by socket buffers
    assert stub.state.get("sent", 0) < 64 * 1024**2, stub.state


def test_a_multi_gigabyte_json_answer_is_refused_at_its_cap() -> None:
    stub = HostileServer("huge-json")
    with stub as url:
        with pytest.raises(ServerResponseError) as caught:
            _stream(url)
    assert "JSON body larger than 16 MiB" in caught.value.one_line()
    assert stub.state.get("sent", 0) < 64 * 1024**2, stub.state  # the client stopped reading at its cap


@pytest.mark.parametrize("mode", ["deep-error", "huge-error", "huge-json", "deep-sse", "binary-sse"])
def test_a_run_against_a_hostile_server_records_query_failed(tmp_path: Path, mode: str) -> None:
    result = record_against(mode, tmp_path, queries=2)
    assert result.exit_code == 5, result  # every query failed: the run is kept, and the exit status says so
    assert "ipw: error: every query failed (2 of 2)" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    events = read_events(tmp_path / "r")
    failures = [e for e in events if isinstance(e, QueryFailed)]
    assert len(failures) == 2 and all(f.error_type == "ServerResponseError" for f in failures), failures
    assert all(len(f.message) < 600 for f in failures)
    assert [e.queries_failed for e in events if isinstance(e, RunFinished)] == [2]
