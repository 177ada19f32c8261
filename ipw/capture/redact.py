"""Keeping secrets out of the structured values ipw records (configs, client and dataset descriptions).

Any mapping entry whose name looks like a credential (``*KEY*``, ``*TOKEN*``,
``*SECRET*``, ``Authorization``, passwords, cookies) keeps its name and loses
its value, at any depth; so does every entry under ``headers``, because a
header value is a credential whatever the header is called (SPEC §8).
Every other string goes through :func:`ipw.secrets.scrub`, which removes
``user:password@`` from URLs and every credential the process registered or
holds in its environment.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..secrets import MIN_SECRET_CHARS, REDACTED, is_secret_name
from ..secrets import scrub as _scrub

__all__ = ["REDACTED", "is_secret_name", "redact", "scrub", "secret_values"]


def redact(value: Any, *, name: str = "") -> Any:
    """A copy of ``value`` with every secret-looking entry replaced."""
    if name and is_secret_name(name) and value not in (None, "", {}, []):
        return REDACTED
    if isinstance(value, Mapping):
        if name.lower() == "headers":
            return {str(k): v if v in (None, "") else REDACTED for k, v in value.items()}
        return {str(k): redact(v, name=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _scrub(value)
    return value


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look like credentials."""
    env = os.environ if env is None else env
    return sorted({v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET_CHARS},
                  key=len, reverse=True)


def scrub(text: str, extra: list[str] | None = None) -> str:
    """``text`` with URL credentials, registered and environment secrets, and ``extra`` values replaced."""
    text = _scrub(text)
    for secret in extra or []:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text
