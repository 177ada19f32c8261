"""The code grader (``scorer:code/v1``): run the model's program against the benchmark's tests, sandboxed.

The program never runs in ipw's process: every run goes through
:func:`ipw._sandbox.run_untrusted` (its own temporary folder, rlimits, an
unprivileged user when ipw is root, no network where namespaces exist, a
wall timeout, capped output, a scrubbed environment).

The reference is a JSON object naming the tests, in one of two shapes:

``{"prompt": …, "test": …, "entry_point": …}`` (HumanEval)
    the program is the prompt's imports and the model's function when the
    answer defines ``entry_point`` itself, else the prompt followed by the
    answer (a completion of the function's body); then the benchmark's
    ``test`` code and ``check(<entry_point>)``. Correct when it exits 0.
``{"tests": [{"input": …, "output": …}, …]}`` (LiveCodeBench stdin/stdout)
    the program is run once per test with ``input`` on stdin; correct when
    every stdout equals ``output`` (trailing whitespace of each line and
    trailing empty lines ignored). The first failing test stops the run.

The answer's code is its first fenced block (preferring one that defines the
entry point), else the whole answer. Every failure is ``is_correct`` False
with a ``reason`` in the metadata: ``no_code``, ``timeout``,
``output_limit``, ``cpu_time``, ``signal:<NAME>``, ``runtime_error`` (a
non-zero exit: a failed assertion, a ``MemoryError`` at the memory limit),
``wrong_answer``. A reference that is not such an object is ``None`` with
the reason; a sandbox that cannot start at all is ``None`` with
``outcome="error"``, so the next judging pass asks again.

Limits are fixed by the spec, so one spec always grades alike:
:data:`DEFAULT_LIMITS`, and ``scorer:code/v1?wall_s=N`` for another wall
clock per run.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from .._sandbox import Limits, SandboxResult, SandboxUnavailable, run_untrusted, sandbox_python
from ..errors import UsageError
from .scorers import ScoreResult

__all__ = ["CodeScorer", "DEFAULT_LIMITS", "extract_code"]

DEFAULT_LIMITS = Limits(wall_s=10.0, cpu_s=10, memory_bytes=1024**3, file_bytes=16 * 1024**2, processes=64,
                        output_bytes=1024**2)
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
_MAX_TESTS = 1000


def extract_code(answer_text: str, entry_point: str | None = None) -> str:
    """The program in an answer: its first fenced block (one defining ``entry_point`` first), else all of it."""
    blocks = [m.group(1) for m in _FENCE.finditer(answer_text)]
    if entry_point:
        defining = [b for b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b)]
        if defining:
            return defining[0]
    return blocks[0] if blocks else answer_text


def _same_output(got: str, want: str) -> bool:
    def lines(text: str) -> list[str]:
        out = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        while out and not out[-1]:
            out.pop()
        return out

    return lines(got) == lines(want)


def _failure(result: SandboxResult) -> str | None:
    if result.reason is not None:
        return result.reason
    return None if result.returncode == 0 else "runtime_error"


def _tail(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")[-500:]


class CodeScorer:
    """A program, run sandboxed against the benchmark's tests (see the module docstring)."""

    id: ClassVar[str] = "code"

    def __init__(self, *, wall_s: float = DEFAULT_LIMITS.wall_s) -> None:
        if not wall_s > 0:
            raise UsageError("the code grader's wall_s must be positive", hint="write e.g. scorer:code/v1?wall_s=20")
        self.limits = Limits(**{**DEFAULT_LIMITS.__dict__, "wall_s": float(wall_s)})

    @property
    def spec(self) -> str:
        base = "scorer:code/v1"
        return base if self.limits.wall_s == DEFAULT_LIMITS.wall_s else f"{base}?wall_s={self.limits.wall_s!r}"

    def score(self, answer_text: str, reference: str, *, choices: list[str] | None = None) -> ScoreResult:
        tests = _parse_reference(reference)
        if isinstance(tests, str):
            return ScoreResult(None, None, {"reason": tests})
        try:
            python = sandbox_python()
            if "tests" in tests:
                return self._stdio(python, answer_text, tests["tests"])
            return self._functional(python, answer_text, tests)
        except SandboxUnavailable as exc:
            return ScoreResult(None, None, {"outcome": "error", "error": str(exc)[:500]})

    def _verdict(self, correct: bool, **meta: Any) -> ScoreResult:
        meta["wall_s_limit"] = self.limits.wall_s
        return ScoreResult(correct, float(correct), meta)

    def _functional(self, python: str, answer_text: str, tests: dict[str, Any]) -> ScoreResult:
        entry = tests["entry_point"]
        code = extract_code(answer_text, entry)
        if not code.strip():
            return self._verdict(False, reason="no_code")
        prompt = tests.get("prompt", "")
        if re.search(rf"\bdef\s+{re.escape(entry)}\s*\(", code):
            imports = [line for line in prompt.splitlines() if re.match(r"\s*(?:import|from)\s", line)]
            program = "\n".join(imports) + "\n\n" + code
        else:
            program = prompt + code
        program += f"\n\n{tests['test']}\n\ncheck({entry})\n"
        result = run_untrusted([python, "-I", "solution.py"], files={"solution.py": program}, limits=self.limits)
        failure = _failure(result)
        if failure is None:
            return self._verdict(True, tests_run=1)
        return self._verdict(False, reason=failure, returncode=result.returncode, stderr_tail=_tail(result.stderr))

    def _stdio(self, python: str, answer_text: str, cases: list[dict[str, str]]) -> ScoreResult:
        code = extract_code(answer_text)
        if not code.strip():
            return self._verdict(False, reason="no_code")
        for i, case in enumerate(cases):
            result = run_untrusted([python, "-I", "solution.py"], files={"solution.py": code},
                                   stdin=case["input"].encode(), limits=self.limits)
            failure = _failure(result)
            if failure is None and not _same_output(result.stdout.decode("utf-8", errors="replace"), case["output"]):
                failure = "wrong_answer"
            if failure is not None:
                return self._verdict(False, reason=failure, failed_test=i, tests_passed=i, tests_total=len(cases),
                                     returncode=result.returncode, stdout_tail=_tail(result.stdout),
                                     stderr_tail=_tail(result.stderr))
        return self._verdict(True, tests_passed=len(cases), tests_total=len(cases))


def _parse_reference(reference: str) -> dict[str, Any] | str:
    """The tests a reference names, or the reason it names none."""
    try:
        tests = json.loads(reference)
    except ValueError:
        return "the reference is not a JSON object naming tests"
    if not isinstance(tests, dict):
        return "the reference is not a JSON object naming tests"
    if "tests" in tests:
        cases = tests["tests"]
        if (not isinstance(cases, list) or not cases or len(cases) > _MAX_TESTS or not all(
                isinstance(c, dict) and isinstance(c.get("input"), str) and isinstance(c.get("output"), str)
                for c in cases)):
            return f"the reference's tests must be 1 to {_MAX_TESTS} objects with string input and output"
        return tests
    if isinstance(tests.get("test"), str) and isinstance(tests.get("entry_point"), str) and \
            re.fullmatch(r"[A-Za-z_]\w*", tests["entry_point"]) and isinstance(tests.get("prompt", ""), str):
        return tests
    return "the reference names neither stdin/stdout tests nor test code with an entry_point"
