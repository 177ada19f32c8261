"""Capture sessions: a resumed run is several sessions, and the pause between them is not serving time."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def session_windows_ns(view: Any, starts_ns: Sequence[int] | np.ndarray,
                       ends_ns: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
    """[first start, last end] of the given queries in each capture session, in time order.

    A resumed run has one ``run_started`` per session; the pause between a
    crash and its ``--resume`` is not time the stack was serving. ``starts_ns``
    and ``ends_ns`` are paired, one entry per query.
    """
    s = np.asarray(starts_ns, dtype=np.int64)
    e = np.asarray(ends_ns, dtype=np.int64)
    if not len(s):
        return []
    bounds = np.asarray(sorted(r.t_ns for r in view.runs_started)[1:], dtype=np.int64)
    session = np.searchsorted(bounds, s, side="right")
    return [(int(s[session == k].min()), int(e[session == k].max())) for k in np.unique(session)]


def sessions_span_s(view: Any, starts_ns: Sequence[int] | np.ndarray, ends_ns: Sequence[int] | np.ndarray) -> float | None:
    """Seconds of :func:`session_windows_ns`, summed; None when there are no queries."""
    windows = session_windows_ns(view, starts_ns, ends_ns)
    return sum(b - a for a, b in windows) / 1e9 if windows else None
