"""The LLM judge's prompt templates, versioned, and the strict parsers of their answers.

Each template is named ``<id>/v<version>`` (``mcq/v1``) and ends its
instructions with the one line the judge must finish on; :meth:`JudgeTemplate.parse`
accepts that line and nothing else. The set of templates is versioned as a
family (``ipw-judge/v1``); the family version goes into every verdict's judge
spec, so changing any template's wording means a new template version and a
new family version, and verdicts of the old wording stay apart from the new.

    mcq/v1        multiple choice: the judge extracts the letter the response chose;
                  ipw compares it with the reference letter itself
    reasoning/v1  reasoning: TRUE when the response reaches the reference conclusion
    math/v1       math: EQUIVALENT when the final answer equals the reference mathematically
    chat/v1       open questions: CORRECT when the response agrees with the reference

That set routes a record by its choices, scorer and subject alone. The
benchmark families that name an LLM grader (``llm:simpleqa`` …) have prompts
of their own, in :mod:`ipw.judging.family_prompts`, and a second set,
``ipw-judge/v2``, that gives each such record its family's prompt; ``ipw-judge/v1``
stays exactly as it was, so the verdicts of old ledgers keep their meaning.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FAMILY",
    "FAMILY_VERSION",
    "FAMILY_REF",
    "JudgeItem",
    "JudgeTemplate",
    "ParsedAnswer",
    "TEMPLATES",
    "select_template",
    "reference_letter",
    "describe_templates",
]

FAMILY = "ipw-judge"
FAMILY_VERSION = 1
FAMILY_REF = f"{FAMILY}/v{FAMILY_VERSION}"

_MATH_WORDS = ("math", "arith", "algebra", "geometry", "calculus", "gsm", "number", "statistic", "probabilit")
_REASONING_WORDS = ("reason", "logic", "deduct", "puzzle")

_SYSTEM = (
    "You are a strict, impartial grader. You are shown a question, a reference answer and a "
    "response written by another model. Judge only the response's final answer against the "
    "reference; ignore its style and length. Follow the output format exactly."
)


@dataclass(frozen=True)
class JudgeItem:
    """What the judge is shown about one query: the question, the reference and the answer."""

    query_id: int
    answer_text: str
    problem: str = ""
    reference: str | None = None
    subject: str = ""
    scorer: str | None = None
    choices: tuple[str, ...] | None = None
    record_id: str = ""


@dataclass(frozen=True)
class ParsedAnswer:
    """The outcome of reading a judge's answer.

    ``outcome`` is ``parsed`` (``value`` holds the label, ``is_correct`` the
    verdict), ``unparsed`` (``reason`` says why; ``is_correct`` is None), or a
    template's undecided value in lower case (``not_attempted``: ``value``
    holds it, ``is_correct`` is None).
    """

    outcome: str
    is_correct: bool | None
    value: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class JudgeTemplate:
    """One versioned prompt and the strict grammar of the line that answers it."""

    id: str
    version: int
    user: str  # str.format template over problem, choices, reference, response
    label: str  # the answer line starts with "<label>:"
    values: tuple[str, ...]  # the accepted values; for mcq, letters and NONE
    positive: str | None  # the value meaning "correct"; None for mcq (compared with the reference)
    undecided: tuple[str, ...] = ()  # accepted values that decide nothing (SimpleQA's NOT_ATTEMPTED)
    grader: str | None = None  # the grader spec of a family's prompt (``llm:simpleqa/v1``)
    system: str = _SYSTEM
    if_empty: str | None = None  # the value an empty response gets unasked; None: incorrect

    @property
    def ref(self) -> str:
        return f"{self.id}/v{self.version}"

    def render(self, item: JudgeItem) -> list[dict[str, str]]:
        """The chat messages asking the judge about ``item``."""
        user = self.user.format(
            problem=item.problem.strip() or "(no question text was recorded)",
            choices=_render_choices(item.choices),
            reference=(item.reference or "").strip() or "(none was recorded)",
            response=item.answer_text.strip(),
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def parse(self, text: str, item: JudgeItem) -> ParsedAnswer:
        """Read the judge's answer: the last non-empty line must be ``<label>: <value>``.

        Surrounding markdown emphasis and one final period are tolerated; every
        other ``<label>:`` line must agree with the last one. Anything else is
        ``unparsed``: the verdict is None, never "incorrect". A value of
        ``undecided`` is no decision either: its outcome is the value in lower
        case (``not_attempted``) and the verdict is None.
        """
        body = _THINK.sub("", text or "")
        lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
        if not lines:
            return ParsedAnswer("unparsed", None, reason="the judge's answer is empty")
        pattern = re.compile(rf"^{re.escape(self.label)}\s*:\s*(\S+)$", re.I)
        found = []
        for line in lines:
            m = pattern.match(_strip_emphasis(line))
            if m:
                found.append(m.group(1).upper())
        last = pattern.match(_strip_emphasis(lines[-1]))
        if last is None:
            return ParsedAnswer("unparsed", None, reason=f"the last line is not '{self.label}: …'")
        value = last.group(1).upper()
        if any(v != value for v in found):
            return ParsedAnswer("unparsed", None, reason=f"conflicting '{self.label}:' lines")
        allowed = self._allowed(item)
        if value not in allowed:
            return ParsedAnswer("unparsed", None, reason=f"'{value}' is not one of {', '.join(allowed)}")
        if value in self.undecided:
            return ParsedAnswer(value.lower(), None, value=value)
        if self.positive is not None:
            return ParsedAnswer("parsed", value == self.positive, value=value)
        expected = reference_letter(item.reference, item.choices)
        if expected is None:
            return ParsedAnswer("unparsed", None, value=value, reason="the reference is not an option letter")
        return ParsedAnswer("parsed", value == expected, value=value)

    def _allowed(self, item: JudgeItem) -> tuple[str, ...]:
        if self.positive is not None:
            return self.values
        n = len(item.choices) if item.choices else len(string.ascii_uppercase)
        return tuple(string.ascii_uppercase[:n]) + ("NONE",)


_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)


def _strip_emphasis(line: str) -> str:
    line = line.strip().strip("*_`").strip()
    return line[:-1].rstrip() if line.endswith(".") else line


def _render_choices(choices: tuple[str, ...] | None) -> str:
    if not choices:
        return "(the options are in the question)"
    out = []
    for letter, choice in zip(string.ascii_uppercase, choices):
        text = str(choice).strip()
        out.append(text if re.match(rf"^\(?{letter}[.):]\s", text) else f"{letter}. {text}")
    return "\n".join(out)


_LETTER = re.compile(r"^\(?([A-Za-z])\)?(?:[.):]\s*.*)?$", re.S)


def reference_letter(reference: str | None, choices: tuple[str, ...] | None) -> str | None:
    """The option letter a multiple-choice reference names: ``B``, ``(b)``, ``B) text``, or a choice's text."""
    if reference is None:
        return None
    ref = reference.strip()
    m = _LETTER.match(ref)
    if m:
        letter = m.group(1).upper()
        if not choices or string.ascii_uppercase.index(letter) < len(choices):
            return letter
        return None
    if choices:
        norm = " ".join(ref.lower().split())
        for letter, choice in zip(string.ascii_uppercase, choices):
            if " ".join(str(choice).lower().split()) == norm:
                return letter
    return None


