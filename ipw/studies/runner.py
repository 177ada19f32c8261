"""Running a study: the cells not yet complete, one after another (``local``) or as Ray tasks (``ray``).

Each cell is an ordinary ``ipw profile`` run (:func:`ipw.api.profile`) in
``<study>/runs/<cell name>/``. A cell that fails — a server that does not
answer, a setting that cannot work — is recorded in ``study.json`` with its
one-line message and the others go on; a cell cut short is resumed on the
next run, and a ``partial`` cell (its run finished, some queries failed) is
resumed too, which asks only its failed queries again. Nothing here prints: what happens is reported to a
:class:`StudyObserver`.

A study with a ``[server]`` table starts a server for each cell
(:mod:`ipw.capture.server_process`); one that does not come up fails its cell
alone. Between two such cells the local executor waits out the cooldown
(:mod:`ipw.capture.cooldown`): ``cooldown_s``, and with ``idle_within_pct``
until the power is back near the idle baseline it measured before the first
cell. Ray's cells run side by side, so there it applies ``cooldown_s`` after
each cell on its worker.

A study with ``repeats = "auto"`` runs each combination's repeats in order
until its figure's interval is tight (:mod:`.repeats`); the repeats it did
not need are ``not_needed``, which counts as done. It runs locally only.

A study with ``search = "goodput"`` searches each cell for the highest load
that meets its SLO, each probe an ordinary run (:mod:`.goodput_cells`). It
runs locally only, as each probe decides the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import IpwError, UsageError
from .spec import Cell, StudySpec
from .state import RunState, StudyState, pending, study_lock

__all__ = ["StudyObserver", "StudyOutcome", "run_study", "run_cell", "EXECUTORS"]

EXECUTORS = ("local", "ray")


class StudyObserver:
    """What a study run reports as it goes; every method is optional to override."""

    def cell_started(self, index: int, total: int, cell: Cell, resumed: bool, *, queued: bool = False) -> None:
        """A cell begins, or (``queued``) is handed to Ray; ``index`` counts from 1 over the cells run now."""

    def cell_finished(self, index: int, total: int, entry: dict[str, Any]) -> None:
        """A cell ended; ``entry`` is its ``study.json`` record."""

    def query_progress(self) -> Callable[[Any], None] | None:
        """A progress callback for the queries of the cell running here (local executor only)."""
        return None

    def close_query_progress(self) -> None:
        """The cell's query progress is over."""

    def cooled(self, cell: Cell, cooled: Any) -> None:
        """A cooldown after ``cell`` ended (:class:`ipw.capture.cooldown.Cooled`)."""

    def repeats_decided(self, params: dict[str, Any], outcome: Any, message: str) -> None:
        """``repeats = "auto"`` stopped repeating the cell of ``params`` (:class:`.repeats.RepeatOutcome`)."""

    def search_decided(self, cell: Cell, result: Any, message: str) -> None:
        """``search = "goodput"`` found ``cell``'s level (:class:`.goodput.GoodputSearch`; its level may be None)."""


@dataclass
class StudyOutcome:
    """What ``run_study`` did: how many cells ran, and the state of every cell."""

    study_dir: Path
    ran: int
    skipped: int
    cells: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Every cell not completed: failed, partial (some queries failed) or never run (``not_needed`` is done)."""
        return [c for c in self.cells if c["status"] not in ("completed", "not_needed")]

    @property
    def partial(self) -> list[dict[str, Any]]:
        return [c for c in self.cells if c["status"] == "partial"]

    @property
    def ok(self) -> bool:
        return not self.failed


def run_study(spec: StudySpec, *, executor: str = "local", ray_address: str | None = None,
              observer: StudyObserver | None = None) -> StudyOutcome:
    """Run every cell of ``spec`` that is not complete yet; returns the state of all of them."""
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}", hint=f"use one of: {', '.join(EXECUTORS)}")
    observer = observer or StudyObserver()
    if executor == "ray" and spec.search is not None:
        raise UsageError('search = "goodput" decides each probe from the ones before it, so it runs locally',
                         hint="use --executor local")
    if executor == "ray" and spec.repeat_rule is not None:
        raise UsageError('repeats = "auto" decides each repeat from the ones before it, so it runs locally',
                         hint="use --executor local, or a fixed repeats = N on Ray")
    if executor == "ray" and ray_address:
        from .ray_executor import check_ray_address

        check_ray_address(ray_address)  # before the study folder exists: a refusal leaves nothing behind
    cells = spec.cells()
    with study_lock(spec.study_dir):
        state = StudyState.open(spec)
        try:
            todo = list(pending(state, cells))
            done = {c.name for c in cells} - {cell.name for cell, _ in todo}
            for name in sorted(done):
                if state.entry(name).get("status") != "completed" or not state.entry(name).get("head_hash"):
                    state.refresh(name)  # complete on disk (e.g. study.json was lost): say so
            if spec.search is not None:
                from .goodput_cells import run_search

                ran = run_search(spec, state, observer)
            elif executor == "local" and spec.repeat_rule is not None:
                ran = _run_auto(spec, state, todo, observer)
            elif executor == "local":
                _run_local(state, todo, observer)
            else:
                from .ray_executor import run_ray

                run_ray(spec, state, todo, address=ray_address, observer=observer)
        finally:
            state.save()  # the journal compacted into study.json, however the run ended
        ran = ran if spec.search is not None or (spec.repeat_rule is not None and executor == "local") else len(todo)
        return StudyOutcome(study_dir=spec.study_dir, ran=ran, skipped=len(done), cells=list(state.cells))


def _idle_baseline_w(cells: list[Cell]) -> float | None:
    """The idle power before any cell runs, when a cell's server asks to cool down to it."""
    specs = [(c, c.server_spec()) for c in cells]
    wanted = [c for c, s in specs if s is not None and s.idle_within_pct is not None]
    if not wanted:
        return None
    from ..capture.cooldown import idle_power_w

    return idle_power_w(collectors=_collectors(wanted[0]))


