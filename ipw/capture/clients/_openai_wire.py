"""The OpenAI streaming wire format: server-sent events of JSON chunks, read strictly.

Everything here turns bytes the server sent into values or into a
``ServerResponseError``; nothing here does I/O.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

from ...errors import ServerResponseError
from .base import Completion, client_error, excerpt, finish_reason_text

__all__ = [
    "sse_events",
    "json_object",
    "choice_text",
    "completion_from_usage",
    "usage_count",
    "garbage",
    "stream_error",
]

# A count a ledger can store: msgpack carries at most 64 bits and the reader
# decodes counts into int64 columns.
_MAX_COUNT = 2**63


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(event, data)`` pairs of a server-sent-events body; garbage raises."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue  # an SSE comment, used as a keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field in ("id", "retry"):
            continue
        else:
            raise garbage(f"not a server-sent-events line: {excerpt(line)}")
    if data:
        yield event, "\n".join(data)


def json_object(text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise garbage(f"not JSON: {excerpt(text)}") from exc
    if not isinstance(obj, dict):
        raise garbage(f"not a JSON object: {excerpt(text)}")
    return obj


def choice_text(choice: Any, api: str) -> str:
    if not isinstance(choice, dict):
        raise garbage(f"a choice is not an object: {excerpt(repr(choice))}")
    if api == "chat":
        delta = choice.get("delta") or {}
        text = delta.get("content") if isinstance(delta, dict) else None
    else:
        text = choice.get("text")
    return text if isinstance(text, str) else ""


def usage_count(value: Any) -> int | None:
    """A token count a server reported, or ``None`` when it is not one.

    Only a whole number in ``0 <= n < 2**63`` counts: JSON ``true`` is not 1, a
    negative count is not a count, and a huge one could not be stored.
    """
    if type(value) is int and 0 <= value < _MAX_COUNT:
        return value
    return None


def completion_from_usage(usage: Mapping[str, Any] | None, finish_reason: Any, n_chunks: int) -> Completion:
    finish = finish_reason_text(finish_reason)
    if usage:
        prompt = usage_count(usage.get("prompt_tokens"))
        completion = usage_count(usage.get("completion_tokens"))
        if prompt is not None or completion is not None:
            return Completion(prompt, completion, finish, "server")
    return Completion(None, n_chunks, finish, "counted")


def garbage(what: str) -> ServerResponseError:
    return client_error(
        ServerResponseError,
        f"the server's stream is malformed: {what}",
        retryable=True,
        hint="check that the base URL points at an OpenAI-compatible API",
    )


def stream_error(err: Any) -> ServerResponseError:
    if isinstance(err, dict):
        message = str(err.get("message") or err)
        code = err.get("code")
    else:
        message, code = str(err), None
    retryable = not (isinstance(code, int) and 400 <= code < 500)
    return client_error(
        ServerResponseError,
        f"the server reported an error mid-stream: {excerpt(message)}",
        retryable=retryable,
        hint="see the server's log",
    )
