"""Deterministic scorers: an answer text and a reference in, a verdict out, no LLM.

Where they look: a base model keeps writing after ``Answer:`` (another
question, a list with other letters and numbers), so every scorer reads only
the **answer segment**: the first non-empty line, with markdown emphasis and
an echoed lead-in ("Answer:", "The correct answer is", "It's", "So" …) dropped.

``LetterScorer`` (``scorer:letter/v1``), first matching rule wins:
  1. *lead*: the segment starts with a letter: ``B``, ``(B)``, ``[B]``, ``B.``,
     ``b)``, ``B:``, ``B - Paris``, ``B Paris`` (an uppercase A/I followed by a
     lowercase word is English, not a choice; a lowercase letter must be marked
     or alone);
  2. *phrase*: "answer is B", "answer: (B)", "option B", "choice C", "B is correct";
  3. *bare*: the first standalone valid uppercase letter in the first sentence;
  4. *text*: the first sentence equals or starts with one choice's text, or
     contains exactly one of them.
  Valid letters run from A to the number of choices (A–J when unknown); a lead
  or phrase letter beyond them is judged incorrect. The reference may be a
  letter or a choice's text. No letter, or an echoed choice list (the first
  two lines both start "A." / "B)" …) → ``is_correct`` None, never False.

``NumericScorer`` (``scorer:numeric/v1``), first rule that yields a number:
  1. *marker*: the first number after the last "answer is"/"answer:";
  2. *equation*: with "=", the last side holding exactly one number
     ("12 + 30 = 42" → 42, "42 = 40 + 2" → 42);
  3. *first*: the first number (a base model states its answer first);
  4. *word*: with no digit at all, a leading number word ("twenty-one").
  Numbers may have a sign, thousands commas, decimals, an exponent, a currency
  sign (``$5``), a unit after them (``12 km``, ``5 dollars``), be a fraction
  (``3/4``, ``1 1/2``) or a percentage (``50%``, ``50 percent``); when only one
  side is a percentage, ÷100 or ×100 of the answer may match too. Equality is
  ``math.isclose(rel_tol=1e-6, abs_tol=1e-9)``; other tolerances get their own
  spec (``scorer:numeric/v1?rel_tol=…&abs_tol=…``). The reference must hold
  exactly one number. No number → None.

``ExactScorer`` (``scorer:exact/v1``): both sides normalised (NFKC, accents
  removed, case-folded, punctuation to spaces, articles a/an/the dropped,
  whitespace collapsed); correct when the segment equals the reference or
  starts with it as whole words ("Paris is the capital" matches "Paris",
  "Parisian" does not), or its first sentence ends in "is/are/was/were/called/
  named <reference>" ("The capital of France is Paris."). ``|`` separates
  alternative references. Empty → None.

The graders of benchmarks (GSM8K, math, code) live in their own modules, and
:mod:`ipw.judging.dispatch` names them all (``SCORERS``, ``AutoScorer``,
``get_scorer``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, ClassVar, Protocol

import msgspec

from ..errors import UsageError

__all__ = [
    "ScoreResult",
    "Scorer",
    "LetterScorer",
    "NumericScorer",
    "ExactScorer",
    "answer_segment",
    "numbers_in",
]

_LETTERS = "ABCDEFGHIJ"


class ScoreResult(msgspec.Struct, frozen=True):
    """One scorer decision. ``is_correct`` is ``None`` when nothing could be extracted."""

    is_correct: bool | None
    score: float | None
    metadata: dict[str, Any] = {}


class Scorer(Protocol):
    """What every deterministic scorer offers."""

    id: str

    @property
    def spec(self) -> str: ...

    def score(self, answer_text: str, reference: str, *, choices: list[str] | None = None) -> ScoreResult: ...


def _verdict(correct: bool | None, **metadata: Any) -> ScoreResult:
    score = None if correct is None else float(correct)
    return ScoreResult(correct, score, metadata)


# -- the answer segment -------------------------------------------------------

_EMPHASIS = re.compile(r"\*\*|__|`+")
_LEAD_IN = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+|correct\s+|right\s+)?answer\s*(?:is|:|=|-)\s*"
    r"|it\s+is\s+|it['\u2019]s\s+|so\s+)+",
    re.I,
)


def answer_segment(text: str) -> str:
    """The part of an answer every scorer reads: its first non-empty line, lead-in dropped."""
    for line in text.splitlines():
        line = _EMPHASIS.sub("", line).strip()
        if line:
            return _LEAD_IN.sub("", line).strip()
    return ""


def _first_sentence(segment: str) -> str:
    match = re.search(r"[.!?;](?:\s|$)", segment)
    return segment[: match.start()] if match else segment


# -- letters ------------------------------------------------------------------

_LEAD_LETTER = re.compile(
    r"""^(?:
        [(\[]\s*(?P<boxed>[A-Ja-j])\s*[)\]]
      | (?P<upper>[A-J])(?=\s*$|\s*[.):\],;/\u2013\u2014-]|\s+(?![\sa-z]))
      | (?P<lower>[a-j])(?=\s*$|[.):\]])
    )""",
    re.X,
)
_PHRASE_LETTER = re.compile(
    r"(?i:answer\s*(?:is|:|=)|option|choice|letter)\s*(?:(?P<a>[A-J])|\(\s*(?P<p>[A-Ja-j])\s*\))(?![\w'])"
    r"|\b(?P<b>[A-J])\s*[)\]]?\s+(?i:is\s+(?:the\s+)?(?:correct|right|answer))"
)
_BARE_LETTER = re.compile(r"(?<![\w'])([A-J])(?![\w'])")
_CHOICE_MARK = re.compile(r"\s*[(\[]?[A-Ja-j][.)\]]\s")


def _is_choice_list(text: str) -> bool:
    """Whether the output opens by listing choices ("A. …" then "B. …") instead of picking one."""
    lines = [line for line in text.splitlines() if line.strip()][:2]
    return len(lines) == 2 and all(_CHOICE_MARK.match(_EMPHASIS.sub("", line)) for line in lines)


def _normalise_words(text: str) -> str:
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[^\w\s]|_", " ", text)
    words = [w for w in text.split() if w not in ("a", "an", "the")]
    return " ".join(words)


def _letter_by_text(sentence: str, choices: list[str]) -> str | None:
    said = _normalise_words(sentence)
    if not said:
        return None
    texts = [_normalise_words(c) for c in choices]
    for i, text in sorted(enumerate(texts), key=lambda item: -len(item[1])):
        if text and (said == text or said.startswith(text + " ")):
            return _LETTERS[i]
    contained = [i for i, text in enumerate(texts) if text and re.search(rf"(?<!\w){re.escape(text)}(?!\w)", said)]
    return _LETTERS[contained[0]] if len(contained) == 1 else None


def _extract_letter(text: str, choices: list[str] | None) -> tuple[str | None, str, str]:
    """(letter, rule, segment) for ``text``; letter is ``None`` when none is found."""
    segment = answer_segment(text)
    if _is_choice_list(text):
        return None, "list", segment
    valid = _LETTERS[: len(choices)] if choices else _LETTERS
    lead = _LEAD_LETTER.match(segment)
    if lead:
        return (lead.group("boxed") or lead.group("upper") or lead.group("lower")).upper(), "lead", segment
    phrase = _PHRASE_LETTER.search(segment)
    if phrase:
        return (phrase.group("a") or phrase.group("p") or phrase.group("b")).upper(), "phrase", segment
    sentence = _first_sentence(segment)
    for match in _BARE_LETTER.finditer(sentence):
        letter = match.group(1)
        as_word = letter in "AI" and re.match(r"\s+[a-z]", sentence[match.end():])
        if letter in valid and not as_word:
            return letter, "bare", segment
    if choices:
        by_text = _letter_by_text(sentence, choices)
        if by_text:
            return by_text, "text", segment
    return None, "none", segment


class LetterScorer:
    """Multiple choice: which letter did the answer pick (see the module docstring)."""

    id: ClassVar[str] = "letter"
    spec: ClassVar[str] = "scorer:letter/v1"

    def reference_letter(self, reference: str, choices: list[str] | None = None) -> str | None:
        """The letter a reference names: "B", "(b)", or a choice's exact text."""
        ref = reference.strip()
        match = re.fullmatch(r"[(\[]?\s*([A-Ja-j])\s*[)\].]?", ref)
        if match:
            return match.group(1).upper()
        if choices:
            wanted = _normalise_words(ref)
            hits = [i for i, c in enumerate(choices) if _normalise_words(c) == wanted]
            if len(hits) == 1:
                return _LETTERS[hits[0]]
        return None

    def score(self, answer_text: str, reference: str, *, choices: list[str] | None = None) -> ScoreResult:
        expected = self.reference_letter(reference, choices)
        if expected is None:
            return _verdict(None, reason=f"reference {reference!r} names no choice letter", reference=reference)
        letter, rule, segment = _extract_letter(answer_text, choices)
        if letter is None:
            return _verdict(None, extracted=None, rule=rule, reference=expected, segment=segment[:200])
        valid = _LETTERS[: len(choices)] if choices else _LETTERS
        meta: dict[str, Any] = {"extracted": letter, "rule": rule, "reference": expected}
        if letter not in valid:
            meta["out_of_range"] = True
        return _verdict(letter == expected, **meta)


