"""Walking the frames of a ledger: the single place that decides what is valid.

Reading, verification, recovery and appending after a crash all use
:func:`scan`, so they agree on where the valid prefix of a ledger ends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from ..errors import LedgerCorruptError, LedgerError
from ..events import SCHEMA_VERSION
from . import _format as fmt
from ._codec import decode_batch

EVENTS_DIR = "events"


class Position(NamedTuple):
    """Where a frame starts: 1-based segment index and byte offset within it."""

    segment: int
    offset: int


class Frame(NamedTuple):
    position: Position
    count: int
    hash: bytes
    schema_version: int
    payload: memoryview


@dataclass
class SegmentState:
    """What the valid prefix of one segment holds."""

    index: int
    path: Path
    valid_bytes: int = 0
    file_bytes: int = 0
    frames: int = 0
    events: int = 0
    schema_version: int = SCHEMA_VERSION
    sha256: "hashlib._Hash" = field(default_factory=hashlib.sha256)

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class ScanResult:
    """The valid prefix of a ledger, and the first problem after it (if any)."""

    segments: list[SegmentState] = field(default_factory=list)
    frames: int = 0
    events: int = 0
    head_hash: bytes = fmt.GENESIS_HASH
    frame_hashes: list[bytes] = field(default_factory=list)
    frame_events: list[int] = field(default_factory=list)  # events per frame, with ``keep_hashes``
    problem: LedgerCorruptError | None = None
    torn: bool = False  # the problem is an incomplete write at the very end

    @property
    def end(self) -> Position:
        if not self.segments:
            return Position(1, 0)
        last = self.segments[-1]
        return Position(last.index, last.valid_bytes)


def events_dir(run_dir: Path) -> Path:
    return Path(run_dir) / EVENTS_DIR


def segment_paths(run_dir: Path) -> list[Path]:
    """Segment files in order; raises when the run holds no ledger."""
    directory = events_dir(run_dir)
    if not directory.is_dir():
        raise LedgerError(
            f"{run_dir} holds no ledger (no '{EVENTS_DIR}/' folder)",
            hint="pass a run directory written by 'ipw record' or 'ipw ledger import'",
        )
    return sorted(p for p in directory.iterdir() if p.suffix == fmt.SEGMENT_SUFFIX and p.stem.isdigit())


def _corrupt(path: Path, offset: int, why: str) -> LedgerCorruptError:
    return LedgerCorruptError(
        why,
        segment=f"{path.parent.name}/{path.name}",
        offset=offset,
        hint="'ipw ledger repair RUN' keeps the valid prefix",
    )


def scan(
    run_dir: Path,
    *,
    decode: bool = False,
    on_frame: Callable[[Frame], None] | None = None,
    keep_hashes: bool = False,
) -> ScanResult:
    """Walk every frame, checking framing, checksums and the hash chain.

    ``decode`` also decodes each payload (what ``verify`` does); ``on_frame``
    sees each valid frame in order. Stops at the first problem.
    """
    result = ScanResult()
    for frame in iter_frames(run_dir, result, decode=decode):
        if keep_hashes:
            result.frame_hashes.append(frame.hash)
            result.frame_events.append(frame.count)
        if on_frame is not None:
            on_frame(frame)
    return result


def iter_frames(
    run_dir: Path,
    result: ScanResult | None = None,
    *,
    decode: bool = False,
    start: Position | None = None,
) -> Iterator[Frame]:
    """Yield valid frames in order; the first problem lands in ``result.problem``."""
    result = result if result is not None else ScanResult()
    paths = segment_paths(run_dir)
    prev = fmt.GENESIS_HASH
    for expected_index, path in enumerate(paths, start=1):
        state = SegmentState(index=expected_index, path=path)
        data = path.read_bytes()
        state.file_bytes = len(data)
        if int(path.stem) != expected_index:
            result.problem = _corrupt(path, 0, f"segment {expected_index:06d} is missing before it")
            return
        header = fmt.decode_segment_header(data)
        if isinstance(header, str):
            is_last = expected_index == len(paths)
            result.torn = is_last and len(data) < fmt.SEGMENT_HEADER_LEN
            result.problem = _corrupt(path, 0, header)
            return
        if header.index != expected_index:
            result.problem = _corrupt(path, 0, f"header says segment {header.index}")
            return
        if header.schema_version > SCHEMA_VERSION:
            raise LedgerError(
                f"{path.name} was written with event schema v{header.schema_version}, newer than this ipw (v{SCHEMA_VERSION})",
                hint="upgrade ipw to read it",
            )
        state.schema_version = header.schema_version
        state.sha256.update(data[: fmt.SEGMENT_HEADER_LEN])
        result.segments.append(state)
        view = memoryview(data)
        offset = fmt.SEGMENT_HEADER_LEN
        state.valid_bytes = offset
        end = len(data)
        while offset < end:
            fh = fmt.decode_frame_header(view, offset)
            if isinstance(fh, str):
                result.torn = expected_index == len(paths) and "truncated" in fh
                result.problem = _corrupt(path, offset, fh)
                return
            body_start = offset + fmt.FRAME_HEADER_LEN
            body_end = body_start + fh.length
            if body_end > end:
                result.torn = expected_index == len(paths)
                result.problem = _corrupt(path, offset, "frame payload is truncated (torn write)")
                return
            payload = view[body_start:body_end]
            if not fmt.check_frame(fh, payload):
                result.problem = _corrupt(path, offset, "frame checksum mismatch")
                return
            if fh.prev_hash != prev:
                result.problem = _corrupt(path, offset, "hash chain broken: frame does not follow the one before it")
                return
            if decode:
                try:
                    events = decode_batch(payload, header.schema_version)
                except ValueError as exc:
                    result.problem = _corrupt(path, offset, str(exc))
                    return
                if len(events) != fh.count:
                    result.problem = _corrupt(path, offset, f"frame holds {len(events)} events, header says {fh.count}")
                    return
            prev = fmt.frame_hash(fh, payload)
            state.sha256.update(view[offset:body_end])
            state.valid_bytes = body_end
            state.frames += 1
            state.events += fh.count
            result.frames += 1
            result.events += fh.count
            result.head_hash = prev
            if start is None or (expected_index, offset) >= tuple(start):
                yield Frame(Position(expected_index, offset), fh.count, prev, header.schema_version, payload)
            offset = body_end

