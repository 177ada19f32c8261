"""The benchmark catalogue: what ``--dataset mmlu-pro`` (and the other names) means.

Each :class:`Entry` names where a benchmark lives on the Hugging Face Hub
(repo id, config, split, the split's files), which revision, the columns it
reads (the dataset's real layout), how a row becomes a record (the prompt
template), its grader and its subject field. Ids and columns follow the
upstream Intelligence Per Watt loaders and lm-evaluation-harness tasks.

Revisions: the catalogue pins each entry to its repo's ``main`` branch, as
the upstream loaders and lm-evaluation-harness do; what a run used is the
commit sha ``main`` resolved to, recorded with every file's sha256 in
``run_started`` (see :mod:`.hub`). Pass ``--dataset-param revision=SHA`` to
load exactly the data of an earlier run.

Graders are record scorer names (:data:`.base.SCORER_NAMES`): ``letter``,
``gsm8k``, ``math``, ``code``, or ``llm:<family>`` for an LLM judge with that
family's prompt. A row that cannot become a record (no reference, no usable
tests) is left out and counted in the dataset's ``skipped``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["CATALOGUE", "Entry", "Mapped"]


@dataclass(frozen=True)
class Mapped:
    """One row as the catalogue maps it: everything a record needs but its benchmark."""

    native_id: str
    problem: str
    answer: str
    subject: str
    choices: list[str] | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class Entry:
    """One benchmark of the catalogue."""

    name: str
    title: str
    repo: str
    config: str | None
    split: str
    files: tuple[str, ...]  # glob patterns of the split's files in the repo, tried in order
    columns: tuple[str, ...]  # the columns the mapping reads
    grader: str  # a record scorer name (``llm:<family>`` for an LLM judge)
    subject_field: str | None
    template: str
    to_row: Callable[["Entry", dict[str, Any], int], Mapped | None]
    size: int  # rows in the split as published
    revision: str = "main"
    gated: bool = False
    kind: str = ""  # multiple choice, math, open-ended, code

    def map(self, row: dict[str, Any], index: int) -> Mapped | None:
        return self.to_row(self, row, index)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _id(row: dict[str, Any], column: str | None, index: int) -> str:
    value = _text(row.get(column)) if column else ""
    return value or f"row-{index + 1}"


# -- multiple choice ----------------------------------------------------------

def _options(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    """MMLU-Pro and SuperGPQA: ``question``, an ``options`` list, and the answer's letter."""
    question = _text(row.get("question"))
    options = [o.strip() if isinstance(o, str) else _text(o) for o in row.get("options") or []]
    letter_col = "answer_letter" if "answer_letter" in row else "answer"
    letter = _text(row.get(letter_col)).upper()
    if not question or not options or len(options) > 10 or len(letter) != 1:
        return None
    id_col = "question_id" if "question_id" in row else "uuid"
    return Mapped(_id(row, id_col, index), entry.template.format(question=question), letter,
                  _text(row.get(entry.subject_field)) or "general", options,
                  {"source": _text(row.get("src"))} if row.get("src") else None)


