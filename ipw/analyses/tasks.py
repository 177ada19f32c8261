"""The ``tasks`` analysis: an agent's work per task — turns, tokens, tools, time and energy split, success.

Per task (``task_started`` … ``task_finished``, its queries carry ``task_id``):

- ``wall_s``: from ``task_started`` to ``task_finished`` (or the task's last event).
  It is split into ``model_s`` (the union of its queries' spans, start to end),
  ``tool_s`` (the union of its tool calls' spans, less what overlaps the model)
  and ``overhead_s`` (the rest: the agent's own work, the network, waiting).
  The three add up to ``wall_s``.
- ``energy_j`` = ``model_energy_j`` + ``tools_energy_j``. The model's share is
  the energy analysis's per-query attribution (same ``policy``,
  ``idle_baseline``, ``devices``) summed over the task's queries. The tools'
  share is, per tool call, the CPU devices' energy over its span times the
  share of the host's CPU capacity its process used (``cpu_s`` ÷ (span ×
  CPUs)); provenance ``derived`` from the CPU trace's own. A part that cannot
  be known (no samples, no CPU device, a tool without CPU time) is ``None``
  and so is the total, with a note: never a zero that looks measured.
- ``outcome`` and ``solved`` (``outcome == "solved"``; ``unknown`` counts as
  not evaluated, not as failed).

Overall: ``success_rate`` over tasks with a known outcome and its Wilson
interval, joules per task and per solved task, and intelligence per watt with
tasks as the unit (success rate ÷ mean power over the tasks' wall time).
"""

from __future__ import annotations

from typing import Any

from ..events import TaskFinished, TaskStarted, ToolCallFinished, ToolCallStarted
from ..replay import RunView
from ._numbers import finite
from ._options import applied_options, check_options, energy_options_applied
from .energy import ENERGY_OPTIONS, per_query_energy
from .proportion import CONFIDENCE, wilson_interval

__all__ = ["TasksProjection", "task_rows", "tasks_overall", "union_s"]


