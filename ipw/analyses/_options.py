"""Checking the ``--option k=v`` settings an analysis is given: refuse what it does not know, in one clear line."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import UsageError


def choice_option(name: str, value: Any, choices: Sequence[str]) -> str:
    """Validate an option that must be one of ``choices``."""
    text = str(value).strip().lower()
    if text not in choices:
        raise UsageError(
            f"unknown {name} {value!r}",
            hint=f"choose one of: {', '.join(choices)} (e.g. --option {name}={choices[0]})",
        )
    return text


def check_options(analysis_id: str, options: dict[str, Any], accepted: Sequence[str]) -> None:
    """Refuse options an analysis does not know, naming the ones it accepts."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UsageError(
            f"the {analysis_id} analysis has no option(s) {', '.join(unknown)}",
            hint=f"it accepts: {', '.join(accepted) or 'no options'}",
        )


def list_option(value: Any) -> list[str] | None:
    """A list option given as a list or as a comma-separated string; ``None`` when absent or empty."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = [str(part).strip() for part in value]
    else:
        items = [str(value).strip()]
    items = [item for item in items if item]
    return items or None
