"""Option bundles and parsers shared by several commands."""

from __future__ import annotations

import json
from typing import Any

from ..errors import UsageError


def parse_kv(pairs: tuple[str, ...] | list[str], flag: str) -> dict[str, Any]:
    """Parse ``k=v`` pairs; values are JSON when they parse as JSON, else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"{flag} expects key=value, got {pair!r}",
                hint=f"write it as {flag} name=value, e.g. {flag} temperature=0",
            )
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
