"""A loopback OpenAI-compatible server that plays a script of tool calls, streamed as real servers stream them.

Stands in for a model that calls tools (a real small model does not reliably
follow a tool protocol, and a test must know which turn does what). Each
task's script is found by a ``[script:NAME]`` tag in the conversation's user
message; the turn is the number of assistant messages in the request. A
turn is ``("tools", [(name, arguments), ...])``, ``("say", text)`` or
``("stall",)``: no answer until ``release`` is set (the test kills ipw first).

Each tool call streams the way OpenAI and vLLM stream it: a first piece
with the call's ``index``, ``id`` and ``function.name``, then the JSON
arguments a few characters per chunk; with two calls in one turn their
pieces interleave. Every chunk goes out as its own HTTP chunk, flushed.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
from typing import Any, Iterator

from tests._servers import loopback_http

Turn = tuple[Any, ...]


class ScriptedServer:
    """The scripts, the requests seen, and the events a test waits on."""

    def __init__(self, scripts: dict[str, list[Turn]]) -> None:
        self.scripts = scripts
        self.requests: list[dict[str, Any]] = []
        self.stalled = threading.Event()  # a stall turn was reached
        self.release = threading.Event()
        self.stall_once = True  # after one stall, later stalls of the same turn answer with "say done"
        self._stalled_before: set[tuple[str, int]] = set()
        self.lock = threading.Lock()

    def turn_for(self, body: dict[str, Any]) -> tuple[str, int, Turn]:
        messages = body.get("messages") or []
        user = next(m["content"] for m in messages if m.get("role") == "user")
        name = re.search(r"\[script:([\w-]+)\]", user).group(1)  # type: ignore[union-attr]
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        script = self.scripts[name]
        return name, turn + 1, script[min(turn, len(script) - 1)]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def tool_call_chunks(calls: list[tuple[str, str]], piece_chars: int = 7) -> list[bytes]:
    """The chunks of a turn that calls ``calls``: heads first, then argument pieces interleaved by index."""
    out = [_chunk({"role": "assistant", "content": None})]
    pieces = []
    for index, (name, arguments) in enumerate(calls):
        out.append(_chunk({"tool_calls": [{"index": index, "id": f"call_{index}_{name}", "type": "function",
                                           "function": {"name": name, "arguments": ""}}]}))
        pieces.append([arguments[i:i + piece_chars] for i in range(0, len(arguments), piece_chars)])
    for step in range(max(len(p) for p in pieces)):
        for index, parts in enumerate(pieces):
            if step < len(parts):
                out.append(_chunk({"tool_calls": [{"index": index, "function": {"arguments": parts[step]}}]}))
    out.append(_chunk({}, "tool_calls"))
    return out


def _handler(server: ScriptedServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [{"id": "scripted"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with server.lock:
                server.requests.append(body)
                name, turn, step = server.turn_for(body)
                if step[0] == "stall" and server.stall_once and (name, turn) in server._stalled_before:
                    step = ("say", "done")
                server._stalled_before.add((name, turn))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if step[0] == "stall":
                self._write_chunk(_chunk({"role": "assistant", "content": ""}))
                server.stalled.set()
                server.release.wait(120)
                return
            if step[0] == "tools":
                chunks = tool_call_chunks(step[1])
            else:
                text = step[1]
                chunks = [_chunk({"role": "assistant", "content": ""})]
                chunks += [_chunk({"content": text[i:i + 3]}) for i in range(0, len(text), 3)]
                chunks.append(_chunk({}, "stop"))
            for chunk in chunks:
                self._write_chunk(chunk)
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


@contextlib.contextmanager
def scripted_server(server: ScriptedServer) -> Iterator[str]:
    """Serve ``server``'s scripts on 127.0.0.1 for the block; yields the base URL."""
    with loopback_http(_handler(server)) as url:
        try:
            yield url
        finally:
            server.release.set()
