"""``repeats = "auto"``: run a cell again until the 95 % interval of its figure is tight enough.

A study file sets::

    repeats = "auto"
    max_repeats = 10            # never more runs than this per cell (default 10)
    min_repeats = 3             # never fewer (default 3: two values give t(0.975, 1) = 12.7)
    repeat_target = 0.05        # stop once the half-width is at most 5 % of the mean (default 0.05)
    repeat_metric = "joules_per_correct"   # any numeric column of the study report (the default: J per correct)

The cells of such a study are its matrix's combinations times ``max_repeats``
(``…-r1`` … ``…-r10``). For each combination the repeats run in order; after
each one the figure's t-interval over the repeats that gave it
(:func:`ipw.reports.repeat_stats.t_interval`) is checked, and once

    half-width ≤ repeat_target × |mean|     with at least min_repeats values

the repeats left are marked ``not_needed`` (no run, no row in the report). A
repeat that failed, or whose figure is missing (no correct answer, energy not
measured), gives no value; the cell stops at ``max_repeats`` runs however
wide the interval still is, and says so. A rerun of the study reuses the
repeats already complete and decides again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..reports.repeat_stats import RepeatInterval, t_interval

__all__ = ["RepeatRule", "RepeatOutcome", "run_until_tight", "metric_of", "DEFAULT_METRIC"]

DEFAULT_METRIC = "joules_per_correct"


@dataclass(frozen=True)
class RepeatRule:
    """When to stop repeating a cell."""

    target: float = 0.05
    max_repeats: int = 10
    min_repeats: int = 3
    metric: str = DEFAULT_METRIC

    def tight(self, values: Sequence[float]) -> RepeatInterval | None:
        """The interval over ``values`` when it meets the target (with at least ``min_repeats`` of them)."""
        if len(values) < max(2, self.min_repeats):
            return None
        interval = t_interval(values, self.metric)
        share = interval.half_width_share
        return interval if share is not None and share <= self.target else None


@dataclass
class RepeatOutcome:
    """What the repeats of one cell came to."""

    ran: list[str] = field(default_factory=list)         # cells run now
    values: list[float] = field(default_factory=list)    # the figure of each repeat that gave one, in order
    not_needed: list[str] = field(default_factory=list)  # repeats left unrun: the interval was tight
    stopped: str = "max_repeats"                         # tight, or max_repeats
    interval: RepeatInterval | None = None

    def message(self, rule: RepeatRule) -> str:
        i = self.interval
        where = (f"{rule.metric} {i.mean:.6g} ± {i.half_width:.3g} ({i.half_width_share:.1%} of the mean)"
                 if i is not None and i.half_width is not None and i.half_width_share is not None
                 else f"{rule.metric}: {len(self.values)} value(s)")
        if self.stopped == "tight":
            return f"tight after {len(self.values)} repeats: {where} <= {rule.target:.1%}"
        return f"stopped at max_repeats ({rule.max_repeats}) with the target {rule.target:.1%} not met: {where}"


def run_until_tight(cells: Sequence[Any], rule: RepeatRule, *, complete: Callable[[Any], bool],
                    run: Callable[[Any], None], metric: Callable[[Any], float | None]) -> RepeatOutcome:
    """Run the repeats of one cell (``cells`` in repeat order) until ``rule`` says the interval is tight.

    ``complete(cell)`` says a repeat's run is already complete (it is not run again); ``run(cell)`` runs one;
    ``metric(cell)`` reads its figure (None when it has none). These are the seams a test drives."""
    outcome = RepeatOutcome()
    for index, cell in enumerate(cells):
        interval = rule.tight(outcome.values)
        if interval is not None:
            outcome.stopped, outcome.interval = "tight", interval
            outcome.not_needed = [c.name for c in cells[index:]]
            return outcome
        if not complete(cell):
            run(cell)
            outcome.ran.append(cell.name)
        value = metric(cell)
        if value is not None and math.isfinite(value):
            outcome.values.append(float(value))
    interval = rule.tight(outcome.values)
    if interval is not None:
        outcome.stopped = "tight"
    outcome.interval = interval or (t_interval(outcome.values, rule.metric) if outcome.values else None)
    return outcome


def metric_of(run_dir: Path, name: str, options: dict[str, Any] | None = None) -> float | None:
    """The study report's column ``name`` for one cell's run (replayed from its ledger, with the analysis
    ``options``: a searched study's ``slo``), or None."""
    from ..reports._metrics import load_views
    from ..reports.study_table import cell_row

    if not (Path(run_dir) / "events").is_dir():
        return None
    value = cell_row("", {}, "completed", load_views([Path(run_dir)])[0], options).value(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
