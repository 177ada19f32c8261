"""The two statistics a comparison of runs marks: the Wilson interval of an accuracy, and the Pareto front.

The Pareto front is defined here once; the Wilson interval is
:mod:`ipw.analyses.proportion`'s (the accuracy analysis gives it per
benchmark), re-exported. The study table, its figures and the
accuracy-energy plot use them.
"""

from __future__ import annotations

import math

from ..analyses.proportion import CONFIDENCE, wilson_interval

__all__ = ["CONFIDENCE", "wilson_interval", "pareto_front"]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (joules, accuracy) points no other beats: none is at least as accurate for fewer joules."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return sorted(front)
