"""Verifying a ledger and repairing it to its longest valid prefix.

Repair never destroys bytes: what it cuts off is moved to
``events/quarantine/`` so it can still be examined. Repair is a writer and
holds the run's writer lock; verify is a reader and never takes it: while a
writer is appending, a partly written last frame is a write in progress,
not damage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LedgerCorruptError, LedgerError
from .._atomic import fsync_dir
from ._scan import ScanResult, events_dir, scan, segment_paths
from .audit import events_problem, missing_manifest_problem, segments_problem
from .lock import RunLock, active_writer
from .manifest import manifest_frames, manifest_from_scan, read_manifest, write_manifest

QUARANTINE = "quarantine"


@dataclass
class VerifyReport:
    """The outcome of checking a ledger against its chain and its manifest."""

    ok: bool
    frames: int
    events: int
    head_hash: str
    problem: LedgerCorruptError | None = None
    notes: list[str] = field(default_factory=list)

    def one_line(self) -> str:
        if self.problem is not None:
            return self.problem.one_line()
        return f"ok: {self.frames} frames, {self.events} events, head {self.head_hash[:16]}"


def verify(run_dir: Path) -> VerifyReport:
    """Check framing, checksums, decodability and the hash chain, then the manifest."""
    run_dir = Path(run_dir)
    # the manifest first: it lists only frames fsynced before it was written, so a
    # writer appending meanwhile can put the segments ahead of it, never behind
    try:
        manifest = read_manifest(run_dir)
        manifest_error = None
    except LedgerError as exc:
        manifest, manifest_error = None, exc
    result = scan(run_dir, decode=True, keep_hashes=True)
    writer = active_writer(run_dir) if result.problem is None or result.torn else None
    if writer is not None and result.problem is not None:
        result.problem = None  # the frame being written now; nothing acknowledged is past the valid prefix
    report = VerifyReport(
        ok=result.problem is None,
        frames=result.frames,
        events=result.events,
        head_hash=result.head_hash.hex(),
        problem=result.problem,
    )
    if writer is not None:
        report.notes.append(f"{writer.describe()} is appending to this run; checked the frames written so far")
    if result.problem is not None:
        return report
    if manifest_error is not None:
        raise manifest_error
    if manifest is None:
        problem = missing_manifest_problem(result)
        if problem is None:
            report.notes.append("no manifest.json and no frames (the run stopped before its first flush)")
            return report
    else:
        problem = manifest_problem(manifest, result) or segments_problem(run_dir, manifest, result)
    if problem is not None:
        report.ok = False
        report.problem = problem
        return report
    listed = manifest_frames(manifest)  # manifest_problem found it valid
    if listed < result.frames and writer is None:
        report.notes.append(
            f"manifest.json lists {listed} of {result.frames} frames (written before a crash); 'ipw ledger repair' updates it"
        )
    return report


def manifest_problem(manifest: dict, result: ScanResult) -> LedgerCorruptError | None:
    """What is wrong between an intact chain and its manifest, if anything.

    A manifest behind the chain is normal after a crash; one ahead of it means
    frames were removed or the file was cut at a frame boundary.
    """
    try:
        listed = manifest_frames(manifest)
    except LedgerCorruptError as exc:
        return exc
    end = result.end
    seg_name = f"events/{end.segment:06d}.ipwl"
    if listed > result.frames:
        return LedgerCorruptError(
            f"the ledger ends here but manifest.json lists {listed} frames (the segments hold {result.frames})",
            segment=seg_name,
            offset=end.offset,
            hint="frames were removed or the file was cut; 'ipw ledger repair RUN' keeps the valid prefix",
        )
    head = manifest.get("head_hash", "")
    if result.frame_hashes:
        expected = result.frame_hashes[listed - 1].hex() if listed else bytes(32).hex()
    elif listed == result.frames:
        expected = result.head_hash.hex()
    else:
        return None
    if head != expected:
        return LedgerCorruptError(
            "manifest.json names a head hash that is not in this ledger's chain",
            segment=seg_name,
            offset=end.offset,
            hint="the segments or the manifest were altered; 'ipw ledger repair RUN' rewrites the manifest from the segments",
        )
    return events_problem(manifest, result, listed)


@dataclass
class RepairReport:
    """What repair kept and what it set aside."""

    frames: int
    events: int
    cut_bytes: int
    problem: LedgerCorruptError | None
    quarantined: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.cut_bytes > 0 or bool(self.quarantined)


def repair(run_dir: Path, *, lock: RunLock | None = None) -> RepairReport:
    """Cut the ledger back to its longest valid prefix and rewrite the manifest.

    Takes the run's writer lock unless ``lock`` (held) is given: a repair
    beside a live writer would cut off the frame it is writing.
    """
    run_dir = Path(run_dir)
    segment_paths(run_dir)  # raises when there is no ledger, before a lock file is made
    if lock is not None:
        if not lock.held:
            raise ValueError(f"repair({run_dir}) was passed a lock that is not held")
        return _repair_locked(run_dir)
    with RunLock(run_dir):
        return _repair_locked(run_dir)


def _repair_locked(run_dir: Path) -> RepairReport:
    result: ScanResult = scan(run_dir, decode=True)
    cut = 0
    quarantined: list[str] = []
    qdir = events_dir(run_dir) / QUARANTINE
    valid_paths = {s.path: s for s in result.segments}
    for path in segment_paths(run_dir):
        state = valid_paths.get(path)
        keep = state.valid_bytes if state is not None else 0
        size = path.stat().st_size
        if state is not None and size <= keep:
            continue
        # from here on: bytes past the valid prefix, or a file with no valid
        # header at all (even 0 bytes: a crash between creating a segment and
        # writing its header), which must go or it stops every later scan
        qdir.mkdir(exist_ok=True)
        target = qdir / f"{path.name}.from-{keep}"
        with open(path, "rb") as src:
            src.seek(keep)
            target.write_bytes(src.read())
        quarantined.append(str(target.relative_to(run_dir)))
        cut += max(size - keep, 0)
        if keep == 0 or state is None or state.frames == 0:
            os.remove(path)
            # a header alone carries no events; drop an empty segment too
            if state is not None:
                result.segments.remove(state)
        else:
            with open(path, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
    if quarantined:
        fsync_dir(events_dir(run_dir))
    old = None
    try:
        old = read_manifest(run_dir)
    except Exception:  # an unreadable manifest is exactly what repair rewrites
        old = None
    run_id = (old or {}).get("run_id") or run_dir.name
    write_manifest(run_dir, manifest_from_scan(run_id, result))
    return RepairReport(result.frames, result.events, cut, result.problem, quarantined)