def union_s(spans: list[tuple[int, int]], minus: list[tuple[int, int]] | None = None) -> float:
    """Seconds covered by ``spans`` (overlaps counted once), less what ``minus`` covers."""
    merged = _merge(spans)
    if minus:
        merged = _subtract(merged, _merge(minus))
    return sum(e - s for s, e in merged) / 1e9


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted((s, e) for s, e in spans if e > s):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _subtract(spans: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for s, e in spans:
        pieces = [(s, e)]
        for cs, ce in cut:
            pieces = [p for ps, pe in pieces for p in ((ps, min(pe, cs)), (max(ps, ce), pe)) if p[1] > p[0]]
        out += pieces
    return out


def _sum(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]


def task_rows(view: RunView, attribution: Any) -> list[dict[str, Any]]:
    """One row per task, in the order the tasks started; see the module docstring."""
    starts: dict[str, TaskStarted] = {}
    ends: dict[str, TaskFinished] = {}
    tools: dict[str, dict[str, list[Any]]] = {}
    last_ns: dict[str, int] = {}
    for e in view.agent_events:
        tid = e.task_id  # type: ignore[attr-defined]
        last_ns[tid] = max(last_ns.get(tid, 0), e.t_ns)  # type: ignore[attr-defined]
        if isinstance(e, TaskStarted):
            starts.setdefault(tid, e)
        elif isinstance(e, TaskFinished):
            ends[tid] = e
        elif isinstance(e, (ToolCallStarted, ToolCallFinished)):
            tools.setdefault(tid, {}).setdefault(e.call_id, []).append(e)
    calls: dict[str, list[Any]] = {}
    for qid, q in sorted(view.queries.items()):
        if q.started is not None and q.started.task_id is not None:
            calls.setdefault(q.started.task_id, []).append(q)
            end = q.end_ns or (q.failures[-1].t_ns if q.failures else q.started.t_ns)
            last_ns[q.started.task_id] = max(last_ns.get(q.started.task_id, 0), end)
    cpu_curves, host_cpus, cpu_source = _cpu_curves(view, attribution)
    rows = []
    for tid, start in sorted(starts.items(), key=lambda kv: kv[1].t_ns):
        end_ns = ends[tid].t_ns if tid in ends else last_ns.get(tid, start.t_ns)
        end_ns = max(end_ns, last_ns.get(tid, end_ns))
        queries = calls.get(tid, [])
        q_spans = [(q.start_ns, q.end_ns or (q.failures[-1].t_ns if q.failures else q.start_ns)) for q in queries]
        t_spans, tool_energy, cpu_s_total, notes = [], [], 0.0, []
        for events in tools.get(tid, {}).values():
            began = next((e for e in events if isinstance(e, ToolCallStarted)), None)
            done = next((e for e in events if isinstance(e, ToolCallFinished)), None)
            if done is None:
                continue
            s = began.t_ns if began is not None else done.t_ns - done.wall_ns
            t_spans.append((s, done.t_ns))
            cpu_s_total += done.cpu_s or 0.0
            tool_energy.append(_tool_energy_j(cpu_curves, host_cpus, s, done.t_ns, done.cpu_s))
        wall_s = (end_ns - start.t_ns) / 1e9
        model_s = union_s(q_spans)
        tool_s = union_s(t_spans, minus=q_spans)
        model_j = _sum([attribution.energy_j.get(q.query_id) for q in queries if q.completed and not q.warmup])
        tools_j = _sum(tool_energy)
        if tools_j is None:
            notes.append("tools' energy unknown: no CPU power trace, or a tool call without its CPU time")
        if model_j is None and queries:
            notes.append("model energy unknown: no energy was attributed to its calls")
        energy_j = None if model_j is None or tools_j is None else model_j + tools_j
        outcome = ends[tid].outcome if tid in ends else "unknown"
        rows.append({
            "task_id": tid, "record_id": start.record_id or None, "source": start.source, "name": start.name or tid,
            "outcome": outcome,
            "solved": None if outcome == "unknown" else outcome == "solved",
            "turns": max([q.started.turn or 0 for q in queries] + [ends[tid].turns if tid in ends else 0]),
            "calls": len(queries), "prompt_tokens": sum(q.prompt_tokens or 0 for q in queries),
            "completion_tokens": sum(q.completion_tokens for q in queries if q.completed),
            "tool_calls": len(t_spans), "tool_cpu_s": cpu_s_total,
            "start_ns": start.t_ns, "end_ns": end_ns,
            "wall_s": wall_s, "model_s": model_s, "tool_s": tool_s, "overhead_s": wall_s - model_s - tool_s,
            "energy_j": finite(energy_j), "model_energy_j": finite(model_j), "tools_energy_j": finite(tools_j),
            "model_energy_provenance": attribution.provenance, "tools_energy_provenance":
                None if tools_j is None else ("derived" if not t_spans else f"derived from {cpu_source}"),
            "notes": notes,
        })
    return rows


def _cpu_curves(view: RunView, attribution: Any) -> tuple[list[Any], int, str | None]:
    curves = [attribution.curves[d][0] for d, info in sorted(attribution.devices.items())
              if info.device_type == "cpu" and info.in_total and d in attribution.curves]
    sources = sorted({attribution.devices[d].source for d, info in attribution.devices.items()
                      if info.device_type == "cpu" and info.in_total})
    cpus = int(view.host.get("cpu_count") or 1)
    return curves, max(cpus, 1), ",".join(sources) or None


def _tool_energy_j(curves: list[Any], host_cpus: int, start_ns: int, end_ns: int, cpu_s: float | None) -> float | None:
    if cpu_s is None:
        return None
    if end_ns <= start_ns or cpu_s == 0:
        return 0.0
    if not curves:
        return None
    import numpy as np

    cpu_j = sum(float(np.diff(c.energy_at(np.array([start_ns, end_ns])))[0]) for c in curves)
    share = min(1.0, cpu_s / ((end_ns - start_ns) / 1e9 * host_cpus))
    return max(0.0, cpu_j) * share


def tasks_overall(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate with its Wilson interval, joules per task and per solved task, IPW with tasks as the unit."""
    known = [r for r in rows if r["solved"] is not None]
    solved = [r for r in known if r["solved"]]
    low, high = wilson_interval(len(solved), len(known))
    energies = [r["energy_j"] for r in rows]
    total_j = None if not rows or any(e is None for e in energies) else float(sum(energies))
    wall_s = sum(r["wall_s"] for r in rows)
    rate = len(solved) / len(known) if known else None
    mean_power_w = total_j / wall_s if total_j is not None and wall_s > 0 else None
    return {
        "n_tasks": len(rows), "n_evaluated": len(known), "n_solved": len(solved),
        "success_rate": rate, "success_rate_ci": {"low": low, "high": high, "confidence": CONFIDENCE},
        "total_energy_j": finite(total_j),
        "joules_per_task": finite(total_j / len(rows)) if total_j is not None and rows else None,
        "joules_per_solved_task": finite(total_j / len(solved)) if total_j is not None and solved else None,
        "mean_power_w": finite(mean_power_w),
        "intelligence_per_watt": finite(rate / mean_power_w) if rate is not None and mean_power_w else None,
    }


class TasksProjection:
    """Per-task turns, tokens, tools, time and energy split, outcome; options: ``policy``, ``idle_baseline``, ``devices``."""

    analysis_id = "tasks"

    def compute(self, view: RunView, options: dict[str, Any]) -> dict[str, Any]:
        check_options(self.analysis_id, options, ENERGY_OPTIONS)
        attribution = per_query_energy(view, policy=options.get("policy", "active"),
                                       idle_baseline=options.get("idle_baseline", "none"),
                                       devices=options.get("devices"))
        rows = task_rows(view, attribution)
        return {
            "analysis": self.analysis_id,
            "tasks": rows,
            **tasks_overall(rows),
            "energy_provenance": attribution.provenance,
            "options": applied_options(self.analysis_id, ENERGY_OPTIONS, energy_options_applied(attribution, options)),
        }
