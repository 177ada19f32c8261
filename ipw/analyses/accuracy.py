"""The accuracy of a run under one judge: correct, incorrect, unevaluated.

Counted over the measured queries (completed, not warm-up). A query is
*unevaluated* when the judge has no verdict for it or its verdict has no
decision (``is_correct`` null: an unparseable judge answer, a judge error, an
answer with nothing to extract). ``accuracy`` is correct / (correct +
incorrect), the share of decided answers that are right, and is null when
nothing was decided; ``accuracy_over_total`` is correct / total, which counts
every undecided answer as not correct.

Which judge: the ``judge`` option when given (it must have verdicts in the
run), else the judge the run was configured with (``config.eval.judge``) when
it has verdicts, else the judge with the most verdicts (ties broken by name);
the rule is :func:`ipw.replay.select_judge`, shared with routing and re-judging.

``by_benchmark`` gives each benchmark (:mod:`ipw.analyses.benchmarks`: a
mixture's records carry theirs, else the run's dataset) the same counts and
its accuracy's 95 % Wilson interval (``accuracy_ci_low``/``accuracy_ci_high``,
:mod:`ipw.analyses.proportion`; None when nothing was decided).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..errors import UsageError
from ..replay import select_judge
from ._options import applied_options
from .benchmarks import queries_by_benchmark
from .proportion import accuracy_interval

if TYPE_CHECKING:
    from ..replay import QueryRecord, RunView

__all__ = ["AccuracyProjection", "accuracy_counts", "tally"]

_OPTIONS = ("judge", "model")


def tally(queries: Iterable[QueryRecord], decisions: dict[int, bool | None]) -> dict[str, Any]:
    """Correct / incorrect / unevaluated counts of ``queries`` given each one's decision."""
    correct = incorrect = no_verdict = no_decision = 0
    for q in queries:
        if q.query_id not in decisions:
            no_verdict += 1
            continue
        decision = decisions[q.query_id]
        if decision is True:
            correct += 1
        elif decision is False:
            incorrect += 1
        else:
            no_decision += 1
    total = correct + incorrect + no_verdict + no_decision
    decided = correct + incorrect
    return {
        "correct": correct,
        "incorrect": incorrect,
        "unevaluated": no_verdict + no_decision,
        "unevaluated_detail": {"no_verdict": no_verdict, "no_decision": no_decision},
        "total": total,
        "accuracy": correct / decided if decided else None,
        "accuracy_over_total": correct / total if total else None,
    }


def accuracy_counts(view: RunView, judge: str | None = None) -> dict[str, Any]:
    """Accuracy of the run's measured queries under one judge, overall and by subject."""
    spec = select_judge(view, judge)
    latest = view.verdicts_by_judge().get(spec, {}) if spec is not None else {}
    decisions = {qid: v.is_correct for qid, v in latest.items()}
    measured = view.measured_queries()
    out: dict[str, Any] = {"judge": spec, **tally(measured, decisions)}
    subjects: dict[str, list[QueryRecord]] = {}
    for q in measured:
        subjects.setdefault(q.subject or "(none)", []).append(q)
    out["by_subject"] = {name: tally(qs, decisions) for name, qs in sorted(subjects.items())}
    out["by_benchmark"] = {name: {**(t := tally(qs, decisions)), **accuracy_interval(t["correct"], t["incorrect"])}
                           for name, qs in queries_by_benchmark(view).items()}
    return out


class AccuracyProjection:
    """``accuracy``: correct, incorrect, unevaluated and accuracy of a run (``analysis/accuracy.json``).

    Options: ``judge`` (a judge spec present in the run) and ``model`` (the
    upstream ``--option model=…``; it must name the run's model).
    """

    analysis_id = "accuracy"
    needs_judging = True

    def compute(self, view: RunView, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise UsageError(
                f"the accuracy analysis has no option(s) {', '.join(unknown)}",
                hint=f"it accepts: {', '.join(_OPTIONS)}",
            )
        run_model = view.config.get("model")
        model = options.get("model")
        if model is not None and str(model) != str(run_model):
            raise UsageError(
                f"this run measured the model {run_model!r}, not {model!r}",
                hint=f"pass --option model={run_model} or leave the option out",
            )
        judge = options.get("judge")
        counts = accuracy_counts(view, None if judge is None else str(judge))
        # records never answered: an attempt cut short and later completed (by a retry or a resume) does not count
        answered = {q.record_id for q in view.measured_queries()}
        not_completed = len({q.record_id for q in view.queries.values()
                             if not q.warmup and not q.completed and q.record_id not in answered})
        judges_present = sorted({v.judge for v in view.verdicts})
        return {
            "analysis": self.analysis_id,
            "run_id": view.run_id,
            "model": run_model,
            "judges_present": judges_present,
            "queries_not_completed": not_completed,
            **counts,
            "options": applied_options(self.analysis_id, _OPTIONS, {
                "judge": counts["judge"],  # the judge chosen when none was given: it decides every count
                # the option can only name the run's model, so the file is the same with it or without it
                "model": None if run_model is None else str(run_model),
            }),
        }
