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
    assert lines[3] == "b      12345      —"  # None is "no value", never a blank that reads as ""


def test_cells() -> None:
    assert format_cell(None) == "—"
    assert format_cell("") == ""
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


def test_align_overrides_and_the_rule_is_optional() -> None:
    text = format_table(["metric", "value"], [["accuracy", "0.5"], ["energy", None]], align="<>", rule=False)
    assert text.splitlines() == ["metric    value", "accuracy    0.5", "energy        —"]
    with pytest.raises(ValueError):
        format_table(["a", "b"], [[1, 2]], align="<")


def test_every_terminal_table_is_drawn_by_format_table() -> None:
    """The summary and ``ipw energy`` tables show a missing value as format_table does."""
    from ipw.cli.energy_cmd import _table
    from ipw.reports.summary_table import format_summary

    summary = format_summary({"run_id": "r", "metrics": {"mean_power_w": {"value": None, "unit": "W", "provenance": None}}})
    assert summary.splitlines()[-1].split() == ["mean", "power", "—", "W"]
    energy = _table({"endpoint": "127.0.0.1:1", "duration_s": 1.0, "interval_ms": 100, "collectors": ["nvml"],
                     "devices": [{"device": "nvidia:0", "device_type": "gpu", "source": None, "mean_power_w": None,
                                  "energy_j": 2.5, "samples": 0}]})
    assert energy.splitlines()[2].split() == ["nvidia:0", "gpu", "—", "—", "2.500", "0"]
