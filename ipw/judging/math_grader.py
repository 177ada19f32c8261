"""The math grader (``scorer:math/v1``): is the answer's final expression equal to the reference's?

Equality is Hugging Face's ``math-verify``: both sides are parsed from LaTeX
or plain expressions into sympy and compared symbolically and numerically, so
``\\frac{1}{2}`` equals ``0.5``, ``\\boxed{\\frac{\\sqrt{3}}{2}}`` equals
``\\frac{\\sqrt3}2``, ``\\{1,2\\}`` equals ``\\{2,1\\}`` and ``x^2`` equals
``x \\cdot x``, while ``[0,1)`` is not ``[0,1]`` and ``0.5`` is not ``0.51``.

- The answer: math-verify's own extraction over the answer's last
  ``MAX_ANSWER_CHARS`` characters (a ``\\boxed{}`` first, else the last
  expression it finds). Nothing it can parse → ``is_correct`` None.
- The reference: bare LaTeX (MATH-500's form) is read as if inside ``$…$``;
  a reference already holding ``$`` or ``\\boxed`` is read as written. One
  math-verify cannot parse → None, with the reason.
- Timeouts: math-verify bounds parsing and comparison with ``signal.alarm``,
  which only works in the main thread. There it runs with
  ``TIMEOUT_S``; from a worker thread it runs without (math-verify refuses
  the alarm there), and the bounded answer length is what keeps it short.
- ``math-verify`` (sympy, antlr) takes most of a second to import, so it is
  imported on the first answer, not with ipw; missing, it is a
  :class:`~ipw.errors.BackendMissingError` naming the ``bench`` extra.

Metadata: ``extracted`` and ``reference_parsed`` (math-verify's strings), and
``reason`` when a side could not be parsed.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from ..errors import BackendMissingError
from .scorers import ScoreResult

__all__ = ["MathScorer", "MAX_ANSWER_CHARS", "TIMEOUT_S"]

MAX_ANSWER_CHARS = 4000
TIMEOUT_S = 5


def _math_verify() -> Any:
    return BackendMissingError.require("math_verify", "the math grader (math-verify)", "bench")


def _as_latex(reference: str) -> str:
    text = reference.strip()
    if "$" in text or "\\boxed" in text:
        return text
    return f"${text}$"


class MathScorer:
    """A final mathematical answer, compared with math-verify (see the module docstring)."""

    id: ClassVar[str] = "math"
    spec: ClassVar[str] = "scorer:math/v1"

    def score(self, answer_text: str, reference: str, *, choices: list[str] | None = None) -> ScoreResult:
        mv = _math_verify()
        timeout = TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
        gold = mv.parse(_as_latex(reference), parsing_timeout=timeout)
        if not gold:
            return ScoreResult(None, None, {"reason": f"math-verify cannot parse the reference {reference[:200]!r}",
                                            "reference": reference[:200]})
        said = mv.parse(answer_text[-MAX_ANSWER_CHARS:], parsing_timeout=timeout)
        meta: dict[str, Any] = {"reference_parsed": str(gold[-1])[:200]}
        if not said:
            return ScoreResult(None, None, {**meta, "extracted": None, "reason": "no expression found in the answer"})
        correct = bool(mv.verify(gold, said, timeout_seconds=timeout))
        return ScoreResult(correct, float(correct), {**meta, "extracted": str(said[-1])[:200]})
