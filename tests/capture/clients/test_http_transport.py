"""ipw's keep-alive transport and byte-level SSE: every split of the bytes reads the same, bad framing is refused."""

from __future__ import annotations

import httpx
import pytest

from ipw.capture.clients._http_parser import ResponseParser as _ResponseParser
from ipw.capture.clients._openai_wire import sse_events
from ipw.errors import ServerResponseError

_EVENTS = [b'data: {"choices":[{"delta":{"content":"a"}}]}', b": keep-alive", b"event: ping\ndata: 1\ndata: 2",
           b"data: [DONE]"]


def _chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) if i == 1 else b"%X\r\n%s\r\n" % (len(p), p)
                    for i, p in enumerate(parts)) + b"0\r\nTrailer: x\r\n\r\nNEXT"


_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def _parser() -> _ResponseParser:
    return _ResponseParser(httpx.Request("GET", "http://x/"))


def _dechunk(pieces: list[bytes]) -> tuple[bytes, bool]:
    """The body of a response given in pieces, and whether its connection could carry another response."""
    parser = _parser()
    out = []
    for piece in pieces:
        parser.feed(piece)
        out.append(parser.take())
        if parser.done:
            # what follows the end (here "NEXT") must never be read as the next response
            for later in pieces[pieces.index(piece) + 1:]:
                parser.feed(later)
            return b"".join(out), parser.reusable
    raise AssertionError("the body never ended")


def test_a_chunked_body_split_anywhere_decodes_the_same() -> None:
    parts = [b"hello ", b"world" * 50, b"!"]
    body = _HEAD + _chunked(parts)
    assert _dechunk([body]) == (b"".join(parts), False)
    for cut in range(1, len(body)):
        assert _dechunk([body[:cut], body[cut:]]) == (b"".join(parts), False), cut
    assert _dechunk([body[i:i + 1] for i in range(len(body))]) == (b"".join(parts), False)
    clean, half = body[: -len(b"NEXT")], len(body) // 2
    assert _dechunk([clean[:half], clean[half:]]) == (b"".join(parts), True)  # nothing after the end: reusable


@pytest.mark.parametrize("bad", [b"-5\r\nhello\r\n", b"0x5\r\nhello\r\n", b"zz\r\n", b"5\r\nhelloXX", b"1_0\r\n"])
def test_bad_chunk_framing_is_a_protocol_error(bad: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        _parser().feed(_HEAD + bad + b"\r\n" * 3)


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",  # which one frames the body?
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nnot a header\r\n\r\n",
    b"HTTP/1.1 2x0 OK\r\n\r\n",
    b"SMTP ready\r\n\r\n",
])
def test_a_malformed_response_head_is_a_protocol_error(head: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="malformed HTTP response"):
        _parser().feed(head)


def test_a_response_head_without_end_is_refused_past_its_limit() -> None:
    parser = _parser()
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(httpx.RemoteProtocolError, match="too large"):
        for _ in range(2000):
            parser.feed(b"X-Filler: " + b"a" * 100 + b"\r\n")


def test_an_interim_answer_is_skipped_and_a_close_delimited_body_is_read() -> None:
    parser = _parser()
    parser.feed(b"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\nHTTP/1.0 200 Fine\r\nX-B: 2\r\n\r\nabc")
    assert (parser.status, parser.reason, parser.headers, parser.take()) == (200, b"Fine", [(b"X-B", b"2")], b"abc")
    assert parser.head_done and parser.ends_at_close and not parser.done


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n", b"\r\r"])
def test_server_sent_events_split_anywhere_read_the_same(sep: bytes) -> None:
    body = sep.join(e.replace(b"\n", sep[: len(sep) // 2]) for e in _EVENTS) + sep
    expected = [("message", b'{"choices":[{"delta":{"content":"a"}}]}'), ("ping", b"1\n2"), ("message", b"[DONE]")]
    assert list(sse_events([body])) == expected
    for cut in range(1, len(body)):
        assert list(sse_events([body[:cut], body[cut:]])) == expected, cut


def test_a_line_that_is_not_sse_is_garbage() -> None:
    with pytest.raises(ServerResponseError, match="not a server-sent-events line"):
        list(sse_events([b"<html>proxy error</html>\n\n"]))
