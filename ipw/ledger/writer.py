"""Appending events to a ledger.

The writer keeps events in memory until a flush; a flush encodes them as one
frame, writes it, fsyncs, and only then counts them as acknowledged. It flushes
on demand, when the batch is large, and from a background thread at least once
per ``flush_interval_s``.

Group commit: a caller that needs its events durable without waiting (a query
that ended) calls :meth:`LedgerWriter.commit` with a callback. The background
thread wakes, and one write + fsync covers every commit asked for meanwhile;
each callback runs only after the fsync that covers its events, so whatever it
counts is acknowledged. ``manifest.json`` is derived and rewritten at the
first flush, at segment rollover and at close, not per flush (a manifest
behind the chain is what a crash leaves anyway, and recovery expects it).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterable

from ..errors import LedgerError, LedgerExistsError
from ..events import SCHEMA_VERSION, Event, RunStarted
from . import _format as fmt
from ._codec import TokenRun, encode_items
from .._atomic import fsync_dir
from ._scan import ScanResult, SegmentState, events_dir, scan, segment_paths
from .lock import RunLock
from .manifest import build_manifest, read_manifest, segment_entries, write_manifest

DEFAULT_SEGMENT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_BATCH = 65536


class LedgerWriter:
    """Append-only writer of one run's ledger.

    Use :meth:`create` for a new run and :meth:`open_append` to continue one
    (after a crash the torn tail is cut off first, see ``recovered``). Both
    take the run's writer lock (see :mod:`ipw.ledger.lock`) and :meth:`close`
    releases it; pass ``lock=`` a lock already held to keep it past the writer.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        run_id: str,
        state: ScanResult,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
        flush_interval_s: float = 1.0,
        max_batch: int = DEFAULT_MAX_BATCH,
        fsync: bool = True,
        recovered: ScanResult | None = None,
        lock: RunLock | None = None,
        owns_lock: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self._run_lock = lock
        self._owns_lock = owns_lock
        self.run_id = run_id
        self.recovered = recovered
        self._segment_max_bytes = segment_max_bytes
        self._max_batch = max_batch
        self._fsync = fsync
        self._flush_interval_s = flush_interval_s
        self._lock = threading.RLock()
        # appends go to a deque without the lock: deque.append is atomic, and
        # a flush drains only the items present when it starts
        self._pending: collections.deque[Event | TokenRun] = collections.deque()
        # callbacks of commits, in order; appended without the lock like events, run after the covering fsync
        self._on_durable: collections.deque[Callable[[], None]] = collections.deque()
        self._wake = threading.Event()
        self._manifest_stale = True  # the first flush of this writer writes one
        self._segments: list[SegmentState] = list(state.segments)
        self._head = state.head_hash
        self._frames = state.frames
        self._acked = state.events
        self._fd: int | None = None
        self._closed = False
        self._last_flush = time.monotonic()
        self._error: BaseException | None = None
        self._torn: Path | None = None  # a segment left with a partial frame at its end
        if self._segments:
            self._open_segment_fd(self._segments[-1])
        else:
            self._new_segment()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if flush_interval_s > 0:
            self._flusher = threading.Thread(target=self._flush_loop, name="ipw-ledger-flush", daemon=True)
            self._flusher.start()

    # -- construction -----------------------------------------------------

    @classmethod
    def create(cls, run_dir: Path, *, run_id: str, lock: RunLock | None = None, **kwargs: Any) -> "LedgerWriter":
        """Start a new ledger; refuses a directory that already holds one."""
        run_dir = Path(run_dir)
        owns_lock = lock is None
        lock = _locked(run_dir, lock, create_dir=True)
        try:
            directory = events_dir(run_dir)
            if directory.exists() and any(directory.iterdir()):
                raise LedgerExistsError(
                    f"{run_dir} already holds a ledger",
                    hint="choose another run name, or pass --resume to continue it",
                )
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _io_error(f"cannot create the ledger folder {directory}", exc) from exc
            return cls(run_dir, run_id=run_id, state=ScanResult(), lock=lock, owns_lock=owns_lock, **kwargs)
        except BaseException:
            if owns_lock:
                lock.release()
            raise

    @classmethod
    def open_append(cls, run_dir: Path, *, lock: RunLock | None = None, **kwargs: Any) -> "LedgerWriter":
        """Continue an existing ledger, first cutting off any torn or corrupt tail."""
        from .recovery import repair

        run_dir = Path(run_dir)
        segment_paths(run_dir)  # raises when there is no ledger, before a lock file is made
        owns_lock = lock is None
        lock = _locked(run_dir, lock)
        try:
            result = repair(run_dir, lock=lock)
            state = scan(run_dir)
            manifest = read_manifest(run_dir) or {}
            run_id = kwargs.pop("run_id", None) or manifest.get("run_id") or _first_run_id(run_dir)
            return cls(run_dir, run_id=run_id, state=state, recovered=result, lock=lock, owns_lock=owns_lock, **kwargs)
        except BaseException:
            if owns_lock:
                lock.release()
            raise

    # -- public API -------------------------------------------------------

    @property
    def events_acknowledged(self) -> int:
        """Events written, fsynced and part of the hash chain."""
        return self._acked

    @property
    def head_hash(self) -> bytes:
        return self._head

    def append(self, event: Event) -> None:
        """Queue one event; it is acknowledged at the next flush."""
        pending = self._pending
        pending.append(event)
        if len(pending) >= self._max_batch:
            self.flush()

    def append_tokens(self, query_id: int, t_ns: int, texts: list[str]) -> None:
        """Queue one ``token`` event per text, all of query ``query_id`` at ``t_ns``, each one model token.

        The same events as appending ``Token(query_id, t_ns, text)`` for each
        text, in order, byte for byte in the ledger; they are queued as one
        item and encoded straight into the token columns.
        """
        pending = self._pending
        pending.append(TokenRun(query_id, t_ns, texts))
        if len(pending) >= self._max_batch:
            self.flush()

    def extend(self, events: Iterable[Event]) -> None:
        """Queue many events at once."""
        pending = self._pending
        pending.extend(events)
        if len(pending) >= self._max_batch:
            self.flush()

    def commit(self, on_durable: Callable[[], None] | None = None) -> None:
        """Ask for everything appended so far to be made durable, without waiting (group commit).

        ``on_durable`` runs once the fsync that covers those events is done, on
        the thread that flushed (keep it short, and let it not raise). Without a
        background flusher (``flush_interval_s=0``) the flush happens now.
        """
        if on_durable is not None:
            self._on_durable.append(on_durable)
        if self._flusher is None:
            self.flush()
        else:
            self._wake.set()

    def flush(self) -> int:
        """Write and fsync what is queued, run the commits it covers; returns the events acknowledged so far."""
        with self._lock:
            self._flush_locked()
            return self._acked

    def close(self) -> None:
        """Flush, stop the background flusher and write the final manifest."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=5)
        with self._lock:
            try:
                self._flush_locked()
                self._write_manifest(final=True)
            finally:
                self._closed = True
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                if self._owns_lock and self._run_lock is not None:
                    self._run_lock.release()

    def __enter__(self) -> "LedgerWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- internals --------------------------------------------------------

    def _flush_loop(self) -> None:
        tick = min(0.25, self._flush_interval_s / 2)
        while not self._stop.is_set():
            asked = self._wake.wait(tick)
            self._wake.clear()  # before flushing: a commit asked for during the flush wakes the next one
            if self._stop.is_set():
                return
            due = self._pending and time.monotonic() - self._last_flush >= self._flush_interval_s - tick
            if asked or due:
                try:
                    with self._lock:
                        if not self._closed:
                            self._flush_locked()
                except LedgerError as exc:
                    # a full disk may pass: the batch and its commits stay queued, and the
                    # next wake (or the owner's flush) tries again; kept to explain a later failure
                    self._error = exc
                except BaseException as exc:  # not an I/O failure: surfaced on the owner's next flush
                    self._error = exc
                    return

    def _flush_locked(self) -> None:
        if self._error is not None and not isinstance(self._error, LedgerError):
            error, self._error = self._error, None
            raise LedgerError(f"writing the ledger failed in the background: {error}") from error
        if self._closed:
            raise LedgerError(f"the ledger in {self.run_dir} is already closed")
        if self._torn is not None:
            raise LedgerError(
                f"{self._torn} ends in a partly written frame that could not be cut off",
                hint=f"run 'ipw ledger repair {self.run_dir}', then continue the run with --resume",
            )
        self._last_flush = time.monotonic()
        # commits counted before the events are: each was asked for after its events were appended
        n_commits = len(self._on_durable)
        pending = self._pending
        n = len(pending)
        if n:
            self._write_batch(pending, n)
        if self._manifest_stale:
            self._write_manifest()
            self._manifest_stale = False
        self._error = None  # whatever failed in the background before is written now
        popleft = self._on_durable.popleft
        for _ in range(n_commits):
            popleft()()

    def _write_batch(self, pending: collections.deque[Event | TokenRun], n: int) -> None:
        popleft = pending.popleft
        batch = [popleft() for _ in range(n)]
        # encode_items replaces an event the reader would refuse, so bad data
        # never gets here as an exception; what can fail below is the disk
        payload, count = encode_items(batch)
        frame, digest = fmt.encode_frame(payload, count, self._head)
        seg = self._segments[-1]
        try:
            if seg.valid_bytes + len(frame) > self._segment_max_bytes and seg.frames > 0:
                seg = self._new_segment()
                self._manifest_stale = True  # rollover: the manifest lists the new segment
            self._write_frame(seg, frame)
        except LedgerError:
            pending.extendleft(reversed(batch))  # kept for a later flush once the disk recovers
            raise
        seg.sha256.update(frame)
        seg.valid_bytes += len(frame)
        seg.file_bytes = seg.valid_bytes
        seg.frames += 1
        seg.events += count
        self._frames += 1
        self._head = digest
        self._acked += count

    def _write_frame(self, seg: SegmentState, frame: bytes) -> None:
        """Write and sync one frame; on failure cut the segment back to its valid end."""
        fd = self._fd
        assert fd is not None
        try:
            _write_all(fd, frame)
            if self._fsync:
                os.fdatasync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, seg.valid_bytes)  # a partial frame must not sit before the next one
            except OSError:
                # it stays; writing after it would hide every later frame, so stop here
                self._torn = seg.path
            raise _io_error(f"cannot write to {seg.path}", exc) from exc

    def _new_segment(self) -> SegmentState:
        index = len(self._segments) + 1
        path = events_dir(self.run_dir) / fmt.segment_name(index)
        header = fmt.encode_segment_header(SCHEMA_VERSION, index)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _io_error(f"cannot create the segment {path}", exc) from exc
        try:
            _write_all(fd, header)
            if self._fsync:
                os.fsync(fd)
                fsync_dir(path.parent)
        except OSError as exc:
            os.close(fd)
            # a header-less segment would stop every reader; if it cannot go now, repair removes it
            with contextlib.suppress(OSError):
                os.remove(path)
            raise _io_error(f"cannot write the header of the segment {path}", exc) from exc
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        state = SegmentState(index=index, path=path, valid_bytes=len(header), file_bytes=len(header))
        state.sha256.update(header)
        self._segments.append(state)
        return state

    def _open_segment_fd(self, seg: SegmentState) -> None:
        try:
            self._fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise _io_error(f"cannot open the segment {seg.path} to append", exc) from exc

    def _write_manifest(self, *, final: bool = False) -> None:
        try:
            self._write_manifest_file()
        except OSError as exc:
            if not final:
                # the frame is already acknowledged and the manifest is derived from the
                # segments: failing the flush would make callers count acknowledged events
                # as lost, so the manifest is retried at the next flush and at close
                return
            error = _io_error(f"cannot write {self.run_dir / 'manifest.json'}", exc)
            error.hint = (f"every event is safe in the segments; free space, then run 'ipw ledger repair {self.run_dir}'"
                          " to rewrite the manifest")
            raise error from exc

    def _write_manifest_file(self) -> None:
        segments = segment_entries(self._segments)
        write_manifest(self.run_dir, build_manifest(self.run_id, segments, self._frames, self._acked, self._head))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _io_error(what: str, exc: OSError) -> LedgerError:
    """A failed write as one line: what, the OS's reason, and what to do about it."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "the disk is full: free space (or choose another --output-dir) and resume the run with --resume"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "the folder is not writable: choose another --output-dir"
    elif exc.errno in (errno.ENOTDIR, errno.ENOENT, errno.EEXIST):
        hint = "a part of the path is missing or is a file: choose another --output-dir or --run-name"
    else:
        hint = "check the disk and the file system, then resume the run with --resume"
    return LedgerError(f"{what}: {reason}", hint=hint)


def _locked(run_dir: Path, lock: RunLock | None, *, create_dir: bool = False) -> RunLock:
    """``lock`` checked to be this run's and held, or the run's lock freshly taken."""
    if lock is None:
        return RunLock(run_dir).acquire(create_dir=create_dir)
    if not lock.held or os.path.realpath(lock.run_dir) != os.path.realpath(run_dir):
        raise ValueError(f"the lock passed for {run_dir} is not that run's lock, held")
    return lock


def _first_run_id(run_dir: Path) -> str:
    from .reader import LedgerReader

    for event in LedgerReader(run_dir).events(kinds={"run_started"}):
        assert isinstance(event, RunStarted)
        return event.run_id
    return Path(run_dir).name
