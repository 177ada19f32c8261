"""Converting ledgers to and from JSON lines (one SPEC §4 event object per line)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Iterable, Iterator

import msgspec

from .._untrusted import MAX_JSON_DEPTH, InputRefused, decode_json, open_regular
from ..errors import UsageError
from ..events import AnyEvent, Event, RunStarted
from ._codec import storage_problem  # why the reader would refuse an event
from ._sanitise import I64_MAX, I64_MIN
from .reader import LedgerReader
from .writer import LedgerWriter

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)
# Bounds on an imported file (untrusted): one event per line, each line and the count capped.
MAX_LINE_BYTES = 64 * 1024**2
MAX_EVENTS = 50_000_000
_LINE_HINT = "each line must be one JSON object with a 'kind' from the event vocabulary (see schemas/)"


def event_to_json(event: Event) -> bytes:
    """One event as SPEC §4 JSON with every field of its kind, those at their default included.

    The ledger's own encoding omits defaults (msgspec ``omit_defaults``: a
    token event is smaller without ``"n_tokens":1``), but an export is read by
    DuckDB, pandas and jq, where a missing field is NULL: ``sum(n_tokens)``
    would undercount, and an export read after a default moves on would change
    meaning. So it writes each field in declaration order after ``kind``, and
    a ``run_started`` always states its ``schema_version``.
    """
    return _encoder.encode({"kind": type(event).__struct_config__.tag, **msgspec.structs.asdict(event)})


def event_from_json(line: bytes | str) -> Event:
    return _decoder.decode(line)


def parse_jsonl(lines: Iterable[bytes | str], source: str = "<input>") -> Iterator[Event]:
    """Decode events, naming the line of the first one that is not valid."""
    for _number, event in _numbered(lines, source):
        yield event


def _numbered(lines: Iterable[bytes | str], source: str) -> Iterator[tuple[int, Event]]:
    for number, line in enumerate(lines, start=1):
        if number > MAX_EVENTS:
            raise UsageError(f"{source} holds more than {MAX_EVENTS} lines", hint="split it into several runs")
        if len(line) > MAX_LINE_BYTES:
            raise UsageError(f"{source} line {number} is longer than {MAX_LINE_BYTES} bytes", hint=_LINE_HINT)
        if not line.strip():
            continue
        try:
            if isinstance(line, str):
                line = line.encode("utf-8", "surrogateescape")
            if line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH:
                decode_json(line)  # refuses nesting no event has, before it reaches a ledger
            yield number, _decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, InputRefused, RecursionError) as exc:
            reason = "JSON nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise UsageError(f"{source} line {number} is not a valid ipw event: {reason}", hint=_LINE_HINT) from None


def _bounded_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines of a binary stream; a line past ``MAX_LINE_BYTES`` is cut there (and refused), never read whole."""
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        yield line


def _storable_as_written(numbered: Iterable[tuple[int, Event]], source: str) -> list[Event]:
    """The events, refusing any the ledger could only keep altered (e.g. an id past 64 bits).

    The writer would replace such an event with an ``event_dropped`` note so a
    live run loses nothing else; an import is a copy, so it fails instead,
    before anything is created.
    """
    events: list[Event] = []
    for number, event in numbered:
        problem = storage_problem(event)
        if problem is not None:
            problem = _out_of_range_field(event) or problem
            raise UsageError(
                f"{source} line {number} cannot be stored as written: {problem}",
                hint="ids, times and counts are 64-bit integers; fix the line and import again (nothing was written)",
            )
        events.append(event)
    return events


def _out_of_range_field(event: Event) -> str | None:
    """Which top-level field holds an int past 64 bits, said plainly (the encoder does not name it)."""
    for info in msgspec.structs.fields(event):
        value = getattr(event, info.name)
        if type(value) is int and not I64_MIN <= value <= I64_MAX:
            return f"{info.name}={value} is outside the 64-bit integer range"
    return None


def import_jsonl(source: Path | IO[bytes], run_dir: Path, *, run_id: str | None = None) -> int:
    """Write the events of a JSON-lines file into a new ledger; returns the count.

    Every line is checked before the run is created, so a refused file leaves nothing behind.
    """
    if isinstance(source, Path):
        try:
            fh = open_regular(source, 2**62)
        except InputRefused as exc:
            raise UsageError(f"cannot import: {exc}", hint="pass a JSON-lines file of events, or - for stdin") from None
        with fh:
            events = _storable_as_written(list(_numbered(_bounded_lines(fh), str(source))), str(source))
    else:
        events = _storable_as_written(list(_numbered(_bounded_lines(source), "<input>")), "<input>")
    if run_id is None:
        run_id = next((e.run_id for e in events if isinstance(e, RunStarted)), Path(run_dir).name)
    with LedgerWriter.create(run_dir, run_id=run_id, flush_interval_s=0) as writer:
        writer.extend(events)
    return len(events)


def export_jsonl(run_dir: Path, out: IO[bytes], *, kinds: set[str] | None = None) -> int:
    """Write every valid event as one JSON line; returns the count."""
    count = 0
    for event in LedgerReader(run_dir).events(kinds=kinds):
        out.write(event_to_json(event))
        out.write(b"\n")
        count += 1
    return count
