"""The judge's templates: which one a record gets, and the strict parsing of answers."""

from __future__ import annotations

import pytest

from ipw.judging.prompts import (
    FAMILY_REF,
    TEMPLATES,
    JudgeItem,
    reference_letter,
    select_template,
)


def item(**kw: object) -> JudgeItem:
    base: dict[str, object] = {"query_id": 1, "answer_text": "an answer", "problem": "a question", "reference": "x"}
    base.update(kw)
    return JudgeItem(**base)  # type: ignore[arg-type]


def test_every_template_is_versioned_and_the_family_is_named() -> None:
    assert sorted(TEMPLATES) == ["chat/v1", "math/v1", "mcq/v1", "reasoning/v1"]
    assert FAMILY_REF == "ipw-judge/v1"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"choices": ("red", "blue"), "reference": "B"}, "mcq/v1"),
        ({"scorer": "letter", "reference": "(C)"}, "mcq/v1"),
        ({"scorer": "numeric", "reference": "42"}, "math/v1"),
        ({"subject": "Algebra", "reference": "x = 2"}, "math/v1"),
        ({"subject": "logical reasoning", "reference": "yes"}, "reasoning/v1"),
        ({"subject": "history", "reference": "1066"}, "chat/v1"),
        # a multiple-choice record whose reference is no option falls back to comparison
        ({"choices": ("red", "blue"), "reference": "purple"}, "chat/v1"),
    ],
)
def test_select_template(kw: dict[str, object], expected: str) -> None:
    assert select_template(item(**kw)).ref == expected


def test_render_shows_question_reference_response_and_the_format() -> None:
    it = item(subject="history", problem="When was Hastings?", reference="1066", answer_text="In 1066.")
    messages = TEMPLATES["chat/v1"].render(it)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "When was Hastings?" in user and "1066" in user and "In 1066." in user
    assert user.rstrip().endswith("VERDICT: INCORRECT")


def test_mcq_render_letters_the_choices() -> None:
    it = item(choices=("red", "B) blue"), reference="A")
    user = TEMPLATES["mcq/v1"].render(it)[1]["content"]
    assert "A. red" in user and "B) blue" in user and "B. B) blue" not in user


@pytest.mark.parametrize(
    ("text", "outcome", "correct"),
    [
        ("The response says 1066.\nVERDICT: CORRECT", "parsed", True),
        ("verdict: incorrect", "parsed", False),
        ("**VERDICT: CORRECT**", "parsed", True),
        ("VERDICT: CORRECT.", "parsed", True),
        ("<think>VERDICT: INCORRECT maybe</think>\nVERDICT: CORRECT", "parsed", True),
        ("VERDICT: CORRECT\nThat is my verdict.", "unparsed", None),
        ("VERDICT: INCORRECT\nVERDICT: CORRECT", "unparsed", None),
        ("VERDICT: PROBABLY", "unparsed", None),
        ("I think the answer is right", "unparsed", None),
        ("", "unparsed", None),
    ],
)
def test_verdict_parsing_is_strict(text: str, outcome: str, correct: bool | None) -> None:
    parsed = TEMPLATES["chat/v1"].parse(text, item())
    assert (parsed.outcome, parsed.is_correct) == (outcome, correct)
    if outcome == "unparsed":
        assert parsed.reason


def test_math_and_reasoning_labels() -> None:
    assert TEMPLATES["math/v1"].parse("VERDICT: EQUIVALENT", item()).is_correct is True
    assert TEMPLATES["math/v1"].parse("VERDICT: NOT_EQUIVALENT", item()).is_correct is False
    assert TEMPLATES["math/v1"].parse("VERDICT: CORRECT", item()).outcome == "unparsed"
    assert TEMPLATES["reasoning/v1"].parse("VERDICT: TRUE", item()).is_correct is True
    assert TEMPLATES["reasoning/v1"].parse("VERDICT: FALSE", item()).is_correct is False


def test_mcq_compares_the_extracted_letter_with_the_reference() -> None:
    mcq = TEMPLATES["mcq/v1"]
    it = item(choices=("red", "blue", "green"), reference="blue")
    assert mcq.parse("ANSWER: B", it).is_correct is True
    assert mcq.parse("ANSWER: c", it).is_correct is False
    none = mcq.parse("ANSWER: NONE", it)
    assert (none.outcome, none.is_correct, none.value) == ("parsed", False, "NONE")
    # a letter beyond the options is not an answer the template allows
    assert mcq.parse("ANSWER: D", it).outcome == "unparsed"


@pytest.mark.parametrize(
    ("reference", "choices", "expected"),
    [
        ("B", None, "B"),
        ("(c)", None, "C"),
        ("D) Paris", None, "D"),
        ("Paris", ("London", "Paris"), "B"),
        ("E", ("a", "b"), None),
        ("A cat", None, None),
        (None, None, None),
    ],
)
def test_reference_letter(reference: str | None, choices: tuple[str, ...] | None, expected: str | None) -> None:
    assert reference_letter(reference, choices) == expected