# -- numbers ------------------------------------------------------------------

_NUMBER = re.compile(
    r"""(?<![\w.])
    (?P<sign>[-+\u2212]?)\s?
    (?:[$\u20ac\u00a3\u00a5]\s?)?
    (?:
        (?:(?P<whole>\d+)\s+)?(?P<num>\d+)\s*/\s*(?P<den>\d+)(?![\d.])
      | (?P<dec>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\d)|\.\d+)
    )
    (?P<pct>\s?%|\s?percent\b)?""",
    re.X,
)
_PHRASE_MARKER = re.compile(r"answer\s*(?:is|:)", re.I)

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_WORD_NUMBER = re.compile(
    r"^(?P<neg>minus\s+|negative\s+)?(?P<tens>" + "|".join(_TENS) + r")?(?:[-\s]?(?P<unit>"
    + "|".join(sorted(_UNITS, key=len, reverse=True)) + r"))?(?![\w-])",
    re.I,
)


def _parse_number(match: re.Match[str]) -> tuple[float, bool] | None:
    """(value, is_percent) of one ``_NUMBER`` match, or ``None`` for x/0."""
    sign = -1.0 if match.group("sign") in ("-", "\u2212") else 1.0
    if match.group("dec") is not None:
        value = float(match.group("dec").replace(",", ""))
    elif int(match.group("den")) == 0:
        return None
    else:
        value = int(match.group("whole") or 0) + int(match.group("num")) / int(match.group("den"))
    return sign * value, match.group("pct") is not None


