"""The GSM8K grader: the reference's number after ####, the answer's final number."""

from __future__ import annotations

import pytest

from ipw.judging import FinalNumberScorer

SOLUTION = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18"


@pytest.mark.parametrize(("answer", "expected"), [
    ("She has 16 - 3 - 4 = 9 eggs and sells them for 9 * 2 = 18 dollars.", True),
    ("16 eggs, 3 eaten, 4 baked: 9 left, so $18.", True),
    ("Step by step... 9 * 2 = 18\n#### 18", True),
    ("#### 18\nHere is another question: what is 5 + 5? 10", True),
    ("She makes 18 dollars, or 9 * 2 = 19 after the tip.", False),
    ("16 - 3 - 4 = 9", False),
    ("The answer is 18.0", True),
    ("She earns $1,018 a day", False),
])
def test_the_final_number_decides(answer: str, expected: bool) -> None:
    result = FinalNumberScorer().score(answer, SOLUTION)
    assert result.is_correct is expected, result.metadata
    assert result.metadata["reference"] == 18


def test_thousands_commas_and_negative_numbers() -> None:
    assert FinalNumberScorer().score("The total is 1,250.", "#### 1250").is_correct is True
    assert FinalNumberScorer().score("It drops to -4", "#### -4").is_correct is True
    assert FinalNumberScorer().score("It drops to 4", "#### -4").is_correct is False


def test_no_number_is_unevaluated_never_wrong() -> None:
    assert FinalNumberScorer().score("I cannot tell.", SOLUTION).is_correct is None
    assert FinalNumberScorer().score("18", "no number here").is_correct is None


def test_a_bare_reference_is_its_last_number() -> None:
    assert FinalNumberScorer().score("42", "42").is_correct is True
    assert FinalNumberScorer().spec == "scorer:gsm8k/v1"
