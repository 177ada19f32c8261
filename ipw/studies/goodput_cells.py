"""``search = "goodput"`` in a study: each cell's probes are ordinary runs, and the cell is its chosen level's run.

For each combination of the matrix, :func:`.goodput.search_goodput` probes
levels of ``search_axis``. The probe at level L of the cell ``NAME`` is the run
``runs/NAME@cL`` (``@rL`` for a request rate): the cell's settings with the
axis set to L. A probe already complete is not run again, only replayed for
its attainment, so a rerun of the study does no work twice (and a changed
``slo`` or ``target_attainment`` is decided again from the same runs).

The cell's entry in ``study.json`` records the search (``goodput``: the axis,
the level found, every probe with its attainment and run folder), and its
``run_dir`` is the chosen probe: the study report's row for the cell is that
run, with ``goodput_level`` beside it. When even ``search_low`` misses the
target there is no level: the row points at the ``search_low`` probe (its
attainment shows by how much it missed), its level is empty, and the cell
counts as done, with a message saying so. A probe that fails (a server that
does not start, a run cut short, queries that failed) fails its cell with the
probe's message: a miss is a measured attainment below the target, never a
broken run. A rerun resumes it.

With repeats (fixed, or ``"auto"``), repeat 1 is searched and its chosen
probe is that repeat's run; the other repeats run at the same level as
``runs/NAME-rK@cL``, and ``"auto"`` stops them as it does any cell's
(:mod:`.repeats`). A search runs on the local executor only: each probe
decides the next.
"""

from __future__ import annotations

from typing import Any

from .goodput import AXIS_MARK, GoodputSearch, SearchSettings, run_attainment, search_goodput
from .runner import StudyObserver, _cool_down, _idle_baseline_w, run_cell
from .spec import Cell, StudySpec
from .state import StudyState, inspect_run

__all__ = ["run_search", "probe_cell"]


class _ProbeFailed(Exception):
    """A probe's run did not complete: its cell fails with this message."""


def probe_cell(cell: Cell, search: SearchSettings, level: int) -> Cell:
    """``cell`` at one level of the search's axis, named as its run: ``NAME@c3``."""
    axis = search.search_axis
    return Cell(name=f"{cell.name}@{AXIS_MARK[axis]}{level}", params={**cell.params, axis: level},
                settings={**cell.settings, axis: level})


def _groups(spec: StudySpec) -> list[list[Cell]]:
    """The study's cells by combination, each group's repeats in order."""
    groups: dict[str, list[Cell]] = {}
    for cell in spec.cells():
        groups.setdefault(repr([(k, v) for k, v in cell.params.items() if k != "repeat"]), []).append(cell)
    return list(groups.values())


class _Runs:
    """Runs probes and repeats one after another here, cooling down between them; counts what it ran."""

    def __init__(self, state: StudyState, observer: StudyObserver, cells: list[Cell], total: int) -> None:
        self.state, self.observer, self.total = state, observer, total
        self.idle_w = _idle_baseline_w(cells)
        self.ran: list[Cell] = []
        self.index = 0  # the study cell being worked on, counted from 1

    def run(self, cell: Cell) -> str | None:
        """Run ``cell`` (a probe or a repeat at its level) unless complete; None, or why it did not complete."""
        run_dir = self.state.study_dir / "runs" / cell.name
        before = inspect_run(run_dir)
        if before.state == "complete":
            return None
        if self.ran:
            _cool_down(self.ran[-1], self.idle_w, self.observer)
        self.ran.append(cell)
        self.observer.cell_started(self.index, self.total, cell, before.state == "partial")
        try:
            message = run_cell(cell, self.state.study_dir / "runs", resume=before.state == "partial",
                               progress=self.observer.query_progress())
        finally:
            self.observer.close_query_progress()
        after = inspect_run(run_dir)
        if message is None and after.state != "complete":
            message = after.problem or (f"{after.queries_failed} queries failed" if after.queries_failed
                                        else f"the run ended with status {after.finished}")
        self.observer.cell_finished(self.index, self.total, {
            "name": cell.name, "status": "completed" if message is None else "failed", "message": message,
            "head_hash": after.head_hash, "queries_completed": after.queries_completed})
        return message


