"""``ipw ledger import`` of hostile JSON lines: nesting, line length, special files. One line, exit 2, no run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ipw.ledger import jsonl
from tests.conftest import assert_one_clean_line, run_cli

STARTED = {"kind": "run_started", "run_id": "r", "t_ns": 1, "wall_time_ns": 2}


def _import(tmp_path: Path, source: Path):
    return run_cli("ledger", "import", str(source), "-o", str(tmp_path / "imported"))


@pytest.mark.parametrize("depth", [100_000, 500, 65])
def test_an_event_nested_deep_is_refused_before_a_run_exists(tmp_path: Path, depth: int) -> None:
    source = tmp_path / "events.jsonl"
    deep = "[" * depth + "]" * depth
    source.write_text(json.dumps(STARTED) + "\n" + json.dumps({**STARTED, "config": {}})[:-1] + f', "host": {{"x": {deep}}}}}\n')
    result = _import(tmp_path, source)
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert "line 2" in result.stderr and "nested" in result.stderr
    assert not (tmp_path / "imported").exists()


def test_shallow_nesting_and_brackets_in_text_still_import(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(json.dumps({**STARTED, "config": {"a": [[[1]]], "text": "[" * 500}}) + "\n")
    result = _import(tmp_path, source)
    assert result.exit_code == 0, result.stderr


def test_an_overlong_line_is_refused_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 1000)
    source = tmp_path / "events.jsonl"
    source.write_text(json.dumps({**STARTED, "config": {"pad": "x" * 5000}}) + "\n")
    result = _import(tmp_path, source)
    assert result.exit_code == 2 and "longer than 1000 bytes" in result.stderr, result
    assert not (tmp_path / "imported").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "symlink-loop"])
def test_a_special_file_is_refused(tmp_path: Path, kind: str) -> None:
    source = tmp_path / "events.jsonl"
    if kind == "fifo":
        os.mkfifo(source)
    elif kind == "dev-zero":
        source.symlink_to("/dev/zero")
    elif kind == "directory":
        source.mkdir()
    else:
        source.symlink_to(source)
    result = _import(tmp_path, source)
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert not (tmp_path / "imported").exists()
