"""The GSM8K grader (``scorer:gsm8k/v1``): the answer's final number against the reference's.

GSM8K references are a worked solution ending in ``#### 42``, and a model
that reasons step by step states its result last, so both sides are read
from the end, unlike :class:`~ipw.judging.scorers.NumericScorer`, which reads
a base model's first number:

- the reference: the first number after its last ``####``; without one, its
  last number;
- the answer: the first number after its last ``####`` when it writes one
  (models trained on GSM8K do), else the last number anywhere in it.

Numbers are read as the numeric scorer reads them (sign, thousands commas,
decimals, ``$``, fractions), and equal within ``rel_tol=1e-6, abs_tol=1e-9``.
No number on either side → ``is_correct`` None, with the reason.
"""

from __future__ import annotations

import math
from typing import ClassVar

from .scorers import ScoreResult, numbers_in

__all__ = ["FinalNumberScorer"]

_MARK = "####"


def _final_number(text: str) -> tuple[float, str] | None:
    """(value, rule) of the number a text ends on, per the module docstring."""
    if _MARK in text:
        after = numbers_in(text.rpartition(_MARK)[2])
        if after:
            return after[0], "marker"
    found = numbers_in(text)
    return (found[-1], "last") if found else None


class FinalNumberScorer:
    """GSM8K's final number (see the module docstring)."""

    id: ClassVar[str] = "gsm8k"
    spec: ClassVar[str] = "scorer:gsm8k/v1"

    def score(self, answer_text: str, reference: str, *, choices: list[str] | None = None) -> ScoreResult:
        ref = _final_number(reference)
        if ref is None:
            return ScoreResult(None, None, {"reason": f"reference {reference[-200:]!r} holds no number"})
        got = _final_number(answer_text)
        if got is None:
            return ScoreResult(None, None, {"extracted": None, "reference": ref[0], "reason": "no number in the answer"})
        correct = math.isclose(got[0], ref[0], rel_tol=1e-6, abs_tol=1e-9)
        return ScoreResult(correct, float(correct), {"extracted": got[0], "rule": got[1], "reference": ref[0]})
