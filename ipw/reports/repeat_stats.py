"""A figure over repeated runs: its mean, Student's t-interval and coefficient of variation.

A study that repeats a cell (``repeats = N`` or ``repeats = "auto"``) gives n
values of each metric, one per repeat. Their spread, not the run's own
sampling, is what a reader needs to trust a difference between cells:

    mean ± t(0.975, n − 1) · s / √n     (the 95 % t-interval; s the sample standard deviation)
    CV = s / |mean|                     (the coefficient of variation across repeats)

``half_width_share`` is the half-width over |mean|: the figure ``repeats =
"auto"`` drives below its target. The t quantile is scipy's
(``scipy.stats.t``, installed with statsmodels by the ``analysis`` extra).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import msgspec

from ..errors import BackendMissingError

__all__ = ["CONFIDENCE", "RepeatInterval", "t_interval", "t_quantile", "repeat_groups", "REPEAT_METRICS"]

CONFIDENCE = 0.95
# the figures whose spread across repeats the report gives: the headline first
REPEAT_METRICS = ("joules_per_correct", "accuracy", "mean_energy_per_query_j", "intelligence_per_watt",
                  "intelligence_per_joule", "throughput_tokens_per_s", "e2e_p50_s")


class RepeatInterval(msgspec.Struct, frozen=True, kw_only=True):
    """One metric over the n repeats of one cell."""

    metric: str
    n: int
    mean: float
    sd: float | None = None  # None with one value: no spread to measure
    half_width: float | None = None
    low: float | None = None
    high: float | None = None
    cv: float | None = None  # None when the mean is 0
    half_width_share: float | None = None


def t_quantile(probability: float, df: int) -> float:
    stats = BackendMissingError.require("scipy.stats", "t-intervals over repeated runs", "analysis")
    return float(stats.t.ppf(probability, df))


def t_interval(values: Iterable[float], metric: str = "", confidence: float = CONFIDENCE) -> RepeatInterval:
    """The mean of ``values`` with its two-sided t-interval and CV; at least one finite value is required."""
    xs = [float(v) for v in values]
    if not xs or not all(math.isfinite(x) for x in xs):
        raise ValueError("a t-interval needs finite values")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return RepeatInterval(metric=metric, n=n, mean=mean)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    share = half / abs(mean) if mean else None
    return RepeatInterval(metric=metric, n=n, mean=mean, sd=sd, half_width=half, low=mean - half,
                          high=mean + half, cv=sd / abs(mean) if mean else None, half_width_share=share)


def repeat_groups(rows: Iterable[Any], metrics: tuple[str, ...] = REPEAT_METRICS) -> list[dict[str, Any]]:
    """For each cell run more than once (rows alike but for their ``repeat`` parameter): the interval of each
    metric over its repeats that have it. Rows need ``cell``, ``params`` and ``value(name)``."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        if "repeat" not in row.params:
            continue
        params = {k: v for k, v in row.params.items() if k != "repeat"}
        key = repr(sorted(params.items(), key=lambda kv: kv[0]))
        group = groups.setdefault(key, {"params": params, "cells": [], "rows": []})
        group["cells"].append(row.cell)
        group["rows"].append(row)
    out = []
    for group in groups.values():
        intervals = {}
        for metric in metrics:
            values = [v for r in group["rows"] if isinstance(v := r.value(metric), (int, float))
                      and not isinstance(v, bool) and math.isfinite(v)]
            if values:
                intervals[metric] = msgspec.to_builtins(t_interval(values, metric))
        out.append({"params": group["params"], "cells": group["cells"], "intervals": intervals})
    return out
