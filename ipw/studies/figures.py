"""The study report's figures: accuracy vs joules per query (:mod:`ipw.reports.pareto_plot`), and IPW vs each axis.

PNGs are written with fixed metadata (no software version, no date), so a
rebuilt report is byte-identical.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from ..reports._plotting import DPI, new_figure, no_data, png_metadata
from ..reports.labels import param_label
from ..reports.pareto_plot import pareto_figure
from ..reports.study_table import StudyTable

__all__ = ["write_figures"]


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:  # not durable: a figure is drawn again from the study table
        fig.savefig(tmp, dpi=DPI, format="png", facecolor="white", metadata=png_metadata(fig))
    return path


def _ipw_vs_axis(table: StudyTable, axis: str, path: Path) -> Path:
    fig, axes = new_figure(figsize=(6.4, 4.0))
    ax = axes[0][0]
    rows = [r for r in table.rows if r.intelligence_per_watt is not None]
    if not rows:
        no_data(ax, "no cell has an intelligence per watt (accuracy and measured energy)")
    else:
        values = sorted({_key(r.params.get(axis)) for r in rows})
        numeric = all(isinstance(v[1], (int, float)) and not isinstance(v[1], bool) for v in values)
        position = {v: (v[1] if numeric else i) for i, v in enumerate(values)}
        xs = [position[_key(r.params.get(axis))] for r in rows]
        ax.scatter(xs, [r.intelligence_per_watt for r in rows], s=14, color="#4c72b0")
        if not numeric:
            ax.set_xticks(list(range(len(values))), [str(v[1]) for v in values], rotation=30, fontsize=8)
    ax.set_xlabel(param_label(axis))
    ax.set_ylabel("Intelligence per watt (1/W)")
    ax.set_title(f"Intelligence per watt vs {param_label(axis).lower()}", fontsize=10)
    return _save(fig, path)


def _key(value: Any) -> tuple[str, Any]:
    # sortable across types: numbers before text, each in its own order
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("0", value)
    return ("1", str(value))


def write_figures(table: StudyTable, out_dir: Path) -> list[Path]:
    paths = [_save(pareto_figure(table, figsize=(6.4, 4.4)), out_dir / "accuracy_vs_energy.png")]
    for axis in table.axes:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", axis)
        paths.append(_ipw_vs_axis(table, axis, out_dir / f"ipw_vs_{stem}.png"))
    return paths
