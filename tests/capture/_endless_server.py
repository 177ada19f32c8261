"""Loopback OpenAI-compatible servers whose answers never end, or never start, or sometimes fail.

They stand in for inference servers that misbehave in time rather than in
shape: the real llama_cpp.server stops at max_tokens and sends its last byte.
``GET /v1/models`` always answers, so a run's health check passes and the
misbehaviour comes at the completion request.

Modes (``endless_server(mode)``):

    comments   an SSE head, then a keep-alive comment every 0.2 s, forever
    tokens     an SSE stream of one-token chunks, forever (no finish reason, no [DONE])
    padding    an SSE stream of 64 KiB comments, as fast as the client reads, forever
    silent     an SSE head, then nothing until the test ends
    ok         a short, whole answer (" 4", finish_reason "stop", [DONE])
    error      HTTP 400 (not retried)

``endless_server("ok", every={2: "error"})`` answers the 2nd, 4th … completion
with another mode: one server for a run where some queries fail.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterator

from tests._servers import StubHandler, loopback_http, one_chunk_sse

_TOKEN = b'data: {"choices": [{"index": 0, "text": " x", "finish_reason": null}]}\n\n'
_PADDING = b":" + b" " * (64 * 1024) + b"\n\n"


class _Handler(StubHandler):
    # HTTP/1.0 and no Content-Length: the body runs until the server closes, as a stream may
    mode = "ok"
    every: dict[int, str] = {}
    state: dict[str, Any] = {}

    def do_POST(self) -> None:
        self.read_body()
        with self.state["lock"]:
            self.state["posts"] += 1
            n = self.state["posts"]
        mode = self.mode
        for period, other in self.every.items():
            if n % period == 0:
                mode = other
        if mode == "ok":
            return self.send_whole(200, "text/event-stream", one_chunk_sse(" 4", "stop"))
        if mode == "error":
            return self.send_whole(400, "application/json", b'{"error": {"message": "refused on purpose"}}')
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.flush()
        try:
            if mode == "silent":
                self.state["stop"].wait()
                return
            piece = {"comments": b": keep-alive\n\n", "tokens": _TOKEN * 8, "padding": _PADDING}[mode]
            while not self.state["stop"].is_set():
                self.wfile.write(piece)
                self.wfile.flush()
                self.state["bytes"] += len(piece)
                if mode == "comments":
                    time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on the answer, as it should


@contextlib.contextmanager
def endless_server(mode: str, every: dict[int, str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Serve ``mode`` on 127.0.0.1 for the block; yields (base URL ending in /v1, state: posts, bytes sent)."""
    state: dict[str, Any] = {"posts": 0, "bytes": 0, "lock": threading.Lock(), "stop": threading.Event()}
    handler = type("Endless", (_Handler,), {"mode": mode, "every": dict(every or {}), "state": state})
    try:
        with loopback_http(handler) as url:
            yield url, state
    finally:
        state["stop"].set()
