"""The OpenAI client's fast stream: whole socket reads decoded at once, requests sent as bytes.

Two things make ipw's capture fast, and both must change nothing a user can see:

- ``plain_chunks``: the events of one socket read that are all plain ``data:``
  chunks are decoded in one call. Whatever a server sends, and however the
  network splits it, the texts, the completion and any error must be exactly
  what reading event by event gives (a hypothesis property below).
- the one send path: a request goes straight to the transport, without
  httpx.Client's per-request work. The bytes must be the ones httpx.Client
  would send, and answers that are not a plain event stream (an error status,
  JSON, a gzip body) must be judged by the same code as before.

The servers are loopback sockets answering with fixed bytes, standing in for
any OpenAI-compatible server (vLLM, llama.cpp, OpenAI) at the HTTP wire.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipw.capture.clients import Chunk, Completion, OpenAIClient
from ipw.capture.clients import _openai_wire as wire_module
from ipw.capture.clients._http import PooledTransport
from ipw.capture.clients._openai_wire import plain_chunks
from ipw.capture.clients.base import ChunkRun
from ipw.errors import ClientError

# -- a loopback server that records what it is sent and answers fixed bytes ----------------


class WireServer:
    """Answers every request on 127.0.0.1 with ``answer`` (whole HTTP responses, keep-alive) and keeps
    each request's bytes as received."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in data:
                    got = conn.recv(65536)
                    if not got:
                        return
                    data += got
                head, _, data = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(data) < length:
                    data += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + data[:length])
                data = data[length:]
                conn.sendall(self.answer)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "WireServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chat(text: str | None, finish: str | None = None) -> bytes:
    delta = {} if text is None else {"content": text}
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode() \
        + b"\n\n"


USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}\n\n'
DONE = b"data: [DONE]\n\n"
SSE = "Content-Type: text/event-stream"


# -- the one send path -----------------------------------------------------------------------

def test_a_request_is_byte_for_byte_the_one_httpx_client_sends() -> None:
    """The client's one send path and an httpx.Client with the same settings: identical requests."""
    body = chunked(chat("a"), chat("b", "stop"), USAGE, DONE)
    with WireServer(response(body, SSE, "Transfer-Encoding: chunked")) as server:
        params: dict[str, Any] = {"api_key": "sk-raw", "headers": {"X-Team": "ipw"}, "timeout_s": 9}
        # ipw's own transport, and the same transport class given from Python: the one path either way;
        # the second request reuses the headers the first one normalised
        for client in (OpenAIClient(server.url, **params), OpenAIClient(server.url, transport=PooledTransport(), **params)):
            for prompt in ("ünïcode prompt", "a longer ünïcode prompt"):
                items = list(client.stream("m", prompt, {"max_tokens": 4, "temperature": 0.5, "stop": ["ü"]}))
                assert items == [Chunk("a"), Chunk("b"), Completion(5, 3, "stop", "server")]
            client.close()
        with httpx.Client(base_url=server.url, headers={"X-Team": "ipw", "Authorization": "Bearer sk-raw"}) as plain:
            for sent in server.requests[:2]:
                plain.post("/chat/completions", content=sent.partition(b"\r\n\r\n")[2],
                           headers={"Content-Type": "application/json"})
    first, second, first_given, second_given, first_httpx, second_httpx = server.requests
    assert first == first_given == first_httpx and second == second_given == second_httpx
    assert b"authorization: bearer sk-raw" in first.lower() and b"x-team: ipw" in first.lower()
    assert b"a longer" in second


def test_the_runner_reads_one_run_per_socket_read_and_stream_gives_chunks() -> None:
    body = chunked(chat("x"), chat("y"), chat("z", "length"), USAGE, DONE)
    with WireServer(response(body, SSE, "Transfer-Encoding: chunked")) as server:
        client = OpenAIClient(server.url)
        runs = list(client.stream_runs("m", "p", {"max_tokens": 3}))
        # one response in one send: the three texts arrive in one socket read, as one run
        assert runs == [ChunkRun(["x", "y", "z"]), Completion(5, 3, "length", "server")]
        assert type(runs[0]) is ChunkRun
        assert list(client.stream("m", "p", {"max_tokens": 3})) == \
            [Chunk("x"), Chunk("y"), Chunk("z"), Completion(5, 3, "length", "server")]
        client.close()


def test_a_gzip_event_stream_is_decoded_on_its_way() -> None:
    body = gzip.compress(chat("hot") + chat(" path", "stop") + DONE)
    with WireServer(response(body, SSE, "Content-Encoding: gzip")) as server:
        client = OpenAIClient(server.url)
        assert list(client.stream("m", "p", {})) == [Chunk("hot"), Chunk(" path"), Completion(None, 2, "stop", "counted")]
        client.close()


