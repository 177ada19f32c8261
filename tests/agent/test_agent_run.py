"""``ipw record --workload agent`` against a scripted tool-calling server: every outcome, as events in the ledger.

The server (tests/agent/_scripted_server.py) stands in for a model that
follows the tool protocol; everything else is real: the CLI, the runner, the
ledger, the sandbox that runs the programs and the checks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ipw.events import QueryStarted, TaskFinished, TaskStarted, ToolCallFinished, ToolCallStarted
from ipw.ledger import read_events, verify
from tests.agent._scripted_server import ScriptedServer, scripted_server

HELLO = json.dumps({"path": "hello.txt", "content": "hello"})
SIX_SEVEN = json.dumps({"expression": "6 * 7"})
PROGRAM = json.dumps({"code": "print(open('hello.txt').read().upper())\nopen('by_python.txt', 'w').write('x')\n"})
ESCAPE = json.dumps({"path": "../../../etc/passwd"})

SCRIPTS = {
    # a tool that never ends: the sandbox stops it, the model gives up, the check fails, the run goes on
    "forever": [("tools", [("python", json.dumps({"code": "while True:\n    pass\n"}))]), ("say", "I give up")],
    # two calls in one turn, their argument pieces interleaved; then a program that reads and writes the workspace
    "solved": [("tools", [("write_file", HELLO), ("calculator", SIX_SEVEN)]), ("tools", [("python", PROGRAM)]),
               ("say", "done")],
    "failed": [("tools", [("write_file", json.dumps({"path": "other.txt", "content": "x"})), ("read_file", ESCAPE)]),
               ("say", "done")],
    "turns": [("tools", [("calculator", json.dumps({"expression": "1 + 1"}))])],  # asks for tools forever
}


def _tasks_file(tmp_path: Path) -> Path:
    checks = {
        "forever": "test -f result.txt",
        "solved": 'test "$(cat hello.txt)" = hello && test -f by_python.txt && python -c "import sys"',
        "failed": "test -f never.txt",
        "turns": "true",
    }
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps({"id": name, "prompt": f"[script:{name}] do the {name} task",
                                        "check": check}) + "\n" for name, check in checks.items()))
    return path


def test_four_tasks_four_outcomes(tmp_path: Path, cli) -> None:
    server = ScriptedServer(SCRIPTS)
    with scripted_server(server) as url:
        result = cli("record", "--workload", "agent", "--tasks", str(_tasks_file(tmp_path)), "--client", "openai",
                     "--client-base-url", url, "--model", "scripted", "--max-turns", "3",
                     # the estimated CPU meter: the machine's only one here, and it gives each task an energy split
                     "--dataset-param", "tool_timeout_s=2", "--energy", "estimate", "--output-dir", str(tmp_path),
                     "--run-name", "agent", "--json")
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "agent"
    assert verify(run).ok
    events = read_events(run)

    started = [e for e in events if isinstance(e, TaskStarted)]
    finished = {e.task_id: e for e in events if isinstance(e, TaskFinished)}
    assert [e.task_id for e in started] == ["forever", "solved", "failed", "turns"]
    assert all(e.source == "agent" and e.max_turns == 3 for e in started)
    assert {t: (f.outcome, f.turns) for t, f in finished.items()} == {
        "forever": ("failed", 2), "solved": ("solved", 3), "failed": ("failed", 2), "turns": ("out_of_turns", 3)}

    queries = [e for e in events if isinstance(e, QueryStarted)]
    assert [(q.task_id, q.turn) for q in queries] == [
        ("forever", 1), ("forever", 2), ("solved", 1), ("solved", 2), ("solved", 3), ("failed", 1), ("failed", 2),
        ("turns", 1), ("turns", 2), ("turns", 3)]

    calls = {(e.task_id, e.call_id): e for e in events if isinstance(e, ToolCallStarted)}
    ends = {(e.task_id, e.call_id): e for e in events if isinstance(e, ToolCallFinished)}
    assert calls.keys() == ends.keys()
    solved = [c for c in calls.values() if c.task_id == "solved"]
    # the arguments came in 7-character pieces, two calls interleaved: each was put back together exactly
    assert [(c.name, c.turn, c.arguments) for c in solved] == [
        ("write_file", 1, HELLO), ("calculator", 1, SIX_SEVEN), ("python", 2, PROGRAM)]
    assert ends[("solved", "call_1_calculator")].output == "42"
    program = ends[("solved", "call_0_python")]
    assert program.ok and "HELLO" in program.output and program.cpu_s is not None and program.cpu_s > 0
    calculator_cpu_s = ends[("solved", "call_1_calculator")].cpu_s  # ran in ipw's thread: that thread's CPU time
    assert calculator_cpu_s is not None and 0 <= calculator_cpu_s < program.cpu_s

    endless = ends[("forever", "call_0_python")]
    assert not endless.ok and endless.error.startswith("stopped:"), endless
    escape = ends[("failed", "call_1_read_file")]
    assert not escape.ok and "outside the workspace" in escape.error
    assert finished["failed"].message.startswith("the check failed")

    # what the model read back: the tool results, in the next turn's request
    second = next(r for r in server.requests if "[script:solved]" in r["messages"][1]["content"]
                  and sum(m["role"] == "assistant" for m in r["messages"]) == 1)
    tool_messages = {m["tool_call_id"]: m["content"] for m in second["messages"] if m["role"] == "tool"}
    assert tool_messages == {"call_0_write_file": "wrote 5 bytes", "call_1_calculator": "42"}
    assert all(r["tools"] and r["stream"] for r in server.requests)

    # the tasks analysis reads these events back: each task's outcome, turns and tool calls
    replayed = cli("replay", str(run), "--analysis", "tasks", "--json")
    assert replayed.exit_code == 0, replayed.stderr
    rows = {t["task_id"]: (t["outcome"], t["turns"], t["tool_calls"]) for t in json.loads(replayed.stdout)["tasks"]}
    assert rows == {"forever": ("failed", 2, 1), "solved": ("solved", 3, 3), "failed": ("failed", 2, 2),
                    "turns": ("out_of_turns", 3, 3)}
    # and each task's energy, split into the model's calls and the tools, the parts adding up to the whole
    for task in json.loads(replayed.stdout)["tasks"]:
        parts = (task["energy_j"], task["model_energy_j"], task["tools_energy_j"])
        assert all(p is not None and p >= 0 for p in parts), task
        assert task["model_energy_j"] > 0, task  # every task made at least one model call
        assert math.isclose(task["energy_j"], task["model_energy_j"] + task["tools_energy_j"], rel_tol=1e-9), task


def test_settings_the_agent_cannot_honour_are_refused_before_a_run_exists(tmp_path: Path, cli) -> None:
    from tests.conftest import assert_one_clean_line

    base = ["record", "--client", "openai", "--model", "m", "--energy", "none", "--output-dir", str(tmp_path)]
    for extra, words in ((["--tasks", str(tmp_path / "t.jsonl")], "only apply to --workload agent"),
                         (["--workload", "agent", "--max-concurrency", "2"], "one at a time"),
                         (["--workload", "agent", "--dataset", "builtin-x"], "runs tasks"),
                         (["--workload", "agent", "--max-turns", "0"], "max_turns"),
                         (["--workload", "agent", "--client", "llamacpp"], "OpenAI tools API")):
        result = cli(*base, *extra)
        assert result.exit_code == 2, (extra, result.stderr)
        assert_one_clean_line(result.stderr)
        assert words in result.stderr, result.stderr
    assert not any(tmp_path.iterdir())


def test_a_task_past_its_budget_is_out_of_time_and_the_run_goes_on(tmp_path: Path, cli) -> None:
    server = ScriptedServer({"slow": [("tools", [("calculator", SIX_SEVEN)]), ("stall",)], "next": [("say", "ok")]})
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": n, "prompt": f"[script:{n}] go", "check": "true"}) + "\n"
                             for n in ("slow", "next")))
    with scripted_server(server) as url:
        result = cli("record", "--workload", "agent", "--tasks", str(tasks), "--client", "openai",
                     "--client-base-url", url, "--model", "scripted", "--task-budget-s", "3", "--energy", "none",
                     "--output-dir", str(tmp_path), "--run-name", "budget")
    events = read_events(tmp_path / "budget")
    finished = {e.task_id: (e.outcome, e.turns) for e in events if isinstance(e, TaskFinished)}
    assert finished == {"slow": ("out_of_time", 2), "next": ("solved", 1)}
    # the model call cut off by the budget is a failed query of the run: exit 11, some queries failed
    assert result.exit_code == 11, result.stderr
