"""A stand-in for the ``vllm`` package, injected into ``sys.modules`` by tests.

vLLM's offline engine needs a CUDA GPU and torch, which this machine lacks, so
this module stands in for it at the import boundary: ``LLM(model=…, **engine_args)``
with ``generate(prompts, sampling_params, use_tqdm=…)`` and ``chat(messages, …)``
returning ``RequestOutput``-shaped objects (``prompt_token_ids``,
``outputs[0].text / .token_ids / .finish_reason``), and a ``SamplingParams``
that, like vLLM's, rejects unknown keywords and invalid values.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest

REPLY = "The answer is 4 because two plus two makes four ."


def _tokens(text: str) -> list[int]:
    # A word-level stand-in for a tokenizer: stable ids, one per word.
    return [sum(map(ord, word)) % 32000 for word in text.split()]


class SamplingParams:
    """Mirrors vllm.SamplingParams' keyword interface and its validation."""

    def __init__(self, *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0, top_k: int = -1,
                 seed: int | None = None, stop: list[str] | None = None, max_tokens: int | None = 16,
                 presence_penalty: float = 0.0, frequency_penalty: float = 0.0) -> None:
        if temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {temperature}.")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}.")
        self.n, self.temperature, self.top_p, self.top_k = n, temperature, top_p, top_k
        self.seed, self.stop, self.max_tokens = seed, stop, max_tokens


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: Any
    finish_reason: str | None
    stop_reason: Any = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True


class LLM:
    """Stands in for vllm.LLM: answers REPLY, cut at max_tokens or a stop word, and records its calls."""

    def __init__(self, model: str, **kwargs: Any) -> None:
        if model == "no/such-model":
            raise OSError(f"{model} is not a local folder and is not a valid model identifier")
        self.model, self.kwargs = model, kwargs
        self.calls: list[tuple[str, Any, Any]] = []
        FakeVllm.engines_built.append(self)

    def _answer(self, prompt_text: str, sp: SamplingParams, request_id: str) -> RequestOutput:
        if len(prompt_text.split()) > int(self.kwargs.get("max_model_len", 10_000)):
            raise ValueError("The decoder prompt is longer than the maximum model length")
        words = REPLY.split()
        finish = "stop"
        if sp.stop:
            for i, word in enumerate(words):
                if word in sp.stop:
                    words = words[:i]
                    break
        if sp.max_tokens is not None and len(words) > sp.max_tokens:
            words, finish = words[: sp.max_tokens], "length"
        text = " ".join(words)
        return RequestOutput(request_id, prompt_text, _tokens(prompt_text),
                             [CompletionOutput(0, text, _tokens(text), -1.5, None, finish)])

    def generate(self, prompts: list[str], sampling_params: SamplingParams, use_tqdm: bool = True) -> list[RequestOutput]:
        self.calls.append(("generate", prompts, sampling_params))
        return [self._answer(p, sampling_params, str(i)) for i, p in enumerate(prompts)]

    def chat(self, messages: list[dict], sampling_params: SamplingParams, use_tqdm: bool = True) -> list[RequestOutput]:
        self.calls.append(("chat", messages, sampling_params))
        rendered = "<start_of_turn>user " + messages[-1]["content"] + " <end_of_turn> <start_of_turn>model"
        return [self._answer(rendered, sampling_params, "0")]


class FakeVllm:
    engines_built: list[LLM] = []


def install(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Put the fake ``vllm`` into ``sys.modules`` for one test; returns it."""
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", loader=None)  # as an imported package has
    module.LLM = LLM
    module.SamplingParams = SamplingParams
    module.__version__ = "0.0.0-fake"
    FakeVllm.engines_built = []
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module
