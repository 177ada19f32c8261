"""Agent runs built by hand: events as ipw's agent loop and proxy write them, with known power.

Each task starts, makes two model calls (turns 1 and 2, linked by
``task_id``/``turn``) with one tool call between them, and finishes with its
outcome. The GPU draws a constant 100 W and the CPU 40 W, so every time and
energy can be worked out by hand. :func:`agent_events` gives the events
(for ``build_view``); :func:`write_agent_run` writes them as a ledger with
:class:`~ipw.ledger.LedgerWriter`, for the CLI and the reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from ipw.events import (DeviceSeen, PowerSample, QueryFinished, QueryStarted, RunFinished, RunStarted, TaskFinished,
                        TaskStarted, Token, ToolCallFinished, ToolCallStarted)
from ipw.ledger import LedgerWriter

S = 1_000_000_000
GPU_W = 100.0
CPU_W = 40.0


class AgentTask(NamedTuple):
    """One task: its id, start (s), outcome, the tool's CPU seconds, and how much longer its model calls run (s)."""

    task_id: str
    t0_s: float
    outcome: str
    tool_cpu_s: float = 1.0
    slower_s: float = 0.0
    record_id: str = ""


DEFAULT_TASKS = (AgentTask("a", 1, "solved", 2.0), AgentTask("b", 10, "failed", 0.5))


def agent_events(tasks: tuple[AgentTask, ...] = DEFAULT_TASKS, *, cpu_trace: bool = True,
                 config: dict[str, Any] | None = None, run_id: str = "r") -> list:
    """The events of an agent run over ``tasks`` (each lasts 7 s plus twice ``slower_s``)."""
    end_s = int(max(t.t0_s + 7 + 2 * t.slower_s for t in tasks)) + 3 if tasks else 20
    ev: list = [RunStarted(run_id=run_id, t_ns=0, wall_time_ns=0, host={"cpu_count": 4}, config=dict(config or {})),
                DeviceSeen(device="nvidia:0", device_type="gpu"), DeviceSeen(device="rapl:package-0", device_type="cpu")]
    for t in range(0, end_s + 1):
        ev.append(PowerSample(device="nvidia:0", t_ns=t * S, power_w=GPU_W))
        if cpu_trace:
            ev.append(PowerSample(device="rapl:package-0", t_ns=t * S, power_w=CPU_W))
    qid = 0
    for task in tasks:
        t0, extra = task.t0_s, task.slower_s
        ev.append(TaskStarted(task_id=task.task_id, t_ns=int(t0 * S), source="agent", record_id=task.record_id))
        calls = ((t0 + 0.5, t0 + 2.5 + extra), (t0 + 5 + extra, t0 + 6 + 2 * extra))
        for turn, (qs, qe) in enumerate(calls, start=1):
            ev.append(QueryStarted(query_id=qid, t_ns=int(qs * S), task_id=task.task_id, turn=turn,
                                   record_id=f"{task.task_id}{turn}"))
            ev.append(Token(query_id=qid, t_ns=int((qs + 0.2) * S), text="x"))
            ev.append(QueryFinished(query_id=qid, t_ns=int(qe * S), prompt_tokens=10, completion_tokens=4))
            qid += 1
        ev.append(ToolCallStarted(task_id=task.task_id, call_id="c1", t_ns=int((t0 + 2.5 + extra) * S), name="python",
                                  turn=1))
        ev.append(ToolCallFinished(task_id=task.task_id, call_id="c1", t_ns=int((t0 + 4.5 + extra) * S), name="python",
                                   wall_ns=2 * S, cpu_s=task.tool_cpu_s))
        ev.append(TaskFinished(task_id=task.task_id, t_ns=int((t0 + 7 + 2 * extra) * S), outcome=task.outcome, turns=2))
    ev.append(RunFinished(t_ns=end_s * S, status="completed"))
    return ev


def write_agent_run(run_dir: Path, tasks: tuple[AgentTask, ...] = DEFAULT_TASKS, *, model: str = "gemma-3-270m",
                    cpu_trace: bool = True) -> Path:
    """The run of :func:`agent_events` as a ledger in ``run_dir``, one frame per task like the agent loop."""
    config = {"workload": "agent", "client": "openai", "model": model, "dataset": "agent-builtin"}
    with LedgerWriter.create(run_dir, run_id=run_dir.name, flush_interval_s=0) as writer:
        for event in agent_events(tasks, cpu_trace=cpu_trace, config=config, run_id=run_dir.name):
            writer.append(event)
            if isinstance(event, (TaskFinished, QueryFinished)):
                writer.flush()
    return run_dir


# Two runs of the same three tasks (paired by record_id; the task ids differ, as in two recordings): B's model
# calls each run 1 s longer, so every task costs 2 s × (100 W + 40 W) = 280 J more; "primes" is solved in A only,
# "fix" in B only.
PAIR_A = (AgentTask("a", 1, "solved", 2.0, record_id="primes"), AgentTask("b", 10, "failed", 0.5, record_id="fix"),
          AgentTask("c", 19, "solved", 1.0, record_id="sum"))
PAIR_B = (AgentTask("x", 1, "failed", 2.0, 1.0, record_id="primes"),
          AgentTask("y", 12, "solved", 0.5, 1.0, record_id="fix"),
          AgentTask("z", 23, "solved", 1.0, 1.0, record_id="sum"))
EXTRA_J_PER_TASK = 2 * (GPU_W + CPU_W)
