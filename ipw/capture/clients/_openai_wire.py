"""The OpenAI streaming wire format: server-sent events of JSON chunks, read strictly.

Everything here turns bytes the server sent into values or into a
``ServerResponseError``; nothing here does I/O. :func:`sse_runs` is the whole
state machine of an answer: body pieces in, a ``ChunkRun`` per socket read
out, and what the stream said (usage, finish reason, ``[DONE]``) kept in an
:class:`Answer`.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

import msgspec

from ...errors import ServerResponseError
from .base import Chunk, ChunkRun, Completion, client_error, excerpt, finish_reason_text

__all__ = [
    "CHUNK_DECODER",
    "MAX_EVENT_BYTES",
    "Answer",
    "StreamChunk",
    "check_ended",
    "json_answer",
    "json_body",
    "lenient_chunk",
    "plain_chunks",
    "sse_events",
    "sse_runs",
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
MAX_EVENT_BYTES = 16 * 1024 * 1024  # one server-sent event; a body with no event boundary is garbage past this


def sse_events(pieces: Iterable[bytes]) -> Iterator[tuple[str, bytes]]:
    """``(event, data)`` pairs of a server-sent-events body given as bytes pieces; garbage raises.

    Pieces may split an event anywhere (even a CRLF). The common event, one
    ``data:`` line, takes one split and one slice; anything else goes through
    the full line grammar.
    """
    rest = b""
    for piece in pieces:
        data = rest + piece if rest else piece
        held = b""
        if b"\r" in data:
            if data.endswith(b"\r"):
                data, held = data[:-1], b"\r"  # it may be the first half of a CRLF
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        blocks = data.split(b"\n\n")
        rest = blocks.pop() + held
        if len(rest) > MAX_EVENT_BYTES:
            raise garbage(f"an event longer than {MAX_EVENT_BYTES} bytes")
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:
                yield "message", block[6:]
            elif block:
                yield from _sse_block(block)
    rest = rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if rest.strip(b"\n"):
        yield from _sse_block(rest)


def _sse_block(block: bytes) -> Iterator[tuple[str, bytes]]:
    event, data = "message", []
    for line in block.split(b"\n"):
        if not line or line[:1] == b":":
            continue  # a blank line left by a split, or an SSE comment used as a keep-alive
        field, _, value = line.partition(b":")
        value = value[1:] if value[:1] == b" " else value
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace")
        elif field in (b"id", b"retry"):
            continue
        else:
            raise garbage(f"not a server-sent-events line: {excerpt(line.decode('utf-8', 'replace'))}")
    if data:
        yield event, b"\n".join(data)


# gc=False: decoded JSON holds no reference cycles, and untracked structs spare the
# cycle collector (which 64 threads' worth of per-token objects otherwise keep busy)
class _Delta(msgspec.Struct, gc=False):
    content: str | None = None


class _Choice(msgspec.Struct, gc=False):
    delta: _Delta | None = None
    text: str | None = None
    finish_reason: str | None = None


class StreamChunk(msgspec.Struct, gc=False):
    """The usual shape of one streamed chunk (chat or completions); unknown fields are skipped.

    A chunk that does not fit (a choice that is not an object, a number where
    text belongs, an ``error`` member …) fails to decode and is read by the
    lenient dict path instead, so odd servers are judged exactly as before.
    """

    choices: list[_Choice] | None = None
    usage: dict[str, Any] | None = None
    error: Any = msgspec.UNSET


CHUNK_DECODER = msgspec.json.Decoder(StreamChunk)
_DONE_EVENT = b"data: [DONE]\n\n"
_NEXT_EVENT = b"\n\ndata: "


def plain_chunks(region: bytes) -> tuple[list[StreamChunk], bool] | None:
    """The chunks of ``region`` decoded in one call, and whether it ends with ``[DONE]``; or None.

    ``region`` is whole events with LF line ends, ending in a blank line. When
    every event in it is one ``data: `` line holding a JSON value, and only
    the last may be ``[DONE]``, the values are put one per line and decoded
    at once as newline-delimited JSON (what a server that streams faster than
    one event per socket read sends). Anything else gives None, and the
    caller reads the region event by event with :func:`sse_events`, which
    knows the whole grammar; so this decides nothing about what is valid, it
    only takes the common case faster.
    """
    done = region.endswith(_DONE_EVENT)
    if done:
        region = region[: -len(_DONE_EVENT)]
        if not region:
            return [], True
    if region[:6] != b"data: ":
        return None
    lines = region.replace(_NEXT_EVENT, b"\n")
    n = (len(region) - len(lines)) // (len(_NEXT_EVENT) - 1) + 1  # each join is 7 bytes shorter
    # the n - 1 joins and the closing blank line are every line feed: each event is exactly one line
    if lines.count(b"\n") != n + 1:
        return None
    try:
        chunks = CHUNK_DECODER.decode_lines(memoryview(lines)[6:])
    except (msgspec.MsgspecError, RecursionError):
        return None
    # a line holding only blanks would be skipped: the count must match
    return (chunks, done) if len(chunks) == n else None


# Chunk(text) runs NamedTuple's Python-level __new__; building the tuple directly
# is the same value at a third of the cost, once per streamed token
_new_tuple = tuple.__new__


class Answer:
    """What a stream has said so far: usage, finish reason, texts and events counted, whether [DONE] came."""

    __slots__ = ("usage", "finish_reason", "n_chunks", "n_events", "done")

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self.finish_reason: Any = None  # as the server sent it; the runner normalises it
        self.n_chunks = 0
        self.n_events = 0
        self.done = False


def sse_runs(pieces: Iterator[bytes], api: str, answer: Answer) -> Iterator[ChunkRun | Chunk]:
    """The texts of a server-sent-events body: a ``ChunkRun`` per body piece, ``answer`` kept up to date.

    Each piece (one socket read) is cut after its last whole event. Whole
    events that are all plain ``data:`` chunks of the usual shape are decoded
    in one call (:func:`plain_chunks`); any other region is read event by
    event, each odd chunk judged by :func:`lenient_chunk`. It stops at
    ``[DONE]``, leaving the rest of ``pieces`` unread (the caller drains it);
    whether the answer is whole is :func:`check_ended`'s to say.
    """
    chat = api == "chat"
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
            run = _plain_run(region, answer, chat)
            if run is None:
                yield from _events(sse_events((region,)), answer, api)
            elif run:
                yield run
            if answer.done:
                return
        if len(rest) > MAX_EVENT_BYTES:
            raise garbage(f"an event longer than {MAX_EVENT_BYTES} bytes")
    if rest:  # the last event may end without its blank line
        yield from _events(sse_events((rest,)), answer, api)


def check_ended(answer: Answer) -> None:
    """Raise unless the stream sent events and ended as a whole answer ends: ``[DONE]`` or a finish reason."""
    if answer.n_events == 0:
        raise garbage("the server sent no events")
    if not answer.done and answer.finish_reason is None:
        raise client_error(
            ServerResponseError,
            "the stream ended before the server finished the answer (no finish_reason, no [DONE])",
            retryable=True,
            hint="the server may have crashed or dropped the connection; check its log",
        )


def _plain_run(region: bytes, answer: Answer, chat: bool) -> ChunkRun | None:
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


def _events(events: Iterable[tuple[str, bytes]], answer: Answer, api: str) -> Iterator[Chunk]:
    """Events read one at a time, each chunk of an odd shape judged by the lenient path; a ``Chunk`` per text."""
    decode = CHUNK_DECODER.decode
    chat = api == "chat"
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
            chunk_usage, text, finish = lenient_chunk(event, data, api)
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


def lenient_chunk(event: str, data: bytes, api: str) -> tuple[dict[str, Any] | None, str, str | None]:
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
        text = choice_text(choice, api)
        if choice.get("finish_reason"):
            finish = choice["finish_reason"]  # as sent: the runner normalises it (a dict is not repr'd)
    return usage, text, finish


def json_answer(text: str, api: str) -> Iterator[Chunk | Completion]:
    """The answer of a server that ignored ``stream: true`` and sent one JSON object."""
    obj = json_object(text)
    if "error" in obj:
        raise stream_error(obj["error"])
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise garbage(f"JSON answer without choices: {excerpt(text)}")
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content") if api == "chat" else choice.get("text")
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else None
    if content:
        n_tokens = usage_count(usage.get("completion_tokens")) if usage else None
        yield Chunk(str(content), n_tokens if n_tokens else 1)
    yield completion_from_usage(usage, choice.get("finish_reason"), 1 if content else 0)


def json_body(body: dict[str, Any]) -> bytes:
    """A request body as compact UTF-8 JSON; NaN or infinity is refused (``ValueError``), as JSON has neither."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def json_object(text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # nesting deeper than Python's stack is garbage too
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
