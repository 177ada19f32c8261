"""A small OpenAI-compatible stub server on loopback that answers well or with hostile bodies.

It stands in for "a server that misbehaves": the real llama_cpp.server never
sends a body nested 100,000 deep or a multi-gigabyte error, so these cases
need a server written to do exactly that. ``GET /v1/models`` always answers,
so a run's pre-flight health check passes and the hostile part comes at the
completion request.

Modes (``HostileServer(mode)``):

    ok            a short SSE completion: "4", finish_reason "stop", [DONE]
    deep-error    HTTP 500 whose JSON body is nested ``DEPTH`` deep
    huge-error    HTTP 500 declaring ``HUGE_BYTES`` of body, sent until the client hangs up
    huge-json     HTTP 200 JSON (a server that ignored ``stream: true``) of ``HUGE_BYTES``, sent until the client hangs up
    deep-sse      HTTP 200 SSE whose data line is JSON nested ``DEPTH`` deep
    binary-sse    HTTP 200 SSE whose data is bytes that are not UTF-8
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from tests._servers import StubHandler, loopback_http

DEPTH = 100_000
HUGE_BYTES = 256 * 1024**2
_CHUNK = b"x" * (1024 * 1024)


def _ok_sse() -> bytes:
    events = [
        {"choices": [{"index": 0, "text": "4", "finish_reason": None}]},
        {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]},
    ]
    return ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()


def _deep(depth: int = DEPTH) -> bytes:
    return b'{"error": ' + b"[" * depth + b"]" * depth + b"}"


class _Handler(StubHandler):
    mode = "ok"
    server_state: dict[str, Any] = {}
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.read_body()
        self.server_state["posts"] = self.server_state.get("posts", 0) + 1
        try:
            if self.mode == "ok":
                self.send_whole(200, "text/event-stream", _ok_sse())
            elif self.mode == "deep-error":
                self.send_whole(500, "application/json", _deep())
            elif self.mode == "deep-sse":
                self.send_whole(200, "text/event-stream", b"data: " + _deep() + b"\n\n")
            elif self.mode == "binary-sse":
                self.send_whole(200, "text/event-stream", b"data: \xff\xfe\x80{\xc3(\n\n")
            elif self.mode in ("huge-error", "huge-json"):
                self.send_response(500 if self.mode == "huge-error" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(HUGE_BYTES))
                self.end_headers()
                sent = 0
                while sent < HUGE_BYTES:
                    self.wfile.write(_CHUNK)
                    sent += len(_CHUNK)
                    self.server_state["sent"] = max(self.server_state.get("sent", 0), sent)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading, as it should


class HostileServer:
    """``with HostileServer("deep-error") as url:`` a base URL ending in ``/v1``; ``.state`` counts what happened."""

    def __init__(self, mode: str) -> None:
        self.state: dict[str, Any] = {}
        self._handler = type("H", (_Handler,), {"mode": mode, "server_state": self.state})
        self._serving = contextlib.ExitStack()

    def __enter__(self) -> str:
        # a client that hung up mid-body is the point of some modes, not news for stderr
        return self._serving.enter_context(loopback_http(self._handler, quiet_errors=True))

    def __exit__(self, *exc: object) -> None:
        self._serving.close()


def record_against(mode: str, out_dir: Path, queries: int) -> Any:
    """``ipw record`` (in process, through the CLI's error boundary) of ``queries`` queries against a
    ``HostileServer(mode)``, no retries, no energy, into ``out_dir/r``; returns the CLI result."""
    from tests.conftest import run_cli

    with HostileServer(mode) as url:
        return run_cli("record", "--client", "openai", "--client-base-url", url, "--model", "m",
                       "--client-param", "api=completions", "--client-param", "usage_fallback=count",
                       "--output-dir", str(out_dir), "--run-name", "r", "--max-queries", str(queries),
                       "--max-retries", "0", "--energy", "none")
