"""The credentials this process sends: registered once, scrubbed from everything ipw writes or prints.

A credential is registered where it is configured — a client's params, headers
and base URL (``InferenceClient.__init__``), the LLM judge's key, params and
base URL (``LLMJudge.__init__``) — together with the forms it takes on the
wire, so that a server quoting it back is caught too: the Basic-auth base64 of
``user:password``, the URL-encoded and JSON-escaped spellings, the token after
an auth scheme (``Bearer …``). Environment variables named like credentials
(``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``) are secrets as well:
:func:`register_env` takes them when the CLI starts and whenever a client or
judge is built (where keys are read from the environment), and on first use.
Scrubbing then only compares against what is registered: it never walks the
environment, so it stays cheap enough for every ledger flush.

:func:`scrub` replaces every registered form, and ``user:password@`` in any
URL, with ``<redacted>``. It runs on messages, verdict metadata, configs,
stderr and, as the last line of defence, on every non-token event the ledger
encodes (:func:`found_in` is the cheap test for that). Values shorter than
:data:`MIN_SECRET_CHARS` are not searched for in free text: replacing every
``abc`` in a message would ruin the message and protect nothing. They are
still redacted where their name or their place (a header) says what they are.

:func:`redact` is for structured values (configs, client and dataset
descriptions): an entry whose name looks like a credential keeps its name and
loses its value, at any depth; so does every entry under ``headers``, because a
header value is a credential whatever the header is called (SPEC §8). Every
other string goes through :func:`scrub`.

Nothing here imports from ipw, so every layer may use it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from typing import Any, Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = [
    "MIN_SECRET_CHARS",
    "REDACTED",
    "found_in",
    "is_secret_name",
    "redact",
    "register",
    "register_env",
    "register_params",
    "register_url",
    "registered",
    "scrub",
    "scrub_value",
]

REDACTED = "<redacted>"
MIN_SECRET_CHARS = 8

_SECRET_NAME = re.compile(r"key|secret|password|passwd|authoriz|auth(?!or)|cookie|credential", re.I)
_TOKEN = re.compile(r"token", re.I)
# counts and settings that merely mention tokens: max_tokens, prompt_tokens, tokenizer, …
_TOKEN_COUNT = re.compile(r"tokens$|tokenizer|^(max|min|num|n|new)_?token", re.I)
# user[:password]@ after a scheme; "<" is left out, so the placeholder itself never matches
_URL_CREDENTIALS = re.compile(r"://[^/?#@\s\"'<>]+@")
_URL_CREDENTIALS_B = re.compile(_URL_CREDENTIALS.pattern.encode())

_lock = threading.Lock()
_forms: tuple[str, ...] = ()  # longest first, so a form never leaves a piece of a longer one behind
_forms_b: tuple[bytes, ...] = ()
_env_read = False


def is_secret_name(name: str) -> bool:
    """Whether a field or variable name looks like it holds a credential."""
    if _SECRET_NAME.search(name):
        return True
    return bool(_TOKEN.search(name)) and not _TOKEN_COUNT.search(name)


def _spellings(value: str) -> set[str]:
    """``value`` as it may appear in a URL, a form body or a JSON string."""
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


def _add(forms: Iterable[str]) -> None:
    global _forms, _forms_b
    new = {f for f in forms if len(f) >= MIN_SECRET_CHARS}
    with _lock:
        if new - set(_forms):
            _forms = tuple(sorted(set(_forms) | new, key=len, reverse=True))
            _forms_b = tuple(f.encode("utf-8", "surrogatepass") for f in _forms)


def register(value: Any, *, header: bool = False) -> None:
    """Register one credential and its wire forms; ``header=True`` for a whole header value.

    A header value such as ``Bearer abc…`` or ``Basic dXNl…`` is registered
    whole and also as the credential after its scheme.
    """
    if value is None or isinstance(value, bool):
        return
    text = str(value).strip()
    if not text:
        return
    forms = _spellings(text)
    if header:
        scheme, _, rest = text.partition(" ")
        if rest.strip():
            forms |= _spellings(rest.strip())
            if scheme.lower() == "basic":
                forms |= _basic_parts(rest.strip())
    _add(forms)


def _basic_parts(token: str) -> set[str]:
    """The password inside a Basic-auth token, where the token decodes."""
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return set()
    user, sep, password = decoded.partition(":")
    return _spellings(password) | {decoded} if sep and password else set()


def register_url(url: Any) -> None:
    """Register the userinfo of a URL: the password, ``user:password`` and its Basic-auth token."""
    if not isinstance(url, str) or "@" not in url:
        return
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return
    if parts.password is None and parts.username is None:
        return
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    forms = {f"{user}:{password}", base64.b64encode(f"{user}:{password}".encode()).decode()}
    if parts.password:
        forms |= _spellings(password) | _spellings(parts.password)
    _add(forms)


def register_params(params: Mapping[str, Any] | None) -> None:
    """Register the credentials in client or judge params, at any depth.

    A value under a credential-like name (``api_key``, ``auth_token``,
    ``password`` …) is a secret; so is every value under ``headers``.
    """
    for name, value in (params or {}).items():
        name = str(name)
        if name.lower() == "headers" and isinstance(value, Mapping):
            for header_value in value.values():
                if not isinstance(header_value, (Mapping, list, tuple)):
                    register(header_value, header=True)
        elif is_secret_name(name):
            for leaf in _leaves(value):
                register(leaf, header=name.lower() == "authorization")
        elif isinstance(value, Mapping):
            register_params(value)
        elif isinstance(value, str) and "://" in value:
            register_url(value)


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def register_env(env: Mapping[str, str] | None = None) -> None:
    """Register the value of every environment variable named like a credential."""
    global _env_read
    _env_read = True
    env = os.environ if env is None else env
    for name, value in env.items():
        if is_secret_name(name) and len(value.strip()) >= MIN_SECRET_CHARS:
            _add(_spellings(value.strip()))


def registered() -> tuple[str, ...]:
    """Every form scrubbed now, longest first."""
    if not _env_read:
        register_env()
    return _forms


def scrub(text: str) -> str:
    """``text`` with URL credentials and every registered secret replaced."""
    if not text:
        return text
    if "://" in text:
        text = _URL_CREDENTIALS.sub("://" + REDACTED + "@", text)
    for form in registered():
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def scrub_value(value: Any) -> Any:
    """``value`` with :func:`scrub` applied to every string in it, keys included, at any depth."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub_value(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value


def found_in(data: bytes) -> bool:
    """Whether encoded bytes (UTF-8 text, msgpack) hold a secret :func:`scrub` would replace."""
    if b"://" in data and _URL_CREDENTIALS_B.search(data):
        return True
    registered()
    return any(form in data for form in _forms_b)


def redact(value: Any, *, name: str = "") -> Any:
    """A copy of ``value`` with every secret-looking entry replaced (see the module docstring)."""
    if name and is_secret_name(name) and value not in (None, "", {}, []):
        return REDACTED
    if isinstance(value, Mapping):
        if name.lower() == "headers":
            return {str(k): v if v in (None, "") else REDACTED for k, v in value.items()}
        return {str(k): redact(v, name=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value
