"""The study folder: ``study.toml``, ``study.json`` (every cell's state), ``runs/``, and one runner at a time.

``study.json`` is bookkeeping; the ledgers are the truth. It is read back
with the one type the reports read it with (:mod:`ipw.reports.study_file`). A cell's change of
state is appended as one line to ``study.journal`` (so a study of 10,000
cells costs 10,000 short appends, not 10,000 rewrites of a growing file);
reading the state applies the journal, and the end of a study run compacts
it into ``study.json``. A cell counts as complete only when its ledger
verifies, its last ``run_finished`` says ``completed`` and no query of that
session failed — so a rerun skips exactly those, resumes a cell cut short (a
killed worker, a torn ledger), and asks a ``partial`` cell's failed queries
again, whatever ``study.json`` said.

Credentials never reach these files: ``[base]``, ``[matrix]`` and each cell's
parameters are kept with their credential values redacted
(:mod:`.redaction`), and ``study.toml`` is the file with them cut out.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import msgspec

from .._atomic import write_atomic
from ..errors import LedgerError, UsageError
from ..reports.study_file import JOURNAL_FILE, STUDY_FILE, decode_study_file
from ..secrets import scrub
from .redaction import redacted
from .spec import Cell, StudySpec

__all__ = ["STATE_NAME", "JOURNAL_NAME", "RunState", "inspect_run", "StudyState", "study_lock"]

STATE_NAME = STUDY_FILE
JOURNAL_NAME = JOURNAL_FILE
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
    # a session that finished but lost queries is resumed too: a resume asks the failed queries again
    complete = status == "completed" and not (finished is not None and finished.queries_failed)
    return RunState(
        "complete" if complete else "partial",
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
        self._index: dict[str, dict[str, Any]] | None = None  # name -> entry: a lookup per cell stays O(1)

    @classmethod
    def open(cls, spec: StudySpec) -> "StudyState":
        """Create or reopen the study folder for ``spec``; a folder made by another spec is refused."""
        study_dir = spec.study_dir
        (study_dir / "runs").mkdir(parents=True, exist_ok=True)
        state = cls.load(study_dir) if (study_dir / STATE_NAME).exists() else cls(study_dir, {"cells": []})
        base = _redacted(spec.base)
        previous = state.data.get("base")
        if previous is not None and previous != base:
            raise UsageError(f"{study_dir} holds the study '{spec.name}' with other [base] settings",
                             hint="give the changed study another name (or output_dir); a [matrix] may grow in place")
        known = {c["name"]: c for c in state.data["cells"]}
        cells = []
        for cell in spec.cells():
            entry = known.pop(cell.name, None) or {"status": "pending", "message": None}
            # a searched cell's run is the probe its search chose (see .goodput_cells); the next search decides again
            chosen = entry.get("run_dir") if spec.search is not None and entry.get("goodput") else None
            entry.update(name=cell.name, params=_redacted(cell.params), run_dir=chosen or f"runs/{cell.name}")
            cells.append(entry)
        # cells of an earlier, larger matrix stay listed: their runs are still in runs/
        cells.extend(known.values())
        # the keys are saved sorted: "axes" keeps the matrix's own order for reports
        state.data = {"format": FORMAT, "name": spec.name, "base": base,
                      "matrix": {k: [_redacted({k: v})[k] for v in vs] for k, vs in spec.matrix.items()}, "axes": list(spec.matrix) + (["repeat"] if spec.repeats > 1 else []),
                      "repeats": spec.repeats, "cells": cells}
        if spec.search is not None:
            state.data["search"] = spec.search.to_dict()
        state._index = None
        (study_dir / SPEC_NAME).write_text(spec.text, encoding="utf-8")
        state.save()
        return state

    @classmethod
    def load(cls, study_dir: Path) -> "StudyState":
        # decoded with the one type the reports read it with too; the entries stay dicts the runner updates
        state = cls(study_dir, msgspec.to_builtins(decode_study_file(Path(study_dir))))
        state._replay_journal()
        return state

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.data["cells"]

    def entry(self, name: str) -> dict[str, Any]:
        if self._index is None or len(self._index) != len(self.cells):
            self._index = {c["name"]: c for c in self.cells}
        return self._index[name]

    def note(self, name: str, **fields: Any) -> dict[str, Any]:
        """Change a cell's entry and append the change to the journal (one line, whatever the study's size)."""
        entry = self.entry(name)
        entry.update(fields)
        line = scrub(json.dumps(entry, sort_keys=True, default=str)) + "\n"  # a message may quote a credential
        with open(self.study_dir / JOURNAL_NAME, "a", encoding="utf-8") as journal:
            journal.write(line)
        return entry

    def _replay_journal(self) -> None:
        path = self.study_dir / JOURNAL_NAME
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path} cannot be read: {exc}", hint="rerun 'ipw study run' on the study file") from exc
        for line in lines:
            try:
                change = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill: that cell's ledger still says what happened
            if isinstance(change, dict) and isinstance(change.get("name"), str):
                try:
                    entry = self.entry(change["name"])
                except KeyError:
                    continue
                entry.clear()
                entry.update(change)

    def run_dir(self, name: str) -> Path:
        """The cell's run: ``runs/<name>``, or the probe a goodput search chose (a folder in ``runs/``)."""
        try:
            relative = self.entry(name).get("run_dir")
        except KeyError:
            relative = None
        parts = Path(relative).parts if isinstance(relative, str) else ()
        if len(parts) == 2 and parts[0] == "runs" and parts[1] not in (".", ".."):
            return self.study_dir / relative
        return self.study_dir / "runs" / name

    def refresh(self, name: str, *, message: str | None = None, failed: bool = False) -> dict[str, Any]:
        """Set a cell's state from its ledger; ``failed`` with ``message`` when its run went wrong."""
        entry = self.entry(name)
        run = inspect_run(self.run_dir(name))
        entry.update(head_hash=run.head_hash, run_id=run.run_id, queries_completed=run.queries_completed,
                     queries_failed=run.queries_failed)
        if run.state == "complete" and not failed:
            entry.update(status="completed", message=None)
        elif run.finished == "completed" and run.queries_failed:
            # the run itself finished: whatever else went wrong, a rerun resumes it and asks the failed queries
            asked = (run.queries_completed or 0) + run.queries_failed
            text = f"{run.queries_failed} of {asked} queries failed; the next 'ipw study run' asks them again"
            entry.update(status="partial", resumable=True, message=f"{message}; {text}" if message else text)
        else:
            reason = message or run.problem or (f"the run ended with status {run.finished}" if run.finished
                                                else "the run did not finish")
            entry.update(status="failed", message=reason, resumable=run.state == "partial")
        if entry.get("status") == "completed":
            entry.pop("resumable", None)
        return self.note(name)

    def save(self) -> None:
        """Write ``study.json`` whole (atomically) and drop the journal it now includes."""
        # durable, because the journal is deleted next: its lines must be on disk in study.json first.
        # The journal's own appends are not synced: the ledgers are the truth, and a rerun that lost
        # a line re-derives that cell from its ledger (see the module docstring)
        write_atomic(self.study_dir / STATE_NAME, scrub(json.dumps(self.data, indent=2, sort_keys=True)) + "\n",
                     durable=True)
        (self.study_dir / JOURNAL_NAME).unlink(missing_ok=True)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for cell in self.cells:
            out[cell["status"]] = out.get(cell["status"], 0) + 1
        return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _redacted(settings: dict[str, Any]) -> dict[str, Any]:
    return _jsonable({key: redacted(key, value) for key, value in settings.items()})


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
