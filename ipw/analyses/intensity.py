"""Energy intensity: joules per output token, output tokens per joule, grams of CO₂.

One definition, used by the energy analysis, the summary, the diff and the
reports:

    joules_per_output_token  = Σ attributed energy ÷ Σ completion tokens, over
                               the measured queries that have both an energy
                               and at least one completion token
    output_tokens_per_joule  = its inverse
    co2_g                    = energy (J) ÷ 3.6e6 J/kWh × carbon intensity (g/kWh)

A ratio of sums, not a mean of per-query ratios: a one-token answer does not
weigh as much as a thousand-token one. The carbon intensity is what the user
passes (``carbon_intensity_g_per_kwh``); nothing is looked up.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from ..errors import UsageError

__all__ = ["CARBON_OPTION", "J_PER_KWH", "output_token_energy", "carbon_intensity", "co2_g"]

CARBON_OPTION = "carbon_intensity_g_per_kwh"
J_PER_KWH = 3.6e6


def output_token_energy(pairs: Iterable[tuple[float | None, int | None]]) -> dict[str, Any]:
    """``{joules_per_output_token, output_tokens_per_joule, output_tokens, energy_j}`` over (energy, tokens) pairs.

    Pairs with no energy or no tokens are left out; ``None`` ratios when nothing is left.
    """
    used = [(joules, int(n)) for joules, n in pairs if joules is not None and n and math.isfinite(joules)]
    energy_j = math.fsum(joules for joules, _ in used)  # exact, so no summation order or Python version moves a bit
    tokens = sum(n for _, n in used)
    if tokens <= 0:
        return {"joules_per_output_token": None, "output_tokens_per_joule": None, "output_tokens": 0, "energy_j": None}
    per_token = energy_j / tokens
    return {
        "joules_per_output_token": per_token,
        "output_tokens_per_joule": tokens / energy_j if energy_j > 0 else None,
        "output_tokens": tokens,
        "energy_j": energy_j,
    }


def carbon_intensity(options: dict[str, Any]) -> float | None:
    """The ``carbon_intensity_g_per_kwh`` option as a number ≥ 0, or None when absent."""
    value = options.get(CARBON_OPTION)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise UsageError(
            f"{CARBON_OPTION}={value!r} is not a carbon intensity",
            hint=f"pass grams of CO2 per kWh as a number, e.g. --option {CARBON_OPTION}=400",
        )
    return number


def co2_g(energy_j: float | None, g_per_kwh: float | None) -> float | None:
    """Grams of CO₂ for ``energy_j`` at ``g_per_kwh``; None when either is missing."""
    if energy_j is None or g_per_kwh is None:
        return None
    return energy_j / J_PER_KWH * g_per_kwh
