"""The math grader: math-verify's equivalences, as they are, and what it does with nothing to parse."""

from __future__ import annotations

import threading

import pytest

from ipw.judging import MathScorer

# (answer, reference, math-verify's verdict): each row was checked against math-verify 0.9.0 itself
TABLE = [
    (r"$\frac{1}{2}$", "0.5", True),
    (r"The answer is $0.5$.", r"\frac{1}{2}", True),
    (r"So \boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt3}2", True),
    (r"$\{1,2\}$", r"\{2,1\}", True),
    (r"$[0,1)$", "[0,1]", False),
    (r"$[0,1)$", "[0,1)", True),
    ("0.5", "0.51", False),
    ("$x^2$", "x*x", True),
    (r"$x \cdot x$", "x^2", True),
    (r"\boxed{42}", "42", True),
    (r"First 3, then 5, so \boxed{7}.", "7", True),
    (r"\boxed{8}", "7", False),
    (r"$\left( 3, \frac{\pi}{2} \right)$", r"\left( 3, \frac{\pi}{2} \right)", True),
    (r"$(2, 1)$", "(1, 2)", False),
]


@pytest.mark.parametrize(("answer", "reference", "expected"), TABLE)
def test_math_verify_decides_each_pair(answer: str, reference: str, expected: bool) -> None:
    result = MathScorer().score(answer, reference)
    assert result.is_correct is expected, result.metadata
    assert result.score == float(expected)
    assert result.metadata["extracted"] and result.metadata["reference_parsed"]


def test_an_answer_without_an_expression_is_unevaluated() -> None:
    result = MathScorer().score("I do not know.", "42")
    assert result.is_correct is None and result.metadata["reason"] == "no expression found in the answer"


def test_a_reference_math_verify_cannot_parse_is_unevaluated() -> None:
    result = MathScorer().score(r"\boxed{1}", "")
    assert result.is_correct is None and "cannot parse the reference" in result.metadata["reason"]


def test_a_judging_thread_gets_the_same_verdicts() -> None:
    """math-verify refuses its signal timeouts off the main thread; the grader runs it without them there."""
    got: list[object] = []

    def judge() -> None:
        try:
            got.extend(MathScorer().score(a, r).is_correct for a, r, _ in TABLE)
        except Exception as exc:  # the failure this test exists to catch
            got.append(exc)

    thread = threading.Thread(target=judge)
    thread.start()
    thread.join()
    assert got == [expected for _, _, expected in TABLE]


def test_the_spec_is_versioned() -> None:
    assert MathScorer().spec == "scorer:math/v1"
