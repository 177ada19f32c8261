"""An HTTP/1.1 transport for httpx that keeps connections alive and hands a body over per socket read.

Why ipw carries its own transport under the httpx API (``handle_request`` is
httpx's one-method extension point): httpx's default pool holds 100
connections, so ``--max-concurrency 256`` ran 100 streams; and its h11 parser
turns every chunk of a chunked body into Python events, one per streamed
token, which was most of ipw's CPU per token. This transport has each
response parsed by llhttp (:mod:`._http_parser`, through ``httptools``, a C
parser that is strict about framing) and gives the body to httpx one socket
read at a time (many tokens per piece).

- The pool is unbounded: the runner bounds how many requests are in flight,
  so exactly that many connections are opened, however many that is.
- A connection returns to the pool only once its body was read to the end
  and nothing came after it; a response closed early closes its socket (the
  rest would be misread).
- A reused connection the server has closed meanwhile is noticed before
  sending, or when it ends before a single response byte, and the request
  goes once more on a new connection.
- A request may carry a deadline for the whole answer and a cap on its
  bytes (the request extensions ``deadline_s`` and ``max_bytes``, or the
  same arguments to :meth:`PooledTransport.send`), checked at every socket
  read (so a server that only sends keep-alive comments, or trickles a byte
  at a time, is still cut off): past them it raises :class:`DeadlinePassed`
  or :class:`BodyTooLarge`.
- :meth:`PooledTransport.close` also ends the requests in flight (their
  sockets are shut down), so a thread blocked on a silent server wakes up.

It does what a streaming client needs and no more: HTTP/1.1 over TCP or TLS,
no proxies, no HTTP/2. Errors are httpx's own exception types, so a client
maps them as it maps httpx's.
"""

from __future__ import annotations

import math
import select
import socket
import ssl
import threading
import time
from typing import Iterator

import httpx

from ._http_parser import ResponseParser

__all__ = ["BodyTooLarge", "DeadlinePassed", "PooledTransport", "RawResponse", "endpoint_key"]

_RECV_BYTES = 256 * 1024


class _ClosedEarly(Exception):
    """The connection ended before the first byte of a response: safe to send again."""


class DeadlinePassed(httpx.ReadTimeout):
    """The answer was still coming when the deadline given to :meth:`PooledTransport.send` passed."""


class BodyTooLarge(httpx.RemoteProtocolError):
    """The answer went on past the byte cap given to :meth:`PooledTransport.send`."""


class _Connection:
    __slots__ = ("sock", "key", "used", "busy", "deadline", "read_timeout_s", "bytes_left")

    def __init__(self, sock: socket.socket, key: tuple[str, str, int], busy: set["_Connection"]) -> None:
        self.sock = sock
        self.key = key
        self.used = False
        self.busy = busy  # the transport's connections in use, which its close() shuts down
        self.deadline: float | None = None  # time.monotonic() at which this exchange is given up
        self.read_timeout_s = math.inf
        self.bytes_left = math.inf

    def limit(self, deadline: float | None, read_timeout_s: float | None, max_bytes: int | None) -> None:
        """Bound this exchange: every read from now on stops at ``deadline`` and after ``max_bytes`` in all."""
        self.deadline = deadline
        self.read_timeout_s = math.inf if read_timeout_s is None else read_timeout_s
        self.bytes_left = math.inf if max_bytes is None else max_bytes

    def recv(self) -> bytes:
        deadline = self.deadline
        if deadline is not None:
            # one clock read per socket read (not per token): the socket's own timeout becomes
            # the time left once that is shorter, so even a server that sends nothing is cut off
            left_s = deadline - time.monotonic()
            if left_s < self.read_timeout_s:
                if left_s <= 0:
                    raise DeadlinePassed("the answer was still coming at its deadline")
                self.sock.settimeout(left_s)
        try:
            data = self.sock.recv(_RECV_BYTES)
        except socket.timeout:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlinePassed("the answer was still coming at its deadline") from None
            raise
        self.bytes_left -= len(data)
        if self.bytes_left < 0:
            raise BodyTooLarge("the answer went on past its byte cap")
        return data

    def close(self) -> None:
        self.busy.discard(self)
        try:
            self.sock.close()
        except OSError:
            pass

    def interrupt(self) -> None:
        """Wake a thread blocked reading this connection (it then sees the connection end)."""
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the raw socket's: no TLS goodbye from this thread
        except OSError:
            pass

    def stale(self) -> bool:
        """Whether an idle connection has been closed (or spoken on) by the server."""
        fd = self.sock.fileno()
        if fd < 0:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])  # pragma: no cover - Windows


