"""Converting ledgers to and from JSON lines (one SPEC §4 event object per line)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Iterable, Iterator

import msgspec

from ..errors import UsageError
from ..events import AnyEvent, Event, RunStarted
from .reader import LedgerReader
from .writer import LedgerWriter

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


def event_to_json(event: Event) -> bytes:
    return _encoder.encode(event)


def event_from_json(line: bytes | str) -> Event:
    return _decoder.decode(line)


def parse_jsonl(lines: Iterable[bytes | str], source: str = "<input>") -> Iterator[Event]:
    """Decode events, naming the line of the first one that is not valid."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UsageError(
                f"{source} line {number} is not a valid ipw event: {exc}",
                hint="each line must be one JSON object with a 'kind' from the event vocabulary (see schemas/)",
            ) from exc


def import_jsonl(source: Path | IO[bytes], run_dir: Path, *, run_id: str | None = None) -> int:
    """Write the events of a JSON-lines file into a new ledger; returns the count."""
    if isinstance(source, Path):
        with open(source, "rb") as fh:
            events = list(parse_jsonl(fh, str(source)))
    else:
        events = list(parse_jsonl(source))
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
