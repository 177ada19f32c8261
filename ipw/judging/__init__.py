"""Judging: turn a query's answer into a verdict.

Deterministic scorers live in ``scorers`` and need nothing but the answer and
its reference; the benchmark graders (``final_number``, ``math_grader``,
``code_grader``) beside them; ``dispatch`` names them all. Each carries a
stable ``spec`` string that keys its verdicts.
"""

from __future__ import annotations

from .code_grader import CodeScorer
from .dispatch import SCORERS, AutoScorer, get_scorer
from .final_number import FinalNumberScorer
from .math_grader import MathScorer
from .scorers import (
    ExactScorer,
    LetterScorer,
    NumericScorer,
    Scorer,
    ScoreResult,
    answer_segment,
)

__all__ = [
    "SCORERS",
    "AutoScorer",
    "CodeScorer",
    "ExactScorer",
    "FinalNumberScorer",
    "LetterScorer",
    "MathScorer",
    "NumericScorer",
    "Scorer",
    "ScoreResult",
    "answer_segment",
    "get_scorer",
]
