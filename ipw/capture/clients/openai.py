"""A client for any OpenAI-compatible server, streaming over HTTP with httpx.

It speaks ``/chat/completions`` (default) or ``/completions`` (``api=completions``,
the raw prompt), always with ``stream: true`` and, unless ``stream_usage=false``,
``stream_options: {"include_usage": true}`` so servers that can report usage in
the stream do (``usage_source = "server"``).

``python -m llama_cpp.server`` reports no usage in a stream and ignores
``stream_options``. For it, and any server without streamed usage, completion
tokens are the streamed deltas counted (that server sends one delta per
generated token). With ``api=completions`` and ``usage_fallback=auto`` (the
default) the client then asks the server's own tokenizer for the prompt's
length through ``/extras/tokenize/count`` (llama_cpp.server's endpoint, which
tokenizes exactly as its completion does, BOS included) once the stream has
ended, and labels the result ``tokenizer``; a server without that endpoint is
not asked again, and its usage is ``counted`` with no prompt count. In chat
mode the server applies a chat template the client cannot see, so there the
prompt count stays unknown. ``usage_fallback=count`` skips the extra request.

An answer that never ends is cut off and fails its query (not retried):
``deadline_s`` bounds one answer from request to last byte (default
10 × ``timeout_s``: 20 minutes at the default ``timeout_s=120``), checked at
every socket read, so a server that only sends keep-alive comments is cut
off too; past :func:`~.base.answer_byte_cap` bytes the read stops as well.
``timeout_s`` is how long one read may wait for the next byte.

Base URL (``http://127.0.0.1:8000/v1`` by default), API key and headers: see
:mod:`._openai_settings`; the key never appears in ``describe()``.

Every request goes one way, :meth:`OpenAIClient.send_raw`: its head and body
as bytes to the transport's ``send`` (:class:`~._http.PooledTransport`, or a
``transport`` given from Python, e.g. ``httpx.MockTransport`` in tests, via
:class:`~._httpx_transport.HttpxTransport`). A 2xx event stream is read off
the raw response, a piece per socket read; any other answer as an
``httpx.Response``. What the bytes mean is :mod:`._openai_wire`'s.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

import httpx

from ...errors import ConfigError
from ._http import PooledTransport, RawResponse
from ._httpx_transport import HttpxTransport
from ._openai_errors import answer_text, capped_text, status_error, transport_error
from ._openai_settings import (Requests, choice_param, normalise_base_url, request_headers, timeout_param,
                               transport_param)
from ._openai_wire import (Answer, check_ended, completion_from_usage, garbage, json_answer, json_body, json_object,
                           sse_runs, usage_count)
from .base import REDACTED, Chunk, ChunkRun, Completion, InferenceClient, answer_byte_cap, excerpt, param

_new_tuple = tuple.__new__  # Chunk(text) without NamedTuple's Python-level __new__, once per streamed token

__all__ = ["OpenAIClient", "normalise_base_url", "timeout_param", "transport_param"]

_RESERVED_GEN = frozenset({"model", "messages", "prompt", "stream"})
_DRAIN_LIMIT_BYTES = 1024 * 1024  # what is read after [DONE] so the connection can be reused
_TOKENIZER_ANSWER_BYTES = 64 * 1024  # {"count": n} and no more


class OpenAIClient(InferenceClient):
    """Streams completions from an OpenAI-compatible HTTP server (vLLM, llama.cpp, Ollama, OpenAI …)."""

    client_id = "openai"
    client_name = "OpenAI-compatible HTTP"
    default_base_url = "http://127.0.0.1:8000/v1"
    accepted_params = frozenset(
        {"api_key", "api", "headers", "timeout_s", "connect_timeout_s", "deadline_s", "stream_usage", "usage_fallback",
         "transport"}
    )

    def __init__(self, base_url: str | None = None, **params: Any) -> None:
        super().__init__(base_url, **params)
        self.base_url = normalise_base_url(self.base_url or self.default_base_url)
        cid = self.client_id
        self.api = choice_param(params, "api", ("chat", "completions"), cid)
        self.timeout_s = timeout_param(params, "timeout_s", 120.0, cid)
        self.connect_timeout_s = timeout_param(params, "connect_timeout_s", 5.0, cid)
        self.deadline_s = timeout_param(params, "deadline_s", 10 * self.timeout_s, cid)
        transport = transport_param(params, cid)
        self.stream_usage = param(params, "stream_usage", bool, True, cid)
        self.usage_fallback = choice_param(params, "usage_fallback", ("auto", "count"), cid)
        self._server_tokenizer: bool | None = None  # None: not yet known whether the server has one
        headers, self._key_source = request_headers(params, self.base_url, cid)
        self._extra_header_names = sorted(str(k) for k in params.get("headers") or {})

        # ipw's own keep-alive transport: no pool cap, bodies read per socket read (see _http)
        self._transport: PooledTransport | HttpxTransport = (
            PooledTransport() if transport is None
            else transport if isinstance(transport, PooledTransport) else HttpxTransport(transport))
        # what every request shares, built once: an httpx.Client building and parsing headers and URLs
        # per request (with its cookie jar) was ~40% of ipw's CPU per query, httpx.Request objects ~6%
        self._requests = Requests(self.base_url, headers)
        self._timeouts = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s).as_dict()

    # -- the one send path -----------------------------------------------------
    def send_raw(self, method: str, path: str, content: bytes | None = None, *,
                 timeout: httpx.Timeout | None = None, deadline_s: float | None = None,
                 max_bytes: int | None = None) -> RawResponse:
        """Send one request the way this client sends all of them; the response's body is not read yet.

        ``path`` is under the base URL or a whole URL; ``content`` goes as JSON.
        Headers, auth and timeouts are the client's (``timeout`` overrides
        them); ``deadline_s`` and ``max_bytes`` bound the whole answer (see
        :mod:`._http`). No redirects, auth flows, hooks or cookies, as this
        client's httpx.Client had none. Failures are httpx's exceptions; the
        caller closes the response.
        """
        key, head = self._requests.head(method, path, content)
        return self._transport.send(key, head, content or b"", self._timeouts if timeout is None else timeout.as_dict(),
                                    deadline_s=deadline_s, max_bytes=max_bytes)

    def send(self, method: str, path: str, content: bytes | None = None, *, timeout: httpx.Timeout | None = None,
             deadline_s: float | None = None, max_bytes: int | None = None) -> httpx.Response:
        """:meth:`send_raw`, its answer as an ``httpx.Response`` (for answers read whole, or decoded)."""
        return self.send_raw(method, path, content, timeout=timeout, deadline_s=deadline_s,
                             max_bytes=max_bytes).to_httpx()

    # -- streaming -------------------------------------------------------------
    def stream(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | Completion]:
        runs = self.stream_runs(model, prompt, gen)
        try:
            for item in runs:
                if type(item) is ChunkRun:
                    for text in item:
                        yield _new_tuple(Chunk, (text, 1))
                else:
                    yield item
        finally:
            runs.close()

    def stream_runs(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | ChunkRun | Completion]:
        """The stream with the chunks of each socket read as one ``ChunkRun`` (what the runner reads).

        The answer is an error status (raised), one JSON object (a server that
        ignored ``stream: true``) or an event stream, read as it arrives; a
        compressed body is decoded by httpx on its way.
        """
        path, body = self._request(model, prompt, gen)
        content = json_body(body)
        try:
            raw = self.send_raw("POST", path, content, deadline_s=self.deadline_s, max_bytes=answer_byte_cap(gen))
            try:
                kind, coding = (raw.header(b"content-type") or b"").lower(), raw.header(b"content-encoding")
                if raw.status < 400 and b"application/json" not in kind and (not coding or coding.lower() == b"identity"):
                    # an event stream as it came (the one case per query): one socket read per piece
                    yield from self._from_sse(raw.pieces(), model, prompt)
                    return
                response = raw.to_httpx()
                if response.status_code >= 400:
                    raise status_error(response, self.base_url, path)
                if b"application/json" in kind:
                    yield from json_answer(answer_text(response), self.api)
                else:
                    yield from self._from_sse(response.iter_bytes(), model, prompt)  # decoded by httpx
            finally:
                raw.close()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path) from exc

    def prepare(self, model: str, gen: dict[str, Any]) -> None:
        self._request(model, "", gen)  # the body every query sends: a reserved field is refused here

    def _request(self, model: str, prompt: str, gen: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        clash = sorted(_RESERVED_GEN & set(gen))
        if clash:
            raise ConfigError(
                f"generation parameter(s) {', '.join(clash)} are set by the client",
                hint="drop them from --gen-param",
            )
        body: dict[str, Any] = {"model": model}
        if self.api == "chat":
            path = "/chat/completions"
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            path = "/completions"
            body["prompt"] = prompt
        body["stream"] = True
        if self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        body.update({k: v for k, v in gen.items() if v is not None})
        return path, body

    def _from_sse(self, body: Iterable[bytes], model: str, prompt: str) -> Iterator[Chunk | ChunkRun | Completion]:
        """The answer in a server-sent-events body (:func:`~._openai_wire.sse_runs`), then its ``Completion``."""
        answer = Answer()
        pieces = iter(body)
        yield from sse_runs(pieces, self.api, answer)
        if answer.done:
            try:
                _drain(pieces)
            except httpx.HTTPError:
                # the answer is whole at [DONE]; a server that then drops the connection (llama_cpp.server
                # does, after cutting a stream short) costs only the connection, which is not reused
                pass
        check_ended(answer)
        if answer.usage is None and self.api == "completions" and self.usage_fallback == "auto":
            prompt_tokens = self._server_prompt_tokens(model, prompt)
            if prompt_tokens is not None:
                yield Completion(prompt_tokens, answer.n_chunks, answer.finish_reason, "tokenizer")
                return
        yield completion_from_usage(answer.usage, answer.finish_reason, answer.n_chunks)

    def _server_prompt_tokens(self, model: str, prompt: str) -> int | None:
        """The prompt's length by the server's own tokenizer, where it offers one."""
        if self._server_tokenizer is False or not self.base_url.endswith("/v1"):
            return None
        url = self.base_url[: -len("/v1")] + "/extras/tokenize/count"
        content = json_body({"model": model, "input": prompt})
        try:
            # the same patience as an answer: a server that serves one request at a time (llama_cpp.server)
            # answers the count only after the generations queued before it, seconds later on a busy host
            response = self.send("POST", url, content, timeout=httpx.Timeout(self.timeout_s))
            try:
                text, longer = capped_text(response, _TOKENIZER_ANSWER_BYTES)
            finally:
                response.close()
        except httpx.HTTPError:
            return None  # a passing failure; the next query asks again
        try:
            count = usage_count(json.loads(text).get("count")) if response.is_success and not longer else None
        except (ValueError, AttributeError, RecursionError):
            count = None
        if count is None:
            self._server_tokenizer = False
            return None
        self._server_tokenizer = True
        return count

    # -- the rest of the contract ---------------------------------------------
    def _transport_error(self, exc: httpx.HTTPError, path: str) -> Exception:
        return transport_error(exc, f"{self.base_url}{path}", timeout_s=self.timeout_s,
                               connect_timeout_s=self.connect_timeout_s, deadline_s=self.deadline_s)

    def list_models(self) -> list[str]:
        try:
            response = self.send("GET", "/models")
            try:
                if response.status_code >= 400:
                    raise status_error(response, self.base_url, "/models")
                text = answer_text(response)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "/models") from exc
        data = json_object(text).get("data")
        if not isinstance(data, list):
            raise garbage(f"/models answer has no 'data' list: {excerpt(text)}")
        return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]

    def health(self) -> bool:
        try:
            # a refused connection fails fast; a server that took the connection is alive, and one that
            # serves one request at a time (llama_cpp.server) answers /models after the generation in flight
            timeout = httpx.Timeout(min(self.timeout_s, 30.0), connect=min(self.connect_timeout_s, 5.0))
            response = self.send("GET", "/models", timeout=timeout)
            try:
                _drain(response.iter_bytes())  # only the status is needed
                return response.is_success
            finally:
                response.close()
        except httpx.HTTPError:
            return False

    def describe(self, model: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.client_id,
            "name": self.client_name,
            "base_url": self.base_url,
            "api": self.api,
            "streaming": True,
            "stream_usage": self.stream_usage,
            "usage_fallback": self.usage_fallback,
            "timeout_s": self.timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "deadline_s": self.deadline_s,
            "auth": f"bearer ({self._key_source})" if self._key_source else None,
            "headers": {name: REDACTED for name in self._extra_header_names},
        }
        if model is not None:
            out["model"] = model
        return out

    def close(self) -> None:
        self._transport.close()


def _drain(pieces: Iterable[bytes]) -> None:
    """Read the rest of a body, so the connection goes back to the pool; past ``_DRAIN_LIMIT_BYTES`` it is
    abandoned (and the connection closed) instead."""
    read = 0
    for piece in pieces:
        read += len(piece)
        if read > _DRAIN_LIMIT_BYTES:
            return
