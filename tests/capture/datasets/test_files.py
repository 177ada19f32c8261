"""File datasets: every format, the upstream layout, HF save_to_disk folders, and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ipw.capture.datasets import FileDataset, IpwDataset
from ipw.errors import BackendMissingError, DatasetError, UsageError

from ._hf_layout import save_dataset, save_dataset_dict

CHOICES = ["Paris", "London", "Berlin", "Rome"]


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def _upstream_rows() -> list[dict[str, Any]]:
    return [
        {"problem": "What is 6 × 7?", "answer": "42", "subject": "math",
         "dataset_metadata": json.dumps({"source": "hand", "scorer": "numeric"})},
        {"problem": "Explain why the sky is blue.", "answer": "Rayleigh scattering", "subject": "physics",
         "dataset_metadata": json.dumps({"source": "hand", "answer_type": "essay"})},
        {"problem": "Capital of France?", "answer": "Paris", "subject": "geo",
         "dataset_metadata": json.dumps({"answer_type": "multiple_choice", "choices": CHOICES})},
    ]


def _check_upstream(records: list[Any]) -> None:
    numeric, judged, letter = records
    assert (numeric.scorer, numeric.answer, numeric.subject) == ("numeric", "42", "math")
    assert numeric.metadata == {"source": "hand", "scorer": "numeric"}
    assert judged.scorer is None and judged.answer == "Rayleigh scattering"
    assert letter.scorer == "letter" and letter.answer == "A" and letter.choices == CHOICES
    assert letter.problem == "Capital of France?\nA. Paris\nB. London\nC. Berlin\nD. Rome"
    assert [r.record_id for r in records] == ["row-1", "row-2", "row-3"]


def test_jsonl_rows_with_ids_scorers_and_choices(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "qs.jsonl", [
        {"id": "q1", "question": "Pick the capital of Germany", "answer": "C", "choices": CHOICES, "subject": "geo"},
        "",
        {"id": "q2", "problem": "Capital of Italy?", "answer": "Rome", "options": {"A": "Rome", "B": "Oslo"}},
        {"id": 3, "problem": "Which is first?", "answer": 0, "choices": CHOICES},
        {"id": "q4", "problem": "2 + 2?", "answer": 4, "scorer": "numeric", "subject": "math"},
        {"id": "q5", "problem": "Say hi", "answer": "hi", "scorer": "LLM"},
    ])
    records = FileDataset(path=str(path)).records()
    assert [r.record_id for r in records] == ["q1", "q2", "3", "q4", "q5"]
    assert [r.scorer for r in records] == ["letter", "letter", "letter", "numeric", None]
    assert [r.answer for r in records] == ["C", "A", "A", "4", "hi"]
    assert records[0].problem.endswith("\nC. Berlin\nD. Rome") and records[0].subject == "geo"
    assert records[1].choices == ["Rome", "Oslo"] and records[1].subject == "general"


def test_default_scorer_applies_only_to_rows_that_name_none(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "qs.jsonl", [
        {"problem": "Capital of Peru?", "answer": "Lima"},
        {"problem": "3 + 4?", "answer": "7", "scorer": "numeric"},
        {"problem": "Open question", "answer": "anything", "scorer": "judge"},
    ])
    assert [r.scorer for r in FileDataset(path=str(path), scorer="exact").records()] == ["exact", "numeric", None]
    assert [r.scorer for r in FileDataset(path=str(path)).records()] == [None, "numeric", None]


def test_json_list_and_tsv(tmp_path: Path) -> None:
    listed = tmp_path / "qs.json"
    listed.write_text(json.dumps({"rows": [{"problem": "1 + 1?", "answer": 2, "scorer": "numeric"}]}))
    assert FileDataset(path=str(listed)).records()[0].answer == "2"
    tsv = tmp_path / "qs.tsv"
    tsv.write_text("problem\tanswer\tscorer\nCapital of Chile?\tSantiago\texact\n")
    assert FileDataset(path=str(tsv)).records()[0].answer == "Santiago"


def test_csv_with_column_mapping_and_pipe_choices(tmp_path: Path) -> None:
    path = tmp_path / "qs.csv"
    path.write_text(
        "key,text,gold,topic,choices\n"
        'k1,"Largest ocean, by area?",B,geo,Atlantic|Pacific|Indian|Arctic\n'
        "k2,10 / 4?,2.5,math,\n"
    )
    data = FileDataset(path=str(path), problem_field="text", answer_field="gold", subject_field="topic",
                       id_field="key", scorer="numeric")
    first, second = data.records()
    assert (first.record_id, first.scorer, first.answer, first.subject) == ("k1", "letter", "B", "geo")
    assert first.problem.startswith("Largest ocean, by area?\nA. Atlantic\nB. Pacific")
    assert (second.record_id, second.scorer, second.answer, second.choices) == ("k2", "numeric", "2.5", None)


def test_csv_bad_line_is_named_and_skippable(tmp_path: Path) -> None:
    path = tmp_path / "qs.csv"
    path.write_text("problem,answer\nfine?,yes\nbroken,row,with,extras\n,no problem\nalso fine?,ok\n")
    with pytest.raises(DatasetError, match=r"qs\.csv: line 3: 2 more field") as caught:
        FileDataset(path=str(path)).records()
    assert "on_error=skip" in (caught.value.hint or "")
    data = FileDataset(path=str(path), on_error="skip")
    assert [r.problem for r in data.records()] == ["fine?", "also fine?"]
    assert [number for number, _ in data.skipped] == [3, 4]
    assert "missing or empty 'problem'" in data.skipped[1][1]
    assert data.describe()["skipped"][0][0] == 3


def test_parquet_with_native_types(tmp_path: Path) -> None:
    table = pa.table({
        "question": ["Pick B", "What is 3 squared?"],
        "answer": [1, 9],
        "choices": [["w", "x", "y", "z"], None],
        "subject": ["t", "math"],
        "scorer": [None, "numeric"],
    })
    path = tmp_path / "qs.parquet"
    pq.write_table(table, path)
    letter, numeric = FileDataset(path=str(path)).records()
    assert (letter.scorer, letter.answer, letter.choices) == ("letter", "B", ["w", "x", "y", "z"])
    assert (numeric.scorer, numeric.answer) == ("numeric", "9")
    assert FileDataset(path=str(path)).describe()["format"] == "parquet"


def test_upstream_jsonl_through_the_ipw_dataset(tmp_path: Path) -> None:
    rows = _upstream_rows()
    rows[1]["dataset_metadata"] = {"source": "hand", "answer_type": "essay"}  # a dict works as well as its JSON text
    path = _jsonl(tmp_path / "upstream.jsonl", rows)
    data = IpwDataset(path=str(path))
    _check_upstream(data.records())
    info = data.describe()
    assert info["id"] == "ipw" and info["requires_judge"] is True and info["judged_by_llm"] == 1
    assert info["path"] == str(path.resolve()) and info["format"] == "jsonl"


def test_hf_save_to_disk_folder(tmp_path: Path) -> None:
    folder = save_dataset(tmp_path / "saved", _upstream_rows())
    assert sorted(p.name for p in folder.iterdir()) == ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "rb") as source:
        assert pa.ipc.open_stream(source).read_all().num_rows == 3  # really the stream format
    data = IpwDataset(path=str(folder))
    _check_upstream(data.records())
    assert data.describe()["format"] == "arrow"


def test_hf_folder_with_several_shards_keeps_row_order(tmp_path: Path) -> None:
    rows = [{"problem": f"{i} + 1?", "answer": str(i + 1), "subject": "m", "dataset_metadata": "{}"} for i in range(7)]
    folder = save_dataset(tmp_path / "sharded", rows, shards=3)
    records = FileDataset(path=str(folder), scorer="numeric").records()
    assert [r.answer for r in records] == [str(i + 1) for i in range(7)]
    assert [r.record_id for r in records] == [f"row-{i + 1}" for i in range(7)]


def test_hf_dataset_dict_picks_train_or_the_named_split(tmp_path: Path) -> None:
    train = [{"problem": "train q", "answer": "a", "subject": "s", "dataset_metadata": "{}"}]
    test = [{"problem": "test q", "answer": "b", "subject": "s", "dataset_metadata": "{}"}]
    folder = save_dataset_dict(tmp_path / "dd", {"train": train, "test": test})
    assert IpwDataset(path=str(folder)).records()[0].problem == "train q"
    chosen = IpwDataset(path=str(folder), split="test")
    assert chosen.records()[0].problem == "test q" and chosen.describe()["split"] == "test"
    with pytest.raises(DatasetError, match="no split 'dev'") as caught:
        IpwDataset(path=str(folder), split="dev").records()
    assert "train, test" in (caught.value.hint or "")
    only = save_dataset_dict(tmp_path / "only", {"validation": test})
    assert IpwDataset(path=str(only)).records()[0].problem == "test q"
    both = save_dataset_dict(tmp_path / "both", {"validation": test, "test": test})
    with pytest.raises(DatasetError, match="none is 'train'"):
        IpwDataset(path=str(both)).records()


def test_arrow_random_access_file(tmp_path: Path) -> None:
    path = tmp_path / "qs.arrow"
    table = pa.table({"problem": ["Capital of Japan?"], "answer": ["Tokyo"], "scorer": ["exact"]})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    assert FileDataset(path=str(path)).records()[0].answer == "Tokyo"


def test_malformed_jsonl_lines_raise_with_their_line_or_are_skipped(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", [
        {"problem": "ok 1", "answer": "1"},
        "{not json",
        "[1, 2]",
        {"problem": "no answer here"},
        {"problem": "bad scorer", "answer": "x", "scorer": "fuzzy"},
        {"problem": "letter out of range", "answer": "F", "scorer": "letter", "choices": ["a", "b", "c", "d"]},
        {"problem": "bad metadata", "answer": "x", "dataset_metadata": "{oops"},
        {"problem": "ok 2", "answer": "2"},
    ])
    with pytest.raises(DatasetError, match=r"bad\.jsonl: line 2: not valid JSON"):
        FileDataset(path=str(path)).records()
    data = FileDataset(path=str(path), on_error="skip")
    assert [r.problem for r in data.records()] == ["ok 1", "ok 2"]
    reasons = dict(data.skipped)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert "not an object" in reasons[3] and "'answer'" in reasons[4]
    assert "fuzzy" in reasons[5] and "not one of A–D" in reasons[6] and "dataset_metadata" in reasons[7]


def test_duplicate_ids_are_row_errors(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "dup.jsonl", [{"id": "x", "problem": "p", "answer": "a"}] * 2)
    with pytest.raises(DatasetError, match="line 2: id 'x' was already used at line 1"):
        FileDataset(path=str(path)).records()
    assert FileDataset(path=str(path), on_error="skip").size() == 1


def test_empty_and_all_bad_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="no usable records: it has no rows"):
        FileDataset(path=str(empty)).records()
    bad = _jsonl(tmp_path / "bad.jsonl", ["{", "{"])
    with pytest.raises(DatasetError, match="all 2 rows were skipped"):
        FileDataset(path=str(bad), on_error="skip").records()


def test_missing_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        FileDataset(path=str(tmp_path / "nope.jsonl")).records()
    odd = tmp_path / "qs.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(DatasetError, match="cannot tell the format") as caught:
        FileDataset(path=str(odd))
    assert "format=" in (caught.value.hint or "")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"this is not parquet at all")
    with pytest.raises(DatasetError, match="cannot read .*junk.parquet as Parquet"):
        FileDataset(path=str(junk)).records()
    not_arrow = tmp_path / "x.arrow"
    not_arrow.write_bytes(b"\x00" * 64)
    with pytest.raises(DatasetError, match="as Arrow IPC"):
        FileDataset(path=str(not_arrow)).records()
    no_data = tmp_path / "folder"
    no_data.mkdir()
    with pytest.raises(DatasetError, match="holds no .arrow files"):
        FileDataset(path=str(no_data)).records()
    renamed = tmp_path / "qs.txt"
    renamed.write_text('{"problem": "p", "answer": "a"}\n')
    assert FileDataset(path=str(renamed), format="jsonl").size() == 1


def test_state_json_naming_a_missing_shard(tmp_path: Path) -> None:
    folder = save_dataset(tmp_path / "saved", _upstream_rows())
    (folder / "data-00000-of-00001.arrow").unlink()
    with pytest.raises(DatasetError, match="names data-00000-of-00001.arrow, which is missing"):
        IpwDataset(path=str(folder)).records()


@pytest.mark.parametrize(
    ("cls", "params", "fragment"),
    [
        (FileDataset, {}, "needs a path"),
        (IpwDataset, {}, "needs a path"),
        (FileDataset, {"path": "x.jsonl", "on_error": "ignore"}, "on_error"),
        (FileDataset, {"path": "x.jsonl", "scorer": "fuzzy"}, "scorer"),
        (FileDataset, {"path": "x.jsonl", "format": "xml"}, "unknown dataset format"),
        (FileDataset, {"path": "x.jsonl", "colour": "red"}, "no parameter colour"),
    ],
)
def test_parameter_mistakes_are_usage_errors(cls: type, params: dict[str, str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        cls(**params)


def test_ipw_dataset_hint_describes_the_upstream_format() -> None:
    with pytest.raises(UsageError) as caught:
        IpwDataset()
    assert "dataset_metadata" in (caught.value.hint or "") and "path=" in (caught.value.hint or "")


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qs.parquet"
    pq.write_table(pa.table({"problem": ["p"], "answer": ["a"]}), path)
    # A None entry in sys.modules makes ``import pyarrow`` fail as if it were not installed.
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(BackendMissingError) as caught:
        FileDataset(path=str(path)).records()
    assert caught.value.extra == "hf" and "pyarrow" in caught.value.message
