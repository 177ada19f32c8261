"""OpenAIClient against a real ``python -m llama_cpp.server`` on loopback.

The streamed answer and the client's usage are checked against the same
request made without streaming, whose ``usage`` the server computes itself.
llama_cpp.server sends no usage in a stream (it ignores ``stream_options``), so
these tests also pin down the fallbacks the client uses for it.
"""

from __future__ import annotations

import httpx
import pytest

from ipw.capture.clients import Chunk, Completion, OpenAIClient
from ipw.errors import ServerResponseError

pytestmark = pytest.mark.e2e

PROMPT = "Question: What is the capital of France?\nAnswer:"
CHAT_PROMPT = "The capital of France is"  # a base model in llama_cpp.server's default chat format answers this
GEN = {"temperature": 0, "max_tokens": 8, "seed": 42}


def reference(base_url: str, path: str, body: dict) -> dict:
    """The server's own non-streamed answer to the same request."""
    response = httpx.post(f"{base_url}{path}", json={**body, **GEN, "stream": False}, timeout=120)
    response.raise_for_status()
    return response.json()


def warm(base_url: str, path: str, body: dict) -> None:
    """Ask once before streaming, so the streamed and the reference request meet the same prompt cache.

    llama_cpp.server reuses the cached start of the previous prompt, and a
    different cache state can change a greedy answer of this small model.
    """
    reference(base_url, path, body)


def run(client: OpenAIClient, model: str, prompt: str = PROMPT) -> tuple[list[Chunk], Completion]:
    items = list(client.stream(model, prompt, dict(GEN)))
    assert isinstance(items[-1], Completion)
    return items[:-1], items[-1]


def test_models_and_health(llama_server_url):
    with OpenAIClient(llama_server_url) as client:
        assert client.health() is True
        models = client.list_models()
    assert len(models) == 1 and models[0].endswith(".gguf")


def test_completions_stream_matches_the_servers_usage(llama_server_url):
    with OpenAIClient(llama_server_url, api="completions") as client:
        model = client.list_models()[0]
        body = {"model": model, "prompt": PROMPT}
        warm(llama_server_url, "/completions", body)
        chunks, done = run(client, model)
    assert len(chunks) >= 1 and all(isinstance(c, Chunk) and c.text for c in chunks)
    expected = reference(llama_server_url, "/completions", body)
    assert "".join(c.text for c in chunks) == expected["choices"][0]["text"]
    assert done.finish_reason == expected["choices"][0]["finish_reason"]
    assert done.prompt_tokens == expected["usage"]["prompt_tokens"]
    assert done.completion_tokens == expected["usage"]["completion_tokens"]
    assert done.usage_source == "tokenizer"  # prompt via the server's /extras/tokenize/count


def test_chat_stream_matches_the_servers_completion_tokens(llama_server_url):
    with OpenAIClient(llama_server_url.removesuffix("/v1")) as client:  # also: the bare host gets /v1
        model = client.list_models()[0]
        body = {"model": model, "messages": [{"role": "user", "content": CHAT_PROMPT}]}
        warm(llama_server_url, "/chat/completions", body)
        chunks, done = run(client, model, CHAT_PROMPT)
    assert len(chunks) >= 1
    expected = reference(llama_server_url, "/chat/completions", body)
    assert "".join(c.text for c in chunks) == expected["choices"][0]["message"]["content"]
    assert done.finish_reason == expected["choices"][0]["finish_reason"]
    assert done.completion_tokens == expected["usage"]["completion_tokens"]
    # The server templates a chat prompt out of sight and streams no usage: the prompt count is unknown.
    assert (done.prompt_tokens, done.usage_source) == (None, "counted")


def test_wrong_base_path_on_the_real_server_is_a_404_not_worth_retrying(llama_server_url):
    with OpenAIClient(llama_server_url.removesuffix("/v1") + "/v2") as client:
        with pytest.raises(ServerResponseError) as info:
            list(client.stream("m", PROMPT, dict(GEN)))
        assert client.health() is False
    assert info.value.retryable is False and "HTTP 404" in str(info.value)
    assert "/v2" in info.value.hint


def test_server_side_validation_failure(llama_server_url):
    # llama_cpp.server answers a request it cannot validate with HTTP 500 and the pydantic message.
    with OpenAIClient(llama_server_url, api="completions") as client:
        with pytest.raises(ServerResponseError, match="HTTP 500.*valid number") as info:
            list(client.stream("m", PROMPT, {"temperature": "hot"}))
    assert info.value.retryable is True
