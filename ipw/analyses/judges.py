"""Agreement between the judges of a run.

For every judge: its accuracy over the measured queries (as the ``accuracy``
analysis counts it). For every pair of judges, over the measured queries both
have a verdict for:

- ``n``: such queries; ``outcomes``: how many had each pair of decisions,
  ``"true/false"`` meaning the first judge said correct and the second
  incorrect, ``none`` standing for no decision;
- ``n_decided``: those where both decided; ``agreement``: the share of them
  where the two agree; ``kappa``: Cohen's kappa on them.

Kappa is ``(p_o - p_e) / (1 - p_e)``. It is null when nothing was decided by
both, and when ``p_e`` is 1: both judges gave one and the same decision to
every query, so chance alone explains the agreement and kappa is undefined
(``kappa_note`` says so). ``disagreements`` lists the decided queries the
two judges disagree on.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ._options import applied_options
from .accuracy import tally

if TYPE_CHECKING:
    from ..replay import RunView

__all__ = ["JudgesProjection", "cohen_kappa", "judge_agreement"]

_NAMES = {True: "true", False: "false", None: "none"}


def cohen_kappa(pairs: list[tuple[bool, bool]]) -> tuple[float | None, str | None]:
    """Cohen's kappa of two raters' binary decisions, with a note when it is undefined."""
    n = len(pairs)
    if n == 0:
        return None, "no query was decided by both judges"
    agree = sum(1 for a, b in pairs if a == b) / n
    a_true = sum(1 for a, _ in pairs if a) / n
    b_true = sum(1 for _, b in pairs if b) / n
    expected = a_true * b_true + (1 - a_true) * (1 - b_true)
    if expected >= 1.0:
        return None, "both judges gave every query the same single decision; kappa is undefined"
    return (agree - expected) / (1 - expected), None


def judge_agreement(view: RunView, first: str, second: str) -> dict[str, Any]:
    """How two judges compare on the measured queries both judged."""
    by_judge = view.verdicts_by_judge()
    a, b = by_judge.get(first, {}), by_judge.get(second, {})
    outcomes = {f"{x}/{y}": 0 for x in _NAMES.values() for y in _NAMES.values()}
    decided: list[tuple[bool, bool]] = []
    disagreements: list[dict[str, Any]] = []
    n = 0
    for q in view.measured_queries():
        va, vb = a.get(q.query_id), b.get(q.query_id)
        if va is None or vb is None:
            continue
        n += 1
        outcomes[f"{_NAMES[va.is_correct]}/{_NAMES[vb.is_correct]}"] += 1
        if va.is_correct is not None and vb.is_correct is not None:
            decided.append((va.is_correct, vb.is_correct))
            if va.is_correct != vb.is_correct:
                disagreements.append(
                    {"query_id": q.query_id, "record_id": q.record_id, first: va.is_correct, second: vb.is_correct}
                )
    kappa, note = cohen_kappa(decided)
    out: dict[str, Any] = {
        "judges": [first, second],
        "n": n,
        "n_decided": len(decided),
        "agreement": sum(1 for x, y in decided if x == y) / len(decided) if decided else None,
        "kappa": kappa,
        "outcomes": outcomes,
        "disagreements": disagreements,
    }
    if note is not None:
        out["kappa_note"] = note
    return out


class JudgesProjection:
    """``judges``: each judge's accuracy and the agreement of every pair (``analysis/judges.json``).

    Option ``judges``: a comma-separated list of specs to restrict the
    comparison to (default: every judge with verdicts in the run).
    """

    analysis_id = "judges"
    needs_judging = False

    def compute(self, view: RunView, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - {"judges"})
        if unknown:
            raise UsageError(
                f"the judges analysis has no option(s) {', '.join(unknown)}",
                hint="it accepts: judges (comma-separated judge specs)",
            )
        present = sorted({v.judge for v in view.verdicts})
        chosen = present
        if options.get("judges"):
            wanted = options["judges"]
            chosen = [s.strip() for s in (wanted.split(",") if isinstance(wanted, str) else wanted) if s.strip()]
            missing = [s for s in chosen if s not in present]
            if missing:
                raise UsageError(
                    f"the run has no verdicts from {', '.join(missing)}",
                    hint=f"judges present: {', '.join(present) or 'none'}",
                )
            chosen = sorted(set(chosen))
        by_judge = view.verdicts_by_judge()
        measured = view.measured_queries()
        per_judge = {
            spec: tally(measured, {qid: v.is_correct for qid, v in by_judge.get(spec, {}).items()}) for spec in chosen
        }
        pairs = [judge_agreement(view, x, y) for x, y in combinations(chosen, 2)]
        return {
            "analysis": self.analysis_id,
            "run_id": view.run_id,
            "judges": chosen,
            "per_judge": per_judge,
            "pairs": pairs,
            "options": applied_options(self.analysis_id, ("judges",), {"judges": chosen}),  # every judge when none were named
        }
