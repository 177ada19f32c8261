"""A ledger as Parquet: one file per event kind, for pandas, polars, DuckDB and Spark.

``export_parquet(run_dir, out_dir)`` writes ``<kind>.parquet`` for every kind
the run holds (``token.parquet``, ``power_sample.parquet``, …). Each row is
one event with the SPEC §4 field names, plus ``seq``: the event's position
in the ledger, so the files can be merged back into ledger order. Fields
holding mappings or lists (``config``, ``host``, ``capabilities``, …) are
JSON text; their names are listed in the file's schema metadata under
``ipw.json_columns``. ``read_parquet_events(out_dir)`` turns such a folder
back into events, so a Parquet export is a run as far as ``ipw query`` and the
reports are concerned.

pyarrow is imported lazily: it comes with the ``analysis`` and ``hf`` extras.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import msgspec

from ..errors import BackendMissingError, UsageError
from ..events import KINDS, Event, kind_of
from .jsonl import event_from_json
from .reader import LedgerReader

__all__ = ["export_parquet", "read_parquet_events", "is_parquet_export", "SUFFIX"]

SUFFIX = ".parquet"
_JSON_COLUMNS_KEY = b"ipw.json_columns"
_BATCH_ROWS = 65_536  # rows converted at a time, so a long run never sits in memory as Python dicts


def _pyarrow() -> tuple[Any, Any]:
    pq = BackendMissingError.require("pyarrow.parquet", "Parquet export", "analysis")
    return BackendMissingError.require("pyarrow", "Parquet export", "analysis"), pq


def _arrow_type(pa: Any, info: Any) -> Any | None:
    """The Arrow type of a scalar event field (optional or not); None for anything stored as JSON text."""
    import msgspec.inspect as mi

    if isinstance(info, mi.UnionType):
        inner = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if len(inner) == 2 and {type(t) for t in inner} == {mi.IntType, mi.FloatType}:
            return pa.float64()
        info = inner[0] if len(inner) == 1 else None
    simple = {mi.IntType: pa.int64(), mi.FloatType: pa.float64(), mi.StrType: pa.string(), mi.BoolType: pa.bool_()}
    return simple.get(type(info))


def _schema(pa: Any, event_type: type) -> tuple[Any, list[str]]:
    """The Arrow schema of one event kind, from its msgspec fields: ``seq`` first; the JSON-text columns."""
    import msgspec.inspect as mi

    fields, json_columns = [pa.field("seq", pa.int64())], []
    for f in mi.type_info(event_type).fields:
        arrow = _arrow_type(pa, f.type)
        if arrow is None:
            arrow = pa.string()
            json_columns.append(f.encode_name)
        fields.append(pa.field(f.encode_name, arrow))
    schema = pa.schema(fields, metadata={_JSON_COLUMNS_KEY: json.dumps(json_columns).encode()})
    return schema, json_columns


def _table(pa: Any, rows: list[dict[str, Any]], schema: Any, json_columns: list[str]) -> Any:
    for row in rows:
        for name in json_columns:
            if row.get(name) is not None:
                row[name] = json.dumps(row[name], sort_keys=True)
    return pa.Table.from_pylist(rows, schema=schema)


def export_parquet(run_dir: Path, out_dir: Path, *, kinds: set[str] | None = None) -> dict[str, int]:
    """Write one Parquet file per event kind into ``out_dir``; returns rows written per kind.

    Each file is written as ``<kind>.parquet.tmp`` and renamed only once every
    file is whole. Any failure (a full disk, a damaged ledger, Ctrl-C) removes
    the ``.tmp`` files, and ``out_dir`` if this call made it, before the error
    goes on: a failed export leaves nothing behind. A write the OS refuses is
    raised as an ``OSError`` that names the file.
    """
    pa, pq = _pyarrow()
    out_dir = Path(out_dir)
    made_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    buffers: dict[str, list[dict[str, Any]]] = {}
    writers: dict[str, _KindFile] = {}
    schemas: dict[str, tuple[Any, list[str]]] = {}
    counts: dict[str, int] = {}

    def flush(kind: str) -> None:
        rows = buffers.pop(kind, [])
        if not rows:
            return
        schema, json_columns = schemas[kind]
        if kind not in writers:
            writers[kind] = _KindFile(pq, out_dir / f"{kind}{SUFFIX}.tmp", schema)
        writers[kind].write(_table(pa, rows, schema, json_columns))

    try:
        for seq, event in enumerate(LedgerReader(run_dir).events(kinds=kinds)):
            kind = kind_of(event)
            # every field, defaults included (to_builtins would omit them): a column never reads null for 1
            row = {k: msgspec.to_builtins(v) for k, v in msgspec.structs.asdict(event).items()}
            row["seq"] = seq
            if kind not in schemas:
                schemas[kind] = _schema(pa, type(event))
            buffers.setdefault(kind, []).append(row)
            counts[kind] = counts.get(kind, 0) + 1
            if len(buffers[kind]) >= _BATCH_ROWS:
                flush(kind)
        for kind in list(buffers):
            flush(kind)
        for file in writers.values():
            file.close()
    except BaseException:
        for file in writers.values():
            file.discard()
        if made_dir:
            _remove_if_empty(out_dir)
        raise
    for kind, file in writers.items():
        file.path.replace(out_dir / f"{kind}{SUFFIX}")  # only whole files appear
    return counts


class _KindFile:
    """One ``<kind>.parquet.tmp`` being written; an ``OSError`` from it names its path."""

    def __init__(self, pq: Any, path: Path, schema: Any) -> None:
        self.path = path
        self._file = _named(path, lambda: open(path, "wb"))
        self._writer: Any = None
        try:
            self._writer = _named(path, lambda: pq.ParquetWriter(self._file, schema))
        except BaseException:
            self.discard()
            raise

    def write(self, table: Any) -> None:
        _named(self.path, lambda: self._writer.write_table(table))

    def close(self) -> None:
        _named(self.path, self._writer.close)
        _named(self.path, self._file.close)

    def discard(self) -> None:
        """Close without caring whether the last bytes reach the disk, and remove the file."""
        for close in (getattr(self._writer, "close", None), self._file.close):
            try:
                if close is not None:
                    close()
            except Exception:  # the error that brought us here is the one to report
                pass
        if self._writer is not None:
            self._writer.is_open = False  # or pyarrow retries the close when collected, and prints its traceback
        self.path.unlink(missing_ok=True)


def _named(path: Path, action: Any) -> Any:
    """Run ``action``; an OS error from it (pyarrow's included) becomes an ``OSError`` naming ``path``."""
    try:
        return action()
    except OSError as exc:
        if exc.filename is not None and exc.errno is not None:
            raise
        code = exc.errno
        if code is None:  # pyarrow's own I/O errors carry the errno only in their text: "[errno 28] …"
            found = re.search(r"errno (\d+)", str(exc), flags=re.IGNORECASE)
            code = int(found.group(1)) if found else None
        if code is None:
            raise
        raise OSError(code, os.strerror(code), str(path)) from exc


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # something else is in it: not ours to remove
        pass


def is_parquet_export(path: Path) -> bool:
    """Whether ``path`` is a folder written by :func:`export_parquet` (it holds ``run_started.parquet``)."""
    path = Path(path)
    return path.is_dir() and not (path / "events").is_dir() and (path / f"run_started{SUFFIX}").is_file()


def _events_of(pq: Any, path: Path) -> Iterator[tuple[int, Event]]:
    kind = path.name[: -len(SUFFIX)]
    parquet = pq.ParquetFile(str(path))
    meta = parquet.schema_arrow.metadata or {}
    json_columns = set(json.loads(meta.get(_JSON_COLUMNS_KEY, b"[]")))
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
        for row in batch.to_pylist():
            seq = row.pop("seq", 0)
            for name in json_columns & set(row):
                if row[name] is not None:
                    row[name] = json.loads(row[name])
            # nulls are kept: a null is a value (a verdict's is_correct), and an export has every column
            yield int(seq), event_from_json(json.dumps({"kind": kind, **row}))


def read_parquet_events(folder: Path) -> list[Event]:
    """The events of a Parquet export, in ledger order."""
    _pa, pq = _pyarrow()
    folder = Path(folder)
    known = set(KINDS)
    events: list[tuple[int, Event]] = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        if path.name[: -len(SUFFIX)] not in known:
            continue  # a file someone else put there is not an event kind
        try:
            events.extend(_events_of(pq, path))
        except UsageError:
            raise
        except Exception as exc:  # pyarrow raises its own error types for a bad file
            raise UsageError(f"{path} is not a Parquet file written by 'ipw ledger export' ({exc})",
                             hint="export the run again: ipw ledger export RUN --format parquet -o DIR") from None
    events.sort(key=lambda item: item[0])
    return [e for _, e in events]
