"""What a proxied OpenAI answer says, read from the bytes as they pass through: tokens, usage, finish.

The proxy forwards every byte unchanged; this module only watches. A
streamed answer (server-sent events) is read incrementally, one socket read
at a time: each ``data:`` chunk gives its text (``choices[].delta.content``
for chat, ``choices[].text`` for completions) and the argument fragments of
its ``tool_calls`` deltas, which are model output too. A whole JSON answer
gives its text (or tool calls) once. Usage comes from the ``usage`` member
when the server sends one; otherwise the completion tokens are the chunks
counted. Anything that does not parse is skipped, never raised: a recording
must not break the call it records.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

__all__ = ["AnswerObserver", "prompt_of"]

MAX_BUFFER_BYTES = 16 * 1024 * 1024


class _Function(msgspec.Struct, gc=False):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct, gc=False):
    function: _Function | None = None


class _Message(msgspec.Struct, gc=False):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct, gc=False):
    delta: _Message | None = None
    message: _Message | None = None
    text: str | None = None
    finish_reason: str | None = None


class _Chunk(msgspec.Struct, gc=False):
    choices: list[_Choice] | None = None
    usage: dict[str, Any] | None = None


_DECODER = msgspec.json.Decoder(_Chunk)


def _texts(chunk: _Chunk, out: list[str]) -> str | None:
    finish = None
    for choice in chunk.choices or ():
        message = choice.delta or choice.message
        if message is not None:
            if message.content:
                out.append(message.content)
            for call in message.tool_calls or ():
                fn = call.function
                if fn is not None and fn.arguments:
                    out.append(fn.arguments)
        elif choice.text:
            out.append(choice.text)
        if choice.finish_reason:
            finish = choice.finish_reason
    return finish


class AnswerObserver:
    """Watches one answer's body; :meth:`feed` returns the texts each piece carried."""

    __slots__ = ("streaming", "_buffer", "_whole", "chunks", "usage", "finish_reason", "overflow")

    def __init__(self, *, streaming: bool) -> None:
        self.streaming = streaming
        self._buffer = b""
        self._whole: list[bytes] = []
        self.chunks = 0
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.overflow = False

    def feed(self, piece: bytes) -> list[str]:
        """The model text in ``piece`` (one item per chunk that carried any)."""
        if self.overflow:
            return []
        if not self.streaming:
            self._whole.append(piece)
            return []
        data = self._buffer + piece if self._buffer else piece
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        blocks = data.split(b"\n\n")
        self._buffer = blocks.pop()
        if len(self._buffer) > MAX_BUFFER_BYTES:
            self.overflow, self._buffer = True, b""
        out: list[str] = []
        for block in blocks:
            for line in block.split(b"\n"):
                if line[:5] != b"data:":
                    continue  # comments, event names, ids: not model output
                payload = line[5:].strip()
                if not payload or payload == b"[DONE]":
                    continue
                self._chunk(payload, out)
        return out

    def finish(self) -> list[str]:
        """The texts of a whole (non-streamed) answer, read once its body is complete."""
        if self.streaming or self.overflow:
            return []
        body = b"".join(self._whole)
        self._whole = []
        out: list[str] = []
        if len(body) <= MAX_BUFFER_BYTES:
            self._chunk(body, out)
        return ["".join(out)] if out else []

    def _chunk(self, payload: bytes, out: list[str]) -> None:
        try:
            chunk = _DECODER.decode(payload)
        except (msgspec.MsgspecError, RecursionError):
            return
        self.chunks += 1
        finish = _texts(chunk, out)
        if finish:
            self.finish_reason = finish
        if chunk.usage:
            self.usage = chunk.usage

    def tokens(self, key: str) -> int | None:
        value = (self.usage or {}).get(key)
        return value if type(value) is int and 0 <= value < 2**63 else None


def prompt_of(body: bytes) -> tuple[str, str, bool]:
    """(problem, prompt_text, stream) of a chat or completions request body.

    ``problem`` is what a person reads in a table: the last user message (or
    the prompt); ``prompt_text`` is every message, as JSON, so a replay sees
    exactly what the model was asked.
    """
    try:
        request = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return "", "", False
    if not isinstance(request, dict):
        return "", "", False
    stream = request.get("stream") is True
    messages = request.get("messages")
    if isinstance(messages, list):
        problem = ""
        for message in messages:
            if isinstance(message, dict) and message.get("role") == "user":
                problem = _content_text(message.get("content"))
        return problem, json.dumps(messages, ensure_ascii=False), stream
    prompt = request.get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(p for p in prompt if isinstance(p, str))
    text = prompt if isinstance(prompt, str) else ""
    return text, text, stream


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
