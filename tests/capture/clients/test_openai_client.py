"""OpenAIClient against httpx.MockTransport: SSE parsing, usage, errors, secrets.

The handlers below answer the way OpenAI-compatible servers do on the wire
(``data: {json}`` events, a usage-only chunk before ``data: [DONE]``), so the
client's real httpx code path runs end to end without a network.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipw.capture.clients import Chunk, Completion, OpenAIClient
from ipw.capture.clients.openai import normalise_base_url
from ipw.errors import ConfigError, ServerResponseError, ServerTimeoutError, ServerUnreachableError


def sse(*events: object) -> bytes:
    out = []
    for event in events:
        payload = event if isinstance(event, str) else json.dumps(event)
        out.append(f"data: {payload}\n\n")
    return "".join(out).encode()


def chat_chunk(content: str | None = None, *, role: str | None = None, finish: str | None = None) -> dict:
    delta: dict = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


CHAT_BODY = sse(
    chat_chunk(role="assistant"),
    chat_chunk(""),
    chat_chunk("The"),
    chat_chunk(" answer"),
    chat_chunk(" is 4."),
    chat_chunk(finish="stop"),
    {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
     "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}},
    "[DONE]",
)


def make_client(handler, **params) -> OpenAIClient:
    return OpenAIClient("http://testserver/v1", transport=httpx.MockTransport(handler), **params)


def run(client: OpenAIClient, prompt: str = "2+2?", gen: dict | None = None) -> tuple[list[Chunk], Completion]:
    items = list(client.stream("m", prompt, gen or {"temperature": 0, "max_tokens": 8}))
    assert isinstance(items[-1], Completion)
    assert all(isinstance(i, Chunk) for i in items[:-1])
    return items[:-1], items[-1]


def test_chat_stream_yields_content_and_server_usage():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=CHAT_BODY)

    chunks, done = run(make_client(handler, api_key="sk-test"), gen={"temperature": 0, "max_tokens": 8, "seed": 7, "stop": ["\n"]})
    assert [c.text for c in chunks] == ["The", " answer", " is 4."]
    assert all(c.n_tokens == 1 for c in chunks)
    assert done == Completion(12, 4, "stop", "server")
    request = seen[0]
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body["messages"] == [{"role": "user", "content": "2+2?"}]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0 and body["max_tokens"] == 8 and body["seed"] == 7 and body["stop"] == ["\n"]



def test_a_streamed_request_is_the_one_httpx_client_would_send():
    """Streams go straight to the transport (for speed): URL, headers, body and timeouts must not change."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=CHAT_BODY)

    client = make_client(handler, api_key="sk-test", headers={"X-Team": "a"}, timeout_s=7, connect_timeout_s=2)
    run(client, prompt="ünïcode", gen={"max_tokens": 8})
    configured = httpx.Client(base_url="http://testserver/v1", headers={"X-Team": "a", "Authorization": "Bearer sk-test"},
                              timeout=httpx.Timeout(7, connect=2))
    expected = configured.build_request("POST", "/chat/completions", json=json.loads(seen[0].content))
    streamed = seen[0]
    assert (streamed.method, streamed.url) == ("POST", expected.url)
    # httpx's json= spacing changed between releases (0.27 writes ", ", 0.28 ","): the same JSON,
    # so the bodies compare as JSON and the length as the length of what was sent
    assert sorted(h for h in streamed.headers.multi_items() if h[0] != "content-length") == \
        sorted(h for h in expected.headers.multi_items() if h[0] != "content-length")
    assert streamed.headers["content-length"] == str(len(streamed.content))
    assert json.loads(streamed.content) == json.loads(expected.content)
    assert streamed.extensions["timeout"] == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert json.loads(streamed.content)["messages"][0]["content"] == "ünïcode"
    with pytest.raises(ValueError):  # a non-finite generation parameter is refused, as httpx's json= does
        list(client.stream("m", "x", {"temperature": float("nan")}))

