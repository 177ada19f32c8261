"""The LLM judge's prompt per benchmark family, and the prompt sets that route each record to its prompt.

A benchmark record names its grader (``DatasetRecord.scorer``). The open-ended
families are graded by an LLM judge, each with a prompt of its own, versioned
as a grader spec (SPEC §13) that every verdict carries in its metadata
(``grader``), as the auto scorer records ``scorer:math/v1``:

    llm:natural-reasoning/v1  VERDICT: CORRECT | INCORRECT
        the response's final answer against the reference answer; equivalent
        forms (notation, units, an equal expression, the same conclusion in
        other words) count.
    llm:simpleqa/v1           GRADE: CORRECT | INCORRECT | NOT_ATTEMPTED
        SimpleQA's three grades. A response that hedges between candidates,
        refuses, says it does not know or never states the fact is
        NOT_ATTEMPTED: no decision (``is_correct`` None, counted unevaluated,
        never wrong). An empty response is NOT_ATTEMPTED without asking.
    llm:wildchat/v1           VERDICT: ACCEPTABLE | UNACCEPTABLE
        a WildChat turn has no single right answer, so this is a rubric, not a
        comparison: is the response an acceptable reply to the user's message
        (addresses the whole request, correct in what it states, follows the
        user's explicit instructions, complete; declining a clearly harmful
        request is acceptable, refusing a harmless one is not)? The reply the
        original assistant gave is shown as one acceptable example, not a key,
        and a turn without one is judged on the rubric alone.

Which prompt a record gets is a versioned *prompt set*, whose name ends the
LLM judge's spec (``llm:openai:<model>:ipw-judge/v2``), so a verdict is keyed
by every prompt that could have produced it:

    ipw-judge/v1  :func:`ipw.judging.prompts.select_template`, unchanged (old
                  ledgers' verdicts keep their meaning; family records get chat/v1)
    ipw-judge/v2  an ``llm:<family>`` record gets its family's prompt; ``math``
                  and ``gsm8k`` records the math prompt; a ``code`` record is
                  not the LLM's to judge (its tests are run by ``scorer:code/v1``);
                  every other record the prompt v1 gives it

:func:`prompt_set_for` picks the set for a run from its records' graders: v2
when one names an LLM family (or the records are not known yet), else v1, so
a run without family records keeps the spec it always had.
"""

from __future__ import annotations

from typing import Iterable

from .prompts import FAMILY_REF, MATH_V1, JudgeItem, JudgeTemplate, select_template

__all__ = [
    "NATURAL_REASONING_V1",
    "SIMPLEQA_V1",
    "WILDCHAT_V1",
    "FAMILY_TEMPLATES",
    "GRADER_SPECS",
    "PROMPT_SETS",
    "SET_V1",
    "SET_V2",
    "prompt_set_for",
    "refusal",
    "template_for",
]

SET_V1 = FAMILY_REF  # "ipw-judge/v1"
SET_V2 = "ipw-judge/v2"
PROMPT_SETS = (SET_V1, SET_V2)
_LLM_PREFIX = "llm:"

NATURAL_REASONING_V1 = JudgeTemplate(
    id="natural-reasoning",
    version=1,
    user=(
        "Question:\n{problem}\n\nReference answer:\n{reference}\n\nResponse:\n{response}\n\n"
        "Find the final answer the response commits to and compare it with the reference answer. "
        "Trust the reference; do not solve the question again. Equivalent forms are the same answer: "
        "another notation or unit for the same quantity, an algebraically equal expression, a rounding "
        "within the precision the question implies, the same conclusion in other words. The reasoning "
        "on the way does not matter, only the final answer. A response whose final answer differs from "
        "the reference, that gives several competing final answers, or that reaches none is INCORRECT.\n"
        "End with exactly one line of the form\nVERDICT: CORRECT\nor\nVERDICT: INCORRECT"
    ),
    label="VERDICT",
    values=("CORRECT", "INCORRECT"),
    positive="CORRECT",
    grader="llm:natural-reasoning/v1",
)

