"""What an OpenAI-compatible client is set up with (base URL, timeouts, transport, headers, API key), and its requests.

Each reader turns one client param into a value, or into a ``ConfigError``
that names the param and how to pass it right. The Ollama client reads its
timeouts and transport the same way.

Base URL: ``http://127.0.0.1:8000/v1`` by default. A URL with no path
(``http://host:8000``) gets ``/v1`` appended; a URL with a path is used as it
is, so ``https://example.com/openai/v1`` works, and a pasted endpoint
(``…/v1/chat/completions``) is cut back to its base.

The API key comes from ``api_key``, else ``IPW_API_KEY``, else
``OPENAI_API_KEY``; it is only ever sent as the ``Authorization`` header.
"""

from __future__ import annotations

import base64
import math
import os
from typing import Any, Mapping

import httpx

from ..._endpoints import normalise_base_url
from ...errors import ConfigError
from ._http import endpoint_key
from .base import param

__all__ = ["Requests", "choice_param", "client_headers", "normalise_base_url", "request_headers", "timeout_param", "transport_param"]

_KEY_ENV = ("IPW_API_KEY", "OPENAI_API_KEY")


def timeout_param(params: Mapping[str, Any], name: str, default: float, client_id: str) -> float:
    """A timeout in seconds: a finite number above zero, or a ``ConfigError`` naming it."""
    value = param(params, name, float, default, client_id)
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"client '{client_id}' parameter {name}={params.get(name)!r} is not a timeout",
            hint=f"pass a number of seconds above zero, e.g. --client-param {name}={default:g}",
        )
    return value


def choice_param(params: Mapping[str, Any], name: str, choices: tuple[str, ...], client_id: str) -> str:
    """A param that is one of a few words (the first is the default), or a ``ConfigError`` naming them."""
    value = str(param(params, name, str, choices[0], client_id)).lower()
    if value not in choices:
        raise ConfigError(f"client '{client_id}' {name}={value!r} is unknown",
                          hint="use " + " or ".join(f"{name}={choice}" for choice in choices))
    return value


def transport_param(params: Mapping[str, Any], client_id: str) -> httpx.BaseTransport | None:
    """The ``transport`` param: an ``httpx.BaseTransport`` given from Python, or ``None``.

    It exists so tests and embedders can route requests in process; from the
    command line it can only ever be a string or a number, which is refused.
    """
    transport = params.get("transport")
    if transport is None or isinstance(transport, httpx.BaseTransport):
        return transport
    raise ConfigError(
        f"client '{client_id}' parameter transport={transport!r} is not an httpx transport",
        hint="drop --client-param transport; it can only be set from Python",
    )


def request_headers(params: Mapping[str, Any], base_url: str, client_id: str) -> tuple[dict[str, str], str | None]:
    """The headers of every request, and where the API key came from (None: no key).

    The ``headers`` param; then ``Authorization``: a bearer token from the
    ``api_key`` param, else ``IPW_API_KEY``, else ``OPENAI_API_KEY``; without
    one, HTTP Basic auth from the base URL's userinfo, as httpx.Client makes
    of it (the secrets registry already knows that value and its base64 form).
    """
    extra = params.get("headers") or {}
    if not isinstance(extra, Mapping):
        raise ConfigError(f"client '{client_id}' headers must be a mapping",
                          hint='pass --client-param headers=\'{"X-Name": "value"}\'')
    headers = {str(k): str(v) for k, v in extra.items()}
    api_key, source = params.get("api_key"), None
    if api_key:
        source = "api_key param"
    else:
        for name in _KEY_ENV:
            if os.environ.get(name):
                api_key, source = os.environ[name], name
                break
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url = httpx.URL(base_url)
    if (url.username or url.password) and "Authorization" not in headers:
        token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return headers, source


class Requests:
    """The requests a client sends, as the bytes of their head: its headers over httpx.Client's, normalised
    once per endpoint.

    The first request to an endpoint is made by ``httpx.Request`` (URL
    normalisation, Host, httpx.Client's default headers); its request line and
    headers, Content-Length aside, are kept as bytes, and every request to that
    endpoint is those bytes with its own ``Content-Length``: the same bytes on
    the wire as httpx.Client's (a test compares them), without building an
    ``httpx.Request`` and its ``Headers`` per query.
    """

    def __init__(self, base_url: str, headers: Mapping[str, str]) -> None:
        self._base_url = base_url
        self._headers = client_headers(headers)
        self._json_headers = httpx.Headers(self._headers)
        self._json_headers["Content-Type"] = "application/json"
        self._made: dict[tuple[str, str, bool], tuple[tuple[str, str, int], bytes]] = {}

    def head(self, method: str, path: str, content: bytes | None) -> tuple[tuple[str, str, int], bytes]:
        """((scheme, host, port), the request's head: request line, headers, blank line) for ``path`` (under
        the base URL) or a whole URL, with ``content`` as JSON."""
        made = self._made.get((method, path, content is None))
        if made is None:
            url = httpx.URL(self._base_url + path if path.startswith("/") else path)
            request = httpx.Request(method, url, headers=self._headers if content is None else self._json_headers,
                                    content=b"" if content is not None else None)
            lines = [method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
            for name, value in request.headers.raw:
                if name.lower() != b"content-length":
                    lines += (name, b": ", value, b"\r\n")
            made = self._made[method, path, content is None] = (endpoint_key(url), b"".join(lines))
        key, prefix = made
        if content is None:
            return key, prefix + b"\r\n"
        return key, b"%bContent-Length: %d\r\n\r\n" % (prefix, len(content))


def client_headers(headers: Mapping[str, str]) -> httpx.Headers:
    """``headers`` over the defaults httpx.Client sends (Accept, Accept-Encoding, User-Agent …), so requests
    stay what they were when an httpx.Client sent them. That client only merges headers: it never sends."""
    return httpx.Client(headers=headers, transport=_NEVER_SENDS, trust_env=False).headers


_NEVER_SENDS = httpx.MockTransport(lambda request: httpx.Response(500))
