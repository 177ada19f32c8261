"""A small OpenAI-compatible streaming server on 127.0.0.1, slow on purpose.

It stands in for ``python -m llama_cpp.server`` where a test needs a capture
that runs for a few seconds at a known pace (two writers overlapping) rather
than real tokens: every answer is ``chunks`` SSE chunks ``delay_s`` apart,
and the text is always ``"4"`` so deterministic scorers have something to judge.

    with openai_stub(delay_s=0.02) as stub:   # stub.base_url: "http://127.0.0.1:PORT/v1"
        stub.hold(after=4)   # four answers go through; later ones wait, keeping a capture alive and idle
        stub.release()
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

__all__ = ["OpenAIStub", "openai_stub"]


class OpenAIStub:
    """The running stub: where it listens, how many answers it began, and a gate that can hold them."""

    def __init__(self) -> None:
        self.base_url = ""
        self.started = 0
        self._count = threading.Lock()
        self._hold_from: int | None = None
        self._gate = threading.Event()

    def hold(self, *, after: int = 0) -> None:
        """Let ``after`` more answers through, then hold every later one until :meth:`release`."""
        with self._count:
            self._hold_from = self.started + after
            self._gate.clear()

    def release(self) -> None:
        with self._count:
            self._hold_from = None
            self._gate.set()

    def wait_at_gate(self) -> None:
        with self._count:
            self.started += 1
            held = self._hold_from is not None and self.started > self._hold_from
        if held:
            self._gate.wait(timeout=120)


def _handler(stub: OpenAIStub, delay_s: float, chunks: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

        def _send_json(self, obj: object) -> None:
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send_json({"object": "list", "data": [{"id": "stub", "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            chat = self.path.endswith("/chat/completions")
            stub.wait_at_gate()
            if not request.get("stream"):
                self._send_json({"choices": [{"text": "4", "message": {"content": "4"}, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def event(obj: object) -> None:
                data = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            for i in range(chunks):
                time.sleep(delay_s)
                text = "4" if i == 0 else " "
                choice = {"index": 0, "delta": {"content": text}} if chat else {"index": 0, "text": text}
                choice["finish_reason"] = "stop" if i == chunks - 1 else None
                event({"choices": [choice]})
            event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": chunks}})
            event("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client killed mid-answer (the tests do that on purpose) is not news


@contextlib.contextmanager
def openai_stub(*, delay_s: float = 0.02, chunks: int = 5) -> Iterator[OpenAIStub]:
    """Serve on a free loopback port until the block ends."""
    stub = OpenAIStub()
    server = _Server(("127.0.0.1", 0), _handler(stub, delay_s, chunks))
    thread = threading.Thread(target=server.serve_forever, name="openai-stub", daemon=True)
    thread.start()
    try:
        stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        yield stub
    finally:
        stub.release()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
