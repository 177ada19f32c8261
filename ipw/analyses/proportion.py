"""The Wilson score interval of a proportion: the one definition every accuracy interval in ipw uses.

``accuracy`` and ``summary`` give it per benchmark; the study table, its
figures and the routing analysis (:mod:`ipw.reports.study_stats` re-exports
it) give it per cell and per strategy.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["CONFIDENCE", "wilson_interval", "accuracy_interval"]

CONFIDENCE = 0.95
_Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)  # 1.959963984540054


def wilson_interval(successes: int, trials: int) -> tuple[float | None, float | None]:
    """The 95 % Wilson score interval of ``successes / trials``; (None, None) without trials.

    The closed form (Wilson 1927), the same numbers as statsmodels' ``proportion_confint(method="wilson")``
    (tests/analyses/test_proportion.py checks it): accuracy is a core analysis, and statsmodels is an
    optional extra that costs a second to import.
    """
    if trials <= 0:
        return None, None
    p, n, z2 = successes / trials, trials, _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # at 0 or n successes the bound is exactly 0 or 1; the formula leaves rounding noise there, and a
    # lower bound a hair above the accuracy once made a negative error bar
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def accuracy_interval(correct: int, incorrect: int) -> dict[str, float | None]:
    """``accuracy_ci_low`` / ``accuracy_ci_high``: the interval of correct over the decided answers."""
    low, high = wilson_interval(correct, correct + incorrect)
    return {"accuracy_ci_low": low, "accuracy_ci_high": high}