def _gpqa(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    """GPQA: the correct answer and three wrong ones, shuffled by a seed of the record's id."""
    question = _text(row.get("Question"))
    right = _text(row.get("Correct Answer"))
    wrong = [_text(row.get(f"Incorrect Answer {i}")) for i in (1, 2, 3)]
    if not question or not right or not all(wrong):
        return None
    native = _id(row, "Record ID", index)
    order = [right, *wrong]
    random.Random(native).shuffle(order)  # a fixed order per record, not the "A is right" of the file
    return Mapped(native, entry.template.format(question=question), "ABCD"[order.index(right)],
                  _text(row.get(entry.subject_field)) or "general", order)


def _arc(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    """ARC: ``choices`` is ``{"text": [...], "label": [...]}``, labels A–E or 1–5; ``answerKey`` one label."""
    choices = row.get("choices") or {}
    texts, labels = list(choices.get("text") or []), [_text(x) for x in choices.get("label") or []]
    key = _text(row.get("answerKey"))
    if not texts or key not in labels or len(texts) != len(labels):
        return None
    return Mapped(_id(row, "id", index), entry.template.format(question=_text(row.get("question"))),
                  "ABCDEFGHIJ"[labels.index(key)], "science", [_text(t) for t in texts])


# -- math ---------------------------------------------------------------------

def _math500(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    problem, answer = _text(row.get("problem")), _text(row.get("answer"))
    if not problem or not answer:
        return None
    level = row.get("level")
    return Mapped(_id(row, "unique_id", index), entry.template.format(problem=problem), answer,
                  _text(row.get(entry.subject_field)) or "math", None,
                  {"level": level} if level is not None else None)


def _gsm8k(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    """GSM8K's answer is the worked solution ending ``#### N``; the grader reads the number after ####."""
    question, answer = _text(row.get("question")), _text(row.get("answer"))
    if not question or "####" not in answer:
        return None
    return Mapped(f"test-{index + 1}", entry.template.format(question=question), answer, "grade-school-math")


# -- open-ended ---------------------------------------------------------------

def _natural_reasoning(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    question, reference = _text(row.get("question")), _text(row.get("reference_answer"))
    if not question or not reference:
        return None  # about a fifth of the rows have no reference answer to judge against
    return Mapped(f"row-{index + 1}", entry.template.format(question=question), reference, "reasoning")


_TOPIC = re.compile(r"""['"]topic['"]\s*:\s*['"]([^'"]{1,200})['"]""")


def _simpleqa(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    """SimpleQA's ``metadata`` is the text of a Python dict; only its topic is read, with a regex."""
    problem, answer = _text(row.get("problem")), _text(row.get("answer"))
    if not problem or not answer:
        return None
    topic = _TOPIC.search(_text(row.get("metadata"))[:4096])
    return Mapped(f"row-{index + 1}", entry.template.format(question=problem), answer,
                  topic.group(1) if topic else "general")


def _wildchat(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    """WildChat: the first user turn is the question; the first assistant turn is the judge's reference."""
    user = reply = ""
    for turn in row.get("conversation") or []:
        if not isinstance(turn, dict):
            continue
        role, content = _text(turn.get("role")).lower(), _text(turn.get("content"))
        if role == "user" and not user:
            user = content
        elif role == "assistant" and user and not reply:
            reply = content
    if not user or not reply:
        return None
    return Mapped(_id(row, "conversation_id", index), entry.template.format(message=user), reply,
                  _text(row.get(entry.subject_field)) or "unknown")


# -- code ---------------------------------------------------------------------

def _humaneval(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    prompt, test, entry_point = _text(row.get("prompt")), row.get("test"), _text(row.get("entry_point"))
    if not prompt or not test or not entry_point:
        return None
    reference = json.dumps({"prompt": row["prompt"], "test": test, "entry_point": entry_point}, sort_keys=True)
    return Mapped(_id(row, "task_id", index), entry.template.format(prompt=row["prompt"]), reference, "python")


def _livecodebench(entry: Entry, row: dict[str, Any], index: int) -> Mapped | None:
    """LiveCodeBench: the public stdin/stdout tests (``public_test_cases``, JSON text) are the reference.

    The private tests are a compressed pickle, which ipw never unpickles; LeetCode
    problems (``functional`` tests, a class method to call) are left out, since the
    code grader runs programs on stdin.
    """
    content = _text(row.get("question_content"))
    try:
        cases = json.loads(row.get("public_test_cases") or "[]")
    except (TypeError, ValueError):
        return None
    tests = [{"input": str(c.get("input", "")), "output": str(c.get("output", ""))}
             for c in cases if isinstance(c, dict) and c.get("testtype", "stdin") == "stdin"]
    if not content or not tests or len(tests) != len(cases):
        return None
    subject = "/".join(x for x in (_text(row.get("platform")), _text(row.get("difficulty"))) if x) or "code"
    return Mapped(_id(row, "question_id", index), entry.template.format(problem=content),
                  json.dumps({"tests": tests}, sort_keys=True), subject,
                  None, {"title": _text(row.get("question_title")), "contest_date": _text(row.get("contest_date"))})


_MC = "{question}"
_ENTRIES = (
    Entry("mmlu-pro", "MMLU-Pro", "TIGER-Lab/MMLU-Pro", None, "test", ("data/test-*",),
          ("question_id", "question", "options", "answer", "answer_index", "category", "src"),
          "letter", "category", _MC, _options, 12032, kind="multiple choice"),
    Entry("gpqa-diamond", "GPQA Diamond", "Idavidrein/gpqa", "gpqa_diamond", "train", ("gpqa_diamond.csv",),
          ("Record ID", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
           "Incorrect Answer 3", "High-level domain", "Subdomain"),
          "letter", "High-level domain", _MC, _gpqa, 198, gated=True, kind="multiple choice"),
    Entry("supergpqa", "SuperGPQA", "m-a-p/SuperGPQA", None, "train", ("SuperGPQA-all.jsonl", "*.jsonl"),
          ("uuid", "question", "options", "answer", "answer_letter", "discipline", "field", "subfield"),
          "letter", "discipline", _MC, _options, 26529, kind="multiple choice"),
    Entry("arc-challenge", "ARC-Challenge", "allenai/ai2_arc", "ARC-Challenge", "test",
          ("ARC-Challenge/test-*",), ("id", "question", "choices", "answerKey"),
          "letter", None, _MC, _arc, 1172, kind="multiple choice"),
    Entry("math-500", "MATH-500", "HuggingFaceH4/MATH-500", None, "test", ("test.jsonl",),
          ("problem", "solution", "answer", "subject", "level", "unique_id"),
          "math", "subject", "{problem}\nPut the final answer in \\boxed{{}}.", _math500, 500, kind="math"),
    Entry("gsm8k", "GSM8K", "openai/gsm8k", "main", "test", ("main/test-*",), ("question", "answer"),
          "gsm8k", None, "{question}\nEnd with the final number after ####.", _gsm8k, 1319, kind="math"),
    Entry("natural-reasoning", "Natural Reasoning", "facebook/natural_reasoning", None, "train",
          ("*.jsonl", "data/train-*"), ("question", "reference_answer", "responses"),
          "llm:natural-reasoning", None, "{question}", _natural_reasoning, 1145824, kind="open-ended"),
    Entry("simpleqa", "SimpleQA", "basicv8vc/SimpleQA", None, "test", ("simple_qa_test_set.csv",),
          ("metadata", "problem", "answer"), "llm:simpleqa", "metadata", "{question}", _simpleqa, 4326,
          kind="open-ended"),
    Entry("wildchat", "WildChat", "allenai/WildChat", None, "train", ("data/train-*",),
          ("conversation_id", "model", "conversation", "turn", "language"),
          "llm:wildchat", "language", "Reply to this message from a user as helpfully as you can.\n\n{message}",
          _wildchat, 529428, kind="open-ended"),
    Entry("humaneval", "HumanEval", "openai/openai_humaneval", "openai_humaneval", "test",
          ("openai_humaneval/test-*",), ("task_id", "prompt", "canonical_solution", "test", "entry_point"),
          "code", None, "Complete this Python function. Answer with the whole function in a ```python block.\n\n"
          "{prompt}", _humaneval, 164, kind="code"),
    Entry("livecodebench", "LiveCodeBench (code generation lite)", "livecodebench/code_generation_lite", None,
          "test", ("test*.jsonl",),
          ("question_title", "question_content", "platform", "question_id", "contest_date", "starter_code",
           "difficulty", "public_test_cases", "private_test_cases", "metadata"),
          "code", "platform", "Solve this programming problem in Python 3. The program reads the input from stdin "
          "and writes the answer to stdout. Answer with the whole program in a ```python block.\n\n{problem}",
          _livecodebench, 1055, kind="code"),
)
CATALOGUE: dict[str, Entry] = {e.name: e for e in _ENTRIES}
