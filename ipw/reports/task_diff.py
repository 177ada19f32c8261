"""Comparing the agent tasks of two runs: success rate, joules per task and per solved task, turns, flips.

:func:`task_diff` is the ``tasks`` block of :func:`ipw.reports.diff.diff_runs`
when both runs have agent tasks. Each run's figures are the ``tasks``
analysis's own (:mod:`ipw.analyses.tasks`): the success rate over the tasks
with a known outcome and its Wilson interval, joules per task and per solved
task, mean turns per task. Deltas are B − A with a percentile bootstrap 95 %
interval over tasks, as for queries: paired over the tasks both runs ran (a
task is its ``record_id``, else its ``task_id``) when those cover at least
half of the smaller run, otherwise the two runs resampled independently.
Joules per solved task is a ratio of sums (Σ energy ÷ tasks solved), so it is
resampled as one. A flip is a task solved in one run and not in the other.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..replay.engine import RunView
from .deltas import natural_key, outcome_flips, ratio_interval
from .diff import mean_delta, signed_text
from .tables import format_table

__all__ = ["TASK_METRICS", "task_diff", "format_task_diff"]

# key, title as the terminal shows it
TASK_METRICS = (
    ("success_rate", "success rate (fraction of tasks)"),
    ("joules_per_task", "energy per task (J)"),
    ("joules_per_solved_task", "energy per solved task (J)"),
    ("turns_per_task", "turns per task (turns)"),
)


class _Task(NamedTuple):
    record_id: str  # what pairs a task across runs (the name the query deltas pair on)
    solved: float | None
    energy_j: float | None
    turns: float


def _tasks(view: RunView, energy_options: dict[str, Any] | None) -> dict[str, Any]:
    from ..analyses.tasks import TasksProjection

    return TasksProjection().compute(view, dict(energy_options or {}))


def _rows(result: dict[str, Any]) -> list[_Task]:
    return [_Task(r.get("record_id") or r["task_id"], None if r["solved"] is None else float(r["solved"]),
                  r["energy_j"], float(r["turns"])) for r in result["tasks"]]


def _no_energy(delta: dict[str, Any], result_a: dict[str, Any], result_b: dict[str, Any], key: str) -> dict[str, Any]:
    missing = [side for side, r in (("A", result_a), ("B", result_b)) if r[key] is None]
    return {**delta, "a": result_a[key], "b": result_b[key], "delta": None, "delta_percent": None, "ci_low": None,
            "ci_high": None, "note": f"unknown in run {' and '.join(missing)}: a task's energy could not be split "
                                     "(see the tasks analysis's notes)"}


def _per_solved(rows: list[_Task]) -> np.ndarray:
    return np.array([[r.energy_j or 0.0, r.solved or 0.0] for r in rows], dtype=np.float64).reshape(-1, 2)


def _solved_delta(rows_a: list[_Task], rows_b: list[_Task], *, n_boot: int, rng: np.random.Generator) -> dict[str, Any]:
    """Σ energy ÷ tasks solved in each run, B − A, resampled over tasks (paired as in :func:`.diff.mean_delta`)."""
    by_a, by_b = {r.record_id: r for r in rows_a}, {r.record_id: r for r in rows_b}
    keys = sorted(set(by_a) & set(by_b), key=natural_key)
    paired = len(keys) >= max(2, 0.5 * min(len(rows_a), len(rows_b)))
    side_a, side_b = ([by_a[k] for k in keys], [by_b[k] for k in keys]) if paired else (rows_a, rows_b)
    arr_a, arr_b = _per_solved(side_a), _per_solved(side_b)
    ra = arr_a[:, 0].sum() / arr_a[:, 1].sum() if arr_a[:, 1].sum() else None
    rb = arr_b[:, 0].sum() / arr_b[:, 1].sum() if arr_b[:, 1].sum() else None
    out: dict[str, Any] = {
        "a": ra, "b": rb, "delta": None, "delta_percent": None, "ci_low": None, "ci_high": None,
        "method": "paired" if paired else "unpaired", "n_a": len(side_a), "n_b": len(side_b),
        "n_pairs": len(keys) if paired else 0, "note": None,
    }
    if ra is None or rb is None:
        out["note"] = "no solved task in run " + ("A" if ra is None else "B")
        return out
    out.update(delta=rb - ra, delta_percent=100.0 * (rb - ra) / abs(ra) if ra else None)
    if min(len(side_a), len(side_b)) < 2 or n_boot < 1:
        out["note"] = "too few tasks for a confidence interval (need two per run)"
        return out
    # a resample with no solved task has no ratio
    ci = ratio_interval((arr_a[:, 0], arr_a[:, 1]), (arr_b[:, 0], arr_b[:, 1]), paired=paired, n_boot=n_boot, rng=rng)
    if ci is not None:
        out["ci_low"], out["ci_high"] = ci
    return out


def _flips(rows_a: list[_Task], rows_b: list[_Task]) -> dict[str, Any]:
    f = outcome_flips({r.record_id: r.solved for r in rows_a}, {r.record_id: r.solved for r in rows_b})
    return {"shared_tasks": len(f.shared), "compared": len(f.shared) - f.unevaluated, "unevaluated": f.unevaluated,
            "unchanged": f.unchanged, "n_solved_to_unsolved": len(f.true_to_false),
            "n_unsolved_to_solved": len(f.false_to_true), "solved_to_unsolved": f.true_to_false,
            "unsolved_to_solved": f.false_to_true}


def _overall(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("n_tasks", "n_evaluated", "n_solved", "success_rate", "success_rate_ci", "total_energy_j",
            "joules_per_task", "joules_per_solved_task", "intelligence_per_watt", "energy_provenance")
    return {k: result.get(k) for k in keep}


def task_diff(view_a: RunView, view_b: RunView, *, energy_options: dict[str, Any] | None = None, n_boot: int = 2000,
              seed: int = 0) -> dict[str, Any] | None:
    """The two runs' tasks compared (B − A), or None unless both runs have agent tasks."""
    if not (view_a.agent_events and view_b.agent_events):
        return None
    result_a, result_b = _tasks(view_a, energy_options), _tasks(view_b, energy_options)
    if not (result_a["tasks"] and result_b["tasks"]):
        return None
    rows_a, rows_b = _rows(result_a), _rows(result_b)
    rng = [np.random.default_rng([seed, 100 + i]) for i in range(len(TASK_METRICS))]
    deltas = {
        "success_rate": mean_delta(rows_a, rows_b, lambda r: r.solved, n_boot=n_boot, rng=rng[0]),
        "joules_per_task": mean_delta(rows_a, rows_b, lambda r: r.energy_j, n_boot=n_boot, rng=rng[1]),
        "joules_per_solved_task": _solved_delta(rows_a, rows_b, n_boot=n_boot, rng=rng[2]),
        "turns_per_task": mean_delta(rows_a, rows_b, lambda r: r.turns, n_boot=n_boot, rng=rng[3]),
    }
    for key in ("joules_per_task", "joules_per_solved_task"):  # a run with any task of unknown energy has none
        if result_a[key] is None or result_b[key] is None:
            deltas[key] = _no_energy(deltas[key], result_a, result_b, key)
    for key, side in (("success_rate", "a"), ("success_rate", "b")):
        ci = (result_a if side == "a" else result_b)["success_rate_ci"]
        deltas[key][f"{side}_ci_low"], deltas[key][f"{side}_ci_high"] = ci["low"], ci["high"]
    return {"a": _overall(result_a), "b": _overall(result_b), "deltas": deltas, "flips": _flips(rows_a, rows_b)}


