"""How an OpenAI-compatible server's failures become ipw's client errors.

An HTTP status of 400 or more becomes a ``ServerResponseError`` quoting the
server's own message (from a bounded read of the body), retryable for 5xx,
408 and 429, with the ``Retry-After`` the server asked for. An httpx failure
becomes ``ServerUnreachableError`` (no connection), ``ServerTimeoutError``
(naming the limit that ran out) or ``ServerResponseError`` (the connection
failed mid-answer); all three are retryable. An answer cut off at its
deadline or byte cap (``_http``'s ``DeadlinePassed``, ``BodyTooLarge``) is not.
Bodies are read only so far: an error's to ``MAX_ERROR_BODY_BYTES``, a JSON
answer's to ``MAX_ANSWER_BYTES`` (past that it is garbage).
"""

from __future__ import annotations

import httpx

from ..._untrusted import InputRefused, decode_json
from ...errors import AnswerTooLongError, ServerResponseError, ServerTimeoutError, ServerUnreachableError
from ._http import BodyTooLarge, DeadlinePassed
from ._openai_wire import garbage
from .base import client_error, excerpt, retry_after_s

__all__ = ["MAX_ANSWER_BYTES", "MAX_ERROR_BODY_BYTES", "answer_text", "status_error", "transport_error", "error_body",
           "capped_text"]

# An error body is read only this far: enough for any message, and a server
# that answers a multi-gigabyte error never fills memory.
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a whole JSON answer (a server that ignored stream: true), as one SSE event


def status_error(response: httpx.Response, base_url: str, path: str) -> ServerResponseError:
    """The error for an HTTP error status from ``base_url + path``, with the server's message and a hint."""
    status = response.status_code
    text = error_body(response)
    detail = text
    try:
        obj = decode_json(text)  # bounded: a body nested 100,000 deep is just text
        err = obj.get("error", obj.get("detail")) if isinstance(obj, dict) else None
        if isinstance(err, dict):
            detail = str(err.get("message") or err)
        elif err:
            detail = str(err)
    except InputRefused:
        pass
    if status in (401, 403):
        hint = "check the API key (--client-param api_key=… or IPW_API_KEY)"
    elif status == 404:
        hint = f"check the base URL ({base_url}) and the model name"
    elif status == 429:
        hint = ("the server is rate-limiting requests; lower --max-concurrency or --request-rate, "
                "or raise --max-retries")
    elif status >= 500:
        hint = "the server failed on this request; see its log"
    else:
        hint = "check the model name and the generation parameters"
    return client_error(
        ServerResponseError,
        f"{base_url}{path} answered HTTP {status}: {excerpt(detail) or '(empty body)'}",
        retryable=status >= 500 or status in (408, 429),
        hint=hint,
        retry_after_s=retry_after_s(response.headers.get("retry-after")),
    )


def transport_error(exc: httpx.HTTPError, url: str, *, timeout_s: float, connect_timeout_s: float,
                    deadline_s: float | None = None) -> Exception:
    """The error for an httpx failure talking to ``url``; the timeouts are the client's, to name the one that ran out."""
    if isinstance(exc, DeadlinePassed):
        return client_error(ServerTimeoutError, f"{url} was still answering after deadline_s={deadline_s:g} s",
                            retryable=False, hint="the server does not end its answer; if answers really take "
                            "this long, raise --client-param deadline_s=…")
    if isinstance(exc, BodyTooLarge):
        return client_error(AnswerTooLongError, f"{url} sent an answer longer than the byte cap for its max_tokens",
                            retryable=False, hint="the server does not stop at max_tokens; check its settings")
    if isinstance(exc, httpx.ConnectError):
        return client_error(
            ServerUnreachableError,
            f"could not connect to {url}: {exc}",
            retryable=True,
            hint="start an OpenAI-compatible server there (for example: "
            "python -m llama_cpp.server --model MODEL.gguf --port 8000) or point ipw at one "
            "with --client-base-url",
        )
    if isinstance(exc, httpx.TimeoutException):
        limit_s = connect_timeout_s if isinstance(exc, httpx.ConnectTimeout) else timeout_s
        return client_error(
            ServerTimeoutError,
            f"{url} did not answer within {limit_s:g} s ({type(exc).__name__})",
            retryable=True,
            hint="raise --client-param timeout_s=… or check whether the server is overloaded",
        )
    return client_error(
        ServerResponseError,
        f"the connection to {url} failed mid-answer: {type(exc).__name__}: {exc}",
        retryable=True,
        hint="the server may have crashed or dropped the connection; check its log",
    )


def error_body(response: httpx.Response) -> str:
    """The start of an error response's body as text, at most ``MAX_ERROR_BODY_BYTES`` of it."""
    return capped_text(response, MAX_ERROR_BODY_BYTES)[0]


def answer_text(response: httpx.Response) -> str:
    """A JSON answer's body as text, read at most ``MAX_ANSWER_BYTES`` far: a larger one is garbage, and
    the rest is never read, so a server cannot fill memory with one."""
    text, longer = capped_text(response, MAX_ANSWER_BYTES)
    if longer:
        raise garbage(f"the server answered with a JSON body larger than {MAX_ANSWER_BYTES // 2**20} MiB")
    return text


def capped_text(response: httpx.Response, limit: int) -> tuple[str, bool]:
    """A body as text, read at most ``limit`` bytes far, and whether it went on past that.

    What lies past the limit is never read (closing the response then closes
    the connection), so a server cannot fill memory with a body.
    """
    try:
        data = response.content
    except httpx.ResponseNotRead:
        read = bytearray()
        for chunk in response.iter_bytes():
            read += chunk
            if len(read) > limit:
                break
        data = bytes(read)
    try:
        text = data[:limit].decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = data[:limit].decode("utf-8", errors="replace")
    return text, len(data) > limit
