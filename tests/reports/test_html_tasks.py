"""The tasks section of an agent run's HTML page: every number is the tasks analysis's, and the timeline is there.

The page is read back with an HTML parser: each value cell's ``data-value``
is compared with ``TasksProjection`` over the same ledger
(:mod:`tests._agent_ledgers`), and the task timeline's axis labels with what
it draws. How the page looks in a browser is tests/reports/test_html_layout.py.
"""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ipw.analyses.tasks import TasksProjection
from ipw.replay.engine import load_run
from ipw.reports._task_timeline import task_spans
from ipw.reports.html import report_html
from ipw.reports.html_tasks import TASK_COLUMNS
from ipw.reports.labels import label


class _Tasks(HTMLParser):
    """Per task (``data-task``): its cells' ``data-field`` → value; the overall table's; the figures' ids and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.overall: dict[str, Any] = {}
        self.figures: dict[str, list[str]] = {}
        self.sections: list[str] = []
        self._task: str | None = None
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.sections.append(a["id"])
        elif tag == "table":
            self._table = a.get("id")
        elif tag == "tr":
            self._task = None
        elif tag == "figure":
            self.figures[a.get("id") or ""] = json.loads(a.get("data-axis-labels") or "[]")
        elif tag == "td" and self._table == "tasks" and a.get("data-task"):
            self._task = a["data-task"]
            self.tasks[self._task] = {}
        elif tag == "td" and a.get("data-field") and self._table in ("tasks", "tasks-overall"):
            raw = a.get("data-value")
            value = None if raw in (None, "") else (raw if a["data-field"] == "outcome" else json.loads(raw))
            if self._table == "tasks" and self._task is not None:
                self.tasks[self._task][a["data-field"]] = value
            elif self._table == "tasks-overall":
                self.overall[a["data-field"]] = value


def _page(run: Path) -> _Tasks:
    parser = _Tasks()
    parser.feed(report_html([run]))
    return parser


def test_every_task_number_is_the_tasks_analysis_own(agent_runs: dict[str, Path]) -> None:
    page = _page(agent_runs["a"])
    assert "tasks-section" in page.sections
    result = TasksProjection().compute(load_run(agent_runs["a"]), {})
    assert list(page.tasks) == [r["task_id"] for r in result["tasks"]] == ["a", "b", "c"]
    for row in result["tasks"]:
        shown = page.tasks[row["task_id"]]
        assert shown["outcome"] == row["outcome"]
        for key, _unit in TASK_COLUMNS:
            assert shown[key] == pytest.approx(row[key]), (row["task_id"], key)
    for key in ("n_tasks", "n_solved", "success_rate", "joules_per_task", "joules_per_solved_task"):
        assert page.overall[key] == pytest.approx(result[key]), key
    assert page.overall["tasks_intelligence_per_watt"] == pytest.approx(result["intelligence_per_watt"])


def test_the_task_timeline_shares_time_with_power(agent_runs: dict[str, Path]) -> None:
    labels = _page(agent_runs["a"]).figures["task-timeline"]
    assert labels == ["Power (W)", "Time since run start (s)", "Task (lane, with its outcome)"]
    model, tools = task_spans(load_run(agent_runs["a"]))  # what its lanes draw: two turns and one tool per task
    assert {k: len(v) for k, v in model.items()} == {"a": 2, "b": 2, "c": 2}
    assert {k: len(v) for k, v in tools.items()} == {"a": 1, "b": 1, "c": 1}
    assert tools["a"] == [(int(3.5e9), int(5.5e9))]


def test_a_task_whose_energy_is_unknown_shows_a_dash_and_why(agent_runs: dict[str, Path]) -> None:
    page = _page(agent_runs["nocpu"])
    assert all(t["tools_energy_j"] is None and t["energy_j"] is None for t in page.tasks.values())
    assert all(t["model_energy_j"] is not None for t in page.tasks.values())
    assert "x: tools' energy unknown" in html.unescape(report_html([agent_runs["nocpu"]]))


def test_a_run_without_tasks_has_no_tasks_section(runs: dict[str, Path]) -> None:
    page = _page(runs["a"])
    assert "tasks-section" not in page.sections and "task-timeline" not in page.figures


def test_the_diff_page_of_two_agent_runs_compares_their_tasks(agent_runs: dict[str, Path]) -> None:
    from ipw.reports.diff import diff_runs

    page = report_html([agent_runs["a"], agent_runs["b"]])
    tasks = diff_runs(load_run(agent_runs["a"]), load_run(agent_runs["b"]))["tasks"]
    assert 'id="task-diff-section"' in page
    for key in tasks["deltas"]:  # each row named in words with its unit
        assert f'data-label-of="{key}">{html.escape(label(key))}<' in page and label(key).endswith(")"), key
    for key, d in tasks["deltas"].items():
        for side in ("a", "b"):
            if d[side] is not None:
                assert f'data-field="{key}.{side}" data-value="{json.dumps(d[side])}"' in page, (key, side)
    assert f'data-field="joules_per_task.delta" data-value="{json.dumps(tasks["deltas"]["joules_per_task"]["delta"])}"' in page
    assert '<span class="bad" data-field="solved_to_unsolved">primes</span>' in page
    assert '<span class="ok" data-field="unsolved_to_solved">fix</span>' in page


def test_the_diff_page_of_plain_runs_has_no_tasks_section(runs: dict[str, Path]) -> None:
    assert 'id="task-diff-section"' not in report_html([runs["a"], runs["b"]])