def _rate(side: dict[str, Any]) -> str:
    ci = side["success_rate_ci"]
    if side["success_rate"] is None:
        return f"{side['n_tasks']} tasks, none with a known outcome"
    return (f"{side['n_solved']}/{side['n_evaluated']} solved, {side['success_rate']:.3g} "
            f"[{ci['low']:.3g}, {ci['high']:.3g}] ({ci['confidence']:.0%} Wilson)")


def _ids(ids: list[str], limit: int = 10) -> str:
    return ", ".join(ids[:limit]) + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


def format_task_diff(tasks: dict[str, Any] | None) -> list[str]:
    """The lines of ``ipw diff``'s tasks block (none when the runs are not both agent runs)."""
    if not tasks:
        return []
    flips = tasks["flips"]
    lines = [f"tasks  A: {_rate(tasks['a'])}", f"       B: {_rate(tasks['b'])}",
             f"task flips over {flips['shared_tasks']} shared tasks ({flips['compared']} with an outcome in both): "
             f"{flips['n_solved_to_unsolved']} solved→unsolved, {flips['n_unsolved_to_solved']} unsolved→solved, "
             f"{flips['unchanged']} unchanged"]
    if flips["solved_to_unsolved"]:
        lines.append(f"  solved→unsolved: {_ids(flips['solved_to_unsolved'])}")
    if flips["unsolved_to_solved"]:
        lines.append(f"  unsolved→solved: {_ids(flips['unsolved_to_solved'])}")
    rows, notes = [], []
    for key, title in TASK_METRICS:
        d = tasks["deltas"][key]
        ci = f"[{signed_text(d['ci_low'])}, {signed_text(d['ci_high'])}]" if d["ci_low"] is not None else ""
        method = {"paired": f"paired, n={d['n_pairs']}", "unpaired": f"unpaired, n={d['n_a']}/{d['n_b']}"}.get(
            d["method"] or "", "")
        pct = f"{d['delta_percent']:+.1f}%" if d["delta_percent"] is not None else ""
        rows.append([title, d["a"], d["b"], signed_text(d["delta"]), pct, ci, method])
        if d["note"]:
            notes.append(f"{title}: {d['note']}")
    lines += ["  " + line for line in format_table(["task metric", "A", "B", "delta", "%", "95% CI", "method"],
                                                  rows).splitlines()]
    return lines + [f"note: {n}" for n in notes]
