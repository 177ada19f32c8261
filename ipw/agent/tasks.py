"""The built-in agent's tasks: a prompt, a workspace to start from, and a check that decides the outcome.

A task file is JSONL, one task a line::

    {"id": "primes", "prompt": "Write primes.txt ...", "check": "python3 check.py", "files": {"check.py": "..."}}

``check`` is a shell command run in the sandbox inside a copy of the task's
workspace once the agent says it is done; exit status 0 means solved, any
other means failed. ``files`` (name → text) seed the workspace; names are
relative paths that stay inside it. ``data/tasks.jsonl`` ships five such
tasks, written for ipw. The task set is the ``agent`` dataset, so a run
records exactly which tasks it ran (their sha256 is in ``run_started``)
and ``--resume`` refuses a different task set.

Parameters (``--dataset-param``, or the flags ``--tasks``, ``--max-turns``,
``--task-budget-s``): ``tasks`` (a JSONL path; default: the built-in set),
``max_turns`` (model calls per task, default 8), ``budget_s`` (wall seconds
per task, default 120), ``tool_timeout_s`` (wall seconds per tool or check
run, default 10), besides the selection parameters every dataset takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Any, ClassVar, Mapping

import msgspec

from .._untrusted import InputRefused, read_regular
from ..capture.datasets.base import DatasetProvider, DatasetRecord
from ..errors import DatasetError, UsageError

__all__ = ["AgentSettings", "AgentTask", "AgentTaskSet", "BUILTIN_TASKS", "parse_tasks", "settings_from", "task_of"]

BUILTIN_TASKS = "tasks.jsonl"
MAX_TASK_FILE_BYTES = 16 * 1024 * 1024
MAX_SEED_FILES = 100


class AgentTask(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One task as a task file writes it."""

    id: str
    prompt: str
    check: str
    files: dict[str, str] = {}


@dataclass(frozen=True)
class AgentSettings:
    """How long a task may go on: model calls, wall seconds, and the wall seconds of one tool run."""

    max_turns: int = 8
    budget_s: float = 120.0
    tool_timeout_s: float = 10.0


_DECODER = msgspec.json.Decoder(AgentTask)


def _plain_relative(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and "\\" not in name and "\0" not in name and not path.is_absolute() \
        and ".." not in path.parts and path.parts[:1] != (".",)


def parse_tasks(data: bytes, where: str) -> list[AgentTask]:
    """The tasks of a JSONL task file; a malformed line is a ``DatasetError`` naming it."""
    tasks = []
    for line_no, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            task = _DECODER.decode(line)
        except msgspec.MsgspecError as exc:
            raise DatasetError(f"{where} line {line_no}: not a task: {exc}",
                               hint='each line is {"id", "prompt", "check", "files": {name: text}}') from exc
        bad = [n for n in task.files if not _plain_relative(n)]
        if bad or len(task.files) > MAX_SEED_FILES:
            raise DatasetError(f"{where} line {line_no}: task {task.id!r} seeds "
                               + (f"a file outside its workspace: {bad[0]!r}" if bad else f"over {MAX_SEED_FILES} files"),
                               hint="give files relative names inside the workspace")
        if not task.id or not task.prompt.strip() or not task.check.strip():
            raise DatasetError(f"{where} line {line_no}: a task needs an id, a prompt and a check command")
        tasks.append(task)
    return tasks


def task_of(record: DatasetRecord) -> AgentTask:
    """The task a record of the ``agent`` dataset stands for."""
    meta = record.metadata
    return AgentTask(id=record.record_id, prompt=record.problem, check=str(meta["check"]),
                     files=dict(meta.get("files") or {}))


def _number(params: Mapping[str, Any], name: str, default: float, kind: type) -> Any:
    value = params.get(name, default)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise UsageError(f"agent setting {name}={value!r} must be a number above zero",
                         hint=f"e.g. --dataset-param {name}={default:g}")
    return number


def settings_from(params: Mapping[str, Any]) -> AgentSettings:
    """The agent settings in the ``agent`` dataset's parameters (defaults where absent)."""
    default = AgentSettings()
    return AgentSettings(max_turns=_number(params, "max_turns", default.max_turns, int),
                         budget_s=_number(params, "budget_s", default.budget_s, float),
                         tool_timeout_s=_number(params, "tool_timeout_s", default.tool_timeout_s, float))


class AgentTaskSet(DatasetProvider):
    """The tasks of the built-in agent (``--workload agent``): built in, or ``tasks=FILE`` (JSONL)."""

    dataset_id: ClassVar[str] = "agent"
    dataset_name: ClassVar[str] = "ipw built-in agent tasks"
    requires_judge: ClassVar[bool] = False
    params_accepted: ClassVar[tuple[str, ...]] = ("tasks", "max_turns", "budget_s", "tool_timeout_s")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.settings = settings_from(params)  # a bad setting is refused before anything runs

    def _where(self) -> str:
        return f"task file {self.params['tasks']}" if self.params.get("tasks") else f"the built-in tasks ({BUILTIN_TASKS})"

    def _load(self) -> list[DatasetRecord]:
        path = self.params.get("tasks")
        try:
            if path:
                data = read_regular(str(path), MAX_TASK_FILE_BYTES)
            else:
                data = resources.files(__package__).joinpath("data", BUILTIN_TASKS).read_bytes()
        except (OSError, InputRefused) as exc:
            raise DatasetError(f"cannot read {self._where()}: {exc}", hint="give --tasks a readable JSONL file") from exc
        return [DatasetRecord(record_id=t.id, problem=t.prompt, answer="", subject="agent", scorer=None,
                              metadata={"check": t.check, "files": dict(t.files)})
                for t in parse_tasks(data, self._where())]

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["agent"] = {"max_turns": self.settings.max_turns, "budget_s": self.settings.budget_s,
                        "tool_timeout_s": self.settings.tool_timeout_s}
        return out
