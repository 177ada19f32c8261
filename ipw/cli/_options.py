"""Option bundles and parsers shared by several commands."""

from __future__ import annotations

import json
import math
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
            parsed = json.loads(value, parse_constant=_no_constant)
        except ValueError:
            parsed = value
        if isinstance(parsed, float) and not math.isfinite(parsed):
            raise UsageError(f"{flag} {key}={value} is not a finite number", hint=f"pass a number like {flag} {key}=0.5")
        out[key] = parsed
    return out


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not values any backend takes: read them as plain strings
    raise ValueError(name)
