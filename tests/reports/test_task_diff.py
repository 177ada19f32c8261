"""``ipw diff`` of two agent runs: success rate with intervals, J per task and per solved task, turns, flips.

The runs (:mod:`tests._agent_ledgers`) ran the same three tasks; in B every
model call is 1 s longer at a known 140 W, and one task flipped each way, so
the deltas and flips are known by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.analyses.proportion import wilson_interval
from ipw.analyses.tasks import TasksProjection
from ipw.replay.engine import load_run
from ipw.reports.diff import diff_runs
from tests._agent_ledgers import EXTRA_J_PER_TASK
from tests.conftest import run_cli


def _tasks(run: Path) -> dict:
    return TasksProjection().compute(load_run(run), {})


def test_both_runs_figures_are_the_tasks_analysis_own(agent_runs: dict[str, Path]) -> None:
    tasks = diff_runs(load_run(agent_runs["a"]), load_run(agent_runs["b"]))["tasks"]
    for side in ("a", "b"):
        own = _tasks(agent_runs[side])
        for key in ("n_tasks", "n_solved", "success_rate", "success_rate_ci", "joules_per_task",
                    "joules_per_solved_task", "intelligence_per_watt"):
            assert tasks[side][key] == own[key], (side, key)
        assert tasks["deltas"]["joules_per_task"][side] == pytest.approx(own["joules_per_task"])
        assert tasks["deltas"]["joules_per_solved_task"][side] == pytest.approx(own["joules_per_solved_task"])
    rate = tasks["deltas"]["success_rate"]
    assert (rate["a"], rate["b"], rate["delta"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 0.0)
    assert (rate["a_ci_low"], rate["a_ci_high"]) == wilson_interval(2, 3)
    assert rate["method"] == "paired" and rate["n_pairs"] == 3 and rate["ci_low"] < 0 < rate["ci_high"]


def test_every_task_costs_the_known_extra_joules(agent_runs: dict[str, Path]) -> None:
    deltas = diff_runs(load_run(agent_runs["a"]), load_run(agent_runs["b"]))["tasks"]["deltas"]
    per_task = deltas["joules_per_task"]
    assert per_task["method"] == "paired" and per_task["n_pairs"] == 3
    for key in ("delta", "ci_low", "ci_high"):  # every pair moved by the same joules, so the interval is a point
        assert per_task[key] == pytest.approx(EXTRA_J_PER_TASK)
    solved = deltas["joules_per_solved_task"]  # two tasks solved in each run: the extra of three over two
    assert solved["delta"] == pytest.approx(3 * EXTRA_J_PER_TASK / 2)
    assert solved["ci_low"] < solved["delta"] < solved["ci_high"]
    assert deltas["turns_per_task"]["a"] == deltas["turns_per_task"]["b"] == 2.0


def test_flips_are_keyed_by_record_id(agent_runs: dict[str, Path]) -> None:
    flips = diff_runs(load_run(agent_runs["a"]), load_run(agent_runs["b"]))["tasks"]["flips"]
    assert flips["shared_tasks"] == 3 and flips["compared"] == 3 and flips["unchanged"] == 1
    assert flips["solved_to_unsolved"] == ["primes"] and flips["unsolved_to_solved"] == ["fix"]


def test_a_run_whose_task_energy_is_unknown_says_so(agent_runs: dict[str, Path]) -> None:
    deltas = diff_runs(load_run(agent_runs["a"]), load_run(agent_runs["nocpu"]))["tasks"]["deltas"]
    for key in ("joules_per_task", "joules_per_solved_task"):
        assert deltas[key]["b"] is None and deltas[key]["delta"] is None
        assert "unknown in run B" in deltas[key]["note"]
    assert deltas["success_rate"]["delta"] == 0.0  # the outcomes are known all the same


def test_an_agent_run_against_a_plain_run_has_no_task_comparison(agent_runs: dict[str, Path],
                                                                   runs: dict[str, Path]) -> None:
    result = diff_runs(load_run(runs["a"]), load_run(agent_runs["a"]))
    assert result["tasks"] is None
    assert "only run B has agent tasks: no task comparison" in result["notes"]
    assert diff_runs(load_run(runs["a"]), load_run(runs["b"]))["tasks"] is None


def test_the_cli_prints_the_tasks_block_and_json(agent_runs: dict[str, Path]) -> None:
    done = run_cli("diff", str(agent_runs["a"]), str(agent_runs["b"]))
    assert done.exit_code == 0, done.stderr
    assert "A: 2/3 solved" in done.stdout and "solved→unsolved: primes" in done.stdout
    assert "unsolved→solved: fix" in done.stdout
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith("energy per task (J)"))
    assert "+280" in line and "paired, n=3" in line
    as_json = run_cli("diff", str(agent_runs["a"]), str(agent_runs["b"]), "--json")
    assert as_json.exit_code == 0, as_json.stderr
    tasks = json.loads(as_json.stdout)["tasks"]
    assert tasks == json.loads(json.dumps(diff_runs(load_run(agent_runs["a"]), load_run(agent_runs["b"]))["tasks"]))
