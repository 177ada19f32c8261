"""Keeping secrets out of everything ipw writes.

Any mapping entry whose name looks like a credential (``*KEY*``, ``*TOKEN*``,
``*SECRET*``, ``Authorization``, passwords, cookies) keeps its name and loses
its value, at any depth. Values of secret environment variables are also
scrubbed from free text, in case a server echoes them in an error message.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"key|secret|password|passwd|authoriz|auth(?!or)|cookie|credential", re.I)
_TOKEN = re.compile(r"token", re.I)
# counts and settings that merely mention tokens: max_tokens, prompt_tokens, tokenizer, …
_TOKEN_COUNT = re.compile(r"tokens$|tokenizer|^(max|min|num|n|new)_?token", re.I)


def is_secret_name(name: str) -> bool:
    """Whether a field or variable name looks like it holds a credential."""
    if _SECRET_NAME.search(name):
        return True
    return bool(_TOKEN.search(name)) and not _TOKEN_COUNT.search(name)


def redact(value: Any, *, name: str = "") -> Any:
    """A copy of ``value`` with every secret-looking entry replaced."""
    if name and is_secret_name(name) and value not in (None, "", {}, []):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact(v, name=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look like credentials."""
    env = os.environ if env is None else env
    return sorted({v for k, v in env.items() if is_secret_name(k) and len(v) >= 8}, key=len, reverse=True)


_URL_CREDENTIALS = re.compile(r"(?<=://)[^/?#@\s]+@")


def scrub(text: str, extra: list[str] | None = None) -> str:
    """``text`` with URL credentials and any secret value (from the environment or ``extra``) replaced."""
    text = _URL_CREDENTIALS.sub(REDACTED + "@", text)
    for secret in [*(extra or []), *secret_values()]:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text