def _collectors(cell: Cell) -> str:
    energy = cell.settings.get("energy")
    return "auto" if energy in (None, "none") else str(energy)


def _cool_down(cell: Cell, idle_w: float | None, observer: StudyObserver) -> None:
    spec = cell.server_spec()
    if spec is None or (spec.cooldown_s <= 0 and spec.idle_within_pct is None):
        return
    from ..capture.cooldown import cool_down

    observer.cooled(cell, cool_down(cooldown_s=spec.cooldown_s, idle_w=idle_w, within_pct=spec.idle_within_pct,
                                    timeout_s=spec.idle_timeout_s, collectors=_collectors(cell)))


def _run_local(state: StudyState, todo: list[tuple[Cell, RunState]], observer: StudyObserver) -> None:
    idle_w = _idle_baseline_w([cell for cell, _ in todo])
    for index, (cell, run) in enumerate(todo, start=1):
        if index > 1:
            _cool_down(todo[index - 2][0], idle_w, observer)
        _run_one(state, cell, run, index, len(todo), observer)


def _run_auto(spec: StudySpec, state: StudyState, todo: list[tuple[Cell, RunState]],
              observer: StudyObserver) -> int:
    """Each combination's repeats, in order, until its interval is tight; returns how many cells ran."""
    from .repeats import metric_of, run_until_tight

    rule = spec.repeat_rule
    assert rule is not None
    waiting = {cell.name: run for cell, run in todo}
    idle_w = _idle_baseline_w([cell for cell, _ in todo])
    groups: dict[str, list[Cell]] = {}
    for cell in spec.cells():
        key = repr([(k, v) for k, v in cell.params.items() if k != "repeat"])
        groups.setdefault(key, []).append(cell)
    ran: list[Cell] = []

    def run(cell: Cell) -> None:
        if ran:
            _cool_down(ran[-1], idle_w, observer)
        ran.append(cell)
        _run_one(state, cell, waiting[cell.name], len(ran), len(todo), observer)

    for cells in groups.values():
        outcome = run_until_tight(cells, rule, complete=lambda c: c.name not in waiting, run=run,
                                  metric=lambda c: metric_of(state.run_dir(c.name), rule.metric))
        message = outcome.message(rule)
        for name in outcome.not_needed:
            state.note(name, status="not_needed", message=message)
        params = {k: v for k, v in cells[0].params.items() if k != "repeat"}
        observer.repeats_decided(params, outcome, message)
    return len(ran)


def _run_one(state: StudyState, cell: Cell, run: RunState, index: int, total: int, observer: StudyObserver) -> None:
    """Run one cell here and record how it ended."""
    resume = run.state == "partial"
    observer.cell_started(index, total, cell, resume)
    state.note(cell.name, status="running", message=None)
    message = None
    try:
        message = run_cell(cell, state.study_dir / "runs", resume=resume, progress=observer.query_progress())
    except KeyboardInterrupt:
        state.refresh(cell.name, message="interrupted (Ctrl-C); the next 'ipw study run' resumes it", failed=True)
        raise
    finally:
        observer.close_query_progress()
    entry = state.refresh(cell.name, message=message, failed=message is not None)
    observer.cell_finished(index, total, entry)


def run_cell(cell: Cell, runs_dir: Path, *, resume: bool, progress: Callable[[Any], None] | None = None) -> str | None:
    """Record, judge and analyse one cell's run; returns None, or the one line saying why it failed."""
    from .. import api

    try:
        api.profile(cell.capture_config(runs_dir), cell.eval_settings(), resume=resume, progress=progress,
                    server=cell.server_spec())
    except IpwError as exc:
        return exc.one_line()
    except OSError as exc:
        return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)
    except Exception as exc:  # a bug in one cell must not stop the others; it is reported as one
        return f"internal error: {type(exc).__name__}: {exc} (please report it)"
    return None
