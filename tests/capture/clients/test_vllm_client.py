"""VLLMClient driving the fake ``vllm`` module of ``_fake_vllm`` (vLLM needs a GPU).

The fake is injected at the import boundary, so the client's real code builds
engines, sampling params and reads outputs exactly as it would from vLLM.
"""

from __future__ import annotations

import sys

import pytest

from ipw.capture.clients import Chunk, Completion, VLLMClient
from ipw.errors import BackendMissingError, ConfigError, ServerResponseError
from tests.capture.clients._fake_vllm import REPLY, FakeVllm, install


@pytest.fixture
def fake_vllm(monkeypatch):
    return install(monkeypatch)


def run(client: VLLMClient, model: str = "google/gemma-3-270m", prompt: str = "What is 2+2 ?", gen: dict | None = None):
    items = list(client.stream(model, prompt, gen if gen is not None else {"temperature": 0, "max_tokens": 64}))
    assert isinstance(items[-1], Completion)
    return items[:-1], items[-1]


def test_whole_answer_is_one_chunk_with_its_token_count(fake_vllm):
    client = VLLMClient()
    chunks, done = run(client)
    assert chunks == [Chunk(REPLY, len(REPLY.split()))]
    assert done == Completion(len("What is 2+2 ?".split()), len(REPLY.split()), "stop", "server")
    assert client.thread_safe is False
    assert client.describe()["streaming"] is False


def test_sampling_params_reach_the_engine(fake_vllm):
    client = VLLMClient(gpu_memory_utilization=0.5, max_model_len=2048, engine_args={"swap_space": 2})
    chunks, done = run(client, gen={"temperature": 0.0, "max_tokens": 3, "seed": 11, "stop": "because", "top_p": None})
    engine = FakeVllm.engines_built[0]
    assert engine.kwargs == {"gpu_memory_utilization": 0.5, "max_model_len": 2048, "swap_space": 2}
    kind, prompts, sp = engine.calls[0]
    assert kind == "generate" and prompts == ["What is 2+2 ?"]
    assert (sp.temperature, sp.max_tokens, sp.seed, sp.stop) == (0.0, 3, 11, ["because"])
    assert chunks == [Chunk("The answer is", 3)]
    assert done.finish_reason == "length" and done.completion_tokens == 3


def test_one_engine_per_model_is_kept(fake_vllm):
    client = VLLMClient()
    run(client)
    run(client)
    run(client, model="other/model")
    assert [e.model for e in FakeVllm.engines_built] == ["google/gemma-3-270m", "other/model"]
    assert client.list_models() == ["google/gemma-3-270m", "other/model"]
    client.close()
    assert client.list_models() == []


def test_chat_mode_uses_the_engine_chat(fake_vllm):
    client = VLLMClient(chat="true")
    chunks, done = run(client)
    kind, messages, _ = FakeVllm.engines_built[0].calls[0]
    assert kind == "chat" and messages == [{"role": "user", "content": "What is 2+2 ?"}]
    assert done.prompt_tokens == len("<start_of_turn>user What is 2+2 ? <end_of_turn> <start_of_turn>model".split())


def test_empty_answer_yields_only_the_completion(fake_vllm):
    chunks, done = run(VLLMClient(), gen={"stop": ["The"]})
    assert chunks == []
    assert done == Completion(4, 0, "stop", "server")


def test_bad_sampling_params_are_config_errors(fake_vllm):
    with pytest.raises(ConfigError, match="temperature must be non-negative"):
        run(VLLMClient(), gen={"temperature": -1})
    with pytest.raises(ConfigError, match="SamplingParams"):
        run(VLLMClient(), gen={"typo_param": 1})


def test_model_that_cannot_load(fake_vllm):
    with pytest.raises(ConfigError, match="could not load model 'no/such-model'") as info:
        run(VLLMClient(), model="no/such-model")
    assert isinstance(info.value.__cause__, OSError)


def test_engine_failure_while_generating(fake_vllm):
    with pytest.raises(ServerResponseError, match="longer than the maximum model length") as info:
        run(VLLMClient(max_model_len=2), prompt="a prompt of five words")
    assert info.value.retryable is False


def test_describe(fake_vllm):
    described = VLLMClient(tensor_parallel_size=1, engine_args={"hf_token": "hf_secret"}).describe(model="m")
    assert described["id"] == "vllm" and described["model"] == "m"
    assert described["engine_args"]["tensor_parallel_size"] == 1
    assert "hf_secret" not in str(described)


def test_missing_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(BackendMissingError) as info:
        VLLMClient()
    assert info.value.extra == "vllm" and "ipw[vllm]" in info.value.hint