MCQ_V1 = JudgeTemplate(
    id="mcq",
    version=1,
    user=(
        "Question:\n{problem}\n\nOptions:\n{choices}\n\nResponse:\n{response}\n\n"
        "Which option letter does the response give as its final answer? Do not solve the "
        "question yourself and do not judge whether the choice is right; only report the letter "
        "the response commits to. If it commits to no single option, the answer is NONE.\n"
        "End with exactly one line of the form\nANSWER: <letter or NONE>"
    ),
    label="ANSWER",
    values=(),
    positive=None,
)

REASONING_V1 = JudgeTemplate(
    id="reasoning",
    version=1,
    user=(
        "Question:\n{problem}\n\nReference answer:\n{reference}\n\nResponse:\n{response}\n\n"
        "Is the final conclusion of the response the same as the reference answer? A response "
        "that hedges between conclusions or gives none is FALSE.\n"
        "End with exactly one line of the form\nVERDICT: TRUE\nor\nVERDICT: FALSE"
    ),
    label="VERDICT",
    values=("TRUE", "FALSE"),
    positive="TRUE",
)

MATH_V1 = JudgeTemplate(
    id="math",
    version=1,
    user=(
        "Problem:\n{problem}\n\nReference answer:\n{reference}\n\nResponse:\n{response}\n\n"
        "Is the response's final answer mathematically equivalent to the reference answer? "
        "Equivalent forms count (1/2 = 0.5, x=3 = 3, equal expressions in another order); "
        "a different value, a missing final answer or several competing answers do not.\n"
        "End with exactly one line of the form\nVERDICT: EQUIVALENT\nor\nVERDICT: NOT_EQUIVALENT"
    ),
    label="VERDICT",
    values=("EQUIVALENT", "NOT_EQUIVALENT"),
    positive="EQUIVALENT",
)

CHAT_V1 = JudgeTemplate(
    id="chat",
    version=1,
    user=(
        "Question:\n{problem}\n\nReference answer:\n{reference}\n\nResponse:\n{response}\n\n"
        "Does the response answer the question correctly, agreeing with the reference answer in "
        "every point that matters? Extra correct detail is fine; a contradiction or a missing "
        "key point is not.\n"
        "End with exactly one line of the form\nVERDICT: CORRECT\nor\nVERDICT: INCORRECT"
    ),
    label="VERDICT",
    values=("CORRECT", "INCORRECT"),
    positive="CORRECT",
)

TEMPLATES: dict[str, JudgeTemplate] = {t.ref: t for t in (MCQ_V1, REASONING_V1, MATH_V1, CHAT_V1)}


def select_template(item: JudgeItem) -> JudgeTemplate:
    """The template that fits ``item``: by its choices and scorer first, then by its subject."""
    if (item.choices or item.scorer == "letter") and reference_letter(item.reference, item.choices) is not None:
        return MCQ_V1
    subject = item.subject.lower()
    if item.scorer == "numeric" or any(word in subject for word in _MATH_WORDS):
        return MATH_V1
    if any(word in subject for word in _REASONING_WORDS):
        return REASONING_V1
    return CHAT_V1


def describe_templates() -> dict[str, Any]:
    """The family and its template refs, for ``ipw list judges`` and run configs."""
    return {"family": FAMILY_REF, "templates": sorted(TEMPLATES)}
