"""OllamaClient replaying recorded Ollama HTTP bodies through the ollama package.

The bodies under fixtures/ollama/ are hand-written in Ollama's wire format
(see the README there); httpx.MockTransport stands in for the Ollama server,
and everything between it and the client (the ollama package's request
building, NDJSON parsing and error raising) is the real code.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import httpx
import pytest

from ipw.capture.clients import Chunk, Completion, OllamaClient
from ipw.errors import (
    BackendMissingError,
    ConfigError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ollama"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def replay(routes: dict[str, tuple[int, str]], seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """A transport answering each path with (status, fixture file), as Ollama would."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        status, name = routes[request.url.path]
        ctype = "application/x-ndjson" if name.endswith(".ndjson") else "application/json; charset=utf-8"
        return httpx.Response(status, headers={"content-type": ctype}, content=body(name))

    return httpx.MockTransport(handler)


def run(client: OllamaClient, gen: dict | None = None) -> tuple[list[Chunk], Completion]:
    items = list(client.stream("llama3.2:1b", "What is 2+2?", gen if gen is not None else {"temperature": 0}))
    assert isinstance(items[-1], Completion)
    return items[:-1], items[-1]


def test_chat_stream_chunks_usage_and_finish():
    seen: list[httpx.Request] = []
    client = OllamaClient(transport=replay({"/api/chat": (200, "chat_stream.ndjson")}, seen))
    chunks, done = run(client, {"temperature": 0, "max_tokens": 16, "seed": 3, "stop": "\n"})
    assert [c.text for c in chunks] == ["The", " answer", " is", " 4", "."]
    assert done == Completion(31, 6, "stop", "server")
    request = json.loads(seen[0].content)
    assert seen[0].url.host == "127.0.0.1" and seen[0].url.port == 11434
    assert request["model"] == "llama3.2:1b" and request["stream"] is True
    assert request["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert request["options"] == {"temperature": 0, "num_predict": 16, "seed": 3, "stop": ["\n"]}


def test_generate_api_streams_response_field():
    seen: list[httpx.Request] = []
    client = OllamaClient("http://ollama.local:11434", api="generate",
                          transport=replay({"/api/generate": (200, "generate_stream.ndjson")}, seen))
    chunks, done = run(client)
    assert "".join(c.text for c in chunks) == " Paris, the capital"
    assert done == Completion(14, 4, "length", "server")
    assert json.loads(seen[0].content)["prompt"] == "What is 2+2?"
    assert seen[0].url.host == "ollama.local"


def test_list_models_and_health_from_tags():
    client = OllamaClient(transport=replay({"/api/tags": (200, "tags.json")}))
    assert client.list_models() == ["llama3.2:1b", "qwen2.5:0.5b"]
    assert client.health() is True


def test_model_not_found_is_not_retryable_and_says_pull():
    client = OllamaClient(transport=replay({"/api/chat": (404, "error_model_not_found.json")}))
    with pytest.raises(ServerResponseError) as info:
        run(client)
    assert info.value.retryable is False
    assert "HTTP 404" in str(info.value) and 'model "nope:latest" not found' in str(info.value)
    assert "ollama pull" in info.value.hint


def test_http_500_is_retryable():
    client = OllamaClient(transport=replay({"/api/chat": (500, "error_runner_crashed.json"),
                                            "/api/tags": (500, "error_runner_crashed.json")}))
    with pytest.raises(ServerResponseError) as info:
        run(client)
    assert info.value.retryable is True
    assert "llama runner process has terminated" in str(info.value)
    assert client.health() is False


def test_error_object_mid_stream():
    client = OllamaClient(transport=replay({"/api/chat": (200, "chat_stream_error_midway.ndjson")}))
    items = client.stream("llama3.2:1b", "p", {})
    assert next(items) == Chunk("The")
    with pytest.raises(ServerResponseError, match="mid-stream.*unexpected EOF") as info:
        next(items)
    assert info.value.retryable is True


def test_garbage_and_truncated_streams():
    garbage = httpx.MockTransport(lambda r: httpx.Response(200, content=b"<html>proxy error</html>\n"))
    with pytest.raises(ServerResponseError, match="malformed"):
        run(OllamaClient(transport=garbage))
    first_line = body("chat_stream.ndjson").splitlines(keepends=True)[0]
    cut = httpx.MockTransport(lambda r: httpx.Response(200, content=first_line))
    with pytest.raises(ServerResponseError, match="before it said done") as info:
        run(OllamaClient(transport=cut))
    assert info.value.retryable is True


def test_connection_refused_on_a_real_closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = OllamaClient(f"http://127.0.0.1:{port}")
    with pytest.raises(ServerUnreachableError) as info:
        run(client)
    assert info.value.retryable is True
    assert f"127.0.0.1:{port}" in str(info.value) and "ollama serve" in info.value.hint
    with pytest.raises(ServerUnreachableError):
        client.list_models()
    assert client.health() is False


def test_connection_error_from_transport():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ServerUnreachableError):
        run(OllamaClient(transport=httpx.MockTransport(handler)))


def test_timeout():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServerTimeoutError) as info:
        run(OllamaClient(timeout_s=2, transport=httpx.MockTransport(handler)))
    assert info.value.retryable is True and "2 s" in str(info.value)


def test_describe_has_no_header_values(monkeypatch):
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-secret-1")
    seen: list[httpx.Request] = []
    client = OllamaClient(headers={"X-Proxy-Token": "proxy-secret-2"},
                          transport=replay({"/api/chat": (200, "chat_stream.ndjson")}, seen))
    run(client)
    assert seen[0].headers["x-proxy-token"] == "proxy-secret-2"
    described = json.dumps(client.describe(model="llama3.2:1b"))
    assert "proxy-secret-2" not in described and "ollama-secret-1" not in described
    assert client.describe()["headers"] == {"X-Proxy-Token": "<redacted>"}
    assert client.describe()["streaming"] is True


def test_base_url_from_ollama_host(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://10.9.8.7:11434")
    assert OllamaClient().base_url == "http://10.9.8.7:11434"
    assert OllamaClient("http://explicit:1").base_url == "http://explicit:1"


def test_bad_params():
    with pytest.raises(ConfigError):
        OllamaClient(api="embeddings")
    with pytest.raises(ConfigError):
        OllamaClient(model_dir="/x")


def test_missing_ollama_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ollama", None)  # makes `import ollama` raise ImportError
    with pytest.raises(BackendMissingError) as info:
        OllamaClient()
    assert info.value.extra == "ollama" and "ipw[ollama]" in info.value.hint
