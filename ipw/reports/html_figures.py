"""Figures for the HTML report, as PNG bytes.

The power timeline and accuracy-vs-energy figures are the registry's
visualizations (:mod:`ipw.reports.plots`) drawn into a scratch folder; the
latency histograms, the diff page's overlays (both runs' latency
distributions on shared axes, both runs' power over time since their start),
the Pareto figure (:mod:`ipw.reports.pareto_plot`) and an agent run's task
timeline (:mod:`ipw.reports._task_timeline`) plot numbers the
projections already computed. Nothing here computes a new measurement.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..replay.engine import RunView
from ._metrics import QueryRow
from ._plotting import new_figure, no_data, png_metadata
from ._timeline import power_series
from .pareto_plot import pareto_figure
from .study_table import StudyTable

__all__ = ["visualization_png", "latency_png", "latency_overlay_png", "power_overlay_png", "pareto_png",
           "task_timeline_png"]

_REPORT_DPI = 100  # an emailed report stays small; the PNGs of 'ipw plot' keep their 150 dpi


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=_REPORT_DPI, format="png", facecolor="white", metadata=png_metadata(fig))
    return buffer.getvalue()


def visualization_png(draw: Callable[[list[RunView], Path, dict[str, Any]], list[Path]], views: list[RunView],
                      options: dict[str, Any]) -> list[bytes]:
    """A registry visualization's PNGs, drawn into a scratch folder and read back."""
    with tempfile.TemporaryDirectory(prefix="ipw-report-") as scratch:
        return [Path(p).read_bytes() for p in draw(views, Path(scratch), options)]


def latency_png(rows: list[QueryRow]) -> bytes:
    """Histograms of time to first token and end-to-end latency over the measured queries."""
    fig, axes = new_figure(1, 2, figsize=(10, 3.4))
    for ax, (key, title) in zip(axes[0], (("ttft_s", "Time to first token (s)"), ("e2e_s", "End-to-end latency (s)"))):
        values = np.array([getattr(r, key) for r in rows if getattr(r, key) is not None], dtype=np.float64)
        if len(values) == 0:
            no_data(ax, "no completed measured queries with this latency")
        else:
            ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#3d63b8", alpha=0.85)
            for q, style in ((50, "-"), (90, "--")):
                ax.axvline(float(np.percentile(values, q)), color="#b03030", linestyle=style, linewidth=1,
                           label=f"p{q}")
            ax.set_ylabel("Queries (count)")
            ax.legend(fontsize=8)
            ax.grid(True, alpha=0.3)
        ax.set_xlabel(title)
    fig.suptitle(f"Latency distributions ({len(rows)} measured queries)")
    return _png(fig)


def latency_overlay_png(labels: tuple[str, str], rows: tuple[list[QueryRow], list[QueryRow]]) -> bytes:
    """Both runs' TTFT and end-to-end latency distributions on shared bins, one colour per run."""
    fig, axes = new_figure(1, 2, figsize=(10, 3.6))
    for ax, (key, title) in zip(axes[0], (("ttft_s", "Time to first token (s)"), ("e2e_s", "End-to-end latency (s)"))):
        samples = [np.array([getattr(r, key) for r in run if getattr(r, key) is not None], dtype=np.float64)
                   for run in rows]
        if not any(len(v) for v in samples):
            no_data(ax, "no completed measured queries with this latency in either run")
        else:
            both = np.concatenate([v for v in samples if len(v)])
            bins = np.histogram_bin_edges(both, bins=min(30, max(6, len(both) // 3)))
            for k, (label, values) in enumerate(zip(labels, samples)):
                if len(values):
                    ax.hist(values, bins=bins, color=f"C{k}", alpha=0.5, label=f"{label} (median {np.median(values):.3g} s)")
            ax.set_ylabel("Queries (count)")
            ax.legend(fontsize=8)
            ax.grid(True, alpha=0.3)
        ax.set_xlabel(title)
    fig.suptitle("Latency distributions, A and B overlaid")
    return _png(fig)


def power_overlay_png(labels: tuple[str, str], views: tuple[RunView, RunView]) -> bytes:
    """Both runs' power per device over the seconds since each run's first sample, on one axes."""
    fig, axes = new_figure(figsize=(10, 3.8))
    ax = axes[0][0]
    drawn = 0
    for k, (label, view) in enumerate(zip(labels, views)):
        series = [(device, power_series(trace)) for device, trace in sorted(view.power.items())]
        series = [(device, s) for device, s in series if s is not None and len(s[0])]
        if not series:
            continue
        origin = min(int(s[0][0]) for _, s in series)
        for j, (device, (t_ns, power_w, _how)) in enumerate(series):
            ax.plot((t_ns - origin) / 1e9, power_w, color=f"C{k}", linestyle=("-", "--", ":", "-.")[j % 4],
                    linewidth=1.3, label=f"{label}: {device}")
            drawn += 1
    if drawn == 0:
        no_data(ax, "neither run recorded power")
    else:
        ax.set_ylabel("Power (W)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("Time since the run's first power sample (s)")
    ax.set_title("Power timelines, A and B overlaid", fontsize=10)
    return _png(fig)


def task_timeline_png(view: RunView, rows: list[dict[str, Any]], label: str) -> bytes:
    """An agent run's task timeline (:mod:`ipw.reports._task_timeline`) as PNG bytes."""
    from ._task_timeline import task_timeline_figure

    return _png(task_timeline_figure(view, rows, label))


def pareto_png(table: StudyTable) -> bytes:
    """The study's Pareto figure (:func:`ipw.reports.pareto_plot.pareto_figure`) as PNG bytes."""
    return _png(pareto_figure(table))
