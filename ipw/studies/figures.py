"""The study report's figures: accuracy vs joules per query (Pareto front marked), and IPW vs each axis.

PNGs are written with fixed metadata (no software version, no date), so a
rebuilt report is byte-identical.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..reports._plotting import DPI, new_figure, no_data

__all__ = ["write_figures"]

_METADATA = {"Software": None}


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=DPI, format="png", facecolor="white", metadata=_METADATA)
    tmp.replace(path)
    return path


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _accuracy_vs_energy(report: dict[str, Any], path: Path) -> Path:
    fig, axes = new_figure(figsize=(6.4, 4.4))
    ax = axes[0][0]
    rows = [r for r in report["rows"] if r["energy_j_per_query"] is not None and r["accuracy"] is not None]
    if not rows:
        no_data(ax, "no cell has both an accuracy and a measured energy per query")
    else:
        front = set(report["pareto_front"])
        xs = [r["energy_j_per_query"] for r in rows]
        ys = [r["accuracy"] for r in rows]
        low = [max(0.0, r["accuracy"] - _or(r["accuracy_ci_low"], r["accuracy"])) for r in rows]
        high = [max(0.0, _or(r["accuracy_ci_high"], r["accuracy"]) - r["accuracy"]) for r in rows]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o", color="#4c72b0", ecolor="#9fb3d1", ms=4, label="cell (95 % Wilson)")
        pts = sorted((r["energy_j_per_query"], r["accuracy"]) for r in rows if r["cell"] in front)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-s", color="#c44e52", ms=6, label="Pareto front")
        if len(rows) <= 30:
            for r in rows:
                ax.annotate(r["cell"], (r["energy_j_per_query"], r["accuracy"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        ax.legend(fontsize=8)
    ax.set_xlabel("energy per query (J)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"study {report.get('study')}: accuracy vs energy per query", fontsize=10)
    return _save(fig, path)


def _ipw_vs_axis(report: dict[str, Any], axis: str, path: Path) -> Path:
    fig, axes = new_figure(figsize=(6.4, 4.0))
    ax = axes[0][0]
    rows = [r for r in report["rows"] if r["intelligence_per_watt"] is not None]
    if not rows:
        no_data(ax, "no cell has an intelligence per watt (accuracy and measured energy)")
    else:
        values = sorted({_key(r.get(axis)) for r in rows})
        numeric = all(isinstance(v[1], (int, float)) and not isinstance(v[1], bool) for v in values)
        position = {v: (v[1] if numeric else i) for i, v in enumerate(values)}
        xs = [position[_key(r.get(axis))] for r in rows]
        ax.scatter(xs, [r["intelligence_per_watt"] for r in rows], s=14, color="#4c72b0")
        if not numeric:
            ax.set_xticks(list(range(len(values))), [str(v[1]) for v in values], rotation=30, fontsize=8)
    ax.set_xlabel(axis)
    ax.set_ylabel("intelligence per watt (1/W)")
    ax.set_title(f"IPW vs {axis}", fontsize=10)
    return _save(fig, path)


def _key(value: Any) -> tuple[str, Any]:
    # sortable across types: numbers before text, each in its own order
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("0", value)
    return ("1", str(value))


def write_figures(report: dict[str, Any], out_dir: Path) -> list[Path]:
    paths = [_accuracy_vs_energy(report, out_dir / "accuracy_vs_energy.png")]
    for axis in report["axes"]:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", axis)
        paths.append(_ipw_vs_axis(report, axis, out_dir / f"ipw_vs_{stem}.png"))
    return paths
