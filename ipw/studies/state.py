"""The study folder: ``study.toml``, ``study.json`` (every cell's state), ``runs/``, and one runner at a time.

``study.json`` is bookkeeping, rewritten atomically after every cell; the
ledgers are the truth. A cell counts as complete only when its ledger
verifies and its last ``run_finished`` says ``completed`` — so a rerun skips
exactly those, and a cell cut short (a killed worker, a torn ledger) is
resumed, whatever ``study.json`` said.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import LedgerError, UsageError
from .spec import Cell, StudySpec

__all__ = ["STATE_NAME", "RunState", "inspect_run", "StudyState", "study_lock"]

STATE_NAME = "study.json"
SPEC_NAME = "study.toml"
FORMAT = 1


@dataclass(frozen=True)
class RunState:
    """What a cell's run folder holds."""

    state: str                  # absent (nothing recorded), partial (resume it) or complete
    head_hash: str | None = None
    run_id: str | None = None
    finished: str | None = None  # the last run_finished status
    queries_completed: int | None = None
    queries_failed: int | None = None
    problem: str | None = None


def inspect_run(run_dir: Path) -> RunState:
    from ..events import RunFinished, RunStarted
    from ..ledger import read_events, verify

    events_dir = Path(run_dir) / "events"
    if not events_dir.is_dir() or not any(events_dir.glob("*.ipwl")):
        return RunState("absent")
    report = verify(run_dir)
    if not report.ok:
        return RunState("partial", problem=report.one_line())
    started = finished = None
    for event in read_events(run_dir, kinds=("run_started", "run_finished")):
        if isinstance(event, RunStarted) and started is None:
            started = event
        elif isinstance(event, RunFinished):
            finished = event
    status = finished.status if finished is not None else None
    return RunState(
        "complete" if status == "completed" else "partial",
        head_hash=report.head_hash,
        run_id=started.run_id if started is not None else None,
        finished=status,
        queries_completed=finished.queries_completed if finished is not None else None,
        queries_failed=finished.queries_failed if finished is not None else None,
    )


class StudyState:
    """``study.json``: one entry per cell, in matrix order."""

    def __init__(self, study_dir: Path, data: dict[str, Any]) -> None:
        self.study_dir = Path(study_dir)
        self.data = data

    @classmethod
    def open(cls, spec: StudySpec) -> "StudyState":
        """Create or reopen the study folder for ``spec``; a folder made by another spec is refused."""
        study_dir = spec.study_dir
        (study_dir / "runs").mkdir(parents=True, exist_ok=True)
        state = cls.load(study_dir) if (study_dir / STATE_NAME).exists() else cls(study_dir, {"cells": []})
        previous = state.data.get("base")
        if previous is not None and previous != _jsonable(spec.base):
            raise UsageError(f"{study_dir} holds the study '{spec.name}' with other [base] settings",
                             hint="give the changed study another name (or output_dir); a [matrix] may grow in place")
        known = {c["name"]: c for c in state.data.get("cells", [])}
        cells = []
        for cell in spec.cells():
            entry = known.pop(cell.name, None) or {"status": "pending", "message": None}
            entry.update(name=cell.name, params=_jsonable(cell.params), run_dir=f"runs/{cell.name}")
            cells.append(entry)
        # cells of an earlier, larger matrix stay listed: their runs are still in runs/
        cells.extend(known.values())
        # the keys are saved sorted: "axes" keeps the matrix's own order for reports
        state.data = {"format": FORMAT, "name": spec.name, "base": _jsonable(spec.base),
                      "matrix": _jsonable(spec.matrix), "axes": list(spec.matrix) + (["repeat"] if spec.repeats > 1 else []),
                      "repeats": spec.repeats, "cells": cells}
        (study_dir / SPEC_NAME).write_text(spec.text, encoding="utf-8")
        state.save()
        return state

    @classmethod
    def load(cls, study_dir: Path) -> "StudyState":
        path = Path(study_dir) / STATE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UsageError(f"{study_dir} is not a study folder (no {STATE_NAME})",
                             hint="pass the folder 'ipw study run' made: <output_dir>/<name>") from exc
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path} cannot be read: {exc}", hint="rerun 'ipw study run' on the study file") from exc
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise UsageError(f"{path} is not a study state file", hint="rerun 'ipw study run' on the study file")
        return cls(study_dir, data)

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.data["cells"]

    def entry(self, name: str) -> dict[str, Any]:
        return next(c for c in self.cells if c["name"] == name)

    def run_dir(self, name: str) -> Path:
        return self.study_dir / "runs" / name

    def refresh(self, name: str, *, message: str | None = None, failed: bool = False) -> dict[str, Any]:
        """Set a cell's state from its ledger; ``failed`` with ``message`` when its run went wrong."""
        entry = self.entry(name)
        run = inspect_run(self.run_dir(name))
        entry.update(head_hash=run.head_hash, run_id=run.run_id, queries_completed=run.queries_completed,
                     queries_failed=run.queries_failed)
        if run.state == "complete" and not failed:
            entry.update(status="completed", message=None)
        else:
            reason = message or run.problem or (f"the run ended with status {run.finished}" if run.finished
                                                else "the run did not finish")
            entry.update(status="failed", message=reason, resumable=run.state == "partial")
        if entry.get("status") == "completed":
            entry.pop("resumable", None)
        self.save()
        return entry

    def save(self) -> None:
        path = self.study_dir / STATE_NAME
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for cell in self.cells:
            out[cell["status"]] = out.get(cell["status"], 0) + 1
        return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class study_lock:
    """One ``ipw study run`` per study folder at a time (an OS lock, released if the process dies)."""

    def __init__(self, study_dir: Path) -> None:
        self.path = Path(study_dir) / ".study.lock"
        self._fd: int | None = None

    def __enter__(self) -> "study_lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LedgerError(f"{self.path.parent} is being run by {holder}",
                              hint="wait for it to finish; its cells are not run twice") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"ipw study run (pid {os.getpid()})".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def pending(state: StudyState, cells: list[Cell]) -> Iterator[tuple[Cell, RunState]]:
    """The cells whose run is not complete, with what their folder holds."""
    for cell in cells:
        run = inspect_run(state.run_dir(cell.name))
        if run.state != "complete":
            yield cell, run
