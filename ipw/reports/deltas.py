"""Resampled differences between two runs: the percentile bootstrap behind every B − A interval a diff shows.

A difference is paired when the two runs answered the same records (each
resample then draws the same records on both sides), and resampled on each
side independently otherwise; :mod:`ipw.reports.diff` decides which. A mean
is resampled as a mean, a ratio of sums (energy per output token, energy per
solved task) as the ratio of the resampled sums. A flip is a shared record
whose outcome (right or wrong, solved or not) changed from A to B.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple

import numpy as np

__all__ = ["BOOT_CELLS", "Flips", "bootstrap_delta", "natural_key", "outcome_flips", "ratio_interval"]

BOOT_CELLS = 4_000_000  # resampled values held in memory at once


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = len(values)
    out = np.empty(n_boot)
    step = max(1, BOOT_CELLS // n)
    for start in range(0, n_boot, step):
        k = min(step, n_boot - start)
        out[start : start + k] = values[rng.integers(0, n, size=(k, n))].mean(axis=1)
    return out


def bootstrap_delta(
    a: np.ndarray, b: np.ndarray, *, paired: bool, n_boot: int, rng: np.random.Generator
) -> tuple[float, float] | None:
    """Percentile 95 % interval of mean(b) − mean(a); None with fewer than two values a side."""
    if len(a) < 2 or len(b) < 2 or n_boot < 1:
        return None
    if paired:
        boots = _boot_means(b - a, n_boot, rng)
    else:
        boots = _boot_means(b, n_boot, rng) - _boot_means(a, n_boot, rng)
    low, high = np.percentile(boots, [2.5, 97.5])
    return float(low), float(high)


def natural_key(text: str) -> list[Any]:
    """A sort key that orders ``r2`` before ``r10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _boot_ratios(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return num[idx].sum(axis=1) / den[idx].sum(axis=1)


def ratio_interval(side_a: tuple[np.ndarray, np.ndarray], side_b: tuple[np.ndarray, np.ndarray], *, paired: bool,
                   n_boot: int, rng: np.random.Generator) -> tuple[float, float] | None:
    """Percentile 95 % interval of Σnum ÷ Σden in B minus the same in A, each side a (num, den) pair of arrays.

    Rows are resampled whole (the same rows on both sides when ``paired``); a
    resample whose denominator sums to 0 has no ratio and is left out, and
    None means none had one.
    """
    n_a, n_b = len(side_a[0]), len(side_b[0])
    step = max(1, BOOT_CELLS // max(n_a, n_b))
    boots = []
    for start in range(0, n_boot, step):
        k = min(step, n_boot - start)
        ia = rng.integers(0, n_a, size=(k, n_a))
        ib = ia if paired else rng.integers(0, n_b, size=(k, n_b))
        boots.append(_boot_ratios(*side_b, ib) - _boot_ratios(*side_a, ia))
    values = np.concatenate(boots)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


class Flips(NamedTuple):
    """Records two runs share, by how their outcome (right or wrong, solved or not) changed from A to B."""

    shared: list[str]
    true_to_false: list[str]
    false_to_true: list[str]
    unchanged: int
    unevaluated: int  # an outcome unknown in either run


def outcome_flips(a: Mapping[str, bool | None], b: Mapping[str, bool | None]) -> Flips:
    """Each key of both ``a`` and ``b``, in natural order, sorted by how its outcome changed."""
    shared = sorted(set(a) & set(b), key=natural_key)
    to_false, to_true, same, unevaluated = [], [], 0, 0
    for key in shared:
        oa, ob = a[key], b[key]
        if oa is None or ob is None:
            unevaluated += 1
        elif oa and not ob:
            to_false.append(key)
        elif ob and not oa:
            to_true.append(key)
        else:
            same += 1
    return Flips(shared, to_false, to_true, same, unevaluated)
