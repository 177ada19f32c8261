"""Where the LLM judge's API key comes from.

The upstream contract: ``IPW_EVAL_API_KEY`` or ``OPENAI_API_KEY``; when both
are set and differ, ``IPW_EVAL_API_KEY`` wins; a ``.env`` file in the current
directory is read too, but never overrides a variable that is really set.

A key found here is only ever handed to the judge's HTTP client as its
``Authorization`` header. Nothing in ipw writes it to a ledger, a manifest,
an analysis or a message; :func:`eval_key_source` names where a key came from
for the places that want to say so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ..errors import ConfigError

__all__ = ["EVAL_KEY_VARS", "resolve_eval_key", "require_eval_key", "eval_key_source"]

EVAL_KEY_VARS = ("IPW_EVAL_API_KEY", "OPENAI_API_KEY")
"""The variables read, strongest first."""

MISSING_KEY_HINT = "set IPW_EVAL_API_KEY or OPENAI_API_KEY (a .env file works too)"


def _dotenv_values(dotenv_path: Path | None) -> dict[str, str]:
    path = Path(dotenv_path) if dotenv_path is not None else Path.cwd() / ".env"
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    # dotenv_values reads the file without touching os.environ
    return {k: v for k, v in dotenv_values(path).items() if isinstance(v, str)}


def _lookup(env: Mapping[str, str] | None, dotenv_path: Path | None) -> tuple[str | None, str | None]:
    real = os.environ if env is None else env
    from_file = _dotenv_values(dotenv_path)
    for name in EVAL_KEY_VARS:
        value = (real.get(name) or "").strip()
        if value:
            return value, name
        value = (from_file.get(name) or "").strip()
        if value:
            return value, f"{name} (.env)"
    return None, None


def resolve_eval_key(env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> str | None:
    """The judge's API key, or None when none is configured.

    ``env`` defaults to ``os.environ``; ``dotenv_path`` to ``./.env``. A real
    variable beats the same variable in the file, and ``IPW_EVAL_API_KEY``
    (from either place) beats ``OPENAI_API_KEY``.
    """
    return _lookup(env, dotenv_path)[0]


def eval_key_source(env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> str | None:
    """The name of the variable the key would come from (never the key itself)."""
    return _lookup(env, dotenv_path)[1]


def require_eval_key(
    env: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    *,
    purpose: str = "the LLM judge",
) -> str:
    """The judge's API key; a :class:`ConfigError` before any request when there is none."""
    key = resolve_eval_key(env, dotenv_path)
    if key is None:
        raise ConfigError(f"{purpose} needs an API key and none is set", hint=MISSING_KEY_HINT)
    return key
