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

Base URL: ``http://127.0.0.1:8000/v1`` by default. A URL with no path
(``http://host:8000``) gets ``/v1`` appended; a URL with a path is used as it
is, so ``https://example.com/openai/v1`` works, and a pasted endpoint
(``…/v1/chat/completions``) is cut back to its base.

An answer that never ends is cut off and fails its query (not retried):
``deadline_s`` bounds one answer from request to last byte (default
10 × ``timeout_s``: 20 minutes at the default ``timeout_s=120``), checked at
every socket read, so a server that only sends keep-alive comments is cut
off too; past :func:`~.base.answer_byte_cap` bytes the read stops as well.
``timeout_s`` is how long one read may wait for the next byte.

The API key comes from ``api_key``, else ``IPW_API_KEY``, else
``OPENAI_API_KEY``; it is only ever sent as the ``Authorization`` header and
never appears in ``describe()``.
"""

from __future__ import annotations

import base64
import json
import math
import os
from typing import Any, Iterable, Iterator, Mapping

import httpx
import msgspec

from ...errors import ConfigError, ServerResponseError
from ._http import PooledTransport, RawResponse
from ._openai_errors import capped_text, status_error, transport_error
from ._openai_wire import (
    CHUNK_DECODER,
    MAX_EVENT_BYTES,
    choice_text,
    completion_from_usage,
    garbage,
    json_object,
    plain_chunks,
    sse_events,
    stream_error,
    usage_count,
)
from .base import (REDACTED, Chunk, ChunkRun, Completion, InferenceClient, answer_byte_cap, client_error, excerpt,
                   param)

# Chunk(text) runs NamedTuple's Python-level __new__; building the tuple directly
# is the same value at a third of the cost, once per streamed token
_new_tuple = tuple.__new__

__all__ = ["OpenAIClient", "normalise_base_url", "timeout_param", "transport_param"]

_RESERVED_GEN = frozenset({"model", "messages", "prompt", "stream"})
_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/models")
_KEY_ENV = ("IPW_API_KEY", "OPENAI_API_KEY")
_DRAIN_LIMIT_BYTES = 1024 * 1024  # what is read after [DONE] so the connection can be reused
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a whole JSON answer (a server that ignored stream: true), as one SSE event


def normalise_base_url(url: str) -> str:
    """The API base for ``url``: ``/v1`` added to a bare host, endpoints cut off."""
    url = url.strip().rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"invalid base URL {url!r}: {exc}", hint="give one like http://127.0.0.1:8000/v1") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"invalid base URL {url!r}", hint="give one like http://127.0.0.1:8000/v1")
    if parsed.path in ("", "/"):
        url += "/v1"
    return url


def timeout_param(params: Mapping[str, Any], name: str, default: float, client_id: str) -> float:
    """A timeout in seconds: a finite number above zero, or a ``ConfigError`` naming it."""
    value = param(params, name, float, default, client_id)
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"client '{client_id}' parameter {name}={params.get(name)!r} is not a timeout",
            hint=f"pass a number of seconds above zero, e.g. --client-param {name}={default:g}",
        )
    return value


def transport_param(params: Mapping[str, Any], client_id: str) -> httpx.BaseTransport | None:
    """The ``transport`` param: an ``httpx.BaseTransport`` given from Python, or ``None``.

    It exists so tests and embedders can route requests in process; from the
    command line it can only ever be a string or a number, which is refused.
    """
    transport = params.get("transport")
    if transport is None or isinstance(transport, httpx.BaseTransport):
        return transport
    raise ConfigError(
        f"client '{client_id}' parameter transport={transport!r} is not an httpx transport",
        hint="drop --client-param transport; it can only be set from Python",
    )


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
        self.api = str(param(params, "api", str, "chat", cid)).lower()
        if self.api not in ("chat", "completions"):
            raise ConfigError(f"client 'openai' api={self.api!r} is unknown", hint="use api=chat or api=completions")
        self.timeout_s = timeout_param(params, "timeout_s", 120.0, cid)
        self.connect_timeout_s = timeout_param(params, "connect_timeout_s", 5.0, cid)
        self.deadline_s = timeout_param(params, "deadline_s", 10 * self.timeout_s, cid)
        transport = transport_param(params, cid)
        self.stream_usage = param(params, "stream_usage", bool, True, cid)
        self.usage_fallback = str(param(params, "usage_fallback", str, "auto", cid)).lower()
        if self.usage_fallback not in ("auto", "count"):
            raise ConfigError(
                f"client 'openai' usage_fallback={self.usage_fallback!r} is unknown",
                hint="use usage_fallback=auto or usage_fallback=count",
            )
        self._server_tokenizer: bool | None = None  # None: not yet known whether the server has one
        extra_headers = params.get("headers") or {}
        if not isinstance(extra_headers, Mapping):
            raise ConfigError("client 'openai' headers must be a mapping", hint='pass --client-param headers=\'{"X-Name": "value"}\'')
        self._extra_header_names = sorted(str(k) for k in extra_headers)

        self._key_source: str | None = None
        api_key = params.get("api_key")
        if api_key:
            self._key_source = "api_key param"
        else:
            for name in _KEY_ENV:
                if os.environ.get(name):
                    api_key, self._key_source = os.environ[name], name
                    break
        headers = {str(k): str(v) for k, v in extra_headers.items()}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"

        # ipw's own keep-alive transport: no pool cap, bodies read per socket read (see _http)
        self._transport = transport if transport is not None else PooledTransport()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
            transport=self._transport,
        )
        # what every streamed request shares, built once: httpx.Client builds and parses them per
        # request, and that (with its cookie jar) was ~40% of ipw's CPU per query
        self._stream_urls = {p: httpx.URL(self.base_url + p) for p in ("/chat/completions", "/completions")}
        self._stream_extensions = {"timeout": self._http.timeout.as_dict()}
        self._stream_headers = httpx.Headers(self._http.headers)
        self._stream_headers["Content-Type"] = "application/json"
        url = httpx.URL(self.base_url)
        if (url.username or url.password) and "Authorization" not in self._stream_headers:
            # httpx.Client turns URL userinfo into HTTP Basic auth; the direct path must send it too
            # (the secrets registry already knows this value and its base64 form)
            token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode("ascii")
            self._stream_headers["Authorization"] = f"Basic {token}"
        # with ipw's own transport, a stream's request is sent as bytes: the head httpx would send,
        # built once per endpoint, only its Content-Length written per query
        self._raw_heads: dict[str, tuple[tuple[str, str, int], bytes]] | None = None
        if transport is None:
            self._raw_heads = {p: _raw_head(u, self._stream_headers) for p, u in self._stream_urls.items()}

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
        """The stream with the chunks of each socket read as one ``ChunkRun`` (what the runner reads)."""
        path, body = self._request(model, prompt, gen)
        if self._raw_heads is not None:
            yield from self._stream_raw(path, body, model, prompt, answer_byte_cap(gen))
            return
        try:
            response = self._send_stream(path, body)
            try:
                yield from self._from_response(response, path, model, prompt)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path) from exc

    def _from_response(self, response: httpx.Response, path: str, model: str,
                       prompt: str) -> Iterator[Chunk | ChunkRun | Completion]:
        """The answer in an httpx response: an error status raised, a JSON answer, or an event stream."""
        if response.status_code >= 400:
            raise status_error(response, self.base_url, path)
        if "application/json" in response.headers.get("content-type", ""):
            yield from self._from_json_body(_answer_text(response))
        else:
            yield from self._from_sse(response.iter_bytes(), model, prompt)

    def prepare(self, model: str, gen: dict[str, Any]) -> None:
        self._request(model, "", gen)  # the body every query sends: a reserved field is refused here

    def _stream_raw(self, path: str, body: dict[str, Any], model: str, prompt: str,
                    max_bytes: int) -> Iterator[Chunk | ChunkRun | Completion]:
        """``stream_runs`` over ipw's transport without httpx's request and response objects.

        A server-sent-events body in plain encoding is read straight from the
        socket reads; anything else (an error status, a JSON answer, a
        compressed body) becomes the ``httpx.Response`` it would have been,
        so it is judged by exactly the same code.
        """
        assert self._raw_heads is not None
        key, head = self._raw_heads[path]
        content = _json_bytes(body)
        try:
            raw = self._transport.send(key, head + b"Content-Length: %d\r\n\r\n" % len(content), content,
                                       self._stream_extensions["timeout"], deadline_s=self.deadline_s,
                                       max_bytes=max_bytes)
            try:
                ctype = raw.header(b"content-type") or b""
                encoding = raw.header(b"content-encoding")
                if raw.status >= 400 or b"application/json" in ctype or (encoding and encoding.lower() != b"identity"):
                    request = httpx.Request("POST", self._stream_urls[path], headers=self._stream_headers,
                                            content=content, extensions=self._stream_extensions)
                    yield from self._from_response(raw.to_httpx(request), path, model, prompt)
                else:
                    yield from self._from_sse(raw.pieces(), model, prompt)
            finally:
                raw.close()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path) from exc

    def _send_stream(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST ``body`` straight to the transport: the request httpx.Client would send, without its per-request work.

        Same URL, headers (the client's defaults and ours), JSON encoding and
        timeouts; no redirects, auth flows or event hooks are configured, so
        none are skipped. Cookies a server sets are not sent back on streams.
        """
        content = _json_bytes(body)
        request = httpx.Request("POST", self._stream_urls[path], headers=self._stream_headers, content=content,
                                extensions=self._stream_extensions)
        response = self._transport.handle_request(request)
        response.request = request
        return response

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
        """The answer in a server-sent-events body: a ``ChunkRun`` per body piece, then the ``Completion``.

        Each piece (one socket read) is cut after its last whole event. Whole
        events that are all plain ``data:`` chunks of the usual shape are
        decoded in one call (:func:`plain_chunks`); any other region is read
        event by event, each odd chunk judged by the lenient path.
        """
        answer = _Answer()
        chat = self.api == "chat"
        pieces = iter(body)
        rest = b""
        for piece in pieces:
            data = rest + piece if rest else piece
            held = b""
            if b"\r" in data:  # CRLF or CR line ends (sse-starlette, as llama_cpp.server uses, sends CRLF)
                if data.endswith(b"\r"):
                    data, held = data[:-1], b"\r"  # it may be the first half of a CRLF
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            cut = data.rfind(b"\n\n") + 2
            if cut < 2:
                rest = data + held
            else:
                region, rest = data[:cut], data[cut:] + held
                run = self._plain_run(region, answer, chat)
                if run is None:
                    yield from self._events(sse_events((region,)), answer, chat)
                elif run:
                    yield run
                if answer.done:
                    break
            if len(rest) > MAX_EVENT_BYTES:
                raise garbage(f"an event longer than {MAX_EVENT_BYTES} bytes")
        else:
            if rest:  # the last event may end without its blank line
                yield from self._events(sse_events((rest,)), answer, chat)
        if answer.done:
            drained = 0  # read to the end of the body, so the connection goes back to the pool
            try:
                for piece in pieces:
                    drained += len(piece)
                    if drained > _DRAIN_LIMIT_BYTES:
                        break
            except httpx.HTTPError:
                # the answer is whole at [DONE]; a server that then drops the connection (llama_cpp.server
                # does, after cutting a stream short) costs only the connection, which is not reused
                pass
        finish_reason = answer.finish_reason
        if answer.n_events == 0:
            raise garbage("the server sent no events")
        if not answer.done and finish_reason is None:
            raise client_error(
                ServerResponseError,
                "the stream ended before the server finished the answer (no finish_reason, no [DONE])",
                retryable=True,
                hint="the server may have crashed or dropped the connection; check its log",
            )
        if answer.usage is None and self.api == "completions" and self.usage_fallback == "auto":
            prompt_tokens = self._server_prompt_tokens(model, prompt)
            if prompt_tokens is not None:
                yield Completion(prompt_tokens, answer.n_chunks, finish_reason, "tokenizer")
                return
        yield completion_from_usage(answer.usage, finish_reason, answer.n_chunks)

    @staticmethod
    def _plain_run(region: bytes, answer: "_Answer", chat: bool) -> ChunkRun | None:
        """The texts of a region of plain chunks, with ``answer`` updated; None (``answer`` untouched) otherwise."""
        parsed = plain_chunks(region)
        if parsed is None:
            return None
        chunks, done = parsed
        run = ChunkRun()
        add = run.append
        usage = answer.usage
        finish_reason = answer.finish_reason
        unset = msgspec.UNSET
        for chunk in chunks:
            if chunk.error is not unset:
                return None  # the server reports an error: the event path raises it, after the texts before it
            if chunk.usage is not None:
                usage = chunk.usage
            choices = chunk.choices
            if not choices:
                continue
            choice = choices[0]
            if chat:
                delta = choice.delta
                text = delta.content if delta is not None else None
            else:
                text = choice.text
            if text:
                add(text)
            finish = choice.finish_reason
            if finish:
                finish_reason = finish
        answer.usage = usage
        answer.finish_reason = finish_reason
        answer.n_events += len(chunks) + done
        answer.n_chunks += len(run)
        answer.done = done
        return run

    def _events(self, events: Iterable[tuple[str, bytes]], answer: "_Answer", chat: bool) -> Iterator[Chunk]:
        """Events read one at a time, each chunk of an odd shape judged by the lenient path; a ``Chunk`` per text."""
        decode = CHUNK_DECODER.decode
        for event, data in events:
            answer.n_events += 1
            if data[:1] in (b"[", b" ") and data.strip() == b"[DONE]":
                answer.done = True
                return
            try:
                chunk = decode(data)
            except (msgspec.MsgspecError, RecursionError):  # nesting deeper than the stack: let the lenient path call it garbage
                chunk = None
            if chunk is None or event == "error" or chunk.error is not msgspec.UNSET:
                # an odd shape: the lenient path judges it (and raises on garbage or a reported error)
                chunk_usage, text, finish = self._lenient_chunk(event, data)
                if chunk_usage is not None:
                    answer.usage = chunk_usage
            else:
                if chunk.usage is not None:
                    answer.usage = chunk.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if chat:
                    text = choice.delta.content if choice.delta is not None else None
                else:
                    text = choice.text
                finish = choice.finish_reason
            if text:
                answer.n_chunks += 1
                yield _new_tuple(Chunk, (text, 1))
            if finish:
                answer.finish_reason = finish

    def _lenient_chunk(self, event: str, data: bytes) -> tuple[dict[str, Any] | None, str, str | None]:
        """Usage, text and finish reason of a chunk of any shape; garbage or a reported error raises."""
        obj = json_object(data.decode("utf-8", "replace"))
        if event == "error" or "error" in obj:
            raise stream_error(obj.get("error", obj))
        usage = obj["usage"] if isinstance(obj.get("usage"), dict) else None
        choices = obj.get("choices") or []
        if not isinstance(choices, list):
            raise garbage(f"'choices' is not a list: {excerpt(data.decode('utf-8', 'replace'))}")
        text, finish = "", None
        for choice in choices[:1]:
            text = choice_text(choice, self.api)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]  # as sent: the runner normalises it (a dict is not repr'd)
        return usage, text, finish

    def _server_prompt_tokens(self, model: str, prompt: str) -> int | None:
        """The prompt's length by the server's own tokenizer, where it offers one."""
        if self._server_tokenizer is False or not self.base_url.endswith("/v1"):
            return None
        url = self.base_url[: -len("/v1")] + "/extras/tokenize/count"
        try:
            response = self._http.post(url, json={"model": model, "input": prompt}, timeout=min(self.timeout_s, 10.0))
        except httpx.HTTPError:
            return None  # a passing failure; the next query asks again
        count = None
        if response.is_success:
            try:
                count = response.json().get("count")
            except (ValueError, AttributeError):
                count = None
        count = usage_count(count)
        if count is None:
            self._server_tokenizer = False
            return None
        self._server_tokenizer = True
        return count

    def _from_json_body(self, text: str) -> Iterator[Chunk | Completion]:
        """A server that ignored ``stream: true`` and sent one JSON answer."""
        obj = json_object(text)
        if "error" in obj:
            raise stream_error(obj["error"])
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise garbage(f"JSON answer without choices: {excerpt(text)}")
        choice = choices[0]
        message = choice.get("message") or {}
        content = message.get("content") if self.api == "chat" else choice.get("text")
        usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else None
        if content:
            n_tokens = usage_count(usage.get("completion_tokens")) if usage else None
            yield Chunk(str(content), n_tokens if n_tokens else 1)
        yield completion_from_usage(usage, choice.get("finish_reason"), 1 if content else 0)

    # -- the rest of the contract ---------------------------------------------
    def _transport_error(self, exc: httpx.HTTPError, path: str) -> Exception:
        return transport_error(exc, f"{self.base_url}{path}", timeout_s=self.timeout_s,
                               connect_timeout_s=self.connect_timeout_s, deadline_s=self.deadline_s)

    def list_models(self) -> list[str]:
        try:
            response = self._http.get("/models")
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "/models") from exc
        if response.status_code >= 400:
            raise status_error(response, self.base_url, "/models")
        obj = json_object(response.text)
        data = obj.get("data")
        if not isinstance(data, list):
            raise garbage(f"/models answer has no 'data' list: {excerpt(response.text)}")
        return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]

    def health(self) -> bool:
        try:
            # only the status is needed; a small body is read to its end so the
            # connection is reused, a huge one is abandoned after _DRAIN_LIMIT_BYTES
            with self._http.stream("GET", "/models", timeout=min(self.connect_timeout_s, 5.0)) as response:
                read = 0
                for piece in response.iter_bytes():
                    read += len(piece)
                    if read > _DRAIN_LIMIT_BYTES:
                        break
                return response.is_success
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

    @property
    def http(self) -> httpx.Client:
        """The configured HTTP client (base URL, auth, headers, timeouts, transport), for requests this
        client does not make itself, such as the built-in agent's tool-calling chat (:mod:`ipw.agent.chat`)."""
        return self._http

    def close(self) -> None:
        self._http.close()


