"""The two statistics a comparison of runs marks: the Wilson interval of an accuracy, and the Pareto front.

Both are defined here once; the study table, its figures and the
accuracy-energy plot use them.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import BackendMissingError

__all__ = ["CONFIDENCE", "wilson_interval", "pareto_front"]

CONFIDENCE = 0.95


def wilson_interval(successes: int, trials: int) -> tuple[float | None, float | None]:
    """The 95 % Wilson score interval of ``successes / trials`` (statsmodels); (None, None) without trials."""
    if trials <= 0:
        return None, None
    low, high = _proportion_confint()(successes, trials, alpha=1 - CONFIDENCE, method="wilson")
    # at 0 or n successes the bound is exactly 0 or 1; the formula leaves rounding noise there, and a
    # lower bound a hair above the accuracy once made a negative error bar
    low = 0.0 if successes <= 0 else max(0.0, float(low))
    high = 1.0 if successes >= trials else min(1.0, float(high))
    return low, high


def _proportion_confint() -> Any:
    try:
        from statsmodels.stats.proportion import proportion_confint
    except ImportError as exc:
        raise BackendMissingError("accuracy intervals", "analysis", module="statsmodels") from exc
    return proportion_confint


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (joules, accuracy) points no other beats: none is at least as accurate for fewer joules."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return sorted(front)
