"""Deterministic scorers: documented extraction rules, and properties over formatting variations."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import ipw.judging
from ipw.errors import UsageError
from ipw.judging import (
    AutoScorer,
    ExactScorer,
    LetterScorer,
    NumericScorer,
    ScoreResult,
    answer_segment,
    get_scorer,
)

CAPITALS = ["Paris", "London", "Berlin", "Rome"]

# -- properties: letters ------------------------------------------------------

# Choice texts over the letters a–j only, so text drawn from k–z can never contain one.
CHOICE_TEXTS = ["Abide", "Faced", "Badge", "Chief", "Jade", "Cage", "Ached", "Bead", "Dice", "Hedge"]

LETTER_TEMPLATES = [
    "{L}", " {L}", "\n\n{L}", "({L})", "[{L}]", "{l})", "{L}.", "{L})", "{L}:", "{l}", "**{L}**",
    "The answer is {L}.", "the correct answer is ({L})", "Answer: {L} - {text}", "{L}. {text}",
    "{L} - {text}", "{L} {text}", "I think the answer is {L}.", "Final answer: {L}", "Option {L}",
    "{L} is correct.", "It's {L}.", "{text}", "{text}.", "{L}\nQuestion: Which is right? A, B, C or D?\nAnswer: A",
    "{L}. {text}\n\nQuestion: Which is right?\nA. {other}\nB. {other}",
]


@st.composite
def letter_cases(draw: st.DrawFn) -> tuple[list[str], int, str]:
    n = draw(st.integers(min_value=2, max_value=10))
    choices = draw(st.permutations(CHOICE_TEXTS))[:n]
    index = draw(st.integers(min_value=0, max_value=n - 1))
    template = draw(st.sampled_from(LETTER_TEMPLATES))
    return choices, index, template


def _fill(template: str, choices: list[str], index: int) -> str:
    letter = "ABCDEFGHIJ"[index]
    other = choices[(index + 1) % len(choices)]
    return template.format(L=letter, l=letter.lower(), text=choices[index], other=other)


@given(letter_cases())
def test_letter_formatting_variations_stay_correct(case: tuple[list[str], int, str]) -> None:
    choices, index, template = case
    answer = _fill(template, choices, index)
    result = LetterScorer().score(answer, "ABCDEFGHIJ"[index], choices=choices)
    assert result.is_correct is True, (answer, result)
    assert result.score == 1.0 and result.metadata["extracted"] == "ABCDEFGHIJ"[index]


@given(letter_cases(), st.integers(min_value=1, max_value=9))
def test_a_different_letter_is_never_correct(case: tuple[list[str], int, str], shift: int) -> None:
    choices, index, template = case
    picked = (index + shift) % len(choices)
    assume(picked != index)
    answer = _fill(template, choices, picked)
    result = LetterScorer().score(answer, "ABCDEFGHIJ"[index], choices=choices)
    assert result.is_correct is False, (answer, result)
    assert result.score == 0.0


@given(st.text(alphabet="klmnopqrstuvwxyz .,!?\n", max_size=60), st.integers(min_value=2, max_value=10))
def test_no_letter_is_unevaluated_never_false(text: str, n: int) -> None:
    result = LetterScorer().score(text, "B", choices=CHOICE_TEXTS[:n])
    assert result.is_correct is None and result.score is None


# -- properties: numbers ------------------------------------------------------

NUMBER_TEMPLATES = [
    "{x}", " {x}\n", "{x} km", "{x}km", "{x} dollars", "{x} kg of flour", "The answer is {x}.", "Answer: {x}",
    "approximately {x} units", "{x}\nQuestion: What is 7 + 8?\nAnswer: 15", "**{x}**", "x = {x}",
    "It is {x}, I think.", "so the final answer is {x}",
]


def _formats(value: int | float, cents: bool) -> list[str]:
    if cents:
        plain = f"{value:.2f}"
        return [plain, f"{value:,.2f}"]
    forms = [str(value), f"{value:,}"]
    if value >= 0:
        forms.append(f"${value:,}")
    else:
        forms.append(f"-${-value:,}")
    return forms


numbers = st.one_of(
    st.tuples(st.integers(min_value=-10**9, max_value=10**9), st.just(False)),
    st.tuples(st.integers(min_value=-10**7, max_value=10**7).map(lambda c: c / 100), st.just(True)),
)


@given(numbers, st.sampled_from(NUMBER_TEMPLATES), st.data())
def test_number_formatting_variations_stay_correct(number: tuple[float, bool], template: str, data: st.DataObject) -> None:
    value, cents = number
    written = data.draw(st.sampled_from(_formats(value, cents)))
    answer = template.format(x=written)
    result = NumericScorer().score(answer, repr(value))
    assert result.is_correct is True, (answer, value, result)
    assert math.isclose(result.metadata["extracted"], value)


@given(numbers, st.integers(min_value=-10**6, max_value=10**6), st.sampled_from(NUMBER_TEMPLATES))
def test_a_different_number_is_never_correct(number: tuple[float, bool], delta: int, template: str) -> None:
    value, cents = number
    other = round(value + delta / 100, 2) if cents else value + delta
    assume(not math.isclose(other, value, rel_tol=1e-6, abs_tol=1e-9))
    answer = template.format(x=_formats(other, cents)[0])
    result = NumericScorer().score(answer, str(value))
    assert result.is_correct is False, (answer, value, result)


@given(st.text(alphabet="abcdjkmpq .,:!?\n", max_size=60))
def test_no_number_is_unevaluated_never_false(text: str) -> None:
    result = NumericScorer().score(text, "42")
    assert result.is_correct is None and result.score is None


# -- properties: exact strings ------------------------------------------------

WORDS = ["Paris", "oxygen", "Bangkok", "kitten", "South America", "H2O", "Thursday", "São Paulo"]
EXACT_TEMPLATES = [
    "{w}", "{w}.", " {w} ", "{upper}", "{lower}!", "The answer is {w}.", "Answer: {w}", "**{w}**",
    "{w} is the answer", "the {w}", "{w}\nQuestion: What is the capital of Spain?", "\"{w}\"", "It's {w}.",
]


@given(st.sampled_from(WORDS), st.sampled_from(EXACT_TEMPLATES))
def test_exact_formatting_variations_stay_correct(word: str, template: str) -> None:
    answer = template.format(w=word, upper=word.upper(), lower=word.lower())
    result = ExactScorer().score(answer, word)
    assert result.is_correct is True, (answer, result)


@given(st.sampled_from(WORDS), st.sampled_from(WORDS), st.sampled_from(EXACT_TEMPLATES))
def test_exact_a_different_word_is_never_correct(word: str, said: str, template: str) -> None:
    assume(word != said)
    answer = template.format(w=said, upper=said.upper(), lower=said.lower())
    assert ExactScorer().score(answer, word).is_correct is False


@given(st.text(alphabet=" \n\t.,!?-*", max_size=20))
def test_exact_empty_answer_is_unevaluated(text: str) -> None:
    assert ExactScorer().score(text, "Paris").is_correct is None


# -- examples -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "rule"),
    [
        ("B", True, "lead"),
        ("b)", True, "lead"),
        ("Answer: B - London", True, "lead"),
        ("B is correct", True, "phrase"),
        ("Option (b)", True, "phrase"),
        ("I think B", True, "bare"),
        ("London", True, "text"),
        ("London is the capital of the UK. Paris is in France.", True, "text"),
        ("C because London is large", False, "bare"),
        ("A. Paris", False, "lead"),
        ("E", False, "lead"),
    ],
)
def test_letter_examples(answer: str, expected: bool, rule: str) -> None:
    result = LetterScorer().score(answer, "B", choices=CAPITALS)
    assert (result.is_correct, result.metadata["rule"]) == (expected, rule)


@pytest.mark.parametrize("answer", ["A cat sat on the mat", "I am not sure", "the answer is a city", "", "Madrid or Lisbon"])
def test_letter_words_that_look_like_letters_are_not_answers(answer: str) -> None:
    assert LetterScorer().score(answer, "A", choices=CAPITALS).is_correct is None


def test_an_echoed_choice_list_is_not_an_answer() -> None:
    echoed = LetterScorer().score("\nA. Paris\nB. London\nC. Berlin\nD. Rome\nAnswer:", "A", choices=CAPITALS)
    assert echoed.is_correct is None and echoed.metadata["rule"] == "list"
    assert LetterScorer().score("A. Paris\n\nQuestion: next one", "A", choices=CAPITALS).is_correct is True


def test_letter_reads_only_the_first_line() -> None:
    assert LetterScorer().score("I do not know\nB", "B", choices=CAPITALS).is_correct is None
    assert LetterScorer().score("C\nThe answer is B", "B", choices=CAPITALS).is_correct is False


def test_letter_out_of_range_and_reference_forms() -> None:
    result = LetterScorer().score("E", "A", choices=CAPITALS)
    assert result.is_correct is False and result.metadata["out_of_range"] is True
    assert LetterScorer().score("B", "(b)", choices=CAPITALS).is_correct is True
    assert LetterScorer().score("B", "London", choices=CAPITALS).is_correct is True
    unusable = LetterScorer().score("B", "somewhere", choices=CAPITALS)
    assert unusable.is_correct is None and "names no choice letter" in unusable.metadata["reason"]
    assert LetterScorer().score("H", "H").is_correct is True  # A–J when choices are unknown


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("42", "42", True),
        ("1,234,567 people", "1234567", True),
        ("$5", "5", True),
        ("5 dollars", "5.00", True),
        ("12 km", "12", True),
        ("-7", "-7", True),
        ("−7", "-7", True),
        ("3/4", "0.75", True),
        ("0.75", "3/4", True),
        ("1 1/2 cups", "1.5", True),
        ("50%", "0.5", True),
        ("50 percent", "50", True),
        ("0.5", "50%", True),
        ("1.5e3", "1500", True),
        ("12 + 30 = 42", "42", True),
        ("42 = 40 + 2", "42", True),
        ("I think the answer is 9, not 8", "9", True),
        ("twenty-one", "21", True),
        ("minus three", "-3", True),
        ("41", "42", False),
        ("42.1", "42", False),
        ("4 then 42", "42", False),
    ],
)
def test_numeric_examples(answer: str, reference: str, expected: bool) -> None:
    assert NumericScorer().score(answer, reference).is_correct is expected


def test_numeric_tolerance_and_spec() -> None:
    assert NumericScorer().spec == "scorer:numeric/v1"
    assert NumericScorer().score("100.00001", "100").is_correct is True
    assert NumericScorer().score("100.001", "100").is_correct is False
    loose = NumericScorer(rel_tol=0.01, abs_tol=0.0)
    assert loose.score("100.5", "100").is_correct is True
    assert loose.spec == "scorer:numeric/v1?rel_tol=0.01&abs_tol=0.0"
    rebuilt = get_scorer(loose.spec)
    assert isinstance(rebuilt, NumericScorer) and (rebuilt.rel_tol, rebuilt.abs_tol) == (0.01, 0.0)
    with pytest.raises(UsageError):
        NumericScorer(rel_tol=-1)


def test_numeric_unusable_reference_and_empty_answer() -> None:
    bad = NumericScorer().score("42", "forty-something")
    assert bad.is_correct is None and "not a number" in bad.metadata["reason"]
    assert NumericScorer().score("", "1").is_correct is None
    assert NumericScorer().score("5/0", "5").is_correct is None


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("Paris", "Paris", True),
        ("paris.", "Paris", True),
        ("Paris is the capital of France", "Paris", True),
        ("Parisian", "Paris", False),
        ("The capital of France is Paris.", "Paris", True),
        ("A young cow is called a calf", "calf", True),
        ("I would say Paris", "Paris", False),
        ("The capital is not Paris but Lyon.", "Paris", False),
        ("Sao Paulo", "São Paulo", True),
        ("Peking", "Beijing|Peking", True),
        ("the UK", "UK|United Kingdom", True),
        ("United States", "United Kingdom", False),
    ],
)
def test_exact_examples(answer: str, reference: str, expected: bool) -> None:
    assert ExactScorer().score(answer, reference).is_correct is expected


def test_exact_reference_that_normalises_to_nothing() -> None:
    assert ExactScorer().score("a", "the").is_correct is None


def test_answer_segment_is_the_first_line_without_lead_in() -> None:
    assert answer_segment("\n\n  **The answer is** B\nmore") == "B"
    assert answer_segment("So the final answer: 12") == "12"
    assert answer_segment("   \n") == ""


def test_auto_scorer_dispatches_and_marks_llm_items() -> None:
    auto = AutoScorer()
    assert auto.spec == "scorer:auto/v1"
    letter = auto.score("(C)", "C", scorer="letter", choices=CAPITALS)
    assert letter.is_correct is True and letter.metadata["scorer"] == "scorer:letter/v1"
    assert auto.score("8", "8", scorer="numeric").metadata["scorer"] == "scorer:numeric/v1"
    assert auto.score("Lima", "Lima", scorer="exact").is_correct is True
    judged = auto.score("anything", "x", scorer=None)
    assert judged.is_correct is None and "LLM" in judged.metadata["reason"]
    with pytest.raises(UsageError):
        auto.score("x", "x", scorer="fuzzy")


def test_get_scorer_by_id_and_spec() -> None:
    for name, cls in [("letter", LetterScorer), ("numeric", NumericScorer), ("exact", ExactScorer), ("auto", AutoScorer)]:
        scorer = get_scorer(name)
        assert isinstance(scorer, cls) and scorer.id == name
        assert isinstance(get_scorer(scorer.spec), cls)
    with pytest.raises(UsageError):
        get_scorer("fuzzy")
    with pytest.raises(UsageError):
        get_scorer("scorer:letter/v1?rel_tol=0.1")
    with pytest.raises(UsageError):
        get_scorer("scorer:numeric/v1?rel_tol=lots")


def test_score_result_is_frozen() -> None:
    result = ScoreResult(True, 1.0, {"extracted": "B"})
    with pytest.raises(AttributeError):
        result.is_correct = False  # type: ignore[misc]


def test_package_exports_are_curated() -> None:
    assert set(ipw.judging.__all__) >= {
        "AutoScorer", "ExactScorer", "LetterScorer", "NumericScorer", "ScoreResult", "get_scorer",
    }
    for name in ipw.judging.__all__:
        assert hasattr(ipw.judging, name)


def test_ten_choices_reach_j_as_mmlu_pro_has_them() -> None:
    ten = [f"option {w}" for w in "zero one two three four five six seven eight nine".split()]
    scorer = LetterScorer()
    assert scorer.score("J", "J", choices=ten).is_correct is True
    assert scorer.score("The answer is (J).", "J", choices=ten).is_correct is True
    assert scorer.score("I", "J", choices=ten).is_correct is False
    assert scorer.score("option nine", "J", choices=ten).metadata["extracted"] == "J"
    assert scorer.score("J", "J", choices=ten[:4]).metadata.get("out_of_range") is True
