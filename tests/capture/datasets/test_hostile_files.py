"""Dataset files as hostile input: deep nesting, special files, huge lines, bad encodings, escaping names.

Each must become a ``DatasetError`` (exit 4 at the CLI) or, for one bad row, a
row error that ``on_error=skip`` can leave out; never a RecursionError, a
MemoryError or a read that never ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ipw.capture.datasets import FileDataset, IpwDataset
from ipw.capture.datasets import _readers
from ipw.errors import DatasetError

from ._hf_layout import save_dataset

DEEP = 100_000
GOOD = {"problem": "2 + 2?", "answer": "4", "scorer": "numeric"}


def _deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def test_a_jsonl_line_nested_100000_deep_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + _deep_json() + "\n" + '{"problem": "x", "answer": ' + _deep_json() + "}\n")
    with pytest.raises(DatasetError, match=r"deep\.jsonl: line 2: JSON nested deeper than"):
        FileDataset(path=str(path)).records()
    data = FileDataset(path=str(path), on_error="skip")
    assert [r.answer for r in data.records()] == ["4"]
    assert [n for n, _ in data.skipped] == [2, 3]


def test_a_row_nested_just_below_the_decoders_limit_is_refused_too(tmp_path: Path) -> None:
    # 500 levels decode, but would exhaust the stack later (redaction, JSON text, replay): the row is refused
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(GOOD) + "\n"
                    + '{"problem": "p", "answer": "a", "dataset_metadata": {"x": ' + _deep_json(500) + "}}\n")
    data = FileDataset(path=str(path), on_error="skip")
    assert len(data.records()) == 1 and data.skipped[0][0] == 2
    assert "nested deeper than 64" in data.skipped[0][1]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_metadata_json_text_nested_deep_is_a_row_error(tmp_path: Path, fmt: str) -> None:
    meta = '{"a": ' + _deep_json(5000) + "}"  # within the CSV module's field limit
    if fmt == "csv":
        path = tmp_path / "q.csv"
        path.write_text("problem,answer,dataset_metadata\n2+2?,4,\"" + meta.replace('"', '""') + "\"\n")
    else:
        path = tmp_path / "q.jsonl"
        path.write_text(json.dumps({"problem": "2+2?", "answer": "4", "dataset_metadata": meta}) + "\n")
    with pytest.raises(DatasetError, match="dataset_metadata.*nested deeper"):
        FileDataset(path=str(path)).records()


def test_a_json_list_nested_deep_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(_deep_json())
    with pytest.raises(DatasetError, match="nested deeper"):
        FileDataset(path=str(path)).records()


def test_dev_zero_is_refused_not_read_whole(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is a device, not a regular file"):
        FileDataset(path="/dev/zero", format="jsonl").records()
    link = tmp_path / "zero.jsonl"
    link.symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match="is a device"):
        FileDataset(path=str(link)).records()


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "arrow"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / f"pipe.{fmt}"
    os.mkfifo(fifo)
    with pytest.raises(DatasetError, match="FIFO"):
        FileDataset(path=str(fifo)).records()


def test_a_symlink_loop_is_one_error(tmp_path: Path) -> None:
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    with pytest.raises(DatasetError, match="symbolic links|does not exist"):
        FileDataset(path=str(loop)).records()


def test_an_overlong_line_is_refused_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_readers, "MAX_ROW_BYTES", 1024)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({"problem": "x" * 5000, "answer": "4"}) + "\n")
    with pytest.raises(DatasetError, match="line 2 is longer than 1024 bytes"):
        FileDataset(path=str(path)).records()


def test_a_file_past_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_readers, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.csv"
    path.write_text("problem,answer\n" + "2+2?,4\n" * 40)
    with pytest.raises(DatasetError, match="more than the 100 allowed"):
        FileDataset(path=str(path)).records()


def test_too_many_rows_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_readers, "MAX_ROWS", 3)
    path = tmp_path / "many.jsonl"
    path.write_text((json.dumps(GOOD) + "\n") * 5)
    with pytest.raises(DatasetError, match="more than 3 lines"):
        FileDataset(path=str(path)).records()


def test_csv_that_is_not_utf8_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("problem,answer\nCapital of Espa\u00f1a?,Madrid\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"not UTF-8 text \(line 2"):
        FileDataset(path=str(path)).records()


def test_bare_cr_line_endings_still_read(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b"problem,answer\r2+2?,4\r3+3?,6\r")
    assert [r.answer for r in FileDataset(path=str(path)).records()] == ["4", "6"]


def test_hf_state_json_nested_deep_is_refused(tmp_path: Path) -> None:
    folder = save_dataset(tmp_path / "saved", [GOOD])
    (folder / "state.json").write_text('{"_data_files": ' + _deep_json() + "}")
    with pytest.raises(DatasetError, match="state.json cannot be read: JSON nested deeper"):
        IpwDataset(path=str(folder)).records()


@pytest.mark.parametrize("name", ["../../outside.arrow", "/dev/zero", "..", "sub/data.arrow"])
def test_hf_state_json_cannot_name_a_file_outside_its_folder(tmp_path: Path, name: str) -> None:
    folder = save_dataset(tmp_path / "saved", [GOOD])
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": name}]}))
    with pytest.raises(DatasetError, match="not a plain file name"):
        IpwDataset(path=str(folder)).records()


def test_hf_dataset_dict_split_cannot_leave_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "dd"
    save_dataset(tmp_path / "elsewhere", [GOOD])
    folder.mkdir()
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["../elsewhere"]}))
    with pytest.raises(DatasetError, match="not a plain file name"):
        IpwDataset(path=str(folder), split="../elsewhere").records()


def test_an_arrow_shard_that_is_a_device_is_refused(tmp_path: Path) -> None:
    folder = save_dataset(tmp_path / "saved", [GOOD])
    shard = next(folder.glob("*.arrow"))
    shard.unlink()
    shard.symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match="is a device"):
        IpwDataset(path=str(folder)).records()


def test_parquet_declaring_too_many_rows_is_refused_before_reading(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "q.parquet"
    pq.write_table(pa.table({"problem": ["p"] * 10, "answer": ["a"] * 10}), path)
    monkeypatch.setattr(_readers, "MAX_ROWS", 5)
    with pytest.raises(DatasetError, match="holds 10 rows"):
        FileDataset(path=str(path)).records()


def test_parquet_nested_past_its_schema_limit_is_one_error(tmp_path: Path) -> None:
    value: object = "leaf"
    for _ in range(80):
        value = [value]
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"problem": ["p"], "answer": ["a"], "dataset_metadata": [{"x": value}]}), path)
    # pyarrow refuses the schema when reading (recent releases) or hands the rows over and the row
    # reader's nesting bound refuses them (pyarrow 14): one DatasetError either way
    with pytest.raises(DatasetError, match="cannot read .* as Parquet|row 1: JSON nested deeper than 64 levels"):
        FileDataset(path=str(path)).records()
