"""Checking an intact hash chain against what ``manifest.json`` says about it.

The chain proves the frames follow each other; only the manifest says where
the ledger should *end*. So a run must have one, its event count and head hash
must be those of the chain at the frame it lists, and each segment it lists
must have the size and sha256 it names:

- every listed segment but the last is final (a writer never appends to a
  segment once it has started the next one), so it must match exactly;
- the last listed segment may be *longer* than listed: the writer rewrites the
  manifest after each flush and at rollover and close, so a live writer, or
  one killed between writing a frame and rewriting the manifest, leaves frames
  past it. That is not tampering when the bytes the manifest covers still
  hash to its sha256 (the frames after them are chained to those bytes);
  ``verify`` reports it as a note, and ``repair`` rewrites the manifest.
- a ledger with no frames and no manifest is a run killed before its first
  flush: nothing can have been altered, so that is a note too.

Nothing here writes; each check returns the first problem or ``None``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from ..errors import LedgerCorruptError
from ._scan import ScanResult
from .manifest import MANIFEST_NAME

_SEGMENT_NAME = re.compile(r"^events/(\d{6})\.ipwl$")
_REPAIR_HINT = "the segments or the manifest were altered; 'ipw ledger repair RUN' rewrites the manifest from the segments"


def missing_manifest_problem(result: ScanResult) -> LedgerCorruptError | None:
    """The problem of a run with frames but no ``manifest.json`` (nothing to check its end against)."""
    if result.frames == 0:
        return None
    return LedgerCorruptError(
        f"the run has {result.frames} frames but no {MANIFEST_NAME}, so where its ledger ends cannot be checked",
        segment=MANIFEST_NAME,
        offset=0,
        hint="if it was killed before its first flush, 'ipw ledger repair RUN' writes one; otherwise it was removed",
    )


def _bad(message: str, segment: str = MANIFEST_NAME, offset: int = 0) -> LedgerCorruptError:
    return LedgerCorruptError(message, segment=segment, offset=offset, hint=_REPAIR_HINT)


def events_problem(manifest: dict[str, Any], result: ScanResult, listed_frames: int) -> LedgerCorruptError | None:
    """The manifest's event count must be the chain's count at the frame it lists.

    Without per-frame counts (the reader's scan), only a manifest that lists
    every frame can be checked.
    """
    listed = manifest.get("events")
    if type(listed) is not int or listed < 0:
        return _bad(f'its "events" is {json.dumps(listed)[:40]}, not a whole number >= 0')
    if listed_frames == result.frames:
        expected: int | None = result.events
    elif len(result.frame_events) == result.frames:
        expected = sum(result.frame_events[:listed_frames])
    else:
        expected = None
    if expected is not None and listed != expected:
        return _bad(f"manifest.json lists {listed} events but its first {listed_frames} frames hold {expected}")
    return None


def segments_problem(
    run_dir: Path, manifest: dict[str, Any], result: ScanResult, *, hash_longer_tail: bool = True
) -> LedgerCorruptError | None:
    """Each segment the manifest lists must have the size and sha256 it names.

    ``hash_longer_tail`` reads the manifest-covered prefix of a last segment
    that has grown since (``verify`` does; a reader skips it, the chain already
    ties those bytes to the manifest's head hash).
    """
    entries = manifest.get("segments")
    if not isinstance(entries, list):
        return _bad('its "segments" is not a list')
    for position, entry in enumerate(entries, start=1):
        name = entry.get("name") if isinstance(entry, dict) else None
        match = _SEGMENT_NAME.match(name) if isinstance(name, str) else None
        if match is None or int(match.group(1)) != position:
            return _bad(f"segment entry {position} is not named events/{position:06d}.ipwl")
        size = entry.get("size_bytes")
        digest = entry.get("sha256")
        if type(size) is not int or size < 0 or not isinstance(digest, str):
            return _bad(f"the entry for {name} has no valid size_bytes and sha256")
        if position > len(result.segments):
            return _bad(f"{name} is listed but the ledger has no valid segment by that name", segment=name)
        state = result.segments[position - 1]
        last = position == len(entries)
        if state.valid_bytes < size or (state.valid_bytes > size and not last):
            return _bad(f"the segment holds {state.valid_bytes} bytes but manifest.json lists {size}", segment=name)
        if state.valid_bytes == size:
            actual = state.sha256.hexdigest()
        elif hash_longer_tail:
            actual = _prefix_sha256(Path(run_dir) / name, size)
        else:
            continue
        if actual != digest:
            return _bad("the segment does not match the sha256 in manifest.json", segment=name)
    return None


def _prefix_sha256(path: Path, size: int) -> str:
    """sha256 of the first ``size`` bytes of ``path``, read in blocks."""
    digest = hashlib.sha256()
    remaining = size
    with open(path, "rb") as fh:
        while remaining > 0:
            block = fh.read(min(remaining, 1 << 20))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()
