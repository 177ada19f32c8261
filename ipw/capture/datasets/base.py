"""What a dataset is to ipw: records, the provider contract, and the base-model prompt.

A provider yields ``DatasetRecord``s. Every provider accepts the selection
parameters ``subjects=a,b``, ``shuffle_seed=N`` and ``limit=N`` (given as
strings by ``--dataset-param``), applied in that order: filter, shuffle, cut.
``describe()`` carries a sha256 of exactly the records selected, so a ledger
says which data a run used, not just which file it came from.
"""

from __future__ import annotations

import abc
import hashlib
import random
import re
from collections import Counter
from typing import Any, ClassVar, Iterable, Iterator, Mapping

import msgspec

from ...errors import DatasetError, UsageError

__all__ = [
    "DatasetRecord",
    "DatasetProvider",
    "SCORER_NAMES",
    "SELECTION_PARAMS",
    "format_choices",
    "has_lettered_choices",
    "letter_for",
    "prompt_for",
    "validate_record",
]

# deterministic scorers (ipw.judging.dispatch), then the LLM-judged families (an LLM judge with that family's prompt)
SCORER_NAMES = ("letter", "numeric", "exact", "gsm8k", "math", "code",
                "llm:natural-reasoning", "llm:simpleqa", "llm:wildchat")
SELECTION_PARAMS = ("subjects", "shuffle_seed", "limit")
_LETTERS = "ABCDEFGHIJ"


class DatasetRecord(msgspec.Struct, frozen=True):
    """One question: what the model is shown, the reference, and how to score it.

    ``problem`` is the full text shown to the model, lettered choices included
    for multiple choice. ``scorer`` names what checks ``answer``: a
    deterministic scorer ("letter", "numeric", "exact", "gsm8k", "math",
    "code") or an LLM-judged family ("llm:simpleqa" …, see ``SCORER_NAMES``);
    ``None`` means an LLM judge with the generic prompt. ``choices`` holds the choice texts in letter order when known.
    """

    record_id: str
    problem: str
    answer: str
    subject: str
    scorer: str | None = None
    choices: list[str] | None = None
    metadata: dict[str, Any] = {}


def letter_for(index: int) -> str:
    """The choice letter at 0-based ``index`` (0 → "A")."""
    if not 0 <= index < len(_LETTERS):
        raise ValueError(f"choice index {index} is outside A–J")
    return _LETTERS[index]


_CHOICE_LINE = re.compile(r"^\s*\(?([A-J])[.):]\s+\S", re.M)


def has_lettered_choices(problem: str) -> bool:
    """Whether ``problem`` already lists its choices as "A. …", "B) …" lines."""
    if "\n" not in problem:
        return False  # two choice lines need a line break between them: most questions are one line, skip the regex
    found = {m.group(1) for m in _CHOICE_LINE.finditer(problem)}
    return {"A", "B"} <= found


def format_choices(problem: str, choices: Iterable[str] | None) -> str:
    """``problem`` with its choices appended as "A. text" lines, unless it lists them."""
    items = list(choices or ())
    if not items or has_lettered_choices(problem):
        return problem
    if len(items) > len(_LETTERS):
        raise ValueError(f"{len(items)} choices; letters run A–J")
    return "\n".join([problem.rstrip(), *(f"{letter}. {text}" for letter, text in zip(_LETTERS, items))])


def validate_record(record: DatasetRecord) -> str | None:
    """Why ``record`` cannot be used, or ``None`` when it is well formed."""
    if not record.problem.strip():
        return "the problem is empty"
    if not record.answer.strip():
        return "the answer is empty"
    if record.scorer is not None and record.scorer not in SCORER_NAMES:
        return f"unknown scorer {record.scorer!r} (use one of {', '.join(SCORER_NAMES)}, or none for an LLM judge)"
    if record.choices is not None and not 2 <= len(record.choices) <= len(_LETTERS):
        return f"{len(record.choices)} choices; multiple choice needs 2 to {len(_LETTERS)}"
    if record.scorer == "letter":
        answer = record.answer.strip().upper()
        n = len(record.choices) if record.choices else len(_LETTERS)
        if len(answer) != 1 or answer not in _LETTERS[:n]:
            return f"letter answer {record.answer!r} is not one of {_LETTERS[0]}–{_LETTERS[n - 1]}"
    return None


_INSTRUCTIONS = {
    "letter": "Answer with the letter of the correct choice.",
    "numeric": "Answer with a number.",
    "exact": "Answer with a word or a short phrase.",
}
# One solved example per answer kind: a small base model copies its shape and
# answers on the first line (measured on gemma-3-270m: without it the model
# mostly echoes the question or the choice list instead of answering).
_EXAMPLES = {
    "letter": "Question: Which animal barks?\nA. cat\nB. dog\nC. fish\nD. bird\nAnswer: B",
    "numeric": "Question: What is 2 + 3?\nAnswer: 5",
    "exact": "Question: What colour is fresh grass?\nAnswer: green",
}


