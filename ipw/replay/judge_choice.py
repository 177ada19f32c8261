"""Which judge a run's results are reported under: one rule, read off the replayed run alone.

A run may hold verdicts from several judges. Accuracy, routing and re-judging
(:mod:`ipw.judging.select`) all pick the same one: the judge asked for by name
(it must have verdicts in the run), else the judge the run was configured with
(``config.eval.judge``) when it has verdicts, else the judge with the most
verdicts, ties broken by name. It lives here, beside the :class:`RunView` it
reads, so that judging need not import an analysis to know it.
"""

from __future__ import annotations

from ..errors import UsageError
from .engine import RunView

__all__ = ["select_judge"]


def select_judge(view: RunView, judge: str | None = None) -> str | None:
    """The judge spec the run's results are reported under (see the module docstring); None without verdicts."""
    counts: dict[str, int] = {}
    for v in view.verdicts:
        counts[v.judge] = counts.get(v.judge, 0) + 1
    if judge is not None:
        if judge not in counts:
            present = ", ".join(sorted(counts)) or "none"
            raise UsageError(
                f"the run has no verdicts from the judge {judge!r}",
                hint=f"judges present: {present}",
            )
        return judge
    if not counts:
        return None
    configured = view.config.get("eval")
    if isinstance(configured, dict):
        wanted = configured.get("judge")
        if isinstance(wanted, str) and wanted in counts:
            return wanted
    return min(counts, key=lambda name: (-counts[name], name))
