"""The study's one Pareto figure: accuracy against joules per query, Wilson error bars, labels kept apart.

``ipw study report`` saves it as ``accuracy_vs_energy.png`` and the HTML
study page embeds it; both draw it here from the study table. Labels are
placed by :func:`place_labels`: each label takes the first of a ring of
positions around its point whose box overlaps no label and no point already
there; a label that finds no free place is left out and the cell is named in
the leaderboard (the Pareto front's labels are placed first).
"""

from __future__ import annotations

from typing import Any

from ._plotting import new_figure, no_data
from .study_table import StudyTable

__all__ = ["pareto_figure", "place_labels", "overlaps"]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in display pixels
_RINGS = (6.0, 16.0, 30.0)  # pixels from the point
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(points: list[tuple[float, float]], sizes: list[tuple[float, float]], bounds: Box,
                 *, marker_px: float = 5.0, blocked: tuple[Box, ...] = ()) -> list[tuple[float, float] | None]:
    """The lower-left corner of each label's box (pixels), or None where it fits nowhere.

    Labels are placed in the order given; none overlaps another, a point's
    marker, a ``blocked`` box (the legend), or leaves ``bounds``.
    """
    taken: list[Box] = [(x - marker_px, y - marker_px, x + marker_px, y + marker_px) for x, y in points]
    taken.extend(blocked)
    out: list[tuple[float, float] | None] = []
    for (x, y), (w, h) in zip(points, sizes):
        spot = None
        for ring in _RINGS:
            for dx, dy in _DIRECTIONS:
                x0 = x + ring if dx > 0 else x - ring - w if dx < 0 else x - w / 2
                y0 = y + ring if dy > 0 else y - ring - h if dy < 0 else y - h / 2
                box = (x0, y0, x0 + w, y0 + h)
                inside = bounds[0] <= box[0] and box[2] <= bounds[2] and bounds[1] <= box[1] and box[3] <= bounds[3]
                if inside and not any(overlaps(box, t) for t in taken):
                    spot = (x0, y0)
                    break
            if spot is not None:
                break
        if spot is not None:
            taken.append((spot[0], spot[1], spot[0] + w, spot[1] + h))
        out.append(spot)
    return out


def pareto_figure(table: StudyTable, *, figsize: tuple[float, float] = (9, 5.5)) -> Any:
    """The figure (not saved): every cell with its Wilson 95 % bar, the front joined, labels that do not collide."""
    fig, axes = new_figure(figsize=figsize)
    ax = axes[0][0]
    rows = [r for r in table.rows if r.mean_energy_per_query_j is not None and r.accuracy is not None]
    ax.set_xlabel("Energy per query (J)")
    ax.set_ylabel("Accuracy (fraction, 95% Wilson interval)")
    ax.set_title("Accuracy vs energy per query (upper left is better)", fontsize=10)
    if not rows:
        no_data(ax, "no cell has both judged answers and a measured energy per query")
        return fig
    xs = [r.mean_energy_per_query_j for r in rows]
    ys = [r.accuracy for r in rows]
    low = [max(0.0, r.accuracy - (r.accuracy if r.accuracy_ci_low is None else r.accuracy_ci_low)) for r in rows]
    high = [max(0.0, (r.accuracy if r.accuracy_ci_high is None else r.accuracy_ci_high) - r.accuracy) for r in rows]
    ax.errorbar(xs, ys, yerr=[low, high], fmt="o", color="#4c72b0", ecolor="#9fb3d1", elinewidth=1.2, capsize=3,
                ms=5, label="cell (95% Wilson interval)", zorder=2)
    front = sorted((r.mean_energy_per_query_j, r.accuracy) for r in rows if r.on_pareto_front)
    if front:
        ax.plot([p[0] for p in front], [p[1] for p in front], "-s", color="#c44e52", ms=7, label="Pareto front",
                zorder=3)
    right = max(x for x in xs)  # type: ignore[type-var]
    ax.set_xlim(left=0, right=right * 1.15 if right > 0 else 1.0)
    ax.set_ylim(-0.05, 1.08)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _label_points(fig, ax, [r for r in rows if r.on_pareto_front] + [r for r in rows if not r.on_pareto_front])
    return fig


def _label_points(fig: Any, ax: Any, rows: list[Any]) -> None:
    fig.canvas.draw()  # lays the figure out, so data -> pixel positions are final
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    points = [tuple(to_px((r.mean_energy_per_query_j, r.accuracy))) for r in rows]
    texts = [ax.text(0, 0, r.cell, fontsize=7, ha="left", va="bottom") for r in rows]
    sizes = []
    for t in texts:
        extent = t.get_window_extent(renderer=renderer)
        sizes.append((extent.width + 2, extent.height + 2))
    legend = ax.get_legend().get_window_extent(renderer=renderer)
    bbox = ax.get_window_extent(renderer=renderer)
    spots = place_labels(points, sizes, (bbox.x0, bbox.y0, bbox.x1, bbox.y1), marker_px=5.0,
                         blocked=((legend.x0, legend.y0, legend.x1, legend.y1),))
    to_data = ax.transData.inverted().transform
    for t, spot in zip(texts, spots):
        if spot is None:
            t.remove()
            continue
        # kept in data coordinates, so the label moves with its point when the PNG is saved at another dpi
        t.set_position(tuple(to_data((spot[0] + 1, spot[1] + 1))))
        t.set_in_layout(False)
