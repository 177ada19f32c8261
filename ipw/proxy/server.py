"""The proxy's HTTP side: an HTTP/1.1 server for the agent, the harness's transport to the upstream.

One thread per agent connection (keep-alive, requests parsed by llhttp
through ``httptools``). Each request goes upstream through
:class:`~ipw.capture.clients._http.PooledTransport` (kept-alive connections,
a body handed over one socket read at a time) and each piece of the answer is
written to the agent as soon as it is read, unchanged: only the framing is the
proxy's own (a chunk per piece, or the upstream's Content-Length). The
``X-IPW-*`` headers and a ``/task/<id>`` prefix are taken off; every other
header goes as sent, credentials included (they are registered secrets, so no
event or message carries them). ``POST /v1/chat/completions`` and ``POST
/v1/completions`` are recorded (see :mod:`.record`); every other path passes
through unrecorded. ``POST /ipw/task/<id>/finish`` with ``{"outcome": ...,
"message": ...}`` ends a task and is answered by the proxy itself.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import httptools
import httpx

from ..capture.clients._http import PooledTransport
from ..secrets import register
from .record import CallRecorder, RecordedCall
from .tasks import clean_task_id, task_from_path

__all__ = ["ProxyServer", "RECORDED_PATHS"]

RECORDED_PATHS = frozenset({"/v1/chat/completions", "/v1/completions"})
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
                  b"upgrade", b"host", b"content-length"})
_SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"x-api-key", b"api-key", b"cookie"})
_TIMEOUTS = {"connect": 10.0, "read": 600.0, "write": 60.0, "pool": None}


class _Request:
    __slots__ = ("url", "headers", "body", "method", "keep_alive")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.method = b""
        self.keep_alive = True

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None


class _RequestReader:
    """Requests off one agent connection, parsed by llhttp; a size past the caps ends the connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ready: list[_Request] = []
        self.current: _Request | None = None
        self.size = 0
        self.parser = httptools.HttpRequestParser(self)

    def next(self) -> _Request | None:
        while not self.ready:
            data = self.sock.recv(256 * 1024)
            if not data:
                return None
            self.size += len(data)
            if self.size > MAX_HEAD_BYTES + MAX_BODY_BYTES:
                return None
            self.parser.feed_data(data)
        return self.ready.pop(0)

    def on_message_begin(self) -> None:
        self.current, self.size = _Request(), 0

    def on_url(self, url: bytes) -> None:
        self.current.url += url  # type: ignore[union-attr]

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name, value))  # type: ignore[union-attr]

    def on_headers_complete(self) -> None:
        self.current.method = self.parser.get_method()  # type: ignore[union-attr]
        self.current.keep_alive = self.parser.should_keep_alive()  # type: ignore[union-attr]

    def on_body(self, body: bytes) -> None:
        self.current.body.append(body)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        self.ready.append(self.current)  # type: ignore[arg-type]


