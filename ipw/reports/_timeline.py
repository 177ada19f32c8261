"""The power timeline: watts per device over the run, with the queries beneath.

Time is seconds since the run started. A device that reports only a
cumulative energy counter is drawn as the counter's derivative. Stretches
where samples stopped arriving, or the energy monitor was reported lost, are
hatched as monitoring gaps and the line is broken across them; other status
changes of the monitor are marked as dashed lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..replay.engine import PowerTrace, RunView
from ._metrics import file_stem, run_labels
from ._plotting import new_figure, no_data, require_views, save

__all__ = ["power_timeline", "power_series", "plotted_power", "monitoring_gaps", "telemetry_lost", "query_lanes",
           "run_origin_ns"]

_MAX_POINTS = 10_000  # points drawn per device; longer traces are averaged into bins
_QUIET_STATUSES = {"connected", "started", "ok", "healthy", "stopped", "restored", "reconnected"}


def power_series(trace: PowerTrace) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(t_ns, power_w, how) from a trace's power readings, else from its energy counter.

    A counter that goes backwards (a reset or wrap not already unwrapped) gives
    no reading for that interval rather than a negative power.
    """
    power = trace.power_w
    finite = np.isfinite(power)
    if finite.any():
        return trace.t_ns[finite], power[finite], trace.source
    counter = np.isfinite(trace.energy_j)
    t, e = trace.t_ns[counter], trace.energy_j[counter]
    if len(t) < 2:
        return None
    dt_s = np.diff(t) / 1e9
    de_j = np.diff(e)
    ok = (dt_s > 0) & (de_j >= 0)
    if not ok.any():
        return None
    mid = (t[:-1] + t[1:]) // 2
    return mid[ok], de_j[ok] / dt_s[ok], f"{trace.source}, derivative of the energy counter"


def monitoring_gaps(t_ns: np.ndarray, *, min_gap_s: float = 0.25, factor: float = 5.0) -> list[tuple[int, int]]:
    """Intervals between consecutive samples longer than ``factor`` × the median spacing (and ``min_gap_s``)."""
    if len(t_ns) < 3:
        return []
    dt = np.diff(t_ns)
    threshold = max(factor * float(np.median(dt)), min_gap_s * 1e9)
    idx = np.nonzero(dt > threshold)[0]
    return [(int(t_ns[i]), int(t_ns[i + 1])) for i in idx]


def telemetry_lost(view: RunView) -> list[tuple[int, int]]:
    """Intervals from each ``telemetry_status`` "lost" to the next status (or the last event of the run)."""
    events = sorted(view.telemetry, key=lambda t: t.t_ns)
    run_end = max([f.t_ns for f in view.runs_finished] + [q.end_ns or 0 for q in view.queries.values()] + [0])
    out = []
    for i, status in enumerate(events):
        if status.status.lower() == "lost":
            end = events[i + 1].t_ns if i + 1 < len(events) else max(run_end, status.t_ns)
            out.append((status.t_ns, end))
    return out


def _binned(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(t) <= _MAX_POINTS:
        return t, p
    edges = np.linspace(t[0], t[-1], _MAX_POINTS + 1)
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, _MAX_POINTS - 1)
    counts = np.bincount(which, minlength=_MAX_POINTS)
    sums = np.bincount(which, weights=p, minlength=_MAX_POINTS)
    keep = counts > 0
    centres = (edges[:-1] + edges[1:]) / 2
    return centres[keep], sums[keep] / counts[keep]


