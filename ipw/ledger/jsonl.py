"""Converting ledgers to and from JSON lines (one SPEC §4 event object per line)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Iterable, Iterator

import msgspec

from .._untrusted import MAX_JSON_DEPTH, InputRefused, decode_json, open_regular
from ..errors import UsageError
from ..events import AnyEvent, Event, RunStarted
from .reader import LedgerReader
from .writer import LedgerWriter

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)
# Bounds on an imported file (untrusted): one event per line, each line and the count capped.
MAX_LINE_BYTES = 64 * 1024**2
MAX_EVENTS = 50_000_000
_LINE_HINT = "each line must be one JSON object with a 'kind' from the event vocabulary (see schemas/)"


def event_to_json(event: Event) -> bytes:
    return _encoder.encode(event)


def event_from_json(line: bytes | str) -> Event:
    return _decoder.decode(line)


def parse_jsonl(lines: Iterable[bytes | str], source: str = "<input>") -> Iterator[Event]:
    """Decode events, naming the line of the first one that is not valid."""
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
            yield _decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError, InputRefused, RecursionError) as exc:
            reason = "JSON nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise UsageError(f"{source} line {number} is not a valid ipw event: {reason}", hint=_LINE_HINT) from None


def _bounded_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines of a binary stream; a line past ``MAX_LINE_BYTES`` is cut there (and refused), never read whole."""
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        yield line


def import_jsonl(source: Path | IO[bytes], run_dir: Path, *, run_id: str | None = None) -> int:
    """Write the events of a JSON-lines file into a new ledger; returns the count."""
    if isinstance(source, Path):
        try:
            fh = open_regular(source, 2**62)
        except InputRefused as exc:
            raise UsageError(f"cannot import: {exc}", hint="pass a JSON-lines file of events, or - for stdin") from None
        with fh:
            events = list(parse_jsonl(_bounded_lines(fh), str(source)))
    else:
        events = list(parse_jsonl(_bounded_lines(source)))
    if run_id is None:
        run_id = next((e.run_id for e in events if isinstance(e, RunStarted)), Path(run_dir).name)
    with LedgerWriter.create(run_dir, run_id=run_id, flush_interval_s=0) as writer:
        writer.extend(events)
    return len(events)


def export_jsonl(run_dir: Path, out: IO[bytes], *, kinds: set[str] | None = None) -> int:
    """Write every valid event as one JSON line; returns the count."""
    count = 0
    for event in LedgerReader(run_dir).events(kinds=kinds):
        out.write(_encoder.encode(event))
        out.write(b"\n")
        count += 1
    return count
