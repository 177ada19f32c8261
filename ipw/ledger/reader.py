"""Reading events back from a ledger: all of it, from a position, by kind, or live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Collection, Iterator

from ..errors import LedgerCorruptError, LedgerError
from ..events import Event, kind_of
from ._codec import Columns, decode_batch, decode_columns
from ._scan import Position, ScanResult, iter_frames
from .lock import active_writer


class LedgerReader:
    """Reads the valid prefix of a ledger.

    Reading never raises on damage: it yields what is valid and leaves the
    first problem in :attr:`problem` (``strict=True`` raises it instead, once
    the valid prefix has been yielded).
    """

    def __init__(self, run_dir: Path, *, strict: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.strict = strict
        self.last_scan: ScanResult | None = None

    @property
    def problem(self) -> LedgerCorruptError | None:
        return self.last_scan.problem if self.last_scan else None

    def batches(self, *, start: Position | None = None) -> Iterator[tuple[Position, list[Event]]]:
        """Yield ``(position, events)`` for each valid frame, in order."""
        for position, cols in self._decoded(start):
            yield position, cols.events()

    def columns(self, *, start: Position | None = None) -> Iterator[Columns]:
        """Yield each valid frame decoded to columns (the fast path used by replay)."""
        for _position, cols in self._decoded(start):
            yield cols

    def _decoded(self, start: Position | None) -> Iterator[tuple[Position, Columns]]:
        result = ScanResult()
        self.last_scan = result
        manifest = self._read_manifest()  # before the segments, which a live writer only grows
        for frame in iter_frames(self.run_dir, result, start=start):
            try:
                cols = decode_columns(frame.payload, frame.schema_version)
            except ValueError as exc:
                # checksum-valid but undecodable: a break like any other
                seg = f"events/{frame.position.segment:06d}.ipwl"
                result.problem = LedgerCorruptError(str(exc), segment=seg, offset=frame.position.offset)
                break
            yield frame.position, cols
        if result.torn and active_writer(self.run_dir) is not None:
            result.problem = None  # a frame being written right now is not damage; the next read sees it
        self._check_manifest(result, manifest)
        if self.strict and result.problem is not None:
            raise result.problem

    def _read_manifest(self) -> dict | LedgerCorruptError | None:
        from .manifest import read_manifest

        try:
            return read_manifest(self.run_dir)
        except LedgerError as exc:
            return LedgerCorruptError(exc.message, segment="manifest.json", offset=0, hint=exc.hint)

    def _check_manifest(self, result: ScanResult, manifest: dict | LedgerCorruptError | None) -> None:
        if result.problem is not None:
            return
        from .audit import missing_manifest_problem, segments_problem
        from .recovery import manifest_problem

        if isinstance(manifest, LedgerCorruptError):
            result.problem = manifest
        elif manifest is None:
            result.problem = missing_manifest_problem(result)
        else:
            result.problem = manifest_problem(manifest, result) or segments_problem(
                self.run_dir, manifest, result, hash_longer_tail=False
            )

    def events(self, *, kinds: Collection[str] | None = None, start: Position | None = None) -> Iterator[Event]:
        """Yield events in order, optionally only those whose ``kind`` is in ``kinds``."""
        for _pos, batch in self.batches(start=start):
            if kinds is None:
                yield from batch
            else:
                for event in batch:
                    if kind_of(event) in kinds:
                        yield event

    def follow(
        self,
        *,
        kinds: Collection[str] | None = None,
        poll_interval_s: float = 0.2,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[Event]:
        """Yield events as they are appended, until ``stop()`` returns true.

        A torn tail is taken as a write in progress and read again later.
        """
        next_pos: Position | None = None
        seen_frames = 0
        while True:
            result = ScanResult()
            frames = list(iter_frames(self.run_dir, result, start=next_pos))
            for frame in frames:
                seen_frames += 1
                for event in decode_batch(frame.payload, frame.schema_version):
                    if kinds is None or kind_of(event) in kinds:
                        yield event
            if frames:
                last = frames[-1]
                next_pos = Position(last.position.segment, last.position.offset + 1)
            if result.problem is not None and not result.torn:
                if self.strict:
                    raise result.problem
                self.last_scan = result
                return
            if stop():
                return
            time.sleep(poll_interval_s)


def read_events(run_dir: Path, *, kinds: Collection[str] | None = None) -> list[Event]:
    """All valid events of a run, in order."""
    return list(LedgerReader(run_dir).events(kinds=kinds))
