"""The agent's tools on their own: the calculator never evaluates code, the workspace never leaks, programs run sandboxed."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ipw.agent.tasks import AgentTaskSet, parse_tasks
from ipw.agent.tools import calculate, run_tool
from ipw.agent.workspace import PathRefused, Workspace
from ipw.errors import DatasetError, UsageError


@pytest.mark.parametrize(("expression", "value"), [("(1234 * 5678 - 91011) / 7", (1234 * 5678 - 91011) / 7),
                                                    ("2 ** 10 % 7", 2 ** 10 % 7), ("-sqrt(16) + abs(-2)", -2.0),
                                                    ("max(1, 2, 3) // 2", 1), ("round(pi, 2)", 3.14)])
def test_the_calculator_does_arithmetic(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize("expression", ["__import__('os').system('id')", "open('x')", "(1).__class__", "9 ** 9 ** 9",
                                        "[1, 2]", "'a' * 3", "lambda: 1", "1 / 0", "x", "sqrt(-1)", "True + 1"])
def test_the_calculator_refuses_what_is_not_arithmetic(expression: str) -> None:
    with pytest.raises(ValueError):
        calculate(expression)


def test_the_workspace_refuses_paths_that_leave_it(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    ws = Workspace(tmp_path / "ws")
    (ws.root / "link").symlink_to(outside)
    for name in ("../secret.txt", str(outside), "a/../../secret.txt", "link", ""):
        with pytest.raises(PathRefused):
            ws.read_text(name)
        result = run_tool("write_file", json.dumps({"path": name, "content": "x"}), ws, wall_s=5)
        assert not result.ok
    assert outside.read_text() == "secret"
    assert run_tool("write_file", json.dumps({"path": "sub/ok.txt", "content": "fine"}), ws, wall_s=5).ok
    assert run_tool("read_file", json.dumps({"path": "sub/ok.txt"}), ws, wall_s=5).output == "fine"


def test_an_archive_that_leaves_the_workspace_changes_nothing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.write_text("keep.txt", "kept")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("fine.txt", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PathRefused):
        ws.replace_from(buf.getvalue())
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in ws.root.iterdir()) == ["keep.txt"]


def test_a_program_runs_in_the_workspace_and_its_files_come_back(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.seed({"data/in.txt": "3\n4\n"})
    code = "import os\nnums = [int(x) for x in open('data/in.txt')]\nopen('sum.txt', 'w').write(str(sum(nums)))\n" \
           "os.remove('data/in.txt')\nprint('sum', sum(nums))\n"
    result = run_tool("python", json.dumps({"code": code}), ws, wall_s=20)
    assert result.ok, result
    assert result.output.strip() == "sum 7" and result.cpu_s is not None and result.cpu_s > 0
    assert ws.read_text("sum.txt") == "7" and not (ws.root / "data" / "in.txt").exists()
    failing = run_tool("python", json.dumps({"code": "raise SystemExit('no luck')"}), ws, wall_s=20)
    assert not failing.ok and "no luck" in failing.output and failing.error == "exit status 1"


def test_bad_arguments_and_unknown_tools_are_errors_for_the_model(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert "not JSON" in run_tool("calculator", "{not json", ws, wall_s=5).error
    assert "missing" in run_tool("calculator", "{}", ws, wall_s=5).error
    assert "no tool 'shell'" in run_tool("shell", "{}", ws, wall_s=5).error


def test_the_built_in_tasks_load_and_a_bad_task_file_is_one_error(tmp_path: Path) -> None:
    tasks = AgentTaskSet().records()
    assert len(tasks) >= 4 and all(t.metadata["check"] for t in tasks)
    with pytest.raises(DatasetError, match="outside its workspace"):
        parse_tasks(b'{"id": "x", "prompt": "p", "check": "true", "files": {"../x": ""}}\n', "t.jsonl")
    with pytest.raises(DatasetError, match="line 2"):
        parse_tasks(b'{"id": "x", "prompt": "p", "check": "true"}\n{"id": 3}\n', "t.jsonl")
    with pytest.raises(UsageError, match="max_turns"):
        AgentTaskSet(max_turns="0")


SOLUTIONS = {
    "primes-below-100": "open('primes.txt', 'w').write('\\n'.join(str(n) for n in range(2, 100) "
                        "if all(n % d for d in range(2, n))))",
    "fix-median": "open('stats.py', 'w').write('def median(v):\\n    s = sorted(v)\\n    m = len(s) // 2\\n"
                  "    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2\\n')",
    "calculator-answer": "open('answer.txt', 'w').write('%.2f' % ((1234 * 5678 - 91011) / 7))",
    "word-count": "import json, re\nw = re.findall('[a-z]+', open('poem.txt').read().lower())\n"
                  "json.dump({x: w.count(x) for x in set(w)}, open('counts.json', 'w'))",
    "fizzbuzz-file": "open('fizzbuzz.txt', 'w').write('\\n'.join('FizzBuzz' if n % 15 == 0 else 'Fizz' if n % 3 == 0 "
                     "else 'Buzz' if n % 5 == 0 else str(n) for n in range(1, 31)))",
}


@pytest.mark.parametrize("task_id", sorted(SOLUTIONS))
def test_each_built_in_check_passes_a_solution_and_fails_the_untouched_workspace(tmp_path: Path, task_id: str) -> None:
    from ipw.agent.loop import _check
    from ipw.agent.tasks import task_of

    task = task_of(next(r for r in AgentTaskSet().records() if r.record_id == task_id))
    untouched = Workspace(tmp_path / "untouched")
    untouched.seed(task.files)
    assert _check(task, untouched)[0] == "failed"
    ws = Workspace(tmp_path / "ws")
    ws.seed(task.files)
    assert run_tool("python", json.dumps({"code": SOLUTIONS[task_id]}), ws, wall_s=20).ok
    outcome, message = _check(task, ws)
    assert outcome == "solved", message