def run_search(spec: StudySpec, state: StudyState, observer: StudyObserver) -> int:
    """Search every combination of ``spec`` for its goodput level, then run its repeats there; returns how many
    runs were made now (a complete probe or repeat is reused)."""
    search = spec.search
    assert search is not None
    cells = spec.cells()
    runs = _Runs(state, observer, cells, len(cells))
    for group in _groups(spec):
        runs.index = cells.index(group[0]) + 1
        try:
            level = _search_one(group[0], search, state, runs)
        except KeyboardInterrupt:
            state.note(group[0].name, status="failed", resumable=True,
                       message="interrupted (Ctrl-C); the next 'ipw study run' resumes it")
            raise
        if len(group) > 1:
            _repeat_at(group, level, search, spec, state, runs)
    return len(runs.ran)


def _search_one(cell: Cell, search: SearchSettings, state: StudyState, runs: _Runs) -> int | None:
    """Search one cell (repeat 1 of its combination) and record the search in its entry; the level, or None."""
    probes: list[dict[str, Any]] = []

    def measure(level: int) -> float | None:
        probe = probe_cell(cell, search, level)
        message = runs.run(probe)
        if message is not None:
            raise _ProbeFailed(f"the goodput probe {probe.name} failed: {message}")
        attainment = run_attainment(state.run_dir(probe.name), search.targets_ms)
        meets = attainment is not None and attainment >= search.target_attainment  # search_goodput's own rule
        probes.append({"level": level, "attainment": attainment, "meets": meets, "run_dir": f"runs/{probe.name}"})
        return attainment

    state.note(cell.name, status="running", message=None)
    block: dict[str, Any] = {"axis": search.search_axis, "target_attainment": search.target_attainment,
                             "level": None, "probes": probes}
    try:
        result = search_goodput(measure, low=search.search_low, high=search.search_high,
                                target_attainment=search.target_attainment)
    except _ProbeFailed as exc:
        state.note(cell.name, status="failed", message=str(exc), resumable=True, goodput=block)
        return None
    block["level"] = result.level
    chosen = probe_cell(cell, search, result.level if result.level is not None else search.search_low)
    state.note(cell.name, run_dir=f"runs/{chosen.name}", goodput=block)
    entry = state.refresh(cell.name)
    message = _message(search, result)
    if entry["status"] == "completed":
        state.note(cell.name, message=message)
    runs.observer.search_decided(cell, result, message)
    return result.level


def _message(search: SearchSettings, result: GoodputSearch) -> str:
    axis, target = search.search_axis, f"{search.target_attainment:.0%}"
    tried = ", ".join(f"{p.level}: {'-' if p.attainment is None else f'{p.attainment:.0%}'}" for p in result.probes)
    if result.level is None:
        return (f"no {axis} from {search.search_low} to {search.search_high} has {target} of queries within "
                f"the SLO (attainment at {tried})")
    return f"goodput at {axis} {result.level}: {target} of queries within the SLO (attainment at {tried})"


def _repeat_at(group: list[Cell], level: int | None, search: SearchSettings, spec: StudySpec, state: StudyState,
               runs: _Runs) -> None:
    """The other repeats of a searched combination, at its level (none when it has no level)."""
    first = state.entry(group[0].name)
    if level is None:
        why = ("no level to repeat: " + (first.get("message") or "") if first["status"] == "completed"
               else f"waits for the goodput search of {group[0].name}")
        for cell in group[1:]:
            state.note(cell.name, status="not_needed" if first["status"] == "completed" else "pending", message=why)
        return
    block = {"axis": search.search_axis, "level": level, "searched_in": group[0].name}
    for cell in group[1:]:
        state.note(cell.name, run_dir=f"runs/{probe_cell(cell, search, level).name}", goodput=block)

    def run(cell: Cell) -> None:
        state.note(cell.name, status="running", message=None)
        try:
            message = runs.run(probe_cell(cell, search, level))
        except KeyboardInterrupt:
            state.refresh(cell.name, message="interrupted (Ctrl-C); the next 'ipw study run' resumes it", failed=True)
            raise
        state.refresh(cell.name, message=message, failed=message is not None)

    rule = spec.repeat_rule
    for cell in group[1:]:
        if inspect_run(state.run_dir(cell.name)).state == "complete":
            state.refresh(cell.name)  # done in an earlier run: its entry says so whatever study.json held
    if rule is None:
        for cell in group[1:]:
            run(cell)
        return
    from .repeats import metric_of, run_until_tight

    options = {"slo": search.targets_ms}
    outcome = run_until_tight(group, rule, complete=lambda c: inspect_run(state.run_dir(c.name)).state == "complete",
                              run=run, metric=lambda c: metric_of(state.run_dir(c.name), rule.metric, options))
    message = outcome.message(rule)
    for name in outcome.not_needed:
        state.note(name, status="not_needed", message=message)
    runs.observer.repeats_decided({k: v for k, v in group[0].params.items() if k != "repeat"}, outcome, message)