COMPLETIONS_BODY = sse(
    {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": " 4", "finish_reason": None}]},
    {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": "\n", "finish_reason": None}]},
    {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": "", "finish_reason": "length"}]},
    "[DONE]",
)


def completions_server(tokenize_status: int, seen: list[httpx.Request]):
    """Answers like llama_cpp.server: no usage in the stream; /extras/tokenize/count when tokenize_status is 200."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/completions":
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=COMPLETIONS_BODY)
        if request.url.path == "/extras/tokenize/count" and tokenize_status == 200:
            return httpx.Response(200, json={"count": len(json.loads(request.content)["input"].split()) + 1})
        return httpx.Response(tokenize_status, json={"detail": "Not Found"})

    return handler


def test_completions_api_sends_raw_prompt_and_counts_without_usage():
    seen: list[httpx.Request] = []
    client = make_client(completions_server(404, seen), api="completions")
    chunks, done = run(client, prompt="Q: 2+2\nA:")
    assert [c.text for c in chunks] == [" 4", "\n"]
    assert done == Completion(None, 2, "length", "counted")
    assert seen[0].url.path == "/v1/completions"
    assert json.loads(seen[0].content)["prompt"] == "Q: 2+2\nA:"
    assert seen[1].url.path == "/extras/tokenize/count"
    run(client)
    assert [r.url.path for r in seen[2:]] == ["/v1/completions"]  # a server without the endpoint is asked once


def test_prompt_tokens_from_the_servers_tokenizer_when_the_stream_has_no_usage():
    seen: list[httpx.Request] = []
    client = make_client(completions_server(200, seen), api="completions")
    _, done = run(client, prompt="one two three")
    assert done == Completion(4, 2, "length", "tokenizer")
    assert json.loads(seen[1].content) == {"model": "m", "input": "one two three"}
    _, done = run(client, prompt="one two")
    assert done.prompt_tokens == 3
    seen.clear()
    _, done = run(make_client(completions_server(200, seen), api="completions", usage_fallback="count"))
    assert done == Completion(None, 2, "length", "counted")
    assert [r.url.path for r in seen] == ["/v1/completions"]


def test_stream_usage_can_be_turned_off():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=CHAT_BODY)

    run(make_client(handler, stream_usage="false"))
    assert "stream_options" not in seen[0]


def test_usage_in_the_finish_chunk_is_read():
    finish = chat_chunk(finish="length")
    finish["usage"] = {"prompt_tokens": 5, "completion_tokens": 2}
    body = sse(chat_chunk("a"), chat_chunk("b"), finish, "[DONE]")
    chunks, done = run(make_client(lambda r: httpx.Response(200, content=body)))
    assert "".join(c.text for c in chunks) == "ab"
    assert done == Completion(5, 2, "length", "server")


def test_sse_comments_multiline_data_and_crlf():
    body = (
        b": keep-alive\r\n\r\n"
        b"event: message\r\nid: 1\r\ndata: " + json.dumps(chat_chunk("x")).encode() + b"\r\n\r\n"
        b"data: {\"choices\": [{\"index\": 0,\ndata: \"delta\": {\"content\": \"y\"}, \"finish_reason\": \"stop\"}]}\n\n"
        b"data: [DONE]\n\n"
    )
    chunks, done = run(make_client(lambda r: httpx.Response(200, content=body)))
    assert [c.text for c in chunks] == ["x", "y"]
    assert done.finish_reason == "stop"


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(CHAT_BODY)), max_size=12))
def test_chunks_do_not_depend_on_how_the_network_splits_the_body(cuts):
    points = sorted(set(cuts))
    pieces = [CHAT_BODY[a:b] for a, b in zip([0, *points], [*points, len(CHAT_BODY)])]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter(pieces))

    chunks, done = run(make_client(handler))
    assert "".join(c.text for c in chunks) == "The answer is 4."
    assert done == Completion(12, 4, "stop", "server")


def test_server_that_ignores_stream_flag_answers_json():
    answer = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "four"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3},
    }
    chunks, done = run(make_client(lambda r: httpx.Response(200, json=answer)))
    assert chunks == [Chunk("four", 3)]
    assert done == Completion(9, 3, "stop", "server")


def test_http_500_is_a_retryable_response_error():
    client = make_client(lambda r: httpx.Response(500, json={"error": {"message": "CUDA out of memory"}}))
    with pytest.raises(ServerResponseError) as info:
        run(client)
    assert info.value.retryable is True
    assert "HTTP 500" in str(info.value) and "CUDA out of memory" in str(info.value)


def test_http_400_is_not_retryable_and_quotes_the_body():
    client = make_client(lambda r: httpx.Response(400, text="max_tokens must be positive"))
    with pytest.raises(ServerResponseError) as info:
        run(client)
    assert info.value.retryable is False
    assert "HTTP 400" in str(info.value) and "max_tokens must be positive" in str(info.value)


def test_http_429_is_retryable():
    with pytest.raises(ServerResponseError) as info:
        run(make_client(lambda r: httpx.Response(429, json={"error": "slow down"})))
    assert info.value.retryable is True


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>\n",
        b"data: {not json}\n\n",
        b"data: [1, 2, 3]\n\n",
        b"",
    ],
    ids=["html", "bad-json", "not-an-object", "empty"],
)
def test_garbage_stream_is_a_response_error(body):
    client = make_client(lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body))
    with pytest.raises(ServerResponseError, match="malformed"):
        run(client)


def test_stream_cut_before_the_end_is_a_retryable_error():
    body = sse(chat_chunk("The"), chat_chunk(" ans"))
    with pytest.raises(ServerResponseError, match="ended before") as info:
        run(make_client(lambda r: httpx.Response(200, content=body)))
    assert info.value.retryable is True


def test_error_object_mid_stream():
    body = sse(chat_chunk("The"), {"error": {"message": "context overflow", "code": 400}})
    with pytest.raises(ServerResponseError, match="context overflow") as info:
        run(make_client(lambda r: httpx.Response(200, content=body)))
    assert info.value.retryable is False


def _closed_loopback_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_names_the_url_and_how_to_fix_it():
    port = _closed_loopback_port()
    client = OpenAIClient(f"http://127.0.0.1:{port}")
    with pytest.raises(ServerUnreachableError) as info:
        run(client)
    err = info.value
    assert err.retryable is True
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in str(err)
    assert "llama_cpp.server" in err.hint and "--client-base-url" in err.hint
    assert isinstance(err.__cause__, httpx.ConnectError)
    assert client.health() is False
    with pytest.raises(ServerUnreachableError):
        client.list_models()


def test_read_timeout_is_a_retryable_timeout_error():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServerTimeoutError) as info:
        run(make_client(handler, timeout_s=3))
    assert info.value.retryable is True
    assert "3 s" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_dropped_connection_mid_stream_is_retryable():
    def pieces():
        yield sse(chat_chunk("The"))
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=pieces())

    with pytest.raises(ServerResponseError, match="mid-answer") as info:
        run(make_client(handler))
    assert info.value.retryable is True


def test_describe_never_holds_the_key_or_header_values(monkeypatch):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=CHAT_BODY)

    client = make_client(handler, api_key="sk-very-secret-123", headers={"X-Org-Token": "hdr-secret-456"})
    run(client)
    assert seen[0].headers["authorization"] == "Bearer sk-very-secret-123"
    assert seen[0].headers["x-org-token"] == "hdr-secret-456"
    described = json.dumps(client.describe(model="m"))
    assert "sk-very-secret-123" not in described and "hdr-secret-456" not in described
    assert "Bearer" not in described
    assert client.describe()["headers"] == {"X-Org-Token": "<redacted>"}
    assert client.describe()["auth"] == "bearer (api_key param)"


def test_api_key_from_environment(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("IPW_API_KEY", "env-secret-789")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=CHAT_BODY)

    client = make_client(handler)
    run(client)
    assert seen[0].headers["authorization"] == "Bearer env-secret-789"
    assert "env-secret-789" not in json.dumps(client.describe())
    assert client.describe()["auth"] == "bearer (IPW_API_KEY)"


def test_no_key_means_no_authorization_header(monkeypatch):
    for name in ("IPW_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=CHAT_BODY)

    run(make_client(handler))
    assert "authorization" not in seen[0].headers


def test_list_models_and_health():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/models"
        return httpx.Response(200, json={"object": "list", "data": [{"id": "gemma", "object": "model"}]})

    client = make_client(handler)
    assert client.list_models() == ["gemma"]
    assert client.health() is True
    assert make_client(lambda r: httpx.Response(503, text="loading")).health() is False


@pytest.mark.parametrize(
    ("given_url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("http://h:1/v1/chat/completions", "http://h:1/v1"),
        ("https://example.com/openai/v1", "https://example.com/openai/v1"),
    ],
)
def test_base_url_normalisation(given_url, expected):
    assert normalise_base_url(given_url) == expected
    assert OpenAIClient(given_url).base_url == expected


def test_default_base_url():
    assert OpenAIClient().base_url == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize("bad", ["127.0.0.1:8000", "ftp://host/v1", "http://"])
def test_bad_base_url_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        OpenAIClient(bad)


def test_unknown_param_and_bad_values_are_config_errors():
    with pytest.raises(ConfigError, match="api_kee"):
        OpenAIClient(api_kee="x")
    with pytest.raises(ConfigError, match="api="):
        OpenAIClient(api="responses")
    with pytest.raises(ConfigError, match="timeout_s"):
        OpenAIClient(timeout_s="soon")
    client = make_client(lambda r: httpx.Response(200, content=CHAT_BODY))
    with pytest.raises(ConfigError, match="stream"):
        list(client.stream("m", "p", {"stream": False}))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("2", 2.0), ("0", 0.0), (None, None), ("soon", None)],
)
def test_a_429_carries_its_retry_after_and_a_rate_limit_hint(header: str | None, seconds: float | None) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"retry-after": header} if header is not None else {}
        return httpx.Response(429, headers=headers, json={"error": {"message": "Rate limit reached"}})

    with pytest.raises(ServerResponseError) as info:
        run(make_client(handler))
    err = info.value
    assert err.retryable is True
    assert err.retry_after_s == seconds
    assert "rate" in (err.hint or "").lower() and "model name" not in (err.hint or "")


def test_retry_after_as_an_http_date_is_seconds_from_now() -> None:
    import email.utils

    from ipw.capture.clients.base import retry_after_s

    now = 1_700_000_000.0
    assert retry_after_s(email.utils.formatdate(now + 30, usegmt=True), now_s=now) == pytest.approx(30.0)
    assert retry_after_s(email.utils.formatdate(now - 30, usegmt=True), now_s=now) == 0.0  # already past
    assert retry_after_s("1e999") is None and retry_after_s("nan") is None and retry_after_s("") is None


def test_a_connection_dropped_after_done_keeps_the_answer():
    # llama_cpp.server, cutting a stream short for a newer request, sends [DONE] and then closes the
    # connection without ending the chunked body: the answer is whole (no finish reason: truncated)
    def pieces():
        yield sse(chat_chunk("The"), "[DONE]")
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    chunks, completion = run(make_client(lambda r: httpx.Response(200, content=pieces())))
    assert [c.text for c in chunks] == ["The"] and completion.finish_reason is None
