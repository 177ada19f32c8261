"""Aligned text tables."""

from __future__ import annotations

import pytest

from ipw.reports.tables import format_cell, format_table


def test_alignment_and_rule() -> None:
    text = format_table(["name", "n", "share"], [["alpha", 3, 0.5], ["b", 12345, None]])
    lines = text.splitlines()
    assert lines[0] == "name       n  share"
    assert lines[1] == "-----  -----  -----"
    assert lines[2] == "alpha      3    0.5"
    assert lines[3] == "b      12345"


def test_cells() -> None:
    assert format_cell(None) == ""
    assert format_cell(True) == "true"
    assert format_cell(1.0) == "1"
    assert format_cell(0.000012345) == "1.234e-05"
    assert format_cell(float("nan")) == "nan"
    assert format_cell("a\nb") == "a\\nb"
    assert format_cell(b"\x01\xff") == "01ff"


def test_long_cells_are_cut_and_rows_must_fit() -> None:
    text = format_table(["t"], [["x" * 100]], max_width=10)
    assert text.splitlines()[2] == "x" * 9 + "…"
    with pytest.raises(ValueError):
        format_table(["a", "b"], [[1]])
