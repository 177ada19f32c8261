"""An HTTP/1.1 transport for httpx that keeps connections alive and hands a body over per socket read.

Why ipw carries its own transport under the httpx API (``handle_request`` is
httpx's one-method extension point): httpx's default pool holds 100
connections, so ``--max-concurrency 256`` ran 100 streams; and its h11 parser
turns every chunk of a chunked body into Python events, one per streamed
token, which was most of ipw's CPU per token. This transport has each
response parsed by llhttp (through ``httptools``, a C parser that is strict
about framing: a bad chunk size, Content-Length beside chunked encoding, two
Content-Lengths are all refused) and gives the body to httpx one socket read
at a time (many tokens per piece).

- The pool is unbounded: the runner bounds how many requests are in flight,
  so exactly that many connections are opened, however many that is.
- A connection returns to the pool only once its body was read to the end
  and nothing came after it; a response closed early closes its socket (the
  rest would be misread).
- A reused connection the server has closed meanwhile is noticed before
  sending, or when it ends before a single response byte, and the request
  goes once more on a new connection.

It does what a streaming client needs and no more: HTTP/1.1 over TCP or TLS,
no proxies, no HTTP/2. Errors are httpx's own exception types, so a client
maps them as it maps httpx's.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from typing import Iterator

import httptools
import httpx

__all__ = ["PooledTransport", "RawResponse"]

_MAX_HEAD_BYTES = 64 * 1024  # a response head larger than this is not a server we talk to
_RECV_BYTES = 256 * 1024


class _ClosedEarly(Exception):
    """The connection ended before the first byte of a response: safe to send again."""


class _Connection:
    __slots__ = ("sock", "key", "used")

    def __init__(self, sock: socket.socket, key: tuple[str, str, int]) -> None:
        self.sock = sock
        self.key = key
        self.used = False

    def recv(self) -> bytes:
        return self.sock.recv(_RECV_BYTES)

    def close(self) -> None:
        try:
            self.sock.close()
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
        self._lock = threading.Lock()
        self._ssl_context = ssl_context
        self._closed = False
        self.connections_opened = 0  # for benchmarks and tests: how many TCP connections were made

    # -- the httpx extension point ---------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        raw = self._exchange(key, _request_head(request), request.read(), request.extensions.get("timeout", {}),
                             request, head_only=request.method == "HEAD")
        return raw.to_httpx(request)

    # -- without httpx's objects --------------------------------------------
    def send(self, key: tuple[str, str, int], head: bytes, body: bytes,
             timeouts: dict[str, float | None]) -> "RawResponse":
        """Send a request already encoded (``head``: request line and headers, blank line included) to
        ``key`` = (scheme, host, port); the response is read up to the end of its head.

        What :meth:`handle_request` does, without building an ``httpx.Request``
        and ``httpx.Response`` per request (a streaming client's per-query
        cost). Failures are the same httpx exceptions, without a request.
        """
        return self._exchange(key, head, body, timeouts, None, head_only=False)

    def _exchange(self, key: tuple[str, str, int], head: bytes, body: bytes, timeouts: dict[str, float | None],
                  request: httpx.Request | None, *, head_only: bool) -> "RawResponse":
        for attempt in (1, 2):
            conn = self._checkout(key, timeouts, request)
            reused = conn.used
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
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

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
        return _Connection(sock, key)

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

    def __init__(self, parser: "_ResponseParser", stream: "_BodyStream") -> None:
        self.status: int = parser.status
        self.headers: list[tuple[bytes, bytes]] = parser.headers
        self.version: bytes = parser.version
        self.reason: bytes = parser.reason
        self._stream = stream

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

    def to_httpx(self, request: httpx.Request) -> httpx.Response:
        """The same response as an ``httpx.Response`` (content decoding, ``read``, ``text`` …)."""
        return httpx.Response(self.status, headers=self.headers, stream=self._stream, request=request,
                              extensions={"http_version": self.version, "reason_phrase": self.reason})


class _BodyStream(httpx.SyncByteStream):
    """A response body, one socket read per piece; gives the connection back when read to the end."""

    def __init__(self, transport: PooledTransport, conn: _Connection, parser: "_ResponseParser",
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


class _AfterEnd(Exception):
    """Bytes came after the end of the response: the connection cannot be trusted for another one."""


class _ResponseParser:
    """One HTTP/1.x response, parsed by llhttp; the body is kept as it comes until :meth:`take`.

    ``httptools`` calls the ``on_*`` methods from inside :meth:`feed`. A 1xx
    answer is skipped (the real one follows on the same parser). For a HEAD
    request the response ends with its head, and the connection is not reused
    (llhttp would expect the body a Content-Length announces).
    """

    __slots__ = ("_parser", "_request", "_head_only", "_pieces", "_head_bytes", "status", "reason", "version",
                 "headers", "head_done", "done", "reusable", "ends_at_close", "_framed", "on_body")

    def __init__(self, request: httpx.Request | None, *, head_only: bool = False) -> None:
        self._request = request
        self._head_only = head_only
        self._pieces: list[bytes] = []
        # llhttp calls on_body once per chunk of a chunked body (once per streamed token): a bound
        # list.append is a C call where a Python method was most of the parser's cost per token.
        # httptools looks the callbacks up once, when the parser is made, so this comes first.
        self.on_body = self._pieces.append if not head_only else _ignore
        self._parser = httptools.HttpResponseParser(self)
        self._head_bytes = 0
        self.status = 0
        self.reason = b""
        self.version = b"HTTP/1.1"
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.done = False
        self.reusable = False  # set once the response ended, from its version and Connection header
        self.ends_at_close = False  # no Content-Length, no chunked encoding: the body runs to the close
        self._framed = False

    def feed(self, data: bytes) -> None:
        """Parse ``data``; malformed framing raises ``httpx.RemoteProtocolError``."""
        if self.done:
            if data:
                self.reusable = False
            return
        if not self.head_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _AfterEnd):
                raise
            self.reusable = False  # the response is whole; what came after it is never read as the next one
        except httptools.HttpParserUpgrade as exc:
            raise httpx.RemoteProtocolError("the server switched protocols, which ipw does not speak",
                                            request=self._request) from exc
        except httptools.HttpParserError as exc:
            raise httpx.RemoteProtocolError(f"malformed HTTP response: {exc}", request=self._request) from exc
        if not self.head_done and self._head_bytes > _MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError("the response head is too large", request=self._request)

    def take(self) -> bytes:
        """The body bytes parsed since the last call."""
        pieces = self._pieces
        if not pieces:
            return b""
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()  # the same list: on_body is its bound append
        return data

    # -- llhttp's callbacks ------------------------------------------------
    def on_message_begin(self) -> None:
        if self.done:
            raise _AfterEnd()

    def on_status(self, reason: bytes) -> None:
        self.reason += reason  # may come in pieces when the status line was split between reads

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname == b"content-length" or (lname == b"transfer-encoding" and value.lower().endswith(b"chunked")):
            self._framed = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self.reason, self.headers, self._framed = b"", [], False  # an interim answer; the real one follows
            return
        self.status = status
        self.version = b"HTTP/" + self._parser.get_http_version().encode("ascii")
        self.head_done = True
        self.ends_at_close = not self._framed and status not in (204, 304)
        if self._head_only:
            self.done = True  # a HEAD response has no body, whatever its headers announce

    def on_message_complete(self) -> None:
        if self.head_done and not self.done:
            self.done = True
            self.reusable = self._parser.should_keep_alive()


def _request_head(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _ignore(body: bytes) -> None:
    """The body of a response to HEAD: there is none, whatever its headers announce."""


def _read_head(conn: _Connection, request: httpx.Request | None, head_only: bool) -> _ResponseParser:
    """The next (non-1xx) response on ``conn``, parsed up to the end of its head (and what came with it)."""
    parser = _ResponseParser(request, head_only=head_only)
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
