"""One HTTP/1.x response parsed by llhttp (through ``httptools``), its body kept as it comes.

The parsing half of :mod:`._http`'s transport: what the bytes read from a
connection say (status, headers, body pieces, whether the response ended and
whether the connection may carry another). llhttp is strict about framing: a
bad chunk size, Content-Length beside chunked encoding, two Content-Lengths
are all refused, as ``httpx.RemoteProtocolError``.
"""

from __future__ import annotations

import httptools
import httpx

__all__ = ["MAX_HEAD_BYTES", "ResponseParser"]

MAX_HEAD_BYTES = 64 * 1024  # a response head larger than this is not a server we talk to


class _AfterEnd(Exception):
    """Bytes came after the end of the response: the connection cannot be trusted for another one."""


class ResponseParser:
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
        if not self.head_done and self._head_bytes > MAX_HEAD_BYTES:
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


def _ignore(body: bytes) -> None:
    """The body of a response to HEAD: there is none, whatever its headers announce."""
