"""How a query's end is recorded: finish reasons normalised, streams cut short flagged as truncated.

The OpenAI client runs its real httpx code path against ``httpx.MockTransport``
handlers that answer as OpenAI-compatible servers do on the wire; the real
llama_cpp.server case (its default ``interrupt_requests``) is in
``test_truncated_streams_e2e.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ipw.capture.clients import OpenAIClient
from ipw.capture.clients.base import finish_reason_text
from ipw.capture.runner import CaptureConfig, Runner
from ipw.events import QueryFinished, RunFinished
from ipw.ledger import read_events


def _sse(*events: object) -> bytes:
    return "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events).encode()


def _chunk(text: str | None, finish: object = None) -> dict:
    return {"object": "text_completion", "choices": [{"index": 0, "text": text or "", "finish_reason": finish}]}


def _run(tmp_path: Path, body: bytes, n: int = 3) -> tuple[list, object]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = OpenAIClient("http://stub/v1", transport=httpx.MockTransport(handler), api="completions",
                          usage_fallback="count")
    config = CaptureConfig(client="openai", model="m", output_dir=str(tmp_path), run_name="r", max_queries=n,
                           energy="none")
    result = Runner(config, client=client).run()
    return read_events(tmp_path / "r"), result


def test_a_stream_that_ends_without_a_finish_reason_is_recorded_as_truncated(tmp_path: Path) -> None:
    # what llama_cpp.server sends when another request interrupts a stream: a token, then [DONE]
    events, result = _run(tmp_path, _sse(_chunk(" 4"), "[DONE]"))
    finished = [e for e in events if isinstance(e, QueryFinished)]
    assert len(finished) == 3
    assert all(e.truncated and e.finish_reason is None for e in finished)
    assert [e.queries_truncated for e in events if isinstance(e, RunFinished)] == [3]
    assert result.truncated == 3 and result.completed == 3


def test_a_stream_with_a_finish_reason_is_not_truncated(tmp_path: Path) -> None:
    events, result = _run(tmp_path, _sse(_chunk(" 4"), _chunk(None, "length"), "[DONE]"))
    finished = [e for e in events if isinstance(e, QueryFinished)]
    assert [(e.truncated, e.finish_reason) for e in finished] == [(False, "length")] * 3
    assert result.truncated == 0
    assert [e.queries_truncated for e in events if isinstance(e, RunFinished)] == [0]


def test_a_dict_finish_reason_is_stored_as_its_type_not_its_repr(tmp_path: Path) -> None:
    events, _ = _run(tmp_path, _sse(_chunk(" 4"), _chunk(None, {"type": "stop", "stop_sequence": "\n"}), "[DONE]"), 1)
    (finished,) = [e for e in events if isinstance(e, QueryFinished)]
    assert finished.finish_reason == "stop" and not finished.truncated


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("stop", "stop"),
        ({"type": "stop"}, "stop"),
        ({"reason": "length", "detail": 3}, "length"),
        ({"kind": "x", "n": 1}, '{"kind":"x","n":1}'),
        (["a", 1], '["a",1]'),
        (7, "7"),
        (True, "true"),
        (None, None),
        ("", None),
        ({}, None),
    ],
)
def test_finish_reasons_are_normalised_to_plain_strings(raw: object, text: str | None) -> None:
    assert finish_reason_text(raw) == text
    assert "{'" not in str(finish_reason_text(raw))  # never a Python repr


def test_record_warns_in_one_line_even_with_json(tmp_path: Path, cli) -> None:
    from tests.capture._stub_server import completions_server

    with completions_server(finish_reason=None) as url:
        result = cli("record", "--client", "openai", "--client-base-url", url, "--model", "m", "--max-queries", "2",
                     "--client-param", "api=completions", "--client-param", "usage_fallback=count",
                     "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "r", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "ipw: warning: 2 of 2 streams ended without a finish reason (truncated); "
        "if this is llama_cpp.server, start it with --interrupt_requests False"
    ]
    assert json.loads(result.stdout)["queries_truncated"] == 2
    with completions_server() as url:
        clean = cli("record", "--client", "openai", "--client-base-url", url, "--model", "m", "--max-queries", "2",
                    "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "ok", "--json")
    assert clean.exit_code == 0 and clean.stderr == ""


def test_a_run_of_tokens_read_together_is_recorded_with_one_arrival_time(tmp_path: Path) -> None:
    """``ChunkRun``: the texts of one socket read are token events with the time the runner read them."""
    from ipw.capture.clients.base import ChunkRun, Completion, InferenceClient
    from ipw.events import QueryStarted, Token

    class Reads(InferenceClient):  # a client that reads its stream in two socket reads, then one more token
        client_id = "reads"

        def stream(self, model: str, prompt: str, gen: dict):
            yield ChunkRun(["a", "b", "c"])
            yield ChunkRun([])  # a read that held no text (a keep-alive, a usage chunk) adds nothing
            yield ChunkRun(["d"])
            from ipw.capture.clients.base import Chunk

            yield Chunk("ef", 2)
            yield Completion(4, None, "stop", "counted")

    config = CaptureConfig(client="reads", model="m", output_dir=str(tmp_path), run_name="r", max_queries=2,
                           energy="none")
    result = Runner(config, client=Reads()).run()
    assert result.completed == 2
    events = read_events(tmp_path / "r")
    for qid in (0, 1):
        tokens = [e for e in events if isinstance(e, Token) and e.query_id == qid]
        assert [(t.text, t.n_tokens) for t in tokens] == [("a", 1), ("b", 1), ("c", 1), ("d", 1), ("ef", 2)]
        assert tokens[0].t_ns == tokens[1].t_ns == tokens[2].t_ns <= tokens[3].t_ns <= tokens[4].t_ns
        started = next(e for e in events if isinstance(e, QueryStarted) and e.query_id == qid)
        finished = next(e for e in events if isinstance(e, QueryFinished) and e.query_id == qid)
        assert finished.completion_tokens == 6  # counted: five texts, the last of two tokens
        assert finished.ttft_ns == tokens[0].t_ns - started.t_ns
