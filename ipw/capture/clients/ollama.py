"""A client for an Ollama server, through the ``ollama`` package.

It streams ``/api/chat`` (default: the prompt as one user message, so Ollama
applies the model's template) or ``/api/generate`` (``api=generate``). Usage
comes from the last streamed object (``prompt_eval_count``, ``eval_count``),
which Ollama computes itself, so it is labelled ``server``; the finish reason
is its ``done_reason``.

``ollama`` is imported when a client is made, so ``import ipw`` works without
it; a missing package is a ``BackendMissingError`` naming the ``ollama`` extra.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping

import httpx

from ...errors import BackendMissingError, ConfigError, ServerResponseError, ServerTimeoutError, ServerUnreachableError
from ._openai_wire import usage_count
from .base import REDACTED, Chunk, Completion, InferenceClient, client_error, excerpt, package_version, param
from .openai import timeout_param, transport_param

__all__ = ["OllamaClient"]

# ipw's generation names that Ollama spells differently in its ``options``.
_GEN_RENAMES = {"max_tokens": "num_predict"}


class OllamaClient(InferenceClient):
    """Streams answers from an Ollama server (``ollama serve``)."""

    client_id = "ollama"
    client_name = "Ollama"
    default_base_url = "http://127.0.0.1:11434"
    accepted_params = frozenset({"api", "timeout_s", "connect_timeout_s", "headers", "keep_alive", "transport"})

    def __init__(self, base_url: str | None = None, **params: Any) -> None:
        try:
            import ollama
        except ImportError as exc:
            raise BackendMissingError("ollama client", "ollama", module="ollama") from exc
        super().__init__(base_url or os.environ.get("OLLAMA_HOST") or self.default_base_url, **params)
        cid = self.client_id
        self.api = str(param(params, "api", str, "chat", cid)).lower()
        if self.api not in ("chat", "generate"):
            raise ConfigError(f"client 'ollama' api={self.api!r} is unknown", hint="use api=chat or api=generate")
        self.timeout_s = timeout_param(params, "timeout_s", 120.0, cid)
        self.connect_timeout_s = timeout_param(params, "connect_timeout_s", 5.0, cid)
        transport = transport_param(params, cid)
        self.keep_alive = params.get("keep_alive")
        headers = params.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConfigError("client 'ollama' headers must be a mapping", hint='pass --client-param headers=\'{"X-Name": "value"}\'')
        self._header_names = sorted(str(k) for k in headers)
        self._ollama = ollama
        kwargs: dict[str, Any] = {
            "timeout": httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
            "headers": {str(k): str(v) for k, v in headers.items()},
        }
        if transport is not None:
            kwargs["transport"] = transport
        self._client = ollama.Client(host=self.base_url, **kwargs)

    def stream(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | Completion]:
        options = {_GEN_RENAMES.get(k, k): v for k, v in gen.items() if v is not None}
        if isinstance(options.get("stop"), str):
            options["stop"] = [options["stop"]]
        extra = {"keep_alive": self.keep_alive} if self.keep_alive is not None else {}
        n_chunks = 0
        final: Any = None
        try:
            if self.api == "chat":
                parts = self._client.chat(
                    model=model, messages=[{"role": "user", "content": prompt}], stream=True, options=options, **extra
                )
            else:
                parts = self._client.generate(model=model, prompt=prompt, stream=True, options=options, **extra)
            for part in parts:
                text = (part.message.content if self.api == "chat" else part.response) or ""
                if text:
                    n_chunks += 1
                    yield Chunk(text)
                if part.done:
                    final = part
        except self._ollama.ResponseError as exc:
            raise self._response_error(exc) from exc
        except (ConnectionError, httpx.ConnectError) as exc:
            raise self._unreachable(exc) from exc
        except httpx.TimeoutException as exc:
            raise client_error(
                ServerTimeoutError,
                f"Ollama at {self.base_url} did not answer within {self.timeout_s:g} s ({type(exc).__name__})",
                retryable=True,
                hint="raise --client-param timeout_s=…; a model being loaded can take a while on first use",
            ) from exc
        except httpx.HTTPError as exc:
            raise client_error(
                ServerResponseError,
                f"the connection to Ollama at {self.base_url} failed mid-answer: {type(exc).__name__}: {exc}",
                retryable=True,
                hint="check the Ollama server's log",
            ) from exc
        except ValueError as exc:  # a line that is not JSON, or JSON of the wrong shape
            raise client_error(
                ServerResponseError,
                f"Ollama at {self.base_url} sent a malformed stream: {excerpt(str(exc))}",
                retryable=True,
                hint="check that the base URL points at an Ollama server",
            ) from exc
        if final is None:
            raise client_error(
                ServerResponseError,
                f"Ollama at {self.base_url} ended the stream before it said done",
                retryable=True,
                hint="the server may have crashed; check its log",
            )
        finish = final.done_reason or None
        prompt_tokens = usage_count(final.prompt_eval_count)
        eval_count = usage_count(final.eval_count)
        if eval_count is None:
            yield Completion(prompt_tokens, n_chunks, finish, "counted")
        else:
            yield Completion(prompt_tokens, eval_count, finish, "server")

    def _response_error(self, exc: Any) -> ServerResponseError:
        status = int(getattr(exc, "status_code", -1))
        # status -1: Ollama put an {"error": …} object into a stream it had started.
        retryable = status < 0 or status >= 500 or status in (408, 429)
        if status == 404:
            hint = "pull the model first (ollama pull MODEL) or check its name with 'ollama list'"
        elif status >= 500 or status < 0:
            hint = "the Ollama server failed on this request; see its log"
        else:
            hint = "check the model name and the generation parameters"
        where = f"HTTP {status}" if status >= 0 else "mid-stream"
        return client_error(
            ServerResponseError,
            f"Ollama at {self.base_url} answered {where}: {excerpt(str(getattr(exc, 'error', exc)))}",
            retryable=retryable,
            hint=hint,
        )

    def _unreachable(self, exc: BaseException) -> ServerUnreachableError:
        return client_error(
            ServerUnreachableError,
            f"could not connect to Ollama at {self.base_url}",
            retryable=True,
            hint="start it with 'ollama serve' or point ipw at one with --client-base-url (or OLLAMA_HOST)",
        )

    def list_models(self) -> list[str]:
        try:
            listing = self._client.list()
        except self._ollama.ResponseError as exc:
            raise self._response_error(exc) from exc
        except (ConnectionError, httpx.ConnectError) as exc:
            raise self._unreachable(exc) from exc
        except httpx.HTTPError as exc:
            raise client_error(
                ServerTimeoutError if isinstance(exc, httpx.TimeoutException) else ServerResponseError,
                f"Ollama at {self.base_url} failed to list models: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from exc
        except ValueError as exc:
            raise client_error(
                ServerResponseError,
                f"Ollama at {self.base_url} sent a malformed model list: {excerpt(str(exc))}",
                retryable=True,
            ) from exc
        return [m.model for m in listing.models if m.model]

    def describe(self, model: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.client_id,
            "name": self.client_name,
            "base_url": self.base_url,
            "api": self.api,
            "streaming": True,
            "timeout_s": self.timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "keep_alive": self.keep_alive,
            "headers": {name: REDACTED for name in self._header_names},
            "ollama_package": package_version("ollama"),
        }
        if model is not None:
            out["model"] = model
        return out

    def close(self) -> None:
        self._client.close()
