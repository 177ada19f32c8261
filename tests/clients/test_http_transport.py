"""ipw's keep-alive transport and byte-level SSE: every split of the bytes reads the same, bad framing is refused."""

from __future__ import annotations

import httpx
import pytest

from ipw.capture.clients._http import _Dechunker
from ipw.capture.clients._openai_wire import sse_events
from ipw.errors import ServerResponseError

_EVENTS = [b'data: {"choices":[{"delta":{"content":"a"}}]}', b": keep-alive", b"event: ping\ndata: 1\ndata: 2",
           b"data: [DONE]"]


def _chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) if i == 1 else b"%X\r\n%s\r\n" % (len(p), p)
                    for i, p in enumerate(parts)) + b"0\r\nTrailer: x\r\n\r\nNEXT"


def _dechunk(pieces: list[bytes]) -> tuple[bytes, bytes]:
    decoder = _Dechunker(httpx.Request("GET", "http://x/"))
    out = []
    for i, piece in enumerate(pieces):
        out.append(decoder.feed(piece))
        if decoder.done:  # what follows is the next response's, left on the connection for it
            return b"".join(out), decoder.rest + b"".join(pieces[i + 1:])
    raise AssertionError("the body never ended")


def test_a_chunked_body_split_anywhere_decodes_the_same() -> None:
    parts = [b"hello ", b"world" * 50, b"!"]
    body = _chunked(parts)
    assert _dechunk([body]) == (b"".join(parts), b"NEXT")
    for cut in range(1, len(body)):
        assert _dechunk([body[:cut], body[cut:]]) == (b"".join(parts), b"NEXT"), cut
    assert _dechunk([body[i:i + 1] for i in range(len(body))]) == (b"".join(parts), b"NEXT")


@pytest.mark.parametrize("bad", [b"-5\r\nhello\r\n", b"0x5\r\nhello\r\n", b"zz\r\n", b"5\r\nhelloXX", b"1_0\r\n"])
def test_bad_chunk_framing_is_a_protocol_error(bad: bytes) -> None:
    decoder = _Dechunker(httpx.Request("GET", "http://x/"))
    with pytest.raises(httpx.RemoteProtocolError):
        decoder.feed(bad + b"\r\n" * 3)


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
