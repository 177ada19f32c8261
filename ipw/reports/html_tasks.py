"""The tasks section of an agent run's HTML report: the run's tasks overall, one row per task, the task timeline.

Every number is the ``tasks`` analysis's (:mod:`ipw.analyses.tasks`), with
the same energy options as the rest of the page. Each value cell carries its
key (``data-field``) and exact value (``data-value``), and each row's first
cell its task id (``data-task``), so the page can be checked against ``ipw replay --analysis
tasks``. A run without agent tasks has no section. The diff page of two
agent runs gets :func:`task_diff_section` (:mod:`ipw.reports.task_diff`).
"""

from __future__ import annotations

from typing import Any

from ..replay.engine import RunView
from . import html_page as h
from .html_figures import task_timeline_png
from .labels import label

__all__ = ["TASK_COLUMNS", "tasks_section", "task_diff_section"]

# the per-task columns after the task and its outcome: key, unit
TASK_COLUMNS = (
    ("turns", None), ("calls", None), ("tool_calls", None), ("prompt_tokens", None), ("completion_tokens", None),
    ("wall_s", "s"), ("model_s", "s"), ("tool_s", "s"), ("overhead_s", "s"),
    ("energy_j", "J"), ("model_energy_j", "J"), ("tools_energy_j", "J"), ("tool_cpu_s", "s"),
)
_OUTCOME_CSS = {"solved": "ok", "unknown": "na"}


def _overall(result: dict[str, Any]) -> str:
    ci = result["success_rate_ci"]
    rate = result["success_rate"]
    rate_text = ("—" if rate is None else f"{rate:.3g} [{ci['low']:.3g}–{ci['high']:.3g}] of "
                 f"{result['n_evaluated']} with an outcome")
    rows = [
        ("n_tasks", result["n_tasks"], None, None),
        ("n_solved", result["n_solved"], None, None),
        ("success_rate", rate, None, rate_text),
        ("joules_per_task", result["joules_per_task"], "J", None),
        ("joules_per_solved_task", result["joules_per_solved_task"], "J", None),
        ("total_energy_j", result["total_energy_j"], "J", None),
        ("tasks_mean_power_w", result["mean_power_w"], "W", None),
        ("tasks_intelligence_per_watt", result["intelligence_per_watt"], "1/W", None),
    ]
    body = [h.label_cell(key, label(key)) + h.value_cell(value, field=key, unit=unit, text=text)
            for key, value, unit, text in rows]
    return h.table(["Metric", "Value"], body, table_id="tasks-overall")


def _task_row(row: dict[str, Any]) -> str:
    css = _OUTCOME_CSS.get(row["outcome"], "bad")
    head = (f'<td data-field="task" data-task="{h.esc(row["task_id"])}" data-sort="{h.esc(row["name"])}">'
            f'{h.esc(row["name"])}</td>'
            f'<td class="{css}" data-field="outcome" data-value="{h.esc(row["outcome"])}">{h.esc(row["outcome"])}</td>')
    return head + "".join(h.value_cell(row[key], field=key, unit=unit) for key, unit in TASK_COLUMNS)


def _provenance(result: dict[str, Any]) -> str:
    tools = sorted({r["tools_energy_provenance"] for r in result["tasks"] if r["tools_energy_provenance"]})
    return ('<p class="sub">energy split into the model\'s share (its calls\' attributed energy) '
            f'{h.badge(result["energy_provenance"])} and the tools\' share (their CPU time\'s share of the CPU '
            f'energy) {"".join(h.badge(t.split()[0]) for t in tools) or h.badge(None)}; time split into model, '
            "tool and overhead (the rest); the table scrolls sideways</p>")


def tasks_section(view: RunView, energy_options: dict[str, Any], run_label: str) -> str:
    """The section for an agent run, or nothing for a run without tasks."""
    if not view.agent_events:
        return ""
    from ..analyses.tasks import TasksProjection

    result = TasksProjection().compute(view, dict(energy_options))
    rows = result["tasks"]
    if not rows:
        return ""
    notes = [f"{r['name']}: {n}" for r in rows for n in r["notes"]]
    headers: list[Any] = ["Task", "Outcome", *((label(key), key) for key, _ in TASK_COLUMNS)]
    figure = h.figure(task_timeline_png(view, rows, run_label),
                      "each task's model calls (turns) and tool calls against power per device", figure_id="task-timeline")
    return h.section(f"Tasks ({len(rows)})", _overall(result) + h.notes(notes) + _provenance(result)
                     + h.table(headers, [_task_row(r) for r in rows], sortable=True, table_id="tasks")
                     + figure, section_id="tasks-section")


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4g}"


def task_diff_section(tasks: dict[str, Any] | None) -> str:
    """The diff page's tasks section: each task figure in A and B, B − A with its interval, and the flips."""
    if not tasks:
        return ""
    from .task_diff import TASK_METRICS

    rows = []
    for key, _title in TASK_METRICS:
        d = tasks["deltas"][key]
        ci = f"[{_signed(d['ci_low'])}, {_signed(d['ci_high'])}]" if d["ci_low"] is not None else "—"
        rows.append(h.label_cell(key, label(key)) + h.value_cell(d["a"], field=f"{key}.a")
                    + h.value_cell(d["b"], field=f"{key}.b")
                    + h.value_cell(d["delta"], field=f"{key}.delta", text=_signed(d["delta"]))
                    + f'<td class="num">{h.esc(ci)}</td><td>{h.esc(d["method"] or "")}</td>'
                    f'<td>{h.esc(d["note"] or "")}</td>')
    flips = tasks["flips"]
    lost, gained = ", ".join(flips["solved_to_unsolved"]) or "none", ", ".join(flips["unsolved_to_solved"]) or "none"
    text = (f"{flips['shared_tasks']} shared tasks, {flips['compared']} with an outcome in both: "
            f'<span class="bad" data-field="solved_to_unsolved">{h.esc(lost)}</span> solved in A only; '
            f'<span class="ok" data-field="unsolved_to_solved">{h.esc(gained)}</span> solved in B only; '
            f"{flips['unchanged']} unchanged")
    return h.section("Tasks (B − A, bootstrap 95% intervals)", h.table(
        ["Metric", "A", "B", "Delta (B − A)", "95% CI", "Method", "Note"], rows, table_id="task-deltas")
        + f"<p>{text}</p>", section_id="task-diff-section")