class ProxyServer:
    """Listens for the agent on ``host:port`` and forwards to ``upstream``; :meth:`serve` until ``stop``."""

    def __init__(self, upstream: str, recorder: CallRecorder, *, host: str = "127.0.0.1", port: int = 0,
                 transport: PooledTransport | None = None) -> None:
        parts = urlsplit(upstream)
        self._key = (parts.scheme or "http", parts.hostname or "127.0.0.1",
                     parts.port or (443 if parts.scheme == "https" else 80))
        self._host_header = parts.netloc.rpartition("@")[2].encode("latin-1")
        prefix = parts.path.rstrip("/")
        self._prefix = prefix[:-3] if prefix.endswith("/v1") else prefix  # the agent's paths carry /v1
        self._recorder = recorder
        self._transport = transport or PooledTransport()
        self._listener = socket.create_server((host, port), backlog=1024, reuse_port=False)
        self._listener.settimeout(0.2)
        self._connections: set[socket.socket] = set()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return host, port

    def serve(self, stop: threading.Event) -> None:
        """Accept connections until ``stop`` is set (each served on a thread of its own)."""
        while not stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if stop.is_set():
                    return
                raise
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(None)
            self._connections.add(conn)
            threading.Thread(target=self._serve_connection, args=(conn,), name="ipw-proxy-conn", daemon=True).start()

    def close(self) -> None:
        """Stop listening, end the upstream requests in flight and the agents' connections."""
        self._listener.close()
        self._transport.close()
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- one connection ---------------------------------------------------
    def _serve_connection(self, conn: socket.socket) -> None:
        reader = _RequestReader(conn)
        try:
            while True:
                try:
                    request = reader.next()
                except (OSError, httptools.HttpParserError):
                    return
                if request is None or not self._handle(conn, request) or not request.keep_alive:
                    return
        finally:
            self._connections.discard(conn)
            conn.close()

    def _handle(self, conn: socket.socket, request: _Request) -> bool:
        """Answer one request; False when the connection cannot carry another."""
        target = request.url.decode("latin-1")
        path, _, query = target.partition("?")
        if request.method == b"POST" and path.startswith("/ipw/task/") and path.endswith("/finish"):
            return self._finish_task(conn, unquote(path[len("/ipw/task/"):-len("/finish")]), b"".join(request.body))
        path_task, path = task_from_path(path)
        header_task = clean_task_id(request.header(b"x-ipw-task") or "")
        outcome = request.header(b"x-ipw-task-outcome")
        body = b"".join(request.body)
        call: RecordedCall | None = None
        if request.method == b"POST" and path in RECORDED_PATHS:
            call = self._recorder.start(body, header_task=header_task, path_task=path_task)
        head = self._upstream_head(request, self._prefix + path + ("?" + query if query else ""), len(body), call)
        try:
            answer = self._transport.send(self._key, head, body, _TIMEOUTS)
        except httpx.HTTPError as exc:
            if call is not None:
                call.failed("UpstreamUnreachable", f"the upstream did not answer: {exc}", outcome)
            message = json.dumps({"error": {"message": "ipw proxy: the upstream did not answer", "type": "ipw_proxy"}})
            return _send_simple(conn, 502, message.encode())
        return self._relay(conn, request, answer, call, outcome)

    def _upstream_head(self, request: _Request, target: str, body_len: int, call: RecordedCall | None) -> bytes:
        lines = [request.method, b" ", target.encode("latin-1"), b" HTTP/1.1\r\nHost: ", self._host_header, b"\r\n"]
        for name, value in request.headers:
            lname = name.lower()
            if lname in _HOP or lname.startswith(b"x-ipw-"):
                continue
            if lname in _SECRET_HEADERS:
                register(value.decode("latin-1"), header=True)
            if call is not None and lname == b"accept-encoding":
                continue  # a recorded answer must be readable as it passes: identity, asked below
            lines += (name, b": ", value, b"\r\n")
        if call is not None:
            lines.append(b"Accept-Encoding: identity\r\n")
        if body_len or request.method in (b"POST", b"PUT", b"PATCH"):
            lines += (b"Content-Length: ", str(body_len).encode(), b"\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

    def _relay(self, conn: socket.socket, request: _Request, answer: Any, call: RecordedCall | None,
               outcome: str | None) -> bool:
        length = answer.header(b"content-length")
        no_body = request.method == b"HEAD" or answer.status in (204, 304)
        # a recorded answer is always chunked: its terminator is held back until the call is durable
        chunked = not no_body and (call is not None or length is None)
        head = [b"HTTP/1.1 ", str(answer.status).encode(), b" ", answer.reason or b"OK", b"\r\n"]
        for name, value in answer.headers:
            if name.lower() not in _HOP:
                head += (name, b": ", value, b"\r\n")
        if chunked:
            head.append(b"Transfer-Encoding: chunked\r\n")
        elif length is not None:
            head += (b"Content-Length: ", length, b"\r\n")
        head.append(b"\r\n")
        if call is not None and answer.status >= 400:
            call.observer.streaming = False  # keep the error body whole, for the message
        held = b""  # a stream's closing [DONE]: an agent's SDK takes it as the end, so it waits for the record too
        try:
            try:
                conn.sendall(b"".join(head))
                for piece in answer.pieces():
                    if call is not None:
                        call.piece(piece)
                        if call.observer.streaming and piece.rstrip().endswith(b"[DONE]"):
                            held += piece
                            continue
                    if held:
                        piece, held = held + piece, b""
                    if chunked:
                        conn.sendall(b"%x\r\n%b\r\n" % (len(piece), piece))
                    else:
                        conn.sendall(piece)
            except httpx.HTTPError as exc:
                if call is not None:
                    call.failed("UpstreamFailed", f"the upstream's answer broke off: {exc}", outcome)
                return False  # the agent sees its answer end without a terminator
            if call is not None:
                call.finished(answer.status, outcome)
            if chunked:
                conn.sendall((b"%x\r\n%b\r\n" % (len(held), held) if held else b"") + b"0\r\n\r\n")
            return True
        except OSError:
            answer.close()
            if call is not None:
                call.failed("ClientDisconnected", "the agent closed its connection before the answer ended", outcome)
            return False

    def _finish_task(self, conn: socket.socket, raw_id: str, body: bytes) -> bool:
        task_id = clean_task_id(raw_id) or ""
        try:
            request = json.loads(body or b"{}")
        except (ValueError, RecursionError, UnicodeDecodeError):
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("outcome", "unknown"), str):
            return _send_simple(conn, 400, b'{"error": {"message": "expected {\\"outcome\\": \\"solved\\"|...}"}}')
        message = request.get("message")
        found = self._recorder.router.finish(task_id, request.get("outcome", "unknown"),
                                             message if isinstance(message, str) else "")
        if not found:
            return _send_simple(conn, 404, b'{"error": {"message": "no such task is open"}}')
        durable = threading.Event()
        self._recorder.writer.commit(durable.set)  # type: ignore[attr-defined]
        durable.wait(10.0)
        return _send_simple(conn, 200, json.dumps({"task_id": task_id, "finished": True}).encode())


def _send_simple(conn: socket.socket, status: int, body: bytes) -> bool:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 502: b"Bad Gateway"}.get(status, b"")
    try:
        conn.sendall(b"HTTP/1.1 %d %b\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
                     % (status, reason, len(body), body))
    except OSError:
        return False
    return True
