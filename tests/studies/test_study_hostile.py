"""Hostile study files and flags through ``ipw study run``: one line, exit 2, nothing created, bounded work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ipw.studies.spec as spec_module
from ipw.studies import StudyState, parse_spec
from ipw.studies.spec import MAX_CELLS
from ipw.studies.state import JOURNAL_NAME, STATE_NAME
from tests.conftest import assert_one_clean_line, run_cli

BASE = '[base]\nclient = "openai"\nmodel = "m"\nclient_base_url = "http://127.0.0.1:9/v1"\nenergy = "none"\n'


def _study(tmp_path: Path, body: str, name: str = "s") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\noutput_dir = {json.dumps(str(tmp_path / "out"))}\n' + body)
    return path


def _refused(tmp_path: Path, *args: str) -> str:
    result = run_cli("study", "run", *args)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert_one_clean_line(result.stderr)
    assert not (tmp_path / "out").exists()  # refused before any folder was made
    return result.stderr


def test_a_million_cell_matrix_is_refused_at_once_naming_the_count_and_the_cap(tmp_path: Path) -> None:
    axes = "\n".join(f'"gen_param.{k}" = [{", ".join(str(i) for i in range(1000))}]' for k in ("seed", "top_k"))
    line = _refused(tmp_path, str(_study(tmp_path, BASE + "[matrix]\n" + axes + "\n")))
    assert "1000000 cells" in line and str(MAX_CELLS) in line


def test_the_cap_counts_repeats(tmp_path: Path) -> None:
    body = BASE + "[matrix]\n" + f'"gen_param.seed" = [{", ".join(str(i) for i in range(101))}]\nrepeats = 100\n'
    assert "10100 cells" in _refused(tmp_path, str(_study(tmp_path, body)))


def test_ten_thousand_cells_are_named_in_one_pass_and_their_state_is_journaled(tmp_path: Path, monkeypatch) -> None:
    values = ", ".join(str(i) for i in range(100))
    spec = parse_spec(f'name = "big"\noutput_dir = {json.dumps(str(tmp_path))}\n' + BASE
                      + f'[matrix]\n"gen_param.seed" = [{values}]\n"gen_param.top_k" = [{values}]\n')
    calls = []
    real = spec_module.cell_name
    monkeypatch.setattr(spec_module, "cell_name", lambda *a, **k: calls.append(1) or real(*a, **k))
    names = [c.name for c in spec.cells()]
    assert len(calls) == 10_000 and len(set(names)) == 10_000  # one name per cell, no second pass

    saves = []
    real_save = StudyState.save
    monkeypatch.setattr(StudyState, "save", lambda self: saves.append(1) or real_save(self))
    state = StudyState.open(spec)
    assert len(saves) == 1
    for name in names:
        state.note(name, status="completed", message=None)
    assert len(saves) == 1  # 10,000 changes, no rewrite of study.json: one appended line each
    lines = (spec.study_dir / JOURNAL_NAME).read_text().splitlines()
    assert len(lines) == 10_000
    # a kill here loses nothing: reading the state applies the journal
    assert {c["status"] for c in StudyState.load(spec.study_dir).cells} == {"completed"}
    state.save()
    assert not (spec.study_dir / JOURNAL_NAME).exists()
    assert {c["status"] for c in json.loads((spec.study_dir / STATE_NAME).read_text())["cells"]} == {"completed"}


def test_dev_zero_is_refused_as_not_a_regular_file(tmp_path: Path) -> None:
    assert "not a regular file" in _refused(tmp_path, "/dev/zero")


def test_a_study_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    path = _study(tmp_path, BASE + "#" + "x" * (2 * 1024**2) + "\n")
    assert "bytes" in _refused(tmp_path, str(path))


def test_a_study_nested_100000_deep_is_one_line(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = _study(tmp_path, BASE + f'[matrix]\n"gen_param.stop" = {deep}\n')
    assert "too deeply" in _refused(tmp_path, str(path))


def test_a_value_nested_past_the_cap_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = _study(tmp_path, BASE + 'gen_param = { stop = ' + "[" * 20 + "]" * 20 + " }\n")
    assert "[base] gen_param.stop" in _refused(tmp_path, str(path))


@pytest.mark.parametrize(("body", "words"), [
    (BASE + 'max_queries = "abc"\n', '[base] max_queries: expected an integer, got "abc"'),
    (BASE + "max_concurrency = [{a = 1}]\n", '[base] max_concurrency: expected an integer, got [{"a": 1}]'),
    (BASE + "[matrix]\nmax_concurrency = [{a = 1}]\n", '[matrix] max_concurrency: expected an integer, got {"a": 1}'),
    (BASE + "[matrix]\nrequest_rate = [1, \"fast\"]\n", '[matrix] request_rate: expected a number, got "fast"'),
    (BASE + "no_eval = 1\n", "[base] no_eval: expected true or false"),
    (BASE + "client_param = 3\n", "[base] client_param: expected a table"),
    (BASE + "resources = { GPU = -1 }\n", "[base] resources.GPU: expected a quantity"),
])
def test_values_of_the_wrong_type_are_refused_at_parse_time(tmp_path: Path, body: str, words: str) -> None:
    assert words in _refused(tmp_path, str(_study(tmp_path, body)))


def test_a_malformed_ray_address_is_one_line(tmp_path: Path) -> None:
    path = _study(tmp_path, BASE)
    line = _refused(tmp_path, str(path), "--executor", "ray", "--ray-address", "not a host:::")
    assert "is not a Ray address" in line


@pytest.mark.timeout(60)
def test_a_ray_address_where_nothing_listens_is_refused_promptly(tmp_path: Path) -> None:
    path = _study(tmp_path, BASE)
    line = _refused(tmp_path, str(path), "--executor", "ray", "--ray-address", "127.0.0.1:1")
    assert "cannot be reached" in line and "127.0.0.1:1" in line
