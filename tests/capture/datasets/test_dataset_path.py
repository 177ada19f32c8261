"""``--dataset PATH``: an existing file or folder is a file dataset; anything else is one line listing the ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.capture.runner import CaptureConfig, load_records
from ipw.errors import UsageError
from ipw.events import QueryStarted, RunStarted
from ipw.ledger import read_events
from tests.conftest import assert_one_clean_line

from ._hf_layout import save_dataset

ROWS = [
    {"id": "q1", "problem": "What is 2 + 2?", "answer": "4", "subject": "math", "scorer": "numeric"},
    {"id": "q2", "problem": "What is 3 + 4?", "answer": "7", "subject": "math", "scorer": "numeric"},
]


def _jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_a_jsonl_path_is_a_file_dataset(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "questions.jsonl")
    config = CaptureConfig(client="openai", model="m", dataset=str(source), dataset_params={"limit": 5})
    assert config.dataset == "file"
    assert config.dataset_params == {"path": str(source.resolve()), "limit": 5}
    records, info = load_records(config)
    assert [r.record_id for r in records] == ["q1", "q2"]
    assert info["format"] == "jsonl"


def test_a_folder_saved_by_hf_datasets_is_a_file_dataset(tmp_path: Path) -> None:
    folder = save_dataset(tmp_path / "hf", ROWS)
    config = CaptureConfig(client="openai", model="m", dataset=str(folder))
    records, info = load_records(config)
    assert [r.answer for r in records] == ["4", "7"] and info["format"] == "arrow"


def test_registered_ids_still_work_and_win_over_a_file_of_that_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "builtin").write_text("not a dataset")
    config = CaptureConfig(client="openai", model="m", dataset="builtin", max_queries=2)
    assert (config.dataset, config.dataset_params) == ("builtin", {})
    assert len(load_records(config)[0]) == 2


def test_a_path_and_a_path_param_together_are_refused(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "q.jsonl")
    with pytest.raises(UsageError, match="names another"):
        CaptureConfig(client="openai", model="m", dataset=str(source), dataset_params={"path": "other.jsonl"})


def test_neither_an_id_nor_a_path_is_one_line_listing_the_ids(tmp_path: Path, cli) -> None:
    result = cli("record", "--client", "openai", "--model", "m", "--dataset", str(tmp_path / "nope.jsonl"),
                 "--output-dir", str(tmp_path / "out"), "--energy", "none")
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert "nope.jsonl" in result.stderr
    for dataset_id in ("builtin", "file", "ipw"):
        assert dataset_id in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
def test_record_with_a_dataset_path(tmp_path: Path, cli, llama_server_url: str) -> None:
    source = _jsonl(tmp_path / "questions.jsonl")
    result = cli("record", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
                 "--client-param", "api=completions", "--gen-param", "max_tokens=2", "--energy", "none",
                 "--dataset", str(source), "--output-dir", str(tmp_path), "--run-name", "r")
    assert result.exit_code == 0, result.stderr
    events = read_events(tmp_path / "r")
    assert [e.record_id for e in events if isinstance(e, QueryStarted)] == ["q1", "q2"]
    config = next(e for e in events if isinstance(e, RunStarted)).config
    assert config["dataset"] == "file" and config["dataset_params"]["path"] == str(source.resolve())
