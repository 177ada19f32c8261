"""The ``tasks`` analysis over a hand-built agent run: the time and energy parts add up to each task's total.

Events are written as ipw's agent loop and proxy write them (task_started,
queries with task_id/turn, tool calls, task_finished), with a GPU and a CPU
power trace, so every number can be checked by hand (:mod:`tests._agent_ledgers`).
"""

from __future__ import annotations

import pytest

from ipw.analyses.energy import per_query_energy
from ipw.analyses.tasks import TasksProjection, union_s
from ipw.replay import build_view
from tests._agent_ledgers import S, agent_events as _run


def test_union_counts_overlaps_once_and_subtracts() -> None:
    assert union_s([(0, 2 * S), (1 * S, 3 * S), (5 * S, 6 * S)]) == 4.0
    assert union_s([(0, 4 * S)], minus=[(1 * S, 2 * S)]) == 3.0


def test_each_task_splits_into_parts_that_add_up() -> None:
    view = build_view([_run()])
    result = TasksProjection().compute(view, {})
    a, b = result["tasks"]
    assert (a["task_id"], a["outcome"], a["turns"], a["calls"], a["tool_calls"]) == ("a", "solved", 2, 2, 1)
    assert a["prompt_tokens"] == 20 and a["completion_tokens"] == 8
    assert a["wall_s"] == pytest.approx(7.0) and a["model_s"] == pytest.approx(3.0)
    assert a["tool_s"] == pytest.approx(2.0) and a["overhead_s"] == pytest.approx(2.0)
    for row in (a, b):
        assert row["model_s"] + row["tool_s"] + row["overhead_s"] == pytest.approx(row["wall_s"])
        assert row["model_energy_j"] + row["tools_energy_j"] == pytest.approx(row["energy_j"])
    # the model's share is the energy analysis's attribution, summed over the task's calls
    attribution = per_query_energy(view)
    assert a["model_energy_j"] == pytest.approx(attribution.energy_j[0] + attribution.energy_j[1])
    # the tool ran 2 s on a 40 W CPU using 2 CPU-seconds of 4 CPUs x 2 s: a quarter of 80 J
    assert a["tools_energy_j"] == pytest.approx(20.0)
    assert b["tools_energy_j"] == pytest.approx(80.0 * 0.5 / 8)
    assert a["tools_energy_provenance"] == "derived from measured"
    assert result["n_solved"] == 1 and result["success_rate"] == 0.5
    assert 0 < result["success_rate_ci"]["low"] < 0.5 < result["success_rate_ci"]["high"] < 1
    assert result["total_energy_j"] == pytest.approx(a["energy_j"] + b["energy_j"])
    assert result["joules_per_task"] == pytest.approx(result["total_energy_j"] / 2)
    assert result["joules_per_solved_task"] == pytest.approx(result["total_energy_j"])
    assert result["intelligence_per_watt"] == pytest.approx(0.5 / (result["total_energy_j"] / 14.0))
    assert result["options"] == {"devices": None, "idle_baseline": "none", "policy": "active"}


def test_without_a_cpu_trace_the_tools_share_is_unknown_not_zero() -> None:
    result = TasksProjection().compute(build_view([_run(cpu_trace=False)]), {})
    a = result["tasks"][0]
    assert a["tools_energy_j"] is None and a["energy_j"] is None and a["notes"]
    assert a["model_energy_j"] is not None
    assert result["joules_per_task"] is None


def test_a_run_without_tasks_has_none() -> None:
    result = TasksProjection().compute(build_view([_run()[:3]]), {})
    assert result["n_tasks"] == 0 and result["success_rate"] is None and result["tasks"] == []


def test_the_summary_of_an_agent_run_carries_its_tasks_overall() -> None:
    from ipw.analyses.summary import SummaryProjection

    view = build_view([_run()])
    summary = SummaryProjection().compute(view, {})
    tasks = TasksProjection().compute(view, {})
    assert summary["tasks"]["n_tasks"] == 2 and summary["tasks"]["success_rate"] == 0.5
    assert summary["tasks"]["joules_per_solved_task"] == pytest.approx(tasks["joules_per_solved_task"])
    assert "tasks" not in SummaryProjection().compute(build_view([_run()[:3]]), {})
