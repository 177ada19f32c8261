"""A client that runs vLLM's offline engine in process (``vllm.LLM``).

The offline engine does not stream: ``LLM.generate`` returns when the whole
answer is done. Rather than invent per-token arrival times, this client yields
the answer as ONE chunk carrying ``n_tokens = len(token_ids)``, so every token
is timestamped at the end of generation and time-to-first-token equals the
end-to-end latency. ``describe()`` says ``streaming: false`` so analyses and
readers of a ledger know that TTFT and inter-token latency are not measured.

Usage is what the engine reports: ``len(prompt_token_ids)`` and
``len(token_ids)`` of the output (``usage_source = "server"``). One engine is
built per model, on first use, and kept until ``close()``. vLLM is imported
when the client is made; without it a ``BackendMissingError`` names the
``vllm`` extra.
"""

from __future__ import annotations

import gc
from typing import Any, Iterator, Mapping

from ...errors import BackendMissingError, ConfigError, ServerResponseError
from .base import Chunk, Completion, InferenceClient, client_error, excerpt, package_version, param, redact

__all__ = ["VLLMClient"]

# Client params handed to ``vllm.LLM(...)`` as they are.
_ENGINE_PARAMS = (
    "tensor_parallel_size",
    "gpu_memory_utilization",
    "max_model_len",
    "dtype",
    "quantization",
    "enforce_eager",
    "trust_remote_code",
    "download_dir",
    "seed",
)


class VLLMClient(InferenceClient):
    """Generates with vLLM's offline ``LLM`` engine, one request at a time."""

    client_id = "vllm"
    client_name = "vLLM offline engine"
    thread_safe = False
    accepted_params = frozenset({*_ENGINE_PARAMS, "engine_args", "chat"})

    def __init__(self, base_url: str | None = None, **params: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise BackendMissingError("vllm client", "vllm", module="vllm") from exc
        super().__init__(base_url, **params)
        self._vllm = vllm
        self.chat = param(params, "chat", bool, False, self.client_id)
        engine_args = params.get("engine_args") or {}
        if not isinstance(engine_args, Mapping):
            raise ConfigError("client 'vllm' engine_args must be a mapping", hint='pass --client-param engine_args=\'{"swap_space": 4}\'')
        self.engine_args: dict[str, Any] = {k: params[k] for k in _ENGINE_PARAMS if params.get(k) is not None}
        self.engine_args.update(engine_args)
        self._engines: dict[str, Any] = {}

    def _engine(self, model: str) -> Any:
        engine = self._engines.get(model)
        if engine is None:
            try:
                engine = self._vllm.LLM(model=model, **self.engine_args)
            except Exception as exc:  # vLLM raises many kinds while loading (OSError, ValueError, RuntimeError)
                # An engine that does not build fails every query alike: a setting to fix, not a request to retry.
                raise ConfigError(
                    f"vLLM could not load model {model!r}: {type(exc).__name__}: {excerpt(str(exc))}",
                    hint="check the model name or path, and that a GPU with enough free memory is visible",
                ) from exc
            self._engines[model] = engine
        return engine

    def _sampling(self, gen: Mapping[str, Any]) -> Any:
        kwargs = {k: v for k, v in gen.items() if v is not None}
        if isinstance(kwargs.get("stop"), str):
            kwargs["stop"] = [kwargs["stop"]]
        try:
            return self._vllm.SamplingParams(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"vLLM rejected the generation parameters {sorted(kwargs)}: {exc}",
                hint="use names vllm.SamplingParams knows (temperature, max_tokens, seed, top_p, top_k, stop …)",
            ) from exc

    def stream(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | Completion]:
        engine = self._engine(model)
        sampling = self._sampling(gen)
        try:
            if self.chat:
                results = engine.chat([{"role": "user", "content": prompt}], sampling, use_tqdm=False)
            else:
                results = engine.generate([prompt], sampling, use_tqdm=False)
        except Exception as exc:  # the engine's own failures: prompt too long, out of memory …
            raise client_error(
                ServerResponseError,
                f"vLLM failed to generate with {model!r}: {type(exc).__name__}: {excerpt(str(exc))}",
                retryable=False,
                hint="check the prompt length against max_model_len and the engine's memory settings",
            ) from exc
        if not results or not results[0].outputs:
            raise client_error(
                ServerResponseError,
                f"vLLM returned no output for the prompt with {model!r}",
                retryable=False,
            )
        request = results[0]
        output = request.outputs[0]
        token_ids = list(output.token_ids or ())
        if output.text:
            yield Chunk(output.text, max(len(token_ids), 1))
        prompt_ids = request.prompt_token_ids
        yield Completion(
            len(prompt_ids) if prompt_ids is not None else None,
            len(token_ids),
            output.finish_reason or None,
            "server",
        )

    def list_models(self) -> list[str]:
        """The models this client has loaded an engine for."""
        return sorted(self._engines)

    def health(self) -> bool:
        """In process: healthy once vLLM imported, which ``__init__`` checked."""
        return True

    def describe(self, model: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.client_id,
            "name": self.client_name,
            "base_url": None,
            "streaming": False,
            "chat": self.chat,
            "engine_args": redact(dict(self.engine_args)),
            "vllm_version": package_version("vllm") or getattr(self._vllm, "__version__", None),
        }
        if model is not None:
            out["model"] = model
        return out

    def close(self) -> None:
        # vLLM frees GPU memory when the engine is collected.
        self._engines.clear()
        gc.collect()
