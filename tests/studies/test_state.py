"""``study.json`` read back by the study runner: the one type the reports read it with, and no key lost or added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.errors import UsageError
from ipw.reports.study_file import read_study
from ipw.studies import StudyState, parse_spec
from ipw.studies.state import STATE_NAME
from tests.conftest import assert_one_clean_line, run_cli

SPEC = ('name = "s"\noutput_dir = {out}\n[base]\nclient = "openai"\nmodel = "m"\n'
        'client_base_url = "http://127.0.0.1:9/v1"\nenergy = "none"\n[matrix]\n"gen_param.seed" = [1, 2]\n')


def _opened(tmp_path: Path) -> StudyState:
    return StudyState.open(parse_spec(SPEC.format(out=json.dumps(str(tmp_path)))))


def test_loading_and_saving_writes_back_exactly_the_keys_it_read(tmp_path: Path) -> None:
    state = _opened(tmp_path)
    state.note(state.cells[0]["name"], status="failed", message="boom", resumable=True)
    state.note(state.cells[1]["name"], goodput={"level": 4, "probes": []})  # what a goodput search records
    state.data["search"] = {"axis": "max_concurrency", "low": 1, "high": 8}
    state.save()
    path = state.study_dir / STATE_NAME
    before = path.read_text()
    StudyState.load(state.study_dir).save()
    assert path.read_text() == before  # the runner's bookkeeping (base, matrix, searches) survives the typed read
    written = json.loads(before)
    assert written["cells"][0]["resumable"] is True and written["cells"][1]["goodput"]["level"] == 4
    assert "search" in written and "head_hash" not in written["cells"][1]  # absent stays absent


@pytest.mark.parametrize(("cells", "field"), [
    ([{"name": "a", "status": 3}], "$.cells[0].status"),
    ([{"status": "completed"}], "name"),
    ([{"name": "a", "queries_failed": "two"}], "$.cells[0].queries_failed"),
])
def test_a_study_json_of_the_wrong_shape_names_its_field_to_the_runner_and_the_reports_alike(
        tmp_path: Path, cells: list, field: str) -> None:
    (tmp_path / STATE_NAME).write_text(json.dumps({"name": "s", "cells": cells}))
    with pytest.raises(UsageError) as runner:
        StudyState.load(tmp_path)
    with pytest.raises(UsageError) as reports:
        read_study(tmp_path)
    assert runner.value.message == reports.value.message and field in runner.value.message
    result = run_cli("study", "status", str(tmp_path))
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert_one_clean_line(result.stderr)
    assert field in result.stderr


def test_a_cell_listed_twice_is_refused_rather_than_one_entry_hiding_the_other(tmp_path: Path) -> None:
    (tmp_path / STATE_NAME).write_text(json.dumps({"cells": [{"name": "a"}, {"name": "a"}]}))
    with pytest.raises(UsageError, match="lists a cell name twice"):
        StudyState.load(tmp_path)
