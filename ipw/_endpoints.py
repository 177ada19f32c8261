"""How ipw speaks of an HTTP service it talks to: its base URL, normalised, and a body quoted in an error line.

Both the capture's clients and the LLM judge reach OpenAI-compatible services;
this is what they share, kept below both so that neither imports the other.
"""

from __future__ import annotations

import httpx

from .errors import ConfigError

__all__ = ["excerpt", "normalise_base_url"]

_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/models")


def excerpt(text: str, limit: int = 200) -> str:
    """The start of a response body, on one line, for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def normalise_base_url(url: str) -> str:
    """The API base for ``url``: ``/v1`` added to a bare host, endpoints cut off."""
    url = url.strip().rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"invalid base URL {url!r}: {exc}", hint="give one like http://127.0.0.1:8000/v1") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"invalid base URL {url!r}", hint="give one like http://127.0.0.1:8000/v1")
    if parsed.path in ("", "/"):
        url += "/v1"
    return url
