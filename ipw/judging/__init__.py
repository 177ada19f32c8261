"""Judging: turn a query's answer into a verdict.

Deterministic scorers live in ``scorers`` and need nothing but the answer and
its reference; each carries a stable ``spec`` string that keys its verdicts.
"""

from __future__ import annotations

from .scorers import (
    SCORERS,
    AutoScorer,
    ExactScorer,
    LetterScorer,
    NumericScorer,
    Scorer,
    ScoreResult,
    answer_segment,
    get_scorer,
)

__all__ = [
    "SCORERS",
    "AutoScorer",
    "ExactScorer",
    "LetterScorer",
    "NumericScorer",
    "Scorer",
    "ScoreResult",
    "answer_segment",
    "get_scorer",
]