SIMPLEQA_V1 = JudgeTemplate(
    id="simpleqa",
    version=1,
    user=(
        "Question:\n{problem}\n\nReference answer:\n{reference}\n\nResponse:\n{response}\n\n"
        "Grade the response against the reference answer with exactly one of three grades.\n"
        "CORRECT: the response commits to the fact in the reference answer and contradicts it nowhere. "
        "Wording, spelling variants, extra correct detail and a number given to the precision the "
        "question needs do not matter.\n"
        "INCORRECT: the response commits to an answer that contradicts the reference, even with a "
        "caveat such as 'I think'.\n"
        "NOT_ATTEMPTED: the response does not commit to the fact: it hedges between candidates, says "
        "it does not know, refuses, asks for more context, or talks around the question without "
        "stating the answer.\n"
        "End with exactly one line of the form\nGRADE: CORRECT\nor\nGRADE: INCORRECT\nor\n"
        "GRADE: NOT_ATTEMPTED"
    ),
    label="GRADE",
    values=("CORRECT", "INCORRECT", "NOT_ATTEMPTED"),
    positive="CORRECT",
    undecided=("NOT_ATTEMPTED",),
    grader="llm:simpleqa/v1",
    if_empty="NOT_ATTEMPTED",
)

_WILDCHAT_SYSTEM = (
    "You are a strict, impartial reviewer of a chat assistant's replies. You are shown a message a "
    "user sent, the reply under review and, for reference, the reply another assistant once gave. "
    "Judge only whether the reply under review serves the user. Follow the output format exactly."
)

WILDCHAT_V1 = JudgeTemplate(
    id="wildchat",
    version=1,
    user=(
        "User's message:\n{problem}\n\nReference reply (one acceptable reply, not an answer key):\n"
        "{reference}\n\nResponse:\n{response}\n\n"
        "Is the response an acceptable reply to the user's message? It may differ from the reference "
        "reply in content, length and style and still be acceptable.\n"
        "ACCEPTABLE: it addresses the whole request, what it states is correct, it follows the user's "
        "explicit instructions (language, format, length) and it is complete enough to use as it "
        "stands. Declining a request that is clearly harmful is acceptable.\n"
        "UNACCEPTABLE: it misreads or ignores the request, states something false that matters, is "
        "cut off or incoherent, answers in a language the user did not use or ask for, or refuses a "
        "harmless request.\n"
        "End with exactly one line of the form\nVERDICT: ACCEPTABLE\nor\nVERDICT: UNACCEPTABLE"
    ),
    label="VERDICT",
    values=("ACCEPTABLE", "UNACCEPTABLE"),
    positive="ACCEPTABLE",
    grader="llm:wildchat/v1",
    system=_WILDCHAT_SYSTEM,
)

# a record's grader name -> its family's prompt
FAMILY_TEMPLATES: dict[str, JudgeTemplate] = {
    f"{_LLM_PREFIX}{t.id}": t for t in (NATURAL_REASONING_V1, SIMPLEQA_V1, WILDCHAT_V1)
}
GRADER_SPECS: tuple[str, ...] = tuple(t.grader for t in FAMILY_TEMPLATES.values() if t.grader)
_NEEDS_NO_REFERENCE = frozenset({"llm:wildchat"})  # a rubric: the reference reply is only an example


def refusal(prompt_set: str, item: JudgeItem) -> str | None:
    """Why the LLM judge with ``prompt_set`` cannot judge ``item`` (it is left unjudged), or None."""
    scorer = item.scorer or ""
    has_reference = item.reference is not None and bool(str(item.reference).strip())
    if prompt_set == SET_V2:
        if scorer.startswith(_LLM_PREFIX) and scorer not in FAMILY_TEMPLATES:
            return f"{SET_V2} has no prompt for the grader {scorer!r} (it has: {', '.join(FAMILY_TEMPLATES)})"
        if scorer == "code":
            return "a program is graded by running its tests (scorer:code/v1), not by an LLM judge"
        if scorer in _NEEDS_NO_REFERENCE:
            return None
    if not has_reference:
        return "the record has no reference answer to compare with"
    return None


def template_for(prompt_set: str, item: JudgeItem) -> JudgeTemplate:
    """The prompt ``prompt_set`` gives ``item`` (one that :func:`refusal` lets through)."""
    if prompt_set == SET_V2:
        family = FAMILY_TEMPLATES.get(item.scorer or "")
        if family is not None:
            return family
        if item.scorer in ("math", "gsm8k"):
            return MATH_V1
    return select_template(item)


def prompt_set_for(graders: Iterable[str | None] | None) -> str:
    """The prompt set for a run whose records name ``graders`` (None: not known yet)."""
    if graders is None:
        return SET_V2
    return SET_V2 if any(g is not None and g.startswith(_LLM_PREFIX) for g in graders) else SET_V1
