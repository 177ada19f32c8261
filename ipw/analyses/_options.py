"""The ``--option k=v`` settings of an analysis: refuse what it does not know, in one clear line, and
record what it was computed with.

Every result records under ``"options"`` each option its analysis accepts,
with the value it was computed with: a default that was applied is written
out (``"policy": "active"``), and ``None`` stands for an option left unset
whose default is no value (``"devices": null``: every device). Giving a
result's recorded options back to its analysis computes the same result,
which is how ``ipw ledger verify`` re-derives a file without guessing.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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


def applied_options(analysis_id: str, accepted: Sequence[str], applied: Mapping[str, Any]) -> dict[str, Any]:
    """The ``"options"`` a result records: every accepted option with the value it was computed with.

    An accepted option with no applied value (or an applied value for one not
    accepted) is a bug in the analysis, not a user error: an option it would
    not record could not be re-derived by the audit.
    """
    if set(applied) != set(accepted):
        missing = sorted(set(accepted) - set(applied))
        extra = sorted(set(applied) - set(accepted))
        raise TypeError(f"the {analysis_id} analysis records options {sorted(applied)} but accepts {sorted(accepted)}"
                        f" (unrecorded: {missing}, not accepted: {extra})")
    return {name: applied[name] for name in sorted(accepted)}


def energy_options_applied(attribution: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The energy options (``policy``, ``idle_baseline``, ``devices``) an ``EnergyAttribution`` was computed with.

    One definition for every analysis that attributes energy; ``devices`` None means every device.
    """
    return {"policy": attribution.policy, "idle_baseline": attribution.idle_baseline,
            "devices": list_option(options.get("devices"))}
