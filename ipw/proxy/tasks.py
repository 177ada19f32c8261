"""Which task a proxied call belongs to, and the ``task_started`` / ``task_finished`` events that follow.

A call names its task in one of three ways, first match wins:

    header   ``X-IPW-Task: <id>`` on the request
    path     a ``/task/<id>/v1/...`` prefix (the proxy strips it before forwarding)
    gap      neither: calls closer than ``gap_s`` to the previous one (end to start) are one task;
             a longer pause starts the next (``gap-1``, ``gap-2`` …), and the one before ends there

A task starts with its first call (``task_started``) and ends when the agent
says so — an ``X-IPW-Task-Outcome`` header on a call, or ``POST
/ipw/task/<id>/finish`` — when a gap ends it, or when the run ends; a task
nobody reported on ends with outcome ``unknown``. A call to a task that has
ended starts it again under the same id (the agent reused the name), as the
next turns of a new ``task_started``.

Resume (after a crash or a stop): :meth:`TaskRouter.resume` takes the tasks the
ledger shows open. A header or path task continues if its id comes again (its
turns go on counting) and otherwise ends with the run; a gap task from before
ends at once (``unknown``), because the pause of a restart is a gap.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote

from ..events import Event, TaskFinished, TaskStarted

__all__ = ["OUTCOMES", "TaskRouter", "OpenTask", "task_from_path"]

OUTCOMES = frozenset({"solved", "failed", "out_of_turns", "out_of_time", "error", "unknown"})
MAX_TASK_ID_CHARS = 200


@dataclass
class OpenTask:
    task_id: str
    source: str
    turns: int = 0
    in_flight: int = 0
    last_end_ns: int = 0


def clean_task_id(raw: str) -> str | None:
    """A task id an agent sent, trimmed and bounded; None when nothing printable is left."""
    text = "".join(c for c in raw.strip() if c.isprintable())[:MAX_TASK_ID_CHARS]
    return text or None


def task_from_path(path: str) -> tuple[str | None, str]:
    """(task id, the path to forward) for a ``/task/<id>/...`` path; (None, path) for any other."""
    if not path.startswith("/task/"):
        return None, path
    rest = path[len("/task/"):]
    raw_id, slash, tail = rest.partition("/")
    task_id = clean_task_id(unquote(raw_id))
    if task_id is None or not slash:
        return None, path
    return task_id, "/" + tail


class TaskRouter:
    """Groups calls into tasks and emits their start and end events into ``sink``; thread-safe."""

    def __init__(self, sink: Callable[[Event], None], *, gap_s: float = 30.0,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._sink = sink
        self._gap_ns = int(gap_s * 1e9)
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, OpenTask] = {}
        self._gap_task: OpenTask | None = None
        self._gap_serial = 0

    def resume(self, open_tasks: dict[str, tuple[str, int]], gap_serial: int) -> None:
        """Continue after a restart: ``open_tasks`` maps id to (source, turns so far) for tasks without an end."""
        now = self._clock()
        with self._lock:
            self._gap_serial = gap_serial
            for task_id, (source, turns) in open_tasks.items():
                if source == "gap":
                    self._sink(TaskFinished(task_id=task_id, t_ns=now, outcome="unknown", turns=turns,
                                            message="the proxy stopped during this task; a restart ends a gap task"))
                else:
                    self._open[task_id] = OpenTask(task_id, source, turns)

    def begin_call(self, header_id: str | None, path_id: str | None, prompt: str = "") -> tuple[str, int]:
        """The (task id, turn) of a call starting now; starts the task when this is its first call."""
        now = self._clock()
        with self._lock:
            if header_id or path_id:
                task_id, source = (header_id, "header") if header_id else (path_id, "path")
                task = self._open.get(task_id)  # type: ignore[arg-type]
                if task is None:
                    task = self._start(task_id, source, now, prompt)  # type: ignore[arg-type]
            else:
                task = self._gap_task
                if task is not None and task.in_flight == 0 and now - task.last_end_ns > self._gap_ns:
                    self._end(task, "unknown", "a pause longer than --task-gap-s ended it", task.last_end_ns)
                    task = None
                if task is None:
                    self._gap_serial += 1
                    task = self._gap_task = self._start(f"gap-{self._gap_serial}", "gap", now, prompt)
            task.turns += 1
            task.in_flight += 1
            return task.task_id, task.turns

    def end_call(self, task_id: str, outcome: str | None = None, message: str = "") -> None:
        """A call of ``task_id`` ended; ``outcome`` (from ``X-IPW-Task-Outcome``) ends the task as well."""
        now = self._clock()
        with self._lock:
            task = self._open.get(task_id)
            if task is None:
                return
            task.in_flight = max(0, task.in_flight - 1)
            task.last_end_ns = now
            if outcome is not None:
                self._end(task, *checked_outcome(outcome, message), now)

    def finish(self, task_id: str, outcome: str, message: str = "") -> bool:
        """End ``task_id`` with ``outcome`` (the finish endpoint); False when no such task is open."""
        now = self._clock()
        with self._lock:
            task = self._open.get(task_id)
            if task is None:
                return False
            self._end(task, *checked_outcome(outcome, message), now)
            return True

    def finish_all(self, message: str) -> None:
        """End every open task with ``unknown``: the run is ending."""
        now = self._clock()
        with self._lock:
            for task in list(self._open.values()):
                self._end(task, "unknown", message, task.last_end_ns or now)

    def open_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._open)

    # -- internals (the lock is held) -------------------------------------
    def _start(self, task_id: str, source: str, now: int, prompt: str) -> OpenTask:
        task = self._open[task_id] = OpenTask(task_id, source)
        self._sink(TaskStarted(task_id=task_id, t_ns=now, source=source, name=task_id, prompt=prompt))
        return task

    def _end(self, task: OpenTask, outcome: str, message: str, t_ns: int) -> None:
        self._open.pop(task.task_id, None)
        if self._gap_task is task:
            self._gap_task = None
        self._sink(TaskFinished(task_id=task.task_id, t_ns=t_ns, outcome=outcome, turns=task.turns, message=message))


def checked_outcome(outcome: str, message: str = "") -> tuple[str, str]:
    """(outcome, message): an outcome outside :data:`OUTCOMES` is recorded as ``unknown``, saying what came."""
    value = outcome.strip().lower()
    if value in OUTCOMES:
        return value, message
    return "unknown", (f"the agent reported outcome {outcome[:60]!r}, which is not one of "
                       f"{', '.join(sorted(OUTCOMES))}" + (f"; {message}" if message else ""))