def _broken_at_gaps(t_s: np.ndarray, p: np.ndarray, gaps_s: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN before the first point after each gap so the line is not drawn across it."""
    if not gaps_s or len(t_s) < 2:
        return t_s, p
    ends = np.array([g1 for _g0, g1 in gaps_s])
    at = np.unique(np.searchsorted(t_s, ends, side="left"))
    at = at[(at > 0) & (at < len(t_s))]
    if not len(at):
        return t_s, p
    mids = (t_s[at - 1] + t_s[at]) / 2
    return np.insert(t_s, at, mids), np.insert(p.astype(np.float64), at, np.nan)


def plotted_power(trace: PowerTrace, t0_ns: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """A trace as drawn: (seconds since ``t0_ns``, watts, how), binned to at most 10,000 points, NaN-broken at gaps."""
    series = power_series(trace)
    if series is None:
        return None
    t, p, how = series
    gaps_s = [((g0 - t0_ns) / 1e9, (g1 - t0_ns) / 1e9) for g0, g1 in monitoring_gaps(t)]
    tb, pb = _broken_at_gaps(*_binned((t - t0_ns) / 1e9, p), gaps_s)
    return tb, pb, how


def query_lanes(spans: list[tuple[int, int]]) -> list[int]:
    """A lane for each [start, end] span so that spans in one lane never overlap (first fit)."""
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    lane_end: list[int] = []
    lanes = [0] * len(spans)
    for i in order:
        start, end = spans[i]
        for lane, last in enumerate(lane_end):
            if last <= start:
                lane_end[lane] = end
                lanes[i] = lane
                break
        else:
            lanes[i] = len(lane_end)
            lane_end.append(end)
    return lanes


def _query_spans(view: RunView) -> list[tuple[int, int, str]]:
    """(start, end, kind) per query that started; kind: measured / warmup / failed / unfinished."""
    last_t = max([q.end_ns or 0 for q in view.queries.values()] + [f.t_ns for f in view.runs_finished] + [0])
    out = []
    for _, q in sorted(view.queries.items()):
        if q.start_ns is None:
            continue
        if q.end_ns is not None:
            out.append((q.start_ns, q.end_ns, "warmup" if q.warmup else "measured"))
        elif q.failures:
            out.append((q.start_ns, max(q.failures[-1].t_ns, q.start_ns), "failed"))
        else:
            out.append((q.start_ns, max(last_t, q.start_ns), "unfinished"))
    return out


_SPAN_COLOURS = {"measured": "#3a78c2", "warmup": "#9a9a9a", "failed": "#d0443e", "unfinished": "#e8a33c"}


def run_origin_ns(view: RunView) -> int:
    """Time zero of a run's timelines: its start, else its first sample or query."""
    if view.runs_started:
        return view.runs_started[0].t_ns
    starts = [int(tr.t_ns[0]) for tr in view.power.values() if len(tr.t_ns)]
    starts += [q.start_ns for q in view.queries.values() if q.start_ns is not None]
    return min(starts) if starts else 0


def _draw_timeline(view: RunView, label: str, path: Path) -> Path:
    devices = sorted(view.power)
    spans = _query_spans(view)
    n_rows = max(len(devices), 1) + 1
    fig, axes = new_figure(n_rows, 1, figsize=(12, 2.4 * (n_rows - 1) + 2.2), sharex=True,
                           gridspec_kw={"height_ratios": [3] * (n_rows - 1) + [2]})
    t0 = run_origin_ns(view)
    lane_ax = axes[-1][0]
    marks = [(t.t_ns, t.status) for t in view.telemetry if t.status.lower() not in _QUIET_STATUSES]
    lost = telemetry_lost(view)
    if not devices:
        no_data(axes[0][0], "no power samples in this run (captured with --energy none, or nothing could be measured)",
                shared_x=True)
    for row, device in enumerate(devices):
        ax = axes[row][0]
        trace = view.power[device]
        seen = view.devices.get(device)
        title = f"{device}" + (f" — {seen.name}" if seen is not None and seen.name else "")
        series = plotted_power(trace, t0)
        if series is None:
            no_data(ax, f"{device}: no power readings and fewer than two energy-counter readings", shared_x=True)
            ax.set_title(title, fontsize=9, loc="left")
            continue
        tb, pb, how = series
        if spans:
            # one collection spanning the axis height (x in data, y in axes units): cheap for thousands of queries
            ax.broken_barh([((s - t0) / 1e9, (e - s) / 1e9) for s, e, _ in spans], (0, 1),
                           transform=ax.get_xaxis_transform(), facecolors=_SPAN_COLOURS["measured"], alpha=0.08,
                           linewidth=0, label="query in flight")
        ax.plot(tb, pb, color="#1b1b1b", linewidth=1.0, label=f"power ({how})")
        for k, (g0, g1) in enumerate(monitoring_gaps(trace.t_ns) + lost):
            ax.axvspan((g0 - t0) / 1e9, (g1 - t0) / 1e9, facecolor="none", edgecolor="#d0443e", hatch="///",
                       linewidth=0.8, label="monitoring gap" if k == 0 else None)
        for k, (t_mark, status) in enumerate(marks):
            ax.axvline((t_mark - t0) / 1e9, color="#d0443e", linestyle="--", linewidth=0.9,
                       label="energy monitor status change" if k == 0 else None)
        ax.set_ylabel("Power (W)")
        top = float(np.nanmax(pb)) if np.isfinite(pb).any() else 1.0
        ax.set_ylim(bottom=min(0.0, float(np.nanmin(pb))), top=max(top * 1.15, 1e-3))
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    if spans:
        lanes = query_lanes([(s, e) for s, e, _ in spans])
        by_lane: dict[tuple[int, str], list[tuple[float, float]]] = {}
        for (start, end, kind), lane in zip(spans, lanes):
            by_lane.setdefault((lane, kind), []).append(((start - t0) / 1e9, max((end - start) / 1e9, 1e-6)))
        labelled = set()
        for (lane, kind), bars in sorted(by_lane.items()):
            lane_ax.broken_barh(bars, (lane + 0.1, 0.8), facecolors=_SPAN_COLOURS[kind],
                                label=kind if kind not in labelled else None)
            labelled.add(kind)
        n_lanes = max(lanes) + 1
        lane_ax.set_ylim(0, n_lanes)
        if n_lanes <= 16:
            lane_ax.set_yticks([k + 0.5 for k in range(n_lanes)], [str(k + 1) for k in range(n_lanes)])
        else:
            from matplotlib.ticker import MaxNLocator

            lane_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        lane_ax.set_ylabel("Queries in flight (lane)")
        lane_ax.legend(fontsize=7, loc="upper right", ncol=len(labelled))
        lane_ax.grid(True, axis="x", alpha=0.3)
    else:
        no_data(lane_ax, "no queries started in this run", shared_x=True)
    lane_ax.set_xlabel("Time since run start (s)")
    fig.suptitle(f"Power timeline — {label}")
    return save(fig, path)


def power_timeline(views: list[RunView], output_dir: Path, options: dict[str, Any]) -> list[Path]:
    """One PNG per run: power per device over time, queries in flight shaded and laid out in lanes."""
    require_views(views, "power-timeline")
    labels = run_labels(views)
    output_dir = Path(output_dir)
    if len(views) == 1:
        return [_draw_timeline(views[0], labels[0], output_dir / "power-timeline.png")]
    return [
        _draw_timeline(view, label, output_dir / f"power-timeline-{file_stem(label)}.png")
        for view, label in zip(views, labels)
    ]
