"""Goodput search: the highest load level whose SLO attainment meets a target (as guidellm and aiperf do).

A level is a concurrency (or a request rate on a grid of whole steps); one
probe at a level is one ordinary run, measured by the latency analysis with
the SLO (:mod:`ipw.analyses.slo`). Attainment is taken to fall as the load
rises, so the search bisects: probe ``low`` (if it misses the target no level
does: the result is ``None``), probe ``high`` (if it meets it, ``high`` is the
answer), then halve [highest level that met, lowest that missed] until they
are neighbours. Each level is probed at most once; every probe is kept, in
the order it ran, so a report can show the whole search.

Not yet wired to ``search = "goodput"`` in a study file (``ipw.studies.runner``):
this module is the search and the probe, tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import UsageError

__all__ = ["Probe", "GoodputSearch", "search_goodput", "run_attainment"]


@dataclass(frozen=True)
class Probe:
    level: int
    attainment: float | None  # None: the probe measured nothing (no query completed), taken as a miss
    meets: bool


@dataclass
class GoodputSearch:
    """The highest level that met ``target_attainment`` (None when even the lowest missed), and every probe."""

    target_attainment: float
    level: int | None = None
    probes: list[Probe] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"target_attainment": self.target_attainment, "level": self.level,
                "probes": [{"level": p.level, "attainment": p.attainment, "meets": p.meets} for p in self.probes]}


def search_goodput(measure: Callable[[int], float | None], *, low: int, high: int,
                   target_attainment: float) -> GoodputSearch:
    """Bisect [low, high] for the highest level whose ``measure(level)`` (attainment) is at least the target."""
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise UsageError(f"goodput search needs 1 <= low <= high, got low={low!r}, high={high!r}")
    if not 0 < target_attainment <= 1:
        raise UsageError(f"target_attainment must be a share in (0, 1], got {target_attainment!r}",
                         hint="e.g. target_attainment = 0.9: nine queries in ten within the SLO")
    out = GoodputSearch(target_attainment)

    def meets(level: int) -> bool:
        attainment = measure(level)
        ok = attainment is not None and attainment >= target_attainment
        out.probes.append(Probe(level, attainment, ok))
        return ok

    if not meets(low):
        return out
    if high == low or meets(high):
        out.level = high
        return out
    good, bad = low, high
    while bad - good > 1:
        mid = (good + bad) // 2
        if meets(mid):
            good = mid
        else:
            bad = mid
    out.level = good
    return out


def run_attainment(run_dir: Path, slo: Mapping[str, float] | str) -> float | None:
    """The SLO attainment of a recorded run: its latency analysis with ``slo``."""
    from ..analyses.latency import LatencyProjection
    from ..replay import load_run

    result = LatencyProjection().compute(load_run(Path(run_dir)), {"slo": slo})
    return result["slo"]["attainment"]
