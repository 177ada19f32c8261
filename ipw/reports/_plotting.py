"""What every plot shares: an Agg figure, the "no data" panel, saving at 150 dpi.

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas,
never through ``pyplot``, so plotting leaves no global state behind and works
without a display. Every PNG carries its axis labels in a text chunk
(:data:`AXIS_LABELS_KEY`, read back by :func:`axis_labels_of`), so the HTML
report can show and a test can check them, and no date or software version,
so a redrawn figure has the same bytes.
"""

from __future__ import annotations

import json
import struct
import textwrap
from pathlib import Path
from typing import Any

from ..errors import BackendMissingError, UsageError
from ..replay.engine import RunView

__all__ = ["DPI", "AXIS_LABELS_KEY", "new_figure", "save", "png_metadata", "axis_labels_of", "no_data",
           "require_views"]

DPI = 150
AXIS_LABELS_KEY = "ipw-axis-labels"


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
    fig.savefig(path, dpi=DPI, format="png", facecolor="white", metadata=png_metadata(fig))
    return path


def png_metadata(fig: Any) -> dict[str, Any]:
    """PNG text chunks: the figure's axis labels, and no software version (the bytes stay the same)."""
    labels = [text for ax in fig.get_axes() for text in (ax.get_xlabel(), ax.get_ylabel()) if text]
    return {"Software": None, AXIS_LABELS_KEY: json.dumps(labels, ensure_ascii=True)}


def axis_labels_of(png: bytes) -> list[str] | None:
    """The axis labels a PNG written here carries, or None for another PNG."""
    at = 8  # after the signature
    while at + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"tEXt":
            key, _, value = png[at + 8:at + 8 + length].partition(b"\0")
            if key.decode("latin-1") == AXIS_LABELS_KEY:
                return [str(v) for v in json.loads(value.decode("latin-1"))]
        if kind == b"IDAT":  # text chunks come before the image data
            return None
        at += 12 + length
    return None


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
