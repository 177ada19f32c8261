"""Every deterministic scorer by name, the auto scorer that runs the one a record names, and rebuilding from a spec.

``SCORERS`` maps a record's ``scorer`` name to its class:

    letter   scorer:letter/v1    multiple choice, A–J           (scorers)
    numeric  scorer:numeric/v1   a number within tolerance      (scorers)
    exact    scorer:exact/v1     a short normalised string      (scorers)
    gsm8k    scorer:gsm8k/v1     GSM8K's final number           (final_number)
    math     scorer:math/v1      math-verify equivalence        (math_grader)
    code     scorer:code/v1      sandboxed tests of a program   (code_grader)

``AutoScorer`` (``scorer:auto/v1``) runs the scorer a record names and adds
that scorer's spec to the verdict's metadata. :func:`get_scorer` rebuilds a
scorer from its id or its spec string, options included, so a stored
verdict's judge can be asked again alike (re-judging is keyed by the spec).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import UsageError
from .code_grader import CodeScorer
from .final_number import FinalNumberScorer
from .math_grader import MathScorer
from .scorers import ExactScorer, LetterScorer, NumericScorer, ScoreResult

__all__ = ["SCORERS", "AutoScorer", "get_scorer"]

SCORERS: dict[str, type] = {
    "letter": LetterScorer,
    "numeric": NumericScorer,
    "exact": ExactScorer,
    "gsm8k": FinalNumberScorer,
    "math": MathScorer,
    "code": CodeScorer,
}
# the options a spec may carry, per scorer; every other scorer takes none
_OPTIONS = {"numeric": {"rel_tol", "abs_tol"}, "code": {"wall_s"}}


class AutoScorer:
    """Runs the deterministic scorer each record names (any of ``SCORERS``)."""

    id: ClassVar[str] = "auto"
    spec: ClassVar[str] = "scorer:auto/v1"

    def __init__(self) -> None:
        self._scorers = {name: cls() for name, cls in SCORERS.items()}

    def score(
        self, answer_text: str, reference: str, *, scorer: str | None, choices: list[str] | None = None
    ) -> ScoreResult:
        """Score with the scorer named by ``scorer``; ``None`` (an LLM item) is left unevaluated."""
        if scorer is None:
            return ScoreResult(None, None, {"reason": "this record needs an LLM judge", "scorer": None})
        inner = self._scorers.get(scorer)
        if inner is None:
            raise UsageError(f"unknown scorer {scorer!r}", hint=f"use one of: {', '.join(SCORERS)}")
        result = inner.score(answer_text, reference, choices=choices)
        return ScoreResult(result.is_correct, result.score, {**result.metadata, "scorer": inner.spec})


def get_scorer(name: str) -> Any:
    """A scorer by id (``letter``, ``math``, ``auto`` …) or rebuilt from its spec string.

    ``scorer:numeric/v1?rel_tol=0.01&abs_tol=0.0`` gives back a scorer with
    those tolerances, ``scorer:code/v1?wall_s=20`` a code grader with that
    wall clock, so stored verdicts can be re-scored alike.
    """
    key, _, query = name.strip().partition("?")
    key = key.removeprefix("scorer:").split("/", 1)[0]
    try:
        options = {k: float(v) for k, _, v in (pair.partition("=") for pair in query.split("&") if pair)}
    except ValueError:
        raise UsageError(f"scorer spec {name!r} has an option that is not a number", hint="write e.g. rel_tol=0.001") from None
    if options and not set(options) <= _OPTIONS.get(key, set()):
        allowed = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in _OPTIONS.items())
        raise UsageError(f"scorer spec {name!r} has unknown options", hint=f"only these take options: {allowed}")
    if key == "auto":
        return AutoScorer()
    if key in SCORERS:
        return SCORERS[key](**options)
    raise UsageError(f"unknown scorer {name!r}", hint=f"use one of: {', '.join([*SCORERS, 'auto'])}")
