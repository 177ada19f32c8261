"""``manifest.json``: a derived summary of a ledger, rewritten atomically.

The segments are the truth; the manifest lists them with sizes and sha256 and
names the head of the hash chain, so a shared run can be checked whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from .._atomic import write_atomic
from .._untrusted import InputRefused, decode_json, read_regular
from ..errors import LedgerCorruptError, LedgerError
from ..events import SCHEMA_VERSION
from ._scan import ScanResult, SegmentState

MANIFEST_NAME = "manifest.json"
LEDGER_FORMAT = "ipw-ledger"
LEDGER_FORMAT_VERSION = 1
# A manifest lists one short entry per segment; 16 MiB is tens of thousands of
# segments, and keeps a hostile multi-gigabyte "manifest" out of memory.
MAX_MANIFEST_BYTES = 16 * 1024**2


def build_manifest(run_id: str, segments: list[dict[str, Any]], frames: int, events: int, head_hash: bytes) -> dict[str, Any]:
    return {
        "format": LEDGER_FORMAT,
        "format_version": LEDGER_FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "segments": segments,
        "frames": frames,
        "events": events,
        "head_hash": head_hash.hex(),
    }


def segment_entries(segments: Iterable[SegmentState]) -> list[dict[str, Any]]:
    """The manifest's entry for each segment: its name, valid size, sha256, frames and events."""
    return [
        {
            "name": f"events/{s.name}",
            "size_bytes": s.valid_bytes,
            "sha256": s.sha256.hexdigest(),
            "frames": s.frames,
            "events": s.events,
        }
        for s in segments
    ]


def manifest_from_scan(run_id: str, scan: ScanResult) -> dict[str, Any]:
    return build_manifest(run_id, segment_entries(scan.segments), scan.frames, scan.events, scan.head_hash)


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically (temp file, then rename)."""
    data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    # durable: recovery trusts the manifest to list only frames fsynced before it, and a closed
    # run's manifest is what a shared copy is checked against; it is rewritten only at the first
    # flush, a segment rollover and close, so the two syncs cost nothing per event
    write_atomic(Path(run_dir) / MANIFEST_NAME, data, durable=True)


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The manifest, or ``None`` when the run has none (e.g. killed before its first flush)."""
    path = Path(run_dir) / MANIFEST_NAME
    if not os.path.lexists(path):
        return None
    try:
        data = decode_json(read_regular(path, MAX_MANIFEST_BYTES))
    except InputRefused as exc:
        raise LedgerError(f"{path} cannot be read: {exc}", hint="'ipw ledger repair RUN' rewrites it from the segments") from None
    if not isinstance(data, dict) or data.get("format") != LEDGER_FORMAT:
        raise LedgerError(f"{path} is not an ipw ledger manifest", hint="'ipw ledger repair RUN' rewrites it from the segments")
    return data


def manifest_frames(manifest: dict[str, Any]) -> int:
    """The number of frames ``manifest.json`` lists: a whole number >= 0, or a clear error.

    A manifest is edited, copied and shared by hand, so its values are checked
    before use; JSON ``true`` is not a frame count.
    """
    frames = manifest.get("frames", 0)
    if type(frames) is not int or frames < 0:
        raise LedgerCorruptError(
            f'its "frames" is {json.dumps(frames)[:40]}, not a whole number >= 0',
            segment=MANIFEST_NAME,
            offset=0,
            hint="the manifest was altered; 'ipw ledger repair RUN' rewrites it from the segments",
        )
    return frames