class PooledTransport(httpx.BaseTransport):
    """Keep-alive HTTP/1.1 connections, as many as requests in flight; see the module docstring."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()  # checked out; set.add/discard need no lock under the GIL
        self._lock = threading.Lock()
        self._ssl_context = ssl_context
        self._closed = False
        self.connections_opened = 0  # for benchmarks and tests: how many TCP connections were made

    # -- the httpx extension point ---------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the response is read up to the end of its head, its body as it comes.

        The extensions ``deadline_s`` (from now to the answer's last byte) and
        ``max_bytes`` (head included) bound the answer; see the module docstring.
        """
        key = endpoint_key(request.url)
        extensions = request.extensions
        deadline_s = extensions.get("deadline_s")
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        raw = self._exchange(key, _request_head(request), request.read(), extensions.get("timeout", {}), request,
                             head_only=request.method == "HEAD", deadline=deadline,
                             max_bytes=extensions.get("max_bytes"))
        return raw.to_httpx(request)

    # -- without httpx's objects --------------------------------------------
    def send(self, key: tuple[str, str, int], head: bytes, body: bytes, timeouts: dict[str, float | None], *,
             deadline_s: float | None = None, max_bytes: int | None = None) -> "RawResponse":
        """Send a request already encoded (``head``: request line and headers, blank line included) to
        ``key`` = (scheme, host, port); the response is read up to the end of its head.

        What :meth:`handle_request` does, without building an ``httpx.Request``
        and ``httpx.Response`` per request (a streaming client's per-query
        cost). Failures are the same httpx exceptions, without a request.
        ``deadline_s`` bounds the whole answer, from now to its last byte
        (:class:`DeadlinePassed`); ``max_bytes`` bounds what is read of it,
        head included (:class:`BodyTooLarge`).
        """
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        return self._exchange(key, head, body, timeouts, None, head_only=False, deadline=deadline,
                              max_bytes=max_bytes)

    def _exchange(self, key: tuple[str, str, int], head: bytes, body: bytes, timeouts: dict[str, float | None],
                  request: httpx.Request | None, *, head_only: bool, deadline: float | None = None,
                  max_bytes: int | None = None) -> "RawResponse":
        for attempt in (1, 2):
            conn = self._checkout(key, timeouts, request)
            self._busy.add(conn)
            if self._closed:  # closed while this request was on its way: it is not sent
                conn.close()
                raise httpx.ReadError("the client was closed", request=request)
            reused = conn.used
            conn.limit(deadline, timeouts.get("read"), max_bytes)
            try:
                conn.sock.settimeout(timeouts.get("write"))
                conn.sock.sendall(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    conn.sock.sendall(body)
                read_timeout = timeouts.get("read")
                if read_timeout != timeouts.get("write"):
                    conn.sock.settimeout(read_timeout)
                parser = _read_head(conn, request, head_only)
            except _ClosedEarly:
                conn.close()
                if reused and attempt == 1:
                    continue  # the server had closed a kept-alive connection; it never saw this request
                raise httpx.RemoteProtocolError("the server closed the connection without answering", request=request)
            except socket.timeout as exc:
                conn.close()
                raise httpx.ReadTimeout(f"timed out: {exc}", request=request) from exc
            except OSError as exc:
                conn.close()
                if reused and attempt == 1 and isinstance(exc, (ConnectionResetError, BrokenPipeError)):
                    continue
                raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
            except BaseException:
                conn.close()
                raise
            conn.used = True
            return RawResponse(parser, _BodyStream(self, conn, parser, request))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the idle connections, and end the requests in flight: a reader blocked on a silent
        server wakes to a closed connection (how a run that is stopping lets go of its queries)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
        for conn in list(self._busy):
            conn.interrupt()

    # -- the pool ---------------------------------------------------------
    def _checkout(self, key: tuple[str, str, int], timeouts: dict[str, float | None],
                  request: httpx.Request | None) -> _Connection:
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None:
                return self._connect(key, timeouts, request)
            if conn.stale():
                conn.close()
                continue
            return conn

    def _checkin(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        with self._lock:
            if not self._closed:
                self._idle.setdefault(conn.key, []).append(conn)
                return
        conn.close()

    def _connect(self, key: tuple[str, str, int], timeouts: dict[str, float | None],
                 request: httpx.Request | None) -> _Connection:
        scheme, host, port = key
        try:
            sock = socket.create_connection((host, port), timeout=timeouts.get("connect"))
        except socket.timeout as exc:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{exc.strerror or exc} ({host}:{port})", request=request) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            try:
                sock = self._tls().wrap_socket(sock, server_hostname=host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                raise httpx.ConnectError(f"TLS with {host}:{port} failed: {exc}", request=request) from exc
        self.connections_opened += 1
        return _Connection(sock, key, self._busy)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            try:
                import certifi

                self._ssl_context = ssl.create_default_context(cafile=certifi.where())
            except ImportError:  # pragma: no cover - certifi comes with httpx
                self._ssl_context = ssl.create_default_context()
        return self._ssl_context


class RawResponse:
    """A response read up to the end of its head; the body is :meth:`pieces`, one socket read each."""

    __slots__ = ("status", "headers", "version", "reason", "_stream")

    def __init__(self, parser: "ResponseParser", stream: httpx.SyncByteStream) -> None:
        self.status: int = parser.status
        self.headers: list[tuple[bytes, bytes]] = parser.headers
        self.version: bytes = parser.version
        self.reason: bytes = parser.reason
        self._stream = stream

    @classmethod
    def of(cls, response: httpx.Response) -> "RawResponse":
        """The same, for a response another httpx transport made (its body not read yet)."""
        raw = cls.__new__(cls)
        raw.status, raw.headers = response.status_code, list(response.headers.raw)
        raw.version = response.extensions.get("http_version") or b"HTTP/1.1"
        raw.reason = response.extensions.get("reason_phrase") or b""
        raw._stream = response.stream  # type: ignore[assignment]
        return raw

    def header(self, name: bytes) -> bytes | None:
        """The first value of the header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def pieces(self) -> Iterator[bytes]:
        """The body as it arrives: what one socket read brought, the framing taken off."""
        return iter(self._stream)

    def close(self) -> None:
        """Give up the rest of the body (the connection is closed unless the body was read to its end)."""
        self._stream.close()

    def to_httpx(self, request: httpx.Request | None = None) -> httpx.Response:
        """The same response as an ``httpx.Response`` (content decoding, ``read``, ``text`` …)."""
        return httpx.Response(self.status, headers=self.headers, stream=self._stream, request=request,
                              extensions={"http_version": self.version, "reason_phrase": self.reason})


class _BodyStream(httpx.SyncByteStream):
    """A response body, one socket read per piece; gives the connection back when read to the end."""

    def __init__(self, transport: PooledTransport, conn: _Connection, parser: "ResponseParser",
                 request: httpx.Request | None) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._parser = parser
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        parser = self._parser
        try:
            while True:
                piece = parser.take()
                if piece:
                    yield piece
                if parser.done:
                    break
                data = conn.recv()
                if not data:
                    if parser.ends_at_close:
                        break  # a body without a length ends when the server closes
                    raise httpx.RemoteProtocolError("the server closed the connection mid-body", request=self._request)
                parser.feed(data)
        except socket.timeout as exc:
            self.close()
            raise httpx.ReadTimeout(f"timed out: {exc}", request=self._request) from exc
        except OSError as exc:
            self.close()
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=self._request) from exc
        except BaseException:
            self.close()
            raise
        self._conn = None
        if parser.reusable:
            self._transport._checkin(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()  # not read to the end: what is left would be taken for the next response


def endpoint_key(url: httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, the default port filled in: what the pool keeps connections by."""
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def _request_head(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _read_head(conn: _Connection, request: httpx.Request | None, head_only: bool) -> ResponseParser:
    """The next (non-1xx) response on ``conn``, parsed up to the end of its head (and what came with it)."""
    parser = ResponseParser(request, head_only=head_only)
    got_any = False
    while not parser.head_done:
        data = conn.recv()
        if not data:
            if not got_any:
                raise _ClosedEarly()
            raise httpx.RemoteProtocolError("the server closed the connection mid-head", request=request)
        got_any = True
        parser.feed(data)
    return parser