def _word_number(segment: str) -> float | None:
    match = _WORD_NUMBER.match(segment)
    if not match or not (match.group("tens") or match.group("unit")):
        return None
    tens = _TENS[match.group("tens").lower()] if match.group("tens") else 0
    unit = _UNITS[match.group("unit").lower()] if match.group("unit") else 0
    if tens and unit >= 10:
        return None
    return float(-(tens + unit) if match.group("neg") else tens + unit)


def _numbers(text: str) -> list[tuple[float, bool]]:
    parsed = (_parse_number(m) for m in _NUMBER.finditer(text))
    return [p for p in parsed if p is not None]


def numbers_in(text: str) -> list[float]:
    """Every number in ``text``, in order, read as the numeric scorer reads them (a percentage as written)."""
    return [value for value, _ in _numbers(text)]


def _extract_number(segment: str) -> tuple[float, bool, str] | None:
    """(value, is_percent, rule) of the answer's number, per the module docstring."""
    markers = list(_PHRASE_MARKER.finditer(segment))
    if markers:
        after = _numbers(segment[markers[-1].end():])
        if after:
            return after[0][0], after[0][1], "marker"
    if "=" in segment:
        for side in reversed(segment.split("=")):
            found = _numbers(side)
            if len(found) == 1:
                return found[0][0], found[0][1], "equation"
    found = _numbers(segment)
    if found:
        return found[0][0], found[0][1], "first"
    if not re.search(r"\d", segment):
        word = _word_number(segment)
        if word is not None:
            return word, False, "word"
    return None


