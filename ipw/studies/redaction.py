"""The credentials a study file holds: registered when it is parsed, kept out of everything the study writes.

A study may carry ``client_param.api_key``, header values, a base URL with
``user:password@`` or ``eval_param.api_key``, in ``[base]`` or swept in
``[matrix]``. Each is registered with :mod:`ipw.secrets` (so every ledger,
message and stderr line of every cell scrubs it), left out of ``study.json``
(the entry keeps its name, the value becomes ``<redacted>``), cut from the
saved copy of the study file, and never spelled in a cell's name.
"""

from __future__ import annotations

import json
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

from .. import secrets
from ..secrets import redact

__all__ = ["register_secrets", "redacted", "scrub_text", "is_secret_key"]

_CREDENTIAL_TABLES = ("client_param", "eval_param")
_URL_KEYS = ("client_base_url", "eval_base_url")


def is_secret_key(key: str) -> bool:
    """Whether a study key (``client_param.api_key``, ``client_param.headers``…) holds a credential."""
    head, dot, entry = key.partition(".")
    if not dot:
        return False
    if head == "server":  # a server flag's value (server.api_key) goes into its command line
        return secrets.is_secret_name(entry)
    return head in _CREDENTIAL_TABLES and (entry.lower() == "headers" or secrets.is_secret_name(entry))


def _as_params(key: str, value: Any) -> dict[str, Any]:
    """A study key and value as client/judge params (``client_param.api_key`` → ``{api_key: value}``)."""
    head, dot, entry = key.partition(".")
    if head not in _CREDENTIAL_TABLES:
        return {}
    if dot:
        return {entry: value}
    return dict(value) if isinstance(value, dict) else {}


def _secret_leaves(params: dict[str, Any]) -> Iterable[str]:
    for name, value in params.items():
        name = str(name)
        if name.lower() == "headers" and isinstance(value, dict):
            for header in value.values():
                if isinstance(header, str):
                    yield header
                    yield header.partition(" ")[2]  # the credential after "Bearer "
        elif secrets.is_secret_name(name):
            stack = [value]
            while stack:
                item = stack.pop()
                if isinstance(item, dict):
                    stack.extend(item.values())
                elif isinstance(item, list):
                    stack.extend(item)
                elif item is not None and not isinstance(item, bool):
                    yield str(item)
        elif isinstance(value, dict):
            yield from _secret_leaves(value)
        elif isinstance(value, str) and "://" in value:
            yield from _url_secrets(value)


def _url_secrets(url: str) -> Iterable[str]:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return
    for raw in (parts.password, parts.username if parts.password else None):
        if raw:
            yield raw
            yield unquote(raw)


def _settings(base: dict[str, Any], matrix: dict[str, list[Any]]) -> Iterable[tuple[str, Any]]:
    yield from base.items()
    for key, values in matrix.items():
        for value in values:
            yield key, value


def register_secrets(base: dict[str, Any], matrix: dict[str, list[Any]]) -> list[str]:
    """Register every credential of a study with :mod:`ipw.secrets`; returns their values, longest first."""
    found: set[str] = set()
    for key, value in _settings(base, matrix):
        params = _as_params(key, value)
        if params:
            secrets.register_params(params)
            found.update(_secret_leaves(params))
        if key in _URL_KEYS and isinstance(value, str):
            secrets.register_url(value)
            found.update(_url_secrets(value))
    return sorted((s.strip() for s in found if s and s.strip()), key=len, reverse=True)


def redacted(key: str, value: Any) -> Any:
    """A study setting as ``study.json`` keeps it: credentials replaced, everything else as written."""
    head, dot, entry = key.partition(".")
    if dot:
        if head in _CREDENTIAL_TABLES:
            return redact({entry: value})[entry]
        return redact(value)
    return redact(value, name="" if key in _CREDENTIAL_TABLES else key)


def scrub_text(text: str, values: list[str]) -> str:
    """The study file's text with every credential (and its JSON-escaped spelling) cut out."""
    text = secrets.scrub(text)
    for value in values:
        for form in {value, json.dumps(value)[1:-1]}:
            if form:
                text = text.replace(form, secrets.REDACTED)
    return text
