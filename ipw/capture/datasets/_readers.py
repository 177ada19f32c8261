"""Row readers for dataset files: JSONL, JSON, CSV/TSV, Parquet and Arrow (HF ``save_to_disk``).

Each reader yields ``RawRow``s: where the row sits (``line 7``, ``row 3``)
and either the row as a dict or why it could not be read, so one bad row can
be skipped while a file that cannot be opened at all fails at once with a
``DatasetError``. pyarrow is imported only when a Parquet or Arrow source is read.

A dataset file is untrusted input: only regular files are read (a FIFO or
``/dev/zero`` is refused, never waited on or read whole), files, lines and
tables are capped in size and rows, and JSON is capped in nesting depth.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any, BinaryIO, Iterator, NamedTuple

from ..._untrusted import MAX_JSON_DEPTH, InputRefused, check_depth, decode_json, open_regular, read_regular
from ...errors import BackendMissingError, DatasetError, UsageError

__all__ = ["FORMATS", "MAX_FILE_BYTES", "MAX_ROW_BYTES", "MAX_ROWS", "RawRow", "detect_format", "read_rows"]

# Bounds on one dataset: every record is held in memory for the run, so these
# are generous for real benchmarks and small against a machine's memory.
MAX_FILE_BYTES = 1024**3  # a data file (or one Arrow shard) on disk
MAX_ROW_BYTES = 16 * 1024**2  # one JSON line or CSV line
MAX_ROWS = 2_000_000  # rows in one dataset, all formats
MAX_TABLE_BYTES = 4 * 1024**3  # a Parquet file's rows uncompressed
MAX_META_BYTES = 16 * 1024**2  # state.json / dataset_dict.json of an HF folder
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.=-]+$")
_ROWS_HINT = "split the dataset into smaller files"

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
    try:
        is_dir = os.path.isdir(path)
        os.stat(path)
    except FileNotFoundError:
        raise DatasetError(f"dataset file {path} does not exist", hint="check --dataset-param path=…") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}", hint="check the path and its permissions") from None
    if is_dir and fmt != "arrow":
        raise DatasetError(f"{path} is a folder, not a {fmt} file", hint="point path= at a file, or use format=arrow")
    if not is_dir:
        _open(path).close()  # a FIFO, a device or a huge file is refused here, before any row is read
    if fmt == "jsonl":
        return None, _jsonl_rows(path)
    if fmt == "json":
        return None, _json_rows(path)
    if fmt in ("csv", "tsv"):
        return None, _csv_rows(path, "\t" if fmt == "tsv" else ",")
    if fmt == "parquet":
        return None, _table_rows(path, _read_parquet(path))
    if is_dir:
        return _arrow_dir_rows(path, split)
    return None, _table_rows(path, _read_arrow_file(path))


def _refused(path: Path, exc: InputRefused) -> DatasetError:
    return DatasetError(f"cannot read dataset {path}: {exc}",
                        hint=f"point path= at a regular data file of at most {MAX_FILE_BYTES // 1024**2} MiB")


def _open(path: Path) -> BinaryIO:
    try:
        return open_regular(path, MAX_FILE_BYTES)
    except InputRefused as exc:
        raise _refused(path, exc) from None


def _lines(path: Path, fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(line number, line with its ending)``; a line longer than ``MAX_ROW_BYTES`` stops the read."""
    number = 0
    while True:
        chunk = fh.readline(MAX_ROW_BYTES + 1)
        if not chunk:
            return
        if len(chunk) > MAX_ROW_BYTES:
            raise DatasetError(f"{path}: line {number + 1} is longer than {MAX_ROW_BYTES} bytes",
                               hint="a row this large is not a question; check the file")
        for line in chunk.splitlines(keepends=True):  # a bare CR ends a line too
            number += 1
            if number > MAX_ROWS:
                raise DatasetError(f"{path} has more than {MAX_ROWS} lines", hint=_ROWS_HINT)
            yield number, line


def _decode_line(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = decode_json(data)
    except InputRefused as exc:
        return None, str(exc)
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not an object"
    return value, None


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    with _open(path) as fh:
        for number, line in _lines(path, fh):
            if line.strip():
                row, error = _decode_line(line)
                yield RawRow("line", number, row, error)


def _json_rows(path: Path) -> Iterator[RawRow]:
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except InputRefused as exc:
        raise _refused(path, exc) from None
    try:
        value = decode_json(data)
    except InputRefused:
        # Many tools write JSON lines under a .json name; read it as such.
        del data
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
    if len(value) > MAX_ROWS:
        raise DatasetError(f"{path} has more than {MAX_ROWS} rows", hint=_ROWS_HINT)
    for number, item in enumerate(value, 1):
        if isinstance(item, dict):
            yield RawRow("item", number, item)
        else:
            yield RawRow("item", number, None, f"a JSON {type(item).__name__}, not an object")


def _text_lines(path: Path, fh: BinaryIO) -> Iterator[str]:
    for number, line in _lines(path, fh):
        try:
            yield line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path} is not UTF-8 text (line {number}, byte {exc.start})",
                               hint="save the file as UTF-8") from None


