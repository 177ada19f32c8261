"""An HTTP/1.1 transport for httpx that keeps connections alive and hands a body over per socket read.

Why ipw carries its own transport under the httpx API (``handle_request`` is
httpx's one-method extension point): httpx's default pool holds 100
connections, so ``--max-concurrency 256`` ran 100 streams; and its h11 parser
turns every chunk of a chunked body into Python events, one per streamed
token, which was most of ipw's CPU per token. This transport parses the
response head itself, undoes chunked framing over whole received buffers, and
gives the body to httpx one socket read at a time (many tokens per piece).

- The pool is unbounded: the runner bounds how many requests are in flight,
  so exactly that many connections are opened, however many that is.
- A connection returns to the pool only once its body was read to the end;
  a response closed early closes its socket (the rest would be misread).
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

import httpx

__all__ = ["PooledTransport"]

_MAX_HEAD_BYTES = 64 * 1024  # a response head larger than this is not a server we talk to
_MAX_LINE_BYTES = 4096  # a chunk-size or trailer line
_RECV_BYTES = 256 * 1024


class _ClosedEarly(Exception):
    """The connection ended before the first byte of a response: safe to send again."""


class _Connection:
    __slots__ = ("sock", "key", "buf", "used")

    def __init__(self, sock: socket.socket, key: tuple[str, str, int]) -> None:
        self.sock = sock
        self.key = key
        self.buf = b""
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
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, url.host, port)
        head = _request_head(request)
        body = request.read()
        for attempt in (1, 2):
            conn = self._checkout(key, timeouts, request)
            reused = conn.used
            try:
                conn.sock.settimeout(timeouts.get("write"))
                conn.sock.sendall(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    conn.sock.sendall(body)
                conn.sock.settimeout(timeouts.get("read"))
                status, reason, headers, framing = _read_head(conn, request)
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
            if request.method == "HEAD" or status in (204, 304):
                framing = ("length", 0, framing[2])
            stream = _BodyStream(self, conn, framing, request)
            return httpx.Response(status, headers=headers, stream=stream, request=request,
                                  extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})
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
                  request: httpx.Request) -> _Connection:
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None:
                return self._connect(key, timeouts, request)
            if conn.stale() or conn.buf:
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
                 request: httpx.Request) -> _Connection:
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


class _BodyStream(httpx.SyncByteStream):
    """A response body, one socket read per piece; gives the connection back when read to the end."""

    def __init__(self, transport: PooledTransport, conn: _Connection, framing: tuple[str, int, bool],
                 request: httpx.Request) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._framing = framing
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        kind, length, keep_alive = self._framing
        try:
            if kind == "chunked":
                yield from self._chunked(conn)
            elif kind == "length":
                yield from self._sized(conn, length)
            else:
                yield from self._until_close(conn)
        except socket.timeout as exc:
            self.close()
            raise httpx.ReadTimeout(f"timed out: {exc}", request=self._request) from exc
        except OSError as exc:
            self.close()
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=self._request) from exc
        self._conn = None
        if keep_alive:
            self._transport._checkin(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()  # not read to the end: what is left would be taken for the next response

    def _sized(self, conn: _Connection, length: int) -> Iterator[bytes]:
        if conn.buf:
            piece, conn.buf = conn.buf[:length], conn.buf[length:]
            length -= len(piece)
            yield piece
        while length > 0:
            data = conn.recv()
            if not data:
                raise httpx.RemoteProtocolError("the server closed the connection mid-body", request=self._request)
            if len(data) > length:
                data, conn.buf = data[:length], data[length:]
            length -= len(data)
            yield data

    def _until_close(self, conn: _Connection) -> Iterator[bytes]:
        if conn.buf:
            piece, conn.buf = conn.buf, b""
            yield piece
        while True:
            data = conn.recv()
            if not data:
                return
            yield data

    def _chunked(self, conn: _Connection) -> Iterator[bytes]:
        decoder = _Dechunker(self._request)
        buf, conn.buf = conn.buf, b""
        while True:
            if buf:
                piece = decoder.feed(buf)
                if piece:
                    yield piece
                if decoder.done:
                    conn.buf = decoder.rest
                    return
            buf = conn.recv()
            if not buf:
                raise httpx.RemoteProtocolError("the server closed the connection mid-body", request=self._request)


class _Dechunker:
    """Undoes ``Transfer-Encoding: chunked`` over whole buffers; yields data as soon as it arrives."""

    __slots__ = ("_buf", "_remaining", "_state", "done", "rest", "_request")

    _SIZE, _DATA, _CRLF, _TRAILER = range(4)

    def __init__(self, request: httpx.Request) -> None:
        self._buf = b""
        self._remaining = 0
        self._state = self._SIZE
        self.done = False
        self.rest = b""
        self._request = request

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        pos, end = 0, len(buf)
        out: list[bytes] = []
        state, remaining = self._state, self._remaining
        find = buf.find
        while pos < end:
            if state == 0:
                # the common case first: a whole chunk (size line, data, CRLF) inside this buffer
                i = find(b"\r\n", pos, pos + _MAX_LINE_BYTES)
                if i > pos:
                    size = _chunk_size(buf[pos:i])
                    if size:
                        stop = i + 2 + size
                        if stop + 2 <= end and buf[stop:stop + 2] == b"\r\n":
                            out.append(buf[i + 2:stop])
                            pos = stop + 2
                            continue
            if state == 1:  # _DATA
                take = min(end - pos, remaining)
                out.append(buf[pos:pos + take])
                pos += take
                remaining -= take
                if remaining:
                    break
                state = 2
            elif state == 2:  # _CRLF after a chunk's data
                if end - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise self._bad("a chunk does not end in CRLF")
                pos += 2
                state = 0
            elif state == 0:  # _SIZE
                i = buf.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_LINE_BYTES:
                        raise self._bad("a chunk-size line is too long")
                    break
                size = _chunk_size(buf[pos:i])
                if size is None:
                    raise self._bad(f"a chunk size is not a hex number: {bytes(buf[pos:i])[:40]!r}")
                pos = i + 2
                if size == 0:
                    state = 3
                else:
                    remaining, state = size, 1
            else:  # _TRAILER: header lines until an empty one
                i = buf.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_HEAD_BYTES:
                        raise self._bad("the chunked trailer is too long")
                    break
                line_empty = i == pos
                pos = i + 2
                if line_empty:
                    self.done = True
                    self.rest = buf[pos:]
                    pos = end
                    break
        self._buf = buf[pos:] if pos < end else b""
        self._state, self._remaining = state, remaining
        return out[0] if len(out) == 1 else b"".join(out)

    def _bad(self, what: str) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(f"malformed chunked body: {what}", request=self._request)


_HEX = frozenset(b"0123456789abcdefABCDEF")


def _chunk_size(line: bytes) -> int | None:
    """The size in a chunk-size line (extensions after ``;`` ignored), or None when it is not hex."""
    # the usual line: isalnum rules out signs, "_" and spaces, int() every other letter but a "0x" prefix
    if len(line) <= 8 and line.isalnum() and line[1:2] not in (b"x", b"X"):
        try:
            return int(line, 16)
        except ValueError:
            return None
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > 16 or not _HEX.issuperset(digits):
        return None
    return int(digits, 16)


def _request_head(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _read_head(conn: _Connection, request: httpx.Request) -> tuple[int, bytes, list[tuple[bytes, bytes]], tuple[str, int, bool]]:
    """Status, reason, headers and body framing of the next (non-1xx) response on ``conn``."""
    got_any = False
    while True:
        buf = conn.buf
        while True:
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if len(buf) > _MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError("the response head is too large", request=request)
            data = conn.recv()
            if not data:
                if not got_any and not buf:
                    raise _ClosedEarly()
                raise httpx.RemoteProtocolError("the server closed the connection mid-head", request=request)
            got_any = True
            buf += data
        head, conn.buf = buf[:i], buf[i + 4:]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:60]!r}", request=request)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else b""
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise httpx.RemoteProtocolError(f"malformed header line: {line[:60]!r}", request=request)
            headers.append((name, value.strip()))
        if 100 <= status < 200:
            continue  # 100 Continue and friends: the real answer follows
        return status, reason, headers, _framing(parts[0], headers, request)


def _framing(version: bytes, headers: list[tuple[bytes, bytes]], request: httpx.Request) -> tuple[str, int, bool]:
    """How the body ends (``chunked``, ``length``, ``close``), its length, and whether the connection stays open."""
    chunked = False
    length: int | None = None
    close = version == b"HTTP/1.0"
    for name, value in headers:
        lname = name.lower()
        if lname == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
        elif lname == b"content-length":
            if not value.isdigit():
                raise httpx.RemoteProtocolError(f"bad Content-Length {value[:30]!r}", request=request)
            length = int(value)
        elif lname == b"connection":
            tokens = {t.strip() for t in value.lower().split(b",")}
            if b"close" in tokens:
                close = True
            elif b"keep-alive" in tokens:
                close = False
    if chunked:
        return ("chunked", 0, not close)
    if length is not None:
        return ("length", length, not close)
    return ("close", 0, False)
