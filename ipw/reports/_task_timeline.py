"""The task timeline: an agent run's tasks as lanes of model calls and tool calls, under its power trace.

Two panels share the time axis (seconds since the run started, as in the
power timeline of :mod:`ipw.reports._timeline`, whose drawn series it
reuses). Above, each device's power. Below, one lane per task in the order
the tasks started: the task's span as a thin bar, each model call (a turn) and
each tool call as a span on it, and the task's outcome in its lane's name. The
tasks come from the ``tasks`` analysis's rows; the spans from the run's
queries (``task_id``) and ``tool_call_*`` events.
"""

from __future__ import annotations

from typing import Any

from ..events import ToolCallFinished, ToolCallStarted
from ..replay.engine import RunView
from ._plotting import new_figure, no_data
from ._timeline import plotted_power, run_origin_ns

__all__ = ["task_timeline_figure", "task_spans"]

_COLOURS = {"task": "#c9ccd4", "model": "#3a78c2", "tool": "#e8a33c"}
_LABELLED_LANES = 40  # beyond this many tasks the lanes are numbered by the axis, not named


def task_spans(view: RunView) -> tuple[dict[str, list[tuple[int, int]]], dict[str, list[tuple[int, int]]]]:
    """(model call spans, tool call spans) per task id, in ns; an unfinished call ends where it failed or began."""
    model: dict[str, list[tuple[int, int]]] = {}
    for _, q in sorted(view.queries.items()):
        if q.started is None or q.started.task_id is None or q.start_ns is None:
            continue
        end = q.end_ns or (q.failures[-1].t_ns if q.failures else q.start_ns)
        model.setdefault(q.started.task_id, []).append((q.start_ns, max(end, q.start_ns)))
    began: dict[tuple[str, str], int] = {}
    tools: dict[str, list[tuple[int, int]]] = {}
    for e in view.agent_events:
        if isinstance(e, ToolCallStarted):
            began.setdefault((e.task_id, e.call_id), e.t_ns)
        elif isinstance(e, ToolCallFinished):
            start = began.get((e.task_id, e.call_id), e.t_ns - e.wall_ns)
            tools.setdefault(e.task_id, []).append((start, max(e.t_ns, start)))
    return model, tools


def _lane_name(row: dict[str, Any]) -> str:
    name = str(row.get("name") or row["task_id"])
    return (name if len(name) <= 24 else name[:23] + "…") + f" · {row['outcome']}"


def task_timeline_figure(view: RunView, rows: list[dict[str, Any]], label: str) -> Any:
    """The figure (see the module docstring); ``rows`` are the ``tasks`` analysis's, one per task."""
    n = max(len(rows), 1)
    lanes_in = min(0.32 * n + 0.8, 14.0)
    fig, axes = new_figure(2, 1, figsize=(12, 3.0 + lanes_in), sharex=True,
                           gridspec_kw={"height_ratios": [3.0, lanes_in]})
    power_ax, lane_ax = axes[0][0], axes[1][0]
    t0 = run_origin_ns(view)
    drawn = 0
    for k, device in enumerate(sorted(view.power)):
        series = plotted_power(view.power[device], t0)
        if series is None:
            continue
        t_s, p_w, how = series
        power_ax.plot(t_s, p_w, color=f"C{k % 10}", linewidth=1.0, label=f"{device} ({how})")
        drawn += 1
    if drawn:
        power_ax.set_ylabel("Power (W)")
        power_ax.set_ylim(bottom=0)
        power_ax.grid(True, alpha=0.3)
        power_ax.legend(fontsize=7, loc="upper right")
    else:
        no_data(power_ax, "no power samples in this run", shared_x=True)
    model, tools = task_spans(view)
    if not rows:
        no_data(lane_ax, "no agent tasks in this run", shared_x=True)
    labelled: set[str] = set()

    def bars(spans: list[tuple[int, int]], lane: int, kind: str, height: float) -> None:
        if not spans:
            return
        lane_ax.broken_barh([((s - t0) / 1e9, max((e - s) / 1e9, 1e-6)) for s, e in spans],
                            (lane - height / 2, height), facecolors=_COLOURS[kind],
                            label=None if kind in labelled else {"task": "task (start to end)",
                                                                   "model": "model call (turn)",
                                                                   "tool": "tool call"}[kind])
        labelled.add(kind)

    for lane, row in enumerate(rows):
        bars([(row["start_ns"], row["end_ns"])], lane, "task", 0.2)
        bars(model.get(row["task_id"], []), lane, "model", 0.6)
        bars(tools.get(row["task_id"], []), lane, "tool", 0.6)
    if rows:
        lane_ax.set_ylim(len(rows) - 0.5, -0.5)  # the first task on top
        if len(rows) <= _LABELLED_LANES:
            lane_ax.set_yticks(range(len(rows)), [_lane_name(r) for r in rows], fontsize=7)
        lane_ax.set_ylabel("Task (lane, with its outcome)")
        lane_ax.grid(True, axis="x", alpha=0.3)
        lane_ax.legend(fontsize=7, loc="upper right", ncol=3)
    lane_ax.set_xlabel("Time since run start (s)")
    fig.suptitle(f"Task timeline — {label}: turns and tool calls against power")
    return fig
