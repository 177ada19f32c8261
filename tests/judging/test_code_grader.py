"""The code grader: known-correct and known-wrong programs, and hostile ones scored incorrect with a reason.

Programs really run, in the sandbox of ``ipw._sandbox`` (its containment is
tested in tests/test_sandbox.py); the references are shaped as HumanEval's
records and LiveCodeBench's stdin/stdout tests are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.judging import CodeScorer, get_scorer
from ipw.judging.apply import ScorerJudge, judge_run
from ipw.judging.code_grader import extract_code
from ipw.replay import load_run

from ._judging_support import write_run

HUMANEVAL = json.dumps({
    "task_id": "HumanEval/0",
    "prompt": "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
              "    \"\"\"Whether any two numbers are closer than threshold.\"\"\"\n",
    "entry_point": "has_close_elements",
    "test": "def check(candidate):\n"
            "    assert candidate([1.0, 2.0, 3.9, 4.0], 0.3) is True\n"
            "    assert candidate([1.0, 2.0, 3.0], 0.5) is False\n"
            "    assert candidate([], 1.0) is False\n",
})
COMPLETION = (
    "    for i, a in enumerate(numbers):\n"
    "        for b in numbers[i + 1:]:\n"
    "            if abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
)
WHOLE_FUNCTION = (
    "Here is my solution:\n\n```python\nfrom typing import List\n\n"
    "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    "    s = sorted(numbers)\n"
    "    return any(b - a < threshold for a, b in zip(s, s[1:]))\n```\n"
)
WRONG = "    return len(numbers) > 1\n"

STDIO = json.dumps({"tests": [
    {"input": "3\n1 2 3\n", "output": "6\n"},
    {"input": "2\n-5 5\n", "output": "0"},
    {"input": "1\n100\n", "output": "100\n"},
]})
STDIO_RIGHT = "```python\nn = int(input())\nprint(sum(map(int, input().split())))\n```"
STDIO_WRONG = "```python\nn = int(input())\nprint(max(map(int, input().split())))\n```"

FAST = CodeScorer(wall_s=3)


@pytest.mark.parametrize(("answer", "expected"), [(COMPLETION, True), (WHOLE_FUNCTION, True), (WRONG, False)])
def test_humaneval_programs_pass_or_fail_their_check(answer: str, expected: bool) -> None:
    result = FAST.score(answer, HUMANEVAL)
    assert result.is_correct is expected, result.metadata
    if not expected:
        assert result.metadata["reason"] == "runtime_error" and "AssertionError" in result.metadata["stderr_tail"]


def test_stdin_stdout_programs_pass_every_case_or_name_the_first_failure() -> None:
    right = FAST.score(STDIO_RIGHT, STDIO)
    assert right.is_correct is True and right.metadata["tests_passed"] == 3
    wrong = FAST.score(STDIO_WRONG, STDIO)
    assert wrong.is_correct is False
    assert wrong.metadata["reason"] == "wrong_answer" and wrong.metadata["failed_test"] == 0


HOSTILE = {
    "infinite loop": ("while True:\n    pass\n", "timeout"),
    "output flood": ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", "output_limit"),
    "crash": ("raise SystemExit(3)\n", "runtime_error"),
    "memory hog": ("hog = bytearray(8 * 1024**3)\nprint(6)\n", "runtime_error"),
    "bounded fork storm": (
        "import os, time\nfor _ in range(3000):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\nprint(6)\n", "wrong_answer"),
    "rm -rf home": ("import subprocess\nsubprocess.run('rm -rf ~', shell=True)\nprint(5)\n", "wrong_answer"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_program_is_scored_incorrect_with_a_reason(name: str) -> None:
    source, reason = HOSTILE[name]
    result = FAST.score(f"```python\n{source}```", STDIO)
    assert result.is_correct is False and result.score == 0.0
    assert result.metadata["reason"] == reason, result.metadata


def test_an_answer_without_code_is_incorrect() -> None:
    assert FAST.score("```python\n```", STDIO).metadata["reason"] == "no_code"


@pytest.mark.parametrize("reference", ["42", "[]", '{"tests": []}', '{"tests": [{"input": 1}]}',
                                       '{"test": "x", "entry_point": "os.system"}'])
def test_a_reference_that_names_no_tests_is_unevaluated(reference: str) -> None:
    result = FAST.score(STDIO_RIGHT, reference)
    assert result.is_correct is None and result.metadata["reason"]


def test_code_is_taken_from_the_block_defining_the_entry_point() -> None:
    answer = "```python\nprint('usage')\n```\nand\n```py\ndef f(x):\n    return x\n```"
    assert extract_code(answer, "f").startswith("def f(x)")
    assert extract_code(answer).startswith("print")
    assert extract_code("plain text") == "plain text"


def test_specs_are_versioned_and_rebuilt_with_their_limits() -> None:
    assert CodeScorer().spec == "scorer:code/v1"
    assert FAST.spec == "scorer:code/v1?wall_s=3.0"
    assert get_scorer(FAST.spec).limits == FAST.limits


def test_rejudging_a_run_with_the_code_grader_runs_nothing_twice(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [
        {"record_id": "he-0", "subject": "humaneval", "scorer": "code", "problem": "p", "reference": HUMANEVAL,
         "answer": WHOLE_FUNCTION},  # write_run drops an answer's leading whitespace, so not a bare completion
        {"record_id": "lcb-0", "subject": "livecodebench", "scorer": "code", "problem": "p", "reference": STDIO,
         "answer": STDIO_WRONG},
    ])
    judge = ScorerJudge(FAST)
    first = judge_run(run, judge)
    assert (first.appended, first.calls) == (2, 2)
    verdicts = load_run(run).verdicts_by_judge()["scorer:code/v1?wall_s=3.0"]
    assert sorted(v.is_correct for v in verdicts.values()) == [False, True]
    second = judge_run(run, judge)
    assert (second.appended, second.calls, second.already_judged) == (0, 0, 2)