def _reference_number(reference: str) -> tuple[float, bool] | None:
    """(value, is_percent) of a reference: exactly one number, or a number word alone."""
    text = _EMPHASIS.sub("", reference).strip()
    found = _numbers(text)
    if found:
        return found[0] if len(found) == 1 else None
    word = _word_number(text)
    return (word, False) if word is not None and not _WORD_NUMBER.sub("", text, count=1).strip() else None


class NumericScorer:
    """A number within tolerance of the reference (see the module docstring)."""

    id: ClassVar[str] = "numeric"

    def __init__(self, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
        if rel_tol < 0 or abs_tol < 0:
            raise UsageError("numeric tolerances cannot be negative", hint="pass rel_tol and abs_tol of 0 or more")
        self.rel_tol = float(rel_tol)
        self.abs_tol = float(abs_tol)

    @property
    def spec(self) -> str:
        base = "scorer:numeric/v1"
        if (self.rel_tol, self.abs_tol) == (1e-6, 1e-9):
            return base
        return f"{base}?rel_tol={self.rel_tol!r}&abs_tol={self.abs_tol!r}"

    def _close(self, a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def score(self, answer_text: str, reference: str, *, choices: list[str] | None = None) -> ScoreResult:
        ref = _reference_number(reference)
        if ref is None:
            return _verdict(None, reason=f"reference {reference!r} is not a number", reference=reference)
        ref_value, ref_pct = ref
        segment = answer_segment(answer_text)
        got = _extract_number(segment)
        if got is None:
            return _verdict(None, extracted=None, reference=ref_value, segment=segment[:200])
        value, pct, rule = got
        candidates = [value]
        if pct != ref_pct:
            candidates.append(value / 100 if pct else value * 100)
        correct = any(self._close(v, ref_value) for v in candidates)
        return _verdict(correct, extracted=value, percent=pct, rule=rule, reference=ref_value)


# -- exact strings ------------------------------------------------------------


_COPULAS = "is|are|was|were|called|named"


class ExactScorer:
    """A short string, normalised, as the whole answer or its first words."""

    id: ClassVar[str] = "exact"
    spec: ClassVar[str] = "scorer:exact/v1"

    @staticmethod
    def normalise(text: str) -> str:
        """Case-folded, accent-free words without punctuation or articles."""
        return _normalise_words(text)

    def score(self, answer_text: str, reference: str, *, choices: list[str] | None = None) -> ScoreResult:
        wanted = [n for n in (self.normalise(alt) for alt in reference.split("|")) if n]
        if not wanted:
            return _verdict(None, reason=f"reference {reference!r} is empty after normalising", reference=reference)
        segment = answer_segment(answer_text)
        said = self.normalise(segment)
        if not said:
            return _verdict(None, extracted=None, reference=wanted)
        sentence = self.normalise(_first_sentence(segment))
        correct = any(
            said == ref or said.startswith(ref + " ") or re.search(rf"(?:^| )(?:{_COPULAS}) {re.escape(ref)}$", sentence)
            for ref in wanted
        )
        return _verdict(correct, extracted=said[:200], reference=wanted)
