"""Figures for the HTML report, as PNG bytes.

The power timeline and accuracy-vs-energy figures are the registry's
visualizations (:mod:`ipw.reports.plots`) drawn into a scratch folder; the
latency histograms and the Pareto figure plot numbers the projections already
computed (query rows, summaries). Nothing here computes a new measurement.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..replay.engine import RunView
from ._metrics import QueryRow
from ._plotting import new_figure, no_data

__all__ = ["visualization_png", "latency_png", "pareto_front", "pareto_png"]

_REPORT_DPI = 100  # an emailed report stays small; the PNGs of 'ipw plot' keep their 150 dpi


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=_REPORT_DPI, format="png", facecolor="white")
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
            ax.set_ylabel("queries")
            ax.legend(fontsize=8)
            ax.grid(True, alpha=0.3)
        ax.set_xlabel(title)
    fig.suptitle(f"Latency distributions ({len(rows)} measured queries)")
    return _png(fig)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: no less accurate at fewer joules. Points are (joules, accuracy)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return sorted(front)


def pareto_png(labels: list[str], points: list[tuple[float, float]], front: list[int]) -> bytes:
    """Accuracy against joules per query, one point per cell, the Pareto front joined and marked."""
    fig, axes = new_figure(figsize=(9, 5.5))
    ax = axes[0][0]
    if not points:
        no_data(ax, "no cell has both judged answers and energy per query")
    else:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.scatter(xs, ys, color="#8a90a0", s=30, label="cells", zorder=2)
        fx = [points[i][0] for i in front]
        fy = [points[i][1] for i in front]
        ax.plot(fx, fy, "-o", color="#b03030", markersize=8, label="Pareto front", zorder=3)
        for i, label in enumerate(labels):
            ax.annotate(label, points[i], textcoords="offset points", xytext=(5, 5), fontsize=7)
        ax.set_xlabel("Mean energy per query (J)")
        ax.set_ylabel("Accuracy")
        ax.set_ylim(-0.02, 1.05)
        ax.set_xlim(left=0, right=max(xs) * 1.2 if max(xs) > 0 else 1.0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Accuracy vs joules per query (upper left is better)")
    return _png(fig)