class _Answer:
    """What a stream has said so far: usage, finish reason, texts and events counted, whether [DONE] came."""

    __slots__ = ("usage", "finish_reason", "n_chunks", "n_events", "done")

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self.finish_reason: Any = None  # as the server sent it; the runner normalises it
        self.n_chunks = 0
        self.n_events = 0
        self.done = False


def _answer_text(response: httpx.Response) -> str:
    """A JSON answer's body as text, read at most ``MAX_ANSWER_BYTES`` far: a larger one is garbage, and
    the rest is never read, so a server cannot fill memory with one."""
    text, longer = capped_text(response, MAX_ANSWER_BYTES)
    if longer:
        raise garbage(f"the server answered with a JSON body larger than {MAX_ANSWER_BYTES // 2**20} MiB")
    return text


def _json_bytes(body: dict[str, Any]) -> bytes:
    """A request body as compact UTF-8 JSON; NaN or infinity is refused (``ValueError``), as JSON has neither."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _raw_head(url: httpx.URL, headers: httpx.Headers) -> tuple[tuple[str, str, int], bytes]:
    """Where a POST to ``url`` goes, and its request line and headers as httpx would send them, less
    Content-Length (written per request, last)."""
    template = httpx.Request("POST", url, headers=headers, content=b"-")
    lines = [b"POST ", url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in template.headers.raw:
        if name.lower() != b"content-length":
            lines += (name, b": ", value, b"\r\n")
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port), b"".join(lines)
