"""Aligned plain-text tables for the terminal.

Numbers are right-aligned, text left-aligned, ``None`` shows as ``—`` (no
value, as distinct from an empty string), and long cells are cut with an
ellipsis so one row stays one line. Every terminal table ipw prints is drawn
here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

__all__ = ["format_cell", "format_table"]


def format_cell(value: Any, *, precision: int = 4) -> str:
    """One value as table text: floats to ``precision`` significant digits, None as ``—``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
            return f"{value:.{precision}g}"
        text = f"{value:.{precision}f}".rstrip("0").rstrip(".")
        return text or "0"
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    text = str(value)
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    max_width: int = 60,
    precision: int = 4,
    align: str | None = None,
    rule: bool = True,
) -> str:
    """Render ``rows`` under ``columns`` as an aligned table, with a rule under the header unless ``rule`` is False.

    A column is right-aligned when every non-empty value in it is a number;
    ``align`` ("<" left, ">" right, one per column, e.g. "<><<") overrides that
    for columns of preformatted text. Cells wider than ``max_width`` characters
    are cut and end in ``…``.
    """
    texts = [[_clip(format_cell(v, precision=precision), max_width) for v in row] for row in rows]
    headers = [_clip(str(c), max_width) for c in columns]
    ncols = len(headers)
    for row in texts:
        if len(row) != ncols:
            raise ValueError(f"row has {len(row)} cells, the table has {ncols} columns")
    widths = [max([len(headers[i])] + [len(r[i]) for r in texts]) for i in range(ncols)]
    numeric = [
        any(v is not None for v in (row[i] for row in rows))
        and all(v is None or _is_number(v) for v in (row[i] for row in rows))
        for i in range(ncols)
    ]
    if align is not None:
        if len(align) != ncols:
            raise ValueError(f"align has {len(align)} entries, the table has {ncols} columns")
        numeric = [a == ">" for a in align]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(headers)] + (["  ".join("-" * w for w in widths)] if rule else [])
    out.extend(line(row) for row in texts)
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
