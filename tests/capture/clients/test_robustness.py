"""Clients given values that cannot work: usage counts a ledger cannot hold, bad timeouts, bad types.

The OpenAI and Ollama servers are played by ``httpx.MockTransport`` answering
in each server's wire format; llama.cpp is the real packaged gemma-3-270m.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ipw.capture.clients import Chunk, Completion, LlamaCppClient, OllamaClient, OpenAIClient
from ipw.capture.clients._openai_wire import usage_count
from ipw.errors import ConfigError

from tests.conftest import assert_one_clean_line

NOT_COUNTS = [True, False, -1, -(2**70), 2**63, 2**64 + 1, 10**23, 3.0, 2.5, "3", None, [1], {"n": 1}]


@pytest.mark.parametrize("value", NOT_COUNTS, ids=repr)
def test_usage_count_refuses_what_is_not_a_storable_count(value: object) -> None:
    assert usage_count(value) is None


@pytest.mark.parametrize("value", [0, 1, 12, 2**63 - 1])
def test_usage_count_keeps_a_count(value: int) -> None:
    assert usage_count(value) == value


def _sse_client(usage: dict, **params: object) -> OpenAIClient:
    # an OpenAI-compatible server streaming completions with the usage it reports
    body = "".join(
        f"data: {json.dumps(obj)}\n\n"
        for obj in (
            {"choices": [{"index": 0, "text": "a", "finish_reason": None}]},
            {"choices": [{"index": 0, "text": "b", "finish_reason": "stop"}]},
            {"choices": [], "usage": usage},
        )
    ) + "data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    return OpenAIClient("http://testserver/v1", api="completions", usage_fallback="count",
                        transport=httpx.MockTransport(handler), **params)


@pytest.mark.parametrize(
    "usage, expected",
    [
        ({"prompt_tokens": True, "completion_tokens": -5}, Completion(None, 2, "stop", "counted")),
        ({"prompt_tokens": 10**23, "completion_tokens": 1.5}, Completion(None, 2, "stop", "counted")),
        ({"prompt_tokens": 7, "completion_tokens": True}, Completion(7, None, "stop", "server")),
        ({"prompt_tokens": 7, "completion_tokens": 2}, Completion(7, 2, "stop", "server")),
    ],
    ids=["bool-and-negative", "huge-and-float", "one-good", "both-good"],
)
def test_openai_usage_that_is_not_a_count_is_not_taken(usage: dict, expected: Completion) -> None:
    items = list(_sse_client(usage).stream("m", "q", {}))
    assert items[:-1] == [Chunk("a"), Chunk("b")]
    assert items[-1] == expected


def test_openai_json_answer_with_a_bool_count_is_one_chunk() -> None:
    body = {"choices": [{"index": 0, "text": "hello", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": True}}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    client = OpenAIClient("http://testserver/v1", api="completions", transport=httpx.MockTransport(handler))
    items = list(client.stream("m", "q", {}))
    assert items == [Chunk("hello", 1), Completion(3, None, "stop", "server")]
    assert type(items[0].n_tokens) is int


def _ollama_client(prompt_eval_count: object, eval_count: object) -> OllamaClient:
    # Ollama's /api/chat NDJSON stream: content parts, then the done object with its counts
    lines = [
        {"model": "m", "created_at": "2025-01-14T10:22:41.5Z", "message": {"role": "assistant", "content": "Hi"},
         "done": False},
        {"model": "m", "created_at": "2025-01-14T10:22:41.6Z", "message": {"role": "assistant", "content": ""},
         "done": True, "done_reason": "stop", "prompt_eval_count": prompt_eval_count, "eval_count": eval_count},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=body)

    return OllamaClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    "prompt_eval_count, eval_count, expected",
    [
        (-1, 2**70, Completion(None, 1, "stop", "counted")),
        (2**64, -3, Completion(None, 1, "stop", "counted")),
        (5, 7, Completion(5, 7, "stop", "server")),
    ],
    ids=["negative-and-huge", "huge-and-negative", "good"],
)
def test_ollama_counts_that_cannot_be_stored_are_not_taken(prompt_eval_count, eval_count, expected) -> None:
    items = list(_ollama_client(prompt_eval_count, eval_count).stream("m", "q", {}))
    assert items == [Chunk("Hi"), expected]


@pytest.mark.parametrize("name", ["timeout_s", "connect_timeout_s"])
@pytest.mark.parametrize("value", [None, -1, 0, "nan", float("nan"), "inf", "-inf", True, "soon"], ids=repr)
def test_openai_and_ollama_refuse_a_timeout_that_cannot_work(name: str, value: object) -> None:
    for make in (OpenAIClient, OllamaClient):
        with pytest.raises(ConfigError) as info:
            make(**{name: value})
        assert name in info.value.one_line()


@pytest.mark.parametrize("value", ["abc", 1, {"handler": "x"}, httpx.Client()], ids=["str", "int", "dict", "client"])
def test_transport_must_be_an_httpx_transport(value: object) -> None:
    for make in (OpenAIClient, OllamaClient):
        with pytest.raises(ConfigError) as info:
            make(transport=value)
        assert "transport" in info.value.one_line()


def test_a_good_timeout_and_a_mock_transport_still_work() -> None:
    client = OpenAIClient("http://testserver/v1", timeout_s="2.5", connect_timeout_s=1,
                          transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"data": [{"id": "m"}]})))
    assert (client.timeout_s, client.connect_timeout_s) == (2.5, 1.0)
    assert client.health() and client.list_models() == ["m"]


@pytest.mark.parametrize("param", ["timeout_s=null", "connect_timeout_s=null", "timeout_s=-1", "timeout_s=NaN",
                                   "transport=abc", "transport=1"])
def test_record_with_a_bad_client_param_is_one_line(cli, tmp_path: Path, param: str) -> None:
    result = cli("record", "--client", "openai", "--client-base-url", "http://127.0.0.1:9/v1", "--model", "m",
                 "--energy", "none", "--max-queries", "1", "--output-dir", str(tmp_path), "--client-param", param)
    assert result.exit_code == 2, result.stderr
    assert_one_clean_line(result.stderr)
    assert param.split("=")[0] in result.stderr


@pytest.fixture(scope="module")
def llama() -> LlamaCppClient:
    client = LlamaCppClient(n_threads=1, n_ctx=256)
    yield client
    client.close()


@pytest.mark.parametrize(
    "gen, named",
    [({"max_tokens": "abc"}, "max_tokens='abc'"), ({"temperature": "hot"}, "temperature='hot'"),
     ({"stop": [1, 2]}, "stop=[1, 2]"), ({"stop": 5}, "stop=5")],
    ids=["max_tokens", "temperature", "stop-ints", "stop-int"],
)
def test_llamacpp_gen_params_of_the_wrong_type_are_a_config_error(llama: LlamaCppClient, gen: dict, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        list(llama.stream("gemma-3-270m", "Hi", {"max_tokens": 2, **gen}))
    assert named in info.value.one_line()
    # the client is still usable afterwards
    items = list(llama.stream("gemma-3-270m", "Hi", {"max_tokens": 2, "temperature": 0}))
    assert isinstance(items[-1], Completion) and items[-1].completion_tokens <= 2
