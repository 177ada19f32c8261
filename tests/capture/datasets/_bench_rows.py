"""Small files in each catalogue entry's real Hub layout: the paths and columns the real repos hold.

``repo_files(name, salt)`` gives the files to serve for entry ``name``; a
different ``salt`` changes one question, so a test can change what the Hub
serves. Parquet where the real repo holds Parquet, JSONL/CSV where it holds those.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["repo_files", "ROWS_SERVED"]

ROWS_SERVED = 3  # every entry's file holds this many usable rows


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _rows(name: str, salt: str) -> list[dict[str, Any]]:
    n = range(ROWS_SERVED)
    if name == "mmlu-pro":
        return [{"question_id": 70 + i, "question": f"Which is {i}? {salt}", "options": [f"o{j}" for j in range(10)],
                 "answer": "J", "answer_index": 9, "cot_content": "", "category": "physics", "src": "ori_mmlu"}
                for i in n]
    if name == "gpqa-diamond":
        return [{"Record ID": f"rec{i}", "Question": f"What binds {i}? {salt}", "Correct Answer": "gluons",
                 "Incorrect Answer 1": "photons", "Incorrect Answer 2": "W bosons", "Incorrect Answer 3": "Z bosons",
                 "High-level domain": "Physics", "Subdomain": "Quantum Mechanics"} for i in n]
    if name == "supergpqa":
        return [{"uuid": f"u{i}", "question": f"Pick {i} {salt}", "options": ["a", "b", "c", "d", "e"],
                 "answer": "c", "answer_letter": "C", "discipline": "Engineering", "field": "Optics",
                 "subfield": "Lasers", "difficulty": "hard", "is_calculation": False} for i in n]
    if name == "arc-challenge":
        return [{"id": f"Mercury_{i}", "question": f"Which gas? {salt}",
                 "choices": {"text": ["O2", "N2", "CO2", "He"], "label": ["1", "2", "3", "4"]}, "answerKey": "3"}
                for i in n]
    if name == "math-500":
        return [{"problem": f"Compute $1/{i + 2}$. {salt}", "solution": "…", "answer": f"\\frac{{1}}{{{i + 2}}}",
                 "subject": "Algebra", "level": 2, "unique_id": f"test/algebra/{i}.json"} for i in n]
    if name == "gsm8k":
        return [{"question": f"Tom has {i} apples. {salt}", "answer": f"He has {i}.\n#### {i}"} for i in n]
    if name == "natural-reasoning":
        rows = [{"question": f"Why {i}? {salt}", "reference_answer": "because",
                 "responses": [{"response_model": "Llama-3.3-70B-Instruct", "response": "…"}]} for i in n]
        return rows + [{"question": "no reference", "reference_answer": "", "responses": []}]
    if name == "simpleqa":
        return [{"metadata": "{'topic': 'Science and technology', 'answer_type': 'Person', 'urls': ['x']}",
                 "problem": f"Who won prize {i}? {salt}", "answer": "Ada"} for i in n]
    if name == "wildchat":
        return [{"conversation_id": f"c{i}", "model": "gpt-3.5-turbo", "timestamp": "2023-04-09 00:02:53",
                 "conversation": [{"content": f"hello {i} {salt}", "role": "user", "language": "English",
                                   "turn_identifier": 1},
                                  {"content": "hi!", "role": "assistant", "language": "English",
                                   "turn_identifier": 1}],
                 "turn": 1, "language": "English", "toxic": False, "redacted": False} for i in n]
    if name == "humaneval":
        return [{"task_id": f"HumanEval/{i}", "prompt": f"def f{i}(x):\n    \"\"\"{salt}\"\"\"\n",
                 "canonical_solution": "    return x\n", "test": "def check(c):\n    assert c(1) == 1\n",
                 "entry_point": f"f{i}"} for i in n]
    if name == "livecodebench":
        cases = json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}])
        rows = [{"question_title": f"Sum {i}", "question_content": f"Add two numbers. {salt}", "platform": "atcoder",
                 "question_id": f"abc{i}_a", "contest_id": "abc", "contest_date": "2024-08-03T00:00:00",
                 "starter_code": "", "difficulty": "easy", "public_test_cases": cases,
                 "private_test_cases": "eJwLycgsVgCi4vzcVIXS4tQiQHNRBmo=", "metadata": "{}"} for i in n]
        functional = json.dumps([{"input": "[1]", "output": "1", "testtype": "functional"}])
        return rows + [{**rows[0], "question_id": "lc1", "platform": "leetcode", "public_test_cases": functional}]
    raise KeyError(name)


_PATHS = {
    "mmlu-pro": "data/test-00000-of-00001.parquet",
    "gpqa-diamond": "gpqa_diamond.csv",
    "supergpqa": "SuperGPQA-all.jsonl",
    "arc-challenge": "ARC-Challenge/test-00000-of-00001.parquet",
    "math-500": "test.jsonl",
    "gsm8k": "main/test-00000-of-00001.parquet",
    "natural-reasoning": "natural_reasoning.jsonl",
    "simpleqa": "simple_qa_test_set.csv",
    "wildchat": "data/train-00000-of-00001.parquet",
    "humaneval": "openai_humaneval/test-00000-of-00001.parquet",
    "livecodebench": "test.jsonl",
}
# files of other splits and configs that the entry must not read
_DECOYS = {
    "mmlu-pro": "data/validation-00000-of-00001.parquet",
    "arc-challenge": "ARC-Easy/test-00000-of-00001.parquet",
    "gsm8k": "socratic/test-00000-of-00001.parquet",
    "gpqa-diamond": "gpqa_main.csv",
}


def repo_files(name: str, salt: str = "") -> dict[str, bytes]:
    """The files of entry ``name``'s repo, in its real layout, plus a README and decoys of other splits."""
    path = _PATHS[name]
    rows = _rows(name, salt)
    writer = _parquet if path.endswith(".parquet") else _csv if path.endswith(".csv") else _jsonl
    files = {path: writer(rows), "README.md": f"# {name}\n".encode()}
    if name in _DECOYS:
        files[_DECOYS[name]] = writer([{**rows[0]} for _ in range(1)])
    return files
