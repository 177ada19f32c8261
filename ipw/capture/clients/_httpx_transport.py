"""Any httpx transport behind the client's one send path, :meth:`~._http.PooledTransport.send`.

An OpenAI-compatible client sends every request as the bytes of its head
and body to ``send(key, head, body, timeouts, deadline_s=…, max_bytes=…)``
and reads a :class:`~._http.RawResponse`. ipw's own transport does exactly
that; a transport given from Python (``httpx.MockTransport`` in tests, an
embedder's own) is wrapped here, so its ``handle_request`` receives an
``httpx.Request`` made from those very bytes: the method, target and headers
the server would have read, and the body. The answer's deadline and byte
cap travel as the request extensions ``deadline_s`` and ``max_bytes``, as
:class:`~._http.PooledTransport` reads them through ``handle_request``.
"""

from __future__ import annotations

import httpx

from ._http import RawResponse

__all__ = ["HttpxTransport"]


class HttpxTransport:
    """``send`` over an ``httpx.BaseTransport``'s ``handle_request``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def send(self, key: tuple[str, str, int], head: bytes, body: bytes, timeouts: dict[str, float | None], *,
             deadline_s: float | None = None, max_bytes: int | None = None) -> RawResponse:
        method, target, headers = _parse_head(head)
        scheme, host, port = key
        url = httpx.URL(scheme=scheme, host=host, port=port, raw_path=target)
        request = httpx.Request(method, url, headers=headers, content=body,
                                extensions={"timeout": timeouts, "deadline_s": deadline_s, "max_bytes": max_bytes})
        response = self.inner.handle_request(request)
        response.request = request
        return RawResponse.of(response)

    def close(self) -> None:
        self.inner.close()


def _parse_head(head: bytes) -> tuple[str, bytes, list[tuple[bytes, bytes]]]:
    """(method, target, headers) of a request head this package wrote: one request line, then
    ``Name: value`` lines, then a blank line."""
    lines = head.split(b"\r\n")
    method, target, _version = lines[0].split(b" ", 2)
    headers = []
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        headers.append((name, value.strip()))
    return method.decode("ascii"), target, headers
