"""A loopback OpenAI-compatible server that answers every completion with ' 4' and a finish reason.

Stands in for a well-behaved inference server where a test is about ipw's own
decisions (refusals, resume checks), not about a model.
"""

from __future__ import annotations

import contextlib
import http.server
import json
from typing import Iterator

from tests._servers import loopback_http


class _Completions(http.server.BaseHTTPRequestHandler):
    finish_reason: str | None = "stop"

    def log_message(self, *args: object) -> None:
        return

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(json.dumps({"object": "list", "data": [{"id": "m"}]}).encode(), "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        chunk = {"choices": [{"index": 0, "text": " 4", "finish_reason": self.finish_reason}]}
        self._send(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode(), "text/event-stream")


@contextlib.contextmanager
def completions_server(finish_reason: str | None = "stop") -> Iterator[str]:
    """Serve on 127.0.0.1 for the block; yields the base URL (``http://127.0.0.1:PORT/v1``).

    ``finish_reason=None`` ends every stream with ``[DONE]`` and no finish reason, as
    llama_cpp.server does to a stream that another request interrupts.
    """
    handler = type("Completions", (_Completions,), {"finish_reason": finish_reason})
    with loopback_http(handler) as url:
        yield url
