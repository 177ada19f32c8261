"""The Pareto figure: Wilson error bars drawn, and no two cell labels on top of each other however crowded."""

from __future__ import annotations

import pytest

from ipw.reports._plotting import axis_labels_of
from ipw.reports.html_figures import pareto_png
from ipw.reports.pareto_plot import overlaps, pareto_figure, place_labels
from ipw.reports.study_stats import wilson_interval
from ipw.reports.study_table import CellRow, StudyTable, with_front

pytest.importorskip("matplotlib")


def _crowded(n: int) -> StudyTable:
    rows = []
    for i in range(n):
        correct = 3 + i % 4
        low, high = wilson_interval(correct, 10)
        rows.append(CellRow(cell=f"cell-with-a-long-name-{i}", accuracy=correct / 10, accuracy_ci_low=low,
                            accuracy_ci_high=high, mean_energy_per_query_j=50.0 + 0.4 * i))
    return StudyTable("crowded", [], with_front(rows))


def test_placed_labels_never_overlap_each_other_or_a_point() -> None:
    points = [(100.0 + 3 * i, 100.0 + (i % 3)) for i in range(40)]  # forty points in a 120 × 3 px strip
    sizes = [(60.0, 10.0)] * len(points)
    spots = place_labels(points, sizes, (0.0, 0.0, 400.0, 300.0), marker_px=4.0)
    boxes = [(x, y, x + w, y + h) for s, (w, h) in zip(spots, sizes) if s is not None for x, y in [s]]
    assert 3 <= len(boxes) < len(points)  # some find a place, the rest are left out rather than stacked
    for i, a in enumerate(boxes):
        assert not any(overlaps(a, b) for b in boxes[i + 1:])
        assert not any(overlaps(a, (x - 4, y - 4, x + 4, y + 4)) for x, y in points)
        assert a[0] >= 0 and a[1] >= 0 and a[2] <= 400 and a[3] <= 300


def test_the_drawn_figure_has_error_bars_and_apart_labels() -> None:
    fig = pareto_figure(_crowded(14))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.get_axes()[0]
    labels = [t for t in ax.texts if t.get_text().startswith("cell-with")]
    assert labels, "no cell is labelled"
    boxes = [t.get_window_extent(renderer=renderer) for t in labels]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1:]), labels[i].get_text()
    # one vertical bar per cell: the Wilson interval as an error bar
    bars = [c for c in ax.collections if len(c.get_segments()) == 14]
    assert bars and all(seg[0][1] < seg[1][1] for seg in bars[0].get_segments())
    assert axis_labels_of(pareto_png(_crowded(14))) == ["Energy per query (J)", "Accuracy (fraction, 95% Wilson interval)"]
