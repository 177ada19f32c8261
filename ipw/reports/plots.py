"""The visualizations: PNGs drawn from projections over one or more runs.

Every function here has the registry's visualization signature
``fn(views, output_dir, options) -> list[Path]`` and draws a "no data" panel,
saying why, where a run lacks what the plot needs (no energy, no tokens, too
few points for a fit) instead of failing.

Options understood (``ipw plot --option k=v``): ``policy``, ``idle_baseline``
and ``devices`` (energy attribution), ``judge`` (accuracy-energy),
``bandwidth`` (output-kde, in tokens).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ..analyses.regression import fit_ols
from ..errors import BackendMissingError, UsageError
from ..replay.engine import RunView
from ._metrics import QueryRow, energy_by_query, energy_note, judged, query_rows, run_labels
from ._plotting import new_figure, no_data, require_views, save
from ._timeline import power_timeline
from .study_stats import wilson_interval

__all__ = [
    "OPTIONS",
    "regression",
    "output_kde",
    "power_timeline",
    "accuracy_energy",
    "gaussian_kde_curve",
    "kde_bandwidth",
]

OPTIONS = ("policy", "idle_baseline", "devices", "judge", "bandwidth")  # every option some visualization reads

_Y = (("energy_j", "Energy per query (J)", "J"), ("e2e_s", "End-to-end latency (s)", "s"))
_X = (("completion_tokens", "Completion tokens per query"), ("total_tokens", "Prompt + completion tokens per query"))


def regression(views: list[RunView], output_dir: Path, options: dict[str, Any]) -> list[Path]:
    """Energy and latency against tokens, each run with its OLS fit and 95 % confidence band."""
    require_views(views, "regression")
    labels = run_labels(views)
    rows = [query_rows(v, energy_options=options, with_verdicts=False) for v in views]
    fig, axes = new_figure(2, 2, figsize=(12, 9))
    for i, (y_key, y_title, y_unit) in enumerate(_Y):
        for j, (x_key, x_title) in enumerate(_X):
            ax = axes[i][j]
            drawn = 0
            for k, (label, run_rows) in enumerate(zip(labels, rows)):
                drawn += _regression_series(ax, run_rows, x_key, y_key, y_unit, label, f"C{k % 10}")
            if drawn == 0:
                no_data(ax, _why_empty(views, rows, x_key, y_key))
            else:
                ax.set_xlabel(x_title)
                ax.set_ylabel(y_title)
                ax.grid(True, alpha=0.3)
                ax.legend(fontsize=7, loc="best")
            ax.set_title(f"{y_title.split(' (')[0]} vs {x_title.split(' per')[0].lower()}")
    fig.suptitle("Per-query energy and latency against tokens (OLS fit, shaded 95% confidence band)")
    return [save(fig, Path(output_dir) / "regression.png")]


def _regression_series(ax: Any, rows: list[QueryRow], x_key: str, y_key: str, y_unit: str, label: str, color: str) -> int:
    pts = [(getattr(r, x_key), getattr(r, y_key)) for r in rows]
    pts = [(float(x), float(y)) for x, y in pts if x is not None and y is not None and math.isfinite(y)]
    if not pts:
        return 0
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    ax.scatter(x, y, s=14, alpha=0.6, color=color, edgecolors="none", label=f"{label} (n={len(x)})")
    fit = fit_ols(x, y, np.linspace(x.min(), x.max(), 100))
    band = fit.get("band")
    if band is not None:
        r2 = "n/a" if fit["r2"] is None else f"{fit['r2']:.2f}"
        ax.plot(band["x"], band["mean"], color=color, linewidth=1.6,
                label=f"fit: {fit['slope']:.3g} {y_unit}/token, R²={r2}")
        ax.fill_between(band["x"], band["low"], band["high"], color=color, alpha=0.2, linewidth=0)
    else:
        ax.plot([], [], " ", label="too few distinct points for a fit")
    return len(x)


def _why_empty(views: list[RunView], rows: list[list[QueryRow]], x_key: str, y_key: str) -> str:
    if not any(rows):
        return "no completed measured queries in " + ("this run" if len(views) == 1 else "these runs")
    if y_key == "energy_j" and not any(r.energy_j is not None for run in rows for r in run):
        return energy_note(views[0]) if len(views) == 1 else "none of these runs has energy measurements"
    if x_key == "total_tokens":
        return "the service did not report prompt token counts"
    return "no query has both values"


def kde_bandwidth(values: np.ndarray) -> float:
    """Silverman's rule of thumb (statsmodels'); a sample with no spread gets 5 % of its value (at least one token)."""
    values = np.asarray(values, dtype=np.float64)
    h = float(_statsmodels().nonparametric.bandwidths.bw_silverman(values)) if len(values) > 1 else 0.0
    return h if h > 0 else max(1.0, 0.05 * abs(float(values.mean())))


def gaussian_kde_curve(values: np.ndarray, grid: np.ndarray, bandwidth: float | None = None) -> np.ndarray:
    """Gaussian kernel density of ``values`` on ``grid`` (bandwidth: :func:`kde_bandwidth` by default).

    statsmodels' KDEUnivariate on an FFT grid fine enough for the bandwidth,
    read off at ``grid``; the density is zero past eight bandwidths.
    """
    values = np.asarray(values, dtype=np.float64)
    h = kde_bandwidth(values) if bandwidth is None else float(bandwidth)
    cut = 8.0
    cells = (float(np.ptp(values)) + 2 * cut * h) / (h / 4)  # a quarter bandwidth apart at the coarsest
    kde = _statsmodels().nonparametric.KDEUnivariate(values)
    kde.fit(kernel="gau", bw=h, fft=True, cut=cut, gridsize=int(min(2**20, max(2**10, cells))))
    return np.interp(np.asarray(grid, dtype=np.float64), kde.support, kde.density, left=0.0, right=0.0)


def _statsmodels() -> Any:
    try:
        import statsmodels.api as sm
    except ImportError as exc:
        raise BackendMissingError("kernel density plots", "analysis", module="statsmodels") from exc
    return sm


def output_kde(views: list[RunView], output_dir: Path, options: dict[str, Any]) -> list[Path]:
    """Kernel density of output (completion) tokens per query, with a rug of the queries."""
    require_views(views, "output-kde")
    bandwidth = options.get("bandwidth")
    if bandwidth is not None and (not isinstance(bandwidth, (int, float)) or bandwidth <= 0):
        raise UsageError(f"bandwidth must be a positive number of tokens, got {bandwidth!r}", hint="e.g. --option bandwidth=8")
    labels = run_labels(views)
    samples = [np.array([q.completion_tokens for q in v.measured_queries()], dtype=np.float64) for v in views]
    fig, axes = new_figure(figsize=(9, 5))
    ax = axes[0][0]
    present = [(label, s, f"C{k % 10}") for k, (label, s) in enumerate(zip(labels, samples)) if len(s)]
    if not present:
        no_data(ax, "no completed measured queries, so no output tokens to count")
    else:
        widths = [float(bandwidth) if bandwidth else kde_bandwidth(s) for _, s, _ in present]
        lo = min(float(s.min()) for _, s, _ in present) - 3 * max(widths)
        hi = max(float(s.max()) for _, s, _ in present) + 3 * max(widths)
        grid = np.linspace(max(0.0, lo), hi, 512)
        curves = [(label, s, color, grid, gaussian_kde_curve(s, grid, h), h)
                  for (label, s, color), h in zip(present, widths)]
        peak = max(float(c[4].max()) for c in curves)
        for lane, (label, s, color, grid, density, h) in enumerate(curves):
            ax.plot(grid, density, color=color, linewidth=1.8,
                    label=f"{label}: n={len(s)}, median {np.median(s):.0f}, bandwidth {h:.3g}")
            ax.fill_between(grid, density, color=color, alpha=0.15, linewidth=0)
            rug_y = -peak * (0.04 + 0.05 * lane)
            ax.plot(s, np.full(len(s), rug_y), "|", color=color, markersize=9, alpha=0.7)
        ax.set_ylim(bottom=-peak * (0.06 + 0.05 * len(curves)), top=peak * 1.15)
        ax.axhline(0, color="#888888", linewidth=0.6)
        ax.set_xlabel("Output tokens per query")
        ax.set_ylabel("Density (1/token)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    ax.set_title("Distribution of output tokens per query (Gaussian KDE, rug = queries)")
    return [save(fig, Path(output_dir) / "output-kde.png")]


def accuracy_energy(views: list[RunView], output_dir: Path, options: dict[str, Any]) -> list[Path]:
    """Accuracy against mean energy per query, one point per run, with 95 % error bars.

    Accuracy bars are Wilson intervals; energy bars are ±1.96 standard errors of the mean.
    """
    require_views(views, "accuracy-energy")
    labels = run_labels(views)
    judge = options.get("judge")
    points, skipped = [], []
    judges = set()
    for label, view in zip(labels, views):
        chosen, _per_query, counts = judged(view, judge)
        correct, incorrect = int(counts.get("correct") or 0), int(counts.get("incorrect") or 0)
        energy = energy_by_query(view, options)
        measured = {q.query_id for q in view.measured_queries()}
        joules = np.array([j for qid, j in (energy or {}).items() if qid in measured], dtype=np.float64)
        if correct + incorrect == 0:
            skipped.append(f"{label}: no judged answers")
            continue
        if len(joules) == 0:
            skipped.append(f"{label}: no energy per query ({energy_note(view)})")
            continue
        judges.add(chosen)
        accuracy = correct / (correct + incorrect)
        low, high = wilson_interval(correct, correct + incorrect)
        low, high = accuracy if low is None else low, accuracy if high is None else high
        se = float(joules.std(ddof=1) / math.sqrt(len(joules))) if len(joules) > 1 else 0.0
        points.append((label, float(joules.mean()), 1.96 * se, accuracy, accuracy - low, high - accuracy))
    fig, axes = new_figure(figsize=(9, 6))
    ax = axes[0][0]
    # labelled even when empty: a reader (and the page's label check) sees what the axes would hold
    ax.set_xlabel("Mean energy per query (J)")
    if not points:
        no_data(ax, "no run has both judged answers and energy per query")
        ax.set_ylabel("Accuracy (share of judged answers)")
    else:
        for k, (label, mean_j, err_j, acc, lo, hi) in enumerate(points):
            color = f"C{k % 10}"
            ax.errorbar([mean_j], [acc], xerr=[[err_j], [err_j]], yerr=[[lo], [hi]], fmt="o", color=color,
                        markersize=7, capsize=4, label=f"{label}: {acc:.1%} at {mean_j:.3g} J")
            ax.annotate(label, (mean_j, acc), textcoords="offset points", xytext=(6, 6 if k % 2 == 0 else -14),
                        fontsize=8, color=color)
        xs = [p[1] + p[2] for p in points]
        ax.set_xlim(left=0, right=max(xs) * 1.25 if max(xs) > 0 else 1.0)
        ax.set_ylim(-0.02, 1.05)
        judge_text = ", ".join(sorted(j for j in judges if j)) or "none"
        ax.set_ylabel(f"Accuracy (judge: {judge_text})")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    if skipped:
        ax.text(0.01, 0.99, textwrap.fill("not plotted: " + "; ".join(skipped), width=110), transform=ax.transAxes,
                fontsize=7, color="#aa3333", ha="left", va="top",
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    ax.set_title("Accuracy vs energy per query across runs (95% intervals)")
    return [save(fig, Path(output_dir) / "accuracy-energy.png")]
