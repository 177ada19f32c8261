"""The per-family judge prompts: their versioned specs (golden), which record gets which, strict grades."""

from __future__ import annotations

import hashlib

import pytest

from ipw.judging.family_prompts import (
    FAMILY_TEMPLATES,
    GRADER_SPECS,
    NATURAL_REASONING_V1,
    PROMPT_SETS,
    SET_V1,
    SET_V2,
    SIMPLEQA_V1,
    WILDCHAT_V1,
    prompt_set_for,
    refusal,
    template_for,
)
from ipw.judging.prompts import TEMPLATES, JudgeItem, JudgeTemplate


def item(**kw: object) -> JudgeItem:
    base: dict[str, object] = {"query_id": 1, "answer_text": "an answer", "problem": "a question", "reference": "x"}
    base.update(kw)
    return JudgeItem(**base)  # type: ignore[arg-type]


def test_the_spec_strings_are_versioned_and_golden() -> None:
    # these strings key stored verdicts: changing one orphans every verdict given under it
    assert GRADER_SPECS == ("llm:natural-reasoning/v1", "llm:simpleqa/v1", "llm:wildchat/v1")
    assert PROMPT_SETS == ("ipw-judge/v1", "ipw-judge/v2")
    assert sorted(FAMILY_TEMPLATES) == ["llm:natural-reasoning", "llm:simpleqa", "llm:wildchat"]
    for name, template in FAMILY_TEMPLATES.items():
        assert template.grader == f"{name}/v{template.version}"


def _fingerprint(t: JudgeTemplate) -> str:
    text = "\x00".join([t.system, t.user, t.label, *t.values, "|", *t.undecided, str(t.positive), str(t.if_empty)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# A prompt's wording is part of its version: rewording one without a new version (and a new
# prompt set) would put verdicts of two prompts under one spec. Update a line here only with a bump.
GOLDEN_PROMPTS = {
    "mcq/v1": "2358966fd1b76395",
    "reasoning/v1": "458a522e205ee48c",
    "math/v1": "96e497ac602384eb",
    "chat/v1": "963771c07e548d25",
    "natural-reasoning/v1": "49103194ba0464e7",
    "simpleqa/v1": "efb9a09e94884081",
    "wildchat/v1": "0118fb671989e32b",
}


def test_no_prompt_is_reworded_without_a_new_version() -> None:
    every = {**TEMPLATES, **{t.ref: t for t in FAMILY_TEMPLATES.values()}}
    assert {ref: _fingerprint(t) for ref, t in every.items()} == GOLDEN_PROMPTS


@pytest.mark.parametrize(
    ("scorer", "v1", "v2"),
    [
        ("llm:natural-reasoning", "chat/v1", "natural-reasoning/v1"),
        ("llm:simpleqa", "chat/v1", "simpleqa/v1"),
        ("llm:wildchat", "chat/v1", "wildchat/v1"),
        ("letter", "mcq/v1", "mcq/v1"),
        ("math", "chat/v1", "math/v1"),
        ("gsm8k", "chat/v1", "math/v1"),
        (None, "chat/v1", "chat/v1"),
    ],
)
def test_each_record_s_grader_decides_its_prompt_in_v2_and_v1_is_unchanged(
    scorer: str | None, v1: str, v2: str
) -> None:
    it = item(scorer=scorer, subject="history", reference="B" if scorer == "letter" else "1066")
    assert template_for(SET_V1, it).ref == v1
    assert template_for(SET_V2, it).ref == v2


def test_what_each_set_refuses() -> None:
    no_reference = item(scorer="llm:wildchat", reference="")
    assert refusal(SET_V2, no_reference) is None  # a rubric: the reference reply is only an example
    assert refusal(SET_V1, no_reference) == "the record has no reference answer to compare with"
    assert refusal(SET_V2, item(scorer="llm:simpleqa", reference=None)) is not None
    assert "scorer:code/v1" in (refusal(SET_V2, item(scorer="code")) or "")
    assert refusal(SET_V1, item(scorer="code")) is None  # v1 judged code as chat: kept as it was
    unknown = refusal(SET_V2, item(scorer="llm:poetry"))
    assert unknown is not None and "llm:poetry" in unknown and "llm:simpleqa" in unknown


def test_the_run_s_graders_pick_the_set() -> None:
    assert prompt_set_for(["letter", None, "exact"]) == SET_V1
    assert prompt_set_for([]) == SET_V1
    assert prompt_set_for(["letter", "llm:simpleqa"]) == SET_V2
    assert prompt_set_for(None) == SET_V2  # records not known yet: the set with every family's prompt


@pytest.mark.parametrize(
    ("text", "outcome", "correct"),
    [
        ("The response names Paris.\nGRADE: CORRECT", "parsed", True),
        ("GRADE: INCORRECT", "parsed", False),
        ("**GRADE: NOT_ATTEMPTED**", "not_attempted", None),
        ("grade: not_attempted.", "not_attempted", None),
        ("GRADE: NOT ATTEMPTED", "unparsed", None),
        ("GRADE: MAYBE", "unparsed", None),
        ("VERDICT: CORRECT", "unparsed", None),  # another template's label
        ("GRADE: CORRECT\nGRADE: NOT_ATTEMPTED", "unparsed", None),
        ("GRADE: CORRECT\nI am fairly sure.", "unparsed", None),
        ("", "unparsed", None),
    ],
)
def test_simpleqa_grades_are_parsed_strictly(text: str, outcome: str, correct: bool | None) -> None:
    parsed = SIMPLEQA_V1.parse(text, item(scorer="llm:simpleqa"))
    assert (parsed.outcome, parsed.is_correct) == (outcome, correct)
    assert (parsed.reason is not None) is (outcome == "unparsed")


def test_natural_reasoning_and_wildchat_labels() -> None:
    assert NATURAL_REASONING_V1.parse("VERDICT: CORRECT", item()).is_correct is True
    assert NATURAL_REASONING_V1.parse("VERDICT: INCORRECT", item()).is_correct is False
    assert NATURAL_REASONING_V1.parse("VERDICT: NOT_ATTEMPTED", item()).outcome == "unparsed"
    assert WILDCHAT_V1.parse("VERDICT: ACCEPTABLE", item()).is_correct is True
    assert WILDCHAT_V1.parse("VERDICT: UNACCEPTABLE", item()).is_correct is False
    assert WILDCHAT_V1.parse("VERDICT: CORRECT", item()).outcome == "unparsed"


def test_each_family_prompt_says_what_it_judges() -> None:
    nr = NATURAL_REASONING_V1.render(item(problem="Why is the sky blue?", reference="Rayleigh scattering",
                                          answer_text="Because of Rayleigh scattering."))
    assert "Equivalent forms" in nr[1]["content"] and "Rayleigh scattering" in nr[1]["content"]
    sq = SIMPLEQA_V1.render(item(problem="Capital of France?", reference="Paris", answer_text="Maybe Lyon?"))[1]
    assert "NOT_ATTEMPTED: the response does not commit" in sq["content"] and "hedges" in sq["content"]
    wc = WILDCHAT_V1.render(item(problem="write a haiku", reference="", answer_text="An old pond..."))
    assert "reviewer of a chat assistant" in wc[0]["content"]
    assert "not an answer key" in wc[1]["content"] and "(none was recorded)" in wc[1]["content"]
