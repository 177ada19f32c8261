"""What every plot shares: an Agg figure, the "no data" panel, saving at 150 dpi.

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas,
never through ``pyplot``, so plotting leaves no global state behind and works
without a display.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from ..errors import BackendMissingError, UsageError
from ..replay.engine import RunView

__all__ = ["DPI", "new_figure", "save", "no_data", "require_views"]

DPI = 150


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    """A figure on the Agg canvas and its axes (``subplots`` semantics, squeeze off)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise BackendMissingError("plotting", "analysis", module="matplotlib") from exc
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG at :data:`DPI`, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", facecolor="white")
    return path


def no_data(ax: Any, message: str, *, shared_x: bool = False) -> None:
    """Mark a panel as empty and say why, in its middle.

    ``shared_x`` keeps the x ticks, which a panel shares with its neighbours.
    """
    text = ax.text(
        0.5, 0.5, "no data\n" + textwrap.fill(message, width=48), transform=ax.transAxes, ha="center", va="center",
        fontsize=10, color="#555555",
        bbox={"boxstyle": "round", "facecolor": "#f3f3f3", "edgecolor": "#bbbbbb"},
    )
    text.set_in_layout(False)
    if not shared_x:
        ax.set_xticks([])
    ax.set_yticks([])


def require_views(views: list[RunView], visualization: str) -> None:
    """Refuse an empty list of runs with a usage error."""
    if not views:
        raise UsageError(f"visualization '{visualization}' needs at least one run", hint="pass one or more run directories")
