"""Row readers for dataset files: JSONL, JSON, CSV/TSV, Parquet and Arrow (HF ``save_to_disk``).

Each reader yields ``RawRow``s: where the row sits (``line 7``, ``row 3``)
and either the row as a dict or why it could not be read, so one bad row can
be skipped while a file that cannot be opened at all fails at once with a
``DatasetError``. pyarrow is imported only when a Parquet or Arrow source is read.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import msgspec

from ...errors import BackendMissingError, DatasetError, UsageError

__all__ = ["FORMATS", "RawRow", "detect_format", "read_rows"]

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "arrow")
_SUFFIXES = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow",
}
_FORMAT_HINT = "pass --dataset-param format=" + "|".join(FORMATS)


class RawRow(NamedTuple):
    """One row as read: its place in the file and the row, or the reason it is unreadable."""

    unit: str  # "line", "row" or "item"
    number: int  # 1-based
    row: dict[str, Any] | None
    error: str | None = None


def detect_format(path: Path, override: str | None) -> str:
    """The format to read ``path`` as: ``override`` if given, else from its kind and suffix."""
    if override:
        fmt = override.strip().lower()
        fmt = "arrow" if fmt in ("hf", "datasets") else fmt
        if fmt not in FORMATS:
            raise UsageError(f"unknown dataset format {override!r}", hint=_FORMAT_HINT)
        return fmt
    if path.is_dir():
        return "arrow"
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(f"cannot tell the format of {path} from its name", hint=_FORMAT_HINT)
    return fmt


def read_rows(path: Path, fmt: str, *, split: str | None = None) -> tuple[str | None, Iterator[RawRow]]:
    """(split used, rows) of ``path`` read as ``fmt``; raises ``DatasetError`` if it cannot be opened."""
    if not path.exists():
        raise DatasetError(f"dataset file {path} does not exist", hint="check --dataset-param path=…")
    if path.is_dir() and fmt != "arrow":
        raise DatasetError(f"{path} is a folder, not a {fmt} file", hint="point path= at a file, or use format=arrow")
    if fmt == "jsonl":
        return None, _jsonl_rows(path)
    if fmt == "json":
        return None, _json_rows(path)
    if fmt in ("csv", "tsv"):
        return None, _csv_rows(path, "\t" if fmt == "tsv" else ",")
    if fmt == "parquet":
        return None, _table_rows(_read_parquet(path))
    if path.is_dir():
        return _arrow_dir_rows(path, split)
    return None, _table_rows(_read_arrow_file(path))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}", hint="check the path and its permissions") from exc


def _decode_line(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not an object"
    return value, None


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    for number, line in enumerate(_read_bytes(path).splitlines(), 1):
        if line.strip():
            row, error = _decode_line(line)
            yield RawRow("line", number, row, error)


def _json_rows(path: Path) -> Iterator[RawRow]:
    data = _read_bytes(path)
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        # Many tools write JSON lines under a .json name; read it as such.
        yield from _jsonl_rows(path)
        return
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DatasetError(f"{path} is a JSON object, not a list of rows",
                               hint="write a JSON list of objects, or JSON lines (one object per line)")
        value = lists[0]
    if not isinstance(value, list):
        raise DatasetError(f"{path} holds a JSON {type(value).__name__}, not a list of rows",
                           hint="write a JSON list of objects, or JSON lines (one object per line)")
    for number, item in enumerate(value, 1):
        if isinstance(item, dict):
            yield RawRow("item", number, item)
        else:
            yield RawRow("item", number, None, f"a JSON {type(item).__name__}, not an object")


def _csv_rows(path: Path, delimiter: str) -> Iterator[RawRow]:
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8") from exc
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    if not reader.fieldnames:
        raise DatasetError(f"{path} has no header row", hint="the first line must name the columns")
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                yield RawRow("line", line, None, f"{len(row[None])} more field(s) than the header names")  # type: ignore[index]
            else:
                yield RawRow("line", line, {k: v for k, v in row.items() if v is not None})
    except csv.Error as exc:
        raise DatasetError(f"{path}: line {reader.line_num}: cannot parse CSV ({exc})", hint="check the quoting") from exc


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise BackendMissingError("reading Parquet and Arrow datasets", "hf", module="pyarrow") from exc
    return pyarrow


def _read_parquet(path: Path) -> Any:
    pa = _pyarrow()
    try:
        return pa.parquet.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"cannot read {path} as Parquet: {exc}", hint="check the file, or pass format=…") from exc


def _read_arrow_file(path: Path) -> Any:
    """An Arrow IPC file: the stream format HF ``datasets`` writes, or the random-access file format."""
    pa = _pyarrow()
    try:
        with pa.memory_map(str(path), "r") as source:
            try:
                return pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                source.seek(0)
                return pa.ipc.open_file(source).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"cannot read {path} as Arrow IPC: {exc}", hint="check the file, or pass format=…") from exc


def _table_rows(table: Any, start: int = 1) -> Iterator[RawRow]:
    for number, row in enumerate(table.to_pylist(), start):
        yield RawRow("row", number, row)


def _json_file(path: Path) -> Any:
    try:
        return msgspec.json.decode(_read_bytes(path))
    except msgspec.DecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc})", hint="re-save the dataset with save_to_disk") from exc


def _arrow_dir_rows(folder: Path, split: str | None) -> tuple[str | None, Iterator[RawRow]]:
    """Rows of a folder written by HF ``save_to_disk``: one Dataset, or a DatasetDict of splits."""
    if (folder / "dataset_dict.json").is_file():
        info = _json_file(folder / "dataset_dict.json")
        splits = [str(s) for s in info.get("splits", [])] if isinstance(info, dict) else []
        if not splits:
            raise DatasetError(f"{folder}/dataset_dict.json lists no splits", hint="re-save the dataset with save_to_disk")
        if split is None:
            if "train" in splits:
                split = "train"
            elif len(splits) == 1:
                split = splits[0]
            else:
                raise DatasetError(f"{folder} holds splits {', '.join(splits)} and none is 'train'",
                                   hint="choose one with --dataset-param split=NAME")
        if split not in splits:
            raise DatasetError(f"{folder} has no split {split!r}", hint=f"its splits are: {', '.join(splits)}")
        _, rows = _arrow_dir_rows(folder / split, None)
        return split, rows
    if split is not None:
        raise DatasetError(f"{folder} holds a single dataset, not splits; split={split!r} does not apply",
                           hint="drop --dataset-param split=…")
    files: list[Path] = []
    if (folder / "state.json").is_file():
        state = _json_file(folder / "state.json")
        entries = state.get("_data_files", []) if isinstance(state, dict) else []
        files = [folder / str(e["filename"]) for e in entries if isinstance(e, dict) and "filename" in e]
    if not files:
        files = sorted(folder.glob("*.arrow"))
    if not files:
        raise DatasetError(f"{folder} holds no .arrow files",
                           hint="point path= at a folder written by datasets' save_to_disk, or at a data file")
    for file in files:
        if not file.is_file():
            raise DatasetError(f"{folder}/state.json names {file.name}, which is missing",
                               hint="copy the whole dataset folder again")
    tables = [_read_arrow_file(file) for file in files]

    def rows() -> Iterator[RawRow]:
        start = 1
        for table in tables:
            yield from _table_rows(table, start)
            start += table.num_rows

    return None, rows()
