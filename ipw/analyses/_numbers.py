"""JSON-ready numbers for every projection: no NaN or inf (they become ``None``), plain
``int``/``float``, numpy "linear" percentiles, and the provenance order numbers are vouched by."""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Sequence

import numpy as np

# weakest first; matches ipw.replay.PowerTrace.source
PROVENANCE_ORDER: tuple[str, ...] = ("estimated", "imported", "derived", "measured")

PERCENTILES: tuple[int, ...] = (50, 90, 99)


def finite(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def weakest(sources: Iterable[str | None]) -> str | None:
    """The weakest provenance among ``sources`` (estimated < imported < derived < measured)."""
    present = {s for s in sources if s}
    if not present:
        return None
    for name in PROVENANCE_ORDER:
        if name in present:
            return name
    return sorted(present)[0]


def describe(values: np.ndarray | Sequence[float]) -> dict[str, Any]:
    """n, mean, p50, p90, p99, min, max of ``values`` (NaN dropped; numpy "linear" percentiles)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        out: dict[str, Any] = {"n": 0, "mean": None, "min": None, "max": None}
        out.update({f"p{p}": None for p in PERCENTILES})
        return out
    pct = np.percentile(arr, PERCENTILES, method="linear")
    out = {"n": int(arr.size), "mean": finite(arr.mean()), "min": finite(arr.min()), "max": finite(arr.max())}
    out.update({f"p{p}": finite(v) for p, v in zip(PERCENTILES, pct)})
    return out


def median(values: np.ndarray) -> float:
    """The median by sorting (np.median's partition is slow on the many equal sample intervals)."""
    ordered = np.sort(np.asarray(values))
    n = len(ordered)
    return float(ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0


def sorted_unique(*arrays: np.ndarray) -> np.ndarray:
    """The sorted distinct values of the arrays together (np.unique is slow on large int64 arrays)."""
    ordered = np.sort(np.concatenate(arrays))
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def concat_tokens(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate per-query integer lists into one int64 array plus the offsets of each list.

    ``offsets`` has ``len(lists) + 1`` entries; list ``i`` is ``out[offsets[i]:offsets[i+1]]``.
    """
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    if lists and all(isinstance(x, np.ndarray) for x in lists):
        out = np.concatenate(lists).astype(np.int64, copy=False) if total else np.empty(0, dtype=np.int64)
    else:
        out = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=total)
    return out, offsets
