"""One streamed ``/chat/completions`` call with tools: text and tool calls as they arrive.

The request is the OpenAI tools API (``messages``, ``tools``, ``stream: true``)
sent by the openai client's one send path (its transport, auth and
timeouts); the body is read with the wire module's server-sent-events
decoder, so there is one SSE parser in ipw. A tool call streams as
``delta.tool_calls`` pieces keyed by ``index``: the first piece usually
carries the call's ``id`` and ``function.name``, later ones the
``function.arguments`` text a few characters at a time; pieces of one index
are joined in arrival order, whatever chunk boundaries the server chose.

``on_piece`` is called with each piece of generated text (content or
arguments) as it arrives, so the caller timestamps tokens. The call gives up
with :class:`BudgetSpent` once ``deadline`` (``time.monotonic()``) passes:
each socket read waits at most until then, and the deadline is checked
between events, so a server that trickles is cut off too.
"""

from __future__ import annotations

import json
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from ..capture.clients._openai_errors import status_error, transport_error
from ..capture.clients._openai_wire import completion_from_usage, garbage, json_object, sse_events, stream_error
from ..capture.clients.base import Completion, excerpt

__all__ = ["BudgetSpent", "ChatReply", "ToolCall", "stream_chat"]

_PATH = "/chat/completions"
_DRAIN_LIMIT_BYTES = 1024 * 1024


class BudgetSpent(Exception):
    """The task's time budget ran out while the model was still answering."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass
class ChatReply:
    """A whole answer: its text, its tool calls in index order, and its usage and finish reason."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    completion: Completion | None = None

    def message(self) -> dict[str, Any]:
        """The answer as the assistant message the next call sends back."""
        out: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            out["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": c.arguments}} for c in self.tool_calls]
        return out


class _Calls:
    """Tool-call pieces joined by index."""

    def __init__(self) -> None:
        self.by_index: dict[int, dict[str, Any]] = {}

    def add(self, pieces: Any, on_piece: Callable[[str], None]) -> None:
        if not isinstance(pieces, list):
            raise garbage(f"'tool_calls' is not a list: {excerpt(repr(pieces))}")
        for position, piece in enumerate(pieces):
            if not isinstance(piece, dict):
                raise garbage(f"a tool call piece is not an object: {excerpt(repr(piece))}")
            index = piece.get("index", position)
            if not isinstance(index, int) or isinstance(index, bool):
                raise garbage(f"a tool call index is not a number: {excerpt(repr(index))}")
            call = self.by_index.setdefault(index, {"id": "", "name": "", "arguments": []})
            if isinstance(piece.get("id"), str) and not call["id"]:
                call["id"] = piece["id"]
            function = piece.get("function") or {}
            if not isinstance(function, dict):
                raise garbage(f"a tool call's function is not an object: {excerpt(repr(function))}")
            if isinstance(function.get("name"), str) and not call["name"]:
                call["name"] = function["name"]
            arguments = function.get("arguments")
            if isinstance(arguments, str) and arguments:
                call["arguments"].append(arguments)
                on_piece(arguments)

    def calls(self) -> list[ToolCall]:
        return [ToolCall(c["id"] or f"call_{i}", c["name"], "".join(c["arguments"]))
                for i, c in sorted(self.by_index.items())]


def _timeout(client: Any, deadline: float) -> httpx.Timeout:
    left_s = max(0.05, deadline - time.monotonic())
    return httpx.Timeout(min(client.timeout_s, left_s), connect=min(client.connect_timeout_s, left_s))


def stream_chat(client: Any, body: dict[str, Any], *, deadline: float,
                on_piece: Callable[[str], None]) -> ChatReply:
    """POST ``body`` (``stream`` is set here) and read the answer; ``client`` is an ``OpenAIClient``.

    Raises a :class:`~ipw.errors.ClientError` as the openai client would for
    the same failure, or :class:`BudgetSpent`.
    """
    content = json.dumps({**body, "stream": True}, ensure_ascii=False, allow_nan=False).encode("utf-8")
    reply = ChatReply()
    calls = _Calls()
    texts: list[str] = []
    usage: dict[str, Any] | None = None
    finish: Any = None
    n_pieces = 0
    done = False

    def piece(text: str) -> None:
        nonlocal n_pieces
        n_pieces += 1
        on_piece(text)

    try:
        with closing(client.send("POST", _PATH, content, timeout=_timeout(client, deadline))) as response:
            if response.status_code >= 400:
                raise status_error(response, client.base_url, _PATH)
            pieces = response.iter_bytes()
            for event, data in sse_events(pieces):
                if time.monotonic() > deadline:
                    raise BudgetSpent("the model was still answering when the task's time ran out")
                if data.strip() == b"[DONE]":
                    done = True
                    break
                chunk = json_object(data.decode("utf-8", "replace"))
                if event == "error" or "error" in chunk:
                    raise stream_error(chunk.get("error", chunk))
                if isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                choices = chunk.get("choices") or []
                if not isinstance(choices, list):
                    raise garbage(f"'choices' is not a list: {excerpt(data.decode('utf-8', 'replace'))}")
                for choice in choices[:1]:
                    if not isinstance(choice, dict):
                        raise garbage(f"a choice is not an object: {excerpt(repr(choice))}")
                    delta = choice.get("delta") or {}
                    if isinstance(delta, dict):
                        text = delta.get("content")
                        if isinstance(text, str) and text:
                            texts.append(text)
                            piece(text)
                        if delta.get("tool_calls") is not None:
                            calls.add(delta["tool_calls"], piece)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            if done:  # read to the end of the body, so the connection is reused for the next turn
                drained = 0
                for rest in pieces:
                    drained += len(rest)
                    if drained > _DRAIN_LIMIT_BYTES:
                        break
    except httpx.TimeoutException as exc:
        if time.monotonic() >= deadline - 0.01:
            raise BudgetSpent("the model was still answering when the task's time ran out") from exc
        raise transport_error(exc, client.base_url + _PATH, timeout_s=client.timeout_s,
                              connect_timeout_s=client.connect_timeout_s) from exc
    except httpx.HTTPError as exc:
        raise transport_error(exc, client.base_url + _PATH, timeout_s=client.timeout_s,
                              connect_timeout_s=client.connect_timeout_s) from exc
    if not done and finish is None:
        raise garbage("the stream ended before the server finished the answer (no finish_reason, no [DONE])")
    reply.content = "".join(texts)
    reply.tool_calls = calls.calls()
    reply.completion = completion_from_usage(usage, finish, n_pieces)
    return reply