def prompt_for(record: DatasetRecord) -> str:
    """The plain completion prompt for a base model without a chat template.

    For a deterministically scored record: a one-line instruction, one solved
    example of the same kind, then ``Question: <problem>`` (lettered choices
    included) and a final ``Answer:``, so the model answers in its very next
    words, which is exactly where the scorers look. A record left to an LLM
    judge gets just the question and ``Answer:``.
    """
    question = f"Question: {format_choices(record.problem.strip(), record.choices)}\nAnswer:"
    if record.scorer not in _INSTRUCTIONS:
        return question
    return f"{_INSTRUCTIONS[record.scorer]}\n\n{_EXAMPLES[record.scorer]}\n\n{question}"


def _int_param(params: Mapping[str, Any], name: str, *, minimum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"dataset parameter {name}={value!r} is not an integer", hint=f"pass {name}=N") from None
    if minimum is not None and number < minimum:
        raise UsageError(f"dataset parameter {name}={number} is below {minimum}", hint=f"pass {name}={minimum} or more")
    return number


def _list_param(params: Mapping[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    cleaned = [str(item).strip() for item in items if str(item).strip()]
    return cleaned or None


class DatasetProvider(abc.ABC):
    """Base of every dataset: source records in, selected records out.

    A subclass implements ``_load`` (every record of its source, in source
    order) and lists the parameters it takes besides the selection ones in
    ``params_accepted``; an unknown parameter is a ``UsageError``.
    """

    dataset_id: ClassVar[str] = ""
    dataset_name: ClassVar[str] = ""
    requires_judge: ClassVar[bool] = False
    params_accepted: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        known = set(SELECTION_PARAMS) | set(self.params_accepted)
        unknown = sorted(set(params) - known)
        if unknown:
            raise UsageError(
                f"dataset '{self.dataset_id}' has no parameter {', '.join(unknown)}",
                hint=f"its parameters are: {', '.join(sorted(known))}",
            )
        self.params: dict[str, Any] = dict(params)
        self._subjects = _list_param(params, "subjects")
        self._shuffle_seed = _int_param(params, "shuffle_seed")
        self._limit = _int_param(params, "limit", minimum=1)
        self._selected: list[DatasetRecord] | None = None

    @abc.abstractmethod
    def _load(self) -> Iterable[DatasetRecord]:
        """Every record of the source, in source order, before selection."""

    def _where(self) -> str:
        """How error messages name the source."""
        return f"dataset '{self.dataset_id}'"

    def _select(self) -> list[DatasetRecord]:
        records = list(self._load())
        if not records:
            raise DatasetError(f"{self._where()} holds no records", hint="point it at a file with at least one row")
        seen: dict[str, int] = {}
        for index, record in enumerate(records):
            if record.record_id in seen:
                raise DatasetError(
                    f"{self._where()}: record id {record.record_id!r} appears twice "
                    f"(records {seen[record.record_id] + 1} and {index + 1})",
                    hint="give every row a unique id, or drop the id column so ipw numbers the rows",
                )
            seen[record.record_id] = index
        if self._subjects is not None:
            wanted = set(self._subjects)
            available = sorted({r.subject for r in records})
            records = [r for r in records if r.subject in wanted]
            if not records:
                raise DatasetError(
                    f"{self._where()} has no records with subjects {', '.join(self._subjects)}",
                    hint=f"its subjects are: {', '.join(available)}",
                )
        if self._shuffle_seed is not None:
            random.Random(self._shuffle_seed).shuffle(records)
        if self._limit is not None:
            records = records[: self._limit]
        return records

    def records(self) -> list[DatasetRecord]:
        """The selected records, loaded once and kept."""
        if self._selected is None:
            self._selected = self._select()
        return list(self._selected)

    def iter_records(self) -> Iterator[DatasetRecord]:
        """The selected records, in run order."""
        return iter(self.records())

    def size(self) -> int:
        """How many records ``iter_records`` yields."""
        return sum(1 for _ in self.iter_records())

    def content_sha256(self) -> str:
        """sha256 over the canonical JSON of every selected record, in order."""
        digest = hashlib.sha256()
        for record in self.iter_records():
            digest.update(msgspec.json.encode(record, order="deterministic"))
            digest.update(b"\n")
        return digest.hexdigest()

    def _describe_source(self) -> dict[str, Any]:
        """Source details for ``describe`` (a path, a format); none by default."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What a ledger records about the data: id, params, size, counts and content hash."""
        records = list(self.iter_records())
        return {
            "id": self.dataset_id,
            "name": self.dataset_name,
            "params": {k: v if isinstance(v, (int, float, bool)) else str(v) for k, v in self.params.items()},
            **self._describe_source(),
            "size": len(records),
            "requires_judge": self.requires_judge,
            "judged_by_llm": sum(1 for r in records if r.scorer is None or r.scorer.startswith("llm:")),
            "subjects": dict(sorted(Counter(r.subject for r in records).items())),
            "scorers": dict(sorted(Counter(r.scorer or "llm" for r in records).items())),
            "sha256": self.content_sha256(),
        }