def test_a_json_answer_is_read_as_one_answer() -> None:
    body = json.dumps({"choices": [{"message": {"content": "four"}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 2, "completion_tokens": 3}}).encode()
    with WireServer(response(body, "Content-Type: application/json")) as server:
        client = OpenAIClient(server.url)
        assert list(client.stream("m", "p", {})) == [Chunk("four", 3), Completion(2, 3, "stop", "server")]
        client.close()


@pytest.mark.parametrize("status, retryable", [("500 Internal Server Error", True), ("400 Bad Request", False)])
def test_an_error_status_reads_the_same_with_either_transport(status: str, retryable: bool) -> None:
    body = json.dumps({"error": {"message": "model 'm' is not loaded"}}).encode()
    with WireServer(response(body, "Content-Type: application/json", status=status)) as server:
        errors = []
        for client in (OpenAIClient(server.url), OpenAIClient(server.url, transport=PooledTransport())):
            with pytest.raises(ClientError) as caught:
                list(client.stream("m", "p", {}))
            errors.append((type(caught.value), caught.value.one_line(), caught.value.retryable))
            client.close()
    assert errors[0] == errors[1]
    assert "model 'm' is not loaded" in errors[0][1] and errors[0][2] is retryable


# -- the fast decode against reading event by event -------------------------------------------

def _outcome(client: OpenAIClient, pieces: list[bytes]) -> tuple[list[Any], Any]:
    """The flat items the client makes of a body given in ``pieces``, and the error it ends with (or None)."""
    items: list[Any] = []
    try:
        for item in client._from_sse(iter(pieces), "m", "p"):
            items.extend(Chunk(t) for t in item) if type(item) is ChunkRun else items.append(item)
    except ClientError as exc:
        return items, (type(exc).__name__, exc.one_line(), exc.retryable)
    return items, None


def _event_by_event(client: OpenAIClient, body: bytes) -> tuple[list[Any], Any]:
    """The reference: the whole body at once, read only by the event-by-event path."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(wire_module, "plain_chunks", lambda region: None)
        return _outcome(client, [body])


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
_EVENTS = st.one_of(
    _TEXT.map(lambda t: chat(t)),
    _TEXT.map(lambda t: chat(t, "stop")),
    st.just(chat(None)),
    st.just(USAGE),
    st.just(b'data: {"choices":[{"index":0,"text":"c","finish_reason":null}]}\n\n'),
    st.just(b'data: {"error":{"message":"overloaded"}}\n\n'),
    st.just(b'data: {"choices":{"not":"a list"}}\n\n'),
    st.just(b'data: {"choices":[7]}\n\n'),
    st.just(b'data: {"choices":[]},{"choices":[]}\n\n'),  # two values in one event is not JSON
    st.just(b": keep-alive\n\n"),
    st.just(b'event: error\ndata: {"message":"boom"}\n\n'),
    st.just(b'data: {"choices":[{"delta":\ndata: {"content":"m"}}]}\n\n'),
    st.just(b"id: 7\ndata: " + json.dumps({"choices": [{"delta": {"content": "i"}}]}).encode() + b"\n\n"),
    st.just(b"data: not json\n\n"),
    st.just(b"data:  [DONE] \n\n"),
    st.just(DONE),
    st.just(b"data: " + b"[" * 3000 + b"\n\n"),
)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(_EVENTS, max_size=12), crlf=st.booleans(), api=st.sampled_from(["chat", "completions"]),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8), tail=st.sampled_from([b"", b"data: {"]))
def test_the_fast_decode_reads_every_body_as_event_by_event_does(events: list[bytes], crlf: bool, api: str,
                                                                 cuts: list[int], tail: bytes) -> None:
    body = b"".join(events) + tail
    if crlf:
        body = body.replace(b"\n", b"\r\n")
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)])]
    client = OpenAIClient("http://127.0.0.1:9/v1", api=api, usage_fallback="count")
    assert _outcome(client, pieces) == _event_by_event(client, body)


def test_plain_chunks_takes_only_regions_of_plain_data_lines() -> None:
    plain = chat("a") + chat("b")
    chunks, done = plain_chunks(plain + DONE)
    assert [c.choices[0].delta.content for c in chunks] == ["a", "b"] and done
    assert plain_chunks(DONE) == ([], True)
    for odd in (b": c\n\n" + plain, plain + b"event: x\ndata: {}\n\n", b"data: {}\n\n\n\n" + plain,
                plain + DONE + chat("after"), b'data: {"choices":[]},{"choices":[]}\n\n' + chat("x"),
                b"data:" + plain[6:]):
        assert plain_chunks(odd) is None, odd