def _csv_rows(path: Path, delimiter: str) -> Iterator[RawRow]:
    with _open(path) as fh:
        reader = csv.DictReader(_text_lines(path, fh), delimiter=delimiter)
        try:
            if not reader.fieldnames:
                raise DatasetError(f"{path} has no header row", hint="the first line must name the columns")
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
        meta = pa.parquet.ParquetFile(path).metadata
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if meta.num_rows > MAX_ROWS or unpacked > MAX_TABLE_BYTES:
            raise DatasetError(f"{path} holds {meta.num_rows} rows, {unpacked} bytes uncompressed: more than "
                               f"the {MAX_ROWS} rows or {MAX_TABLE_BYTES // 1024**3} GiB allowed", hint=_ROWS_HINT)
        return pa.parquet.read_table(path)
    except (pa.ArrowException, OSError, RecursionError) as exc:
        raise DatasetError(f"cannot read {path} as Parquet: {exc}", hint="check the file, or pass format=…") from exc


def _read_arrow_file(path: Path) -> Any:
    """An Arrow IPC file: the stream format HF ``datasets`` writes, or the random-access file format."""
    pa = _pyarrow()
    _open(path).close()
    try:
        with pa.memory_map(str(path), "r") as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                source.seek(0)
                table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowException, OSError, RecursionError) as exc:
        raise DatasetError(f"cannot read {path} as Arrow IPC: {exc}", hint="check the file, or pass format=…") from exc
    if table.num_rows > MAX_ROWS:
        raise DatasetError(f"{path} has more than {MAX_ROWS} rows", hint=_ROWS_HINT)
    return table


def _type_depth(arrow_type: Any) -> int:
    """How many list/dict levels a value of ``arrow_type`` becomes in Python, at most (a map: a list of tuples)."""
    pa = _pyarrow()
    if pa.types.is_map(arrow_type):
        return 2 + max(_type_depth(arrow_type.key_type), _type_depth(arrow_type.item_type))
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return 1 + _type_depth(arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        return 1 + max((_type_depth(arrow_type.field(i).type) for i in range(arrow_type.num_fields)), default=0)
    return 0


def _table_rows(path: Path, table: Any, start: int = 1) -> Iterator[RawRow]:
    try:
        pylist = table.to_pylist()
    except RecursionError:
        raise DatasetError(f"{path}: its columns nest too deeply to read", hint="flatten nested columns") from None
    # a table's schema bounds the nesting of every row: checked once when it is shallow enough, else per row
    shallow = 1 + max((_type_depth(f.type) for f in table.schema), default=0) <= MAX_JSON_DEPTH
    for number, row in enumerate(pylist, start):
        if shallow:
            yield RawRow("row", number, row)
            continue
        try:
            check_depth(row)
        except InputRefused as exc:
            yield RawRow("row", number, None, str(exc))
            continue
        yield RawRow("row", number, row)


def _json_file(path: Path) -> Any:
    try:
        return decode_json(read_regular(path, MAX_META_BYTES))
    except InputRefused as exc:
        raise DatasetError(f"{path} cannot be read: {exc}", hint="re-save the dataset with save_to_disk") from None


def _plain_name(folder: Path, name: str, what: str) -> str:
    """A split or shard name from an HF folder's JSON: a plain name inside ``folder``, never a path out of it."""
    if not _PLAIN_NAME.match(name) or name in (".", ".."):
        raise DatasetError(f"{folder}: {what} {name[:80]!r} is not a plain file name",
                           hint="the dataset folder's JSON was altered; re-save it with save_to_disk")
    return name


def _arrow_dir_rows(folder: Path, split: str | None) -> tuple[str | None, Iterator[RawRow]]:
    """Rows of a folder written by HF ``save_to_disk``: one Dataset, or a DatasetDict of splits."""
    if (folder / "dataset_dict.json").is_file():
        info = _json_file(folder / "dataset_dict.json")
        listed = info.get("splits", []) if isinstance(info, dict) else []
        splits = [_plain_name(folder, str(s), "split") for s in listed] if isinstance(listed, list) else []
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
        if not isinstance(entries, list):
            entries = []
        files = [folder / _plain_name(folder, str(e["filename"]), "shard")
                 for e in entries if isinstance(e, dict) and "filename" in e]
    if not files:
        files = sorted(folder.glob("*.arrow"))
    if not files:
        raise DatasetError(f"{folder} holds no .arrow files",
                           hint="point path= at a folder written by datasets' save_to_disk, or at a data file")
    for file in files:
        if not os.path.lexists(file):  # present but not a regular file: refused by name when read
            raise DatasetError(f"{folder}/state.json names {file.name}, which is missing",
                               hint="copy the whole dataset folder again")
    tables = [_read_arrow_file(file) for file in files]
    if sum(t.num_rows for t in tables) > MAX_ROWS:
        raise DatasetError(f"{folder} has more than {MAX_ROWS} rows", hint=_ROWS_HINT)

    def rows() -> Iterator[RawRow]:
        start = 1
        for file, table in zip(files, tables):
            yield from _table_rows(file, table, start)
            start += table.num_rows

    return None, rows()
