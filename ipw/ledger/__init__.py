"""How events are stored: segments of checksummed, hash-chained zstd frames.

See :mod:`ipw.ledger._format` for the byte layout. The writer acknowledges an
event once its frame is written and fsynced; the reader yields the longest
valid prefix; :func:`verify` and :func:`repair` check and restore it.
"""

from __future__ import annotations

from ._codec import Columns, decode_batch, encode_batch
from ._scan import Position, ScanResult, scan
from .jsonl import event_from_json, event_to_json, export_jsonl, import_jsonl, parse_jsonl
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .reader import LedgerReader, read_events
from .recovery import RepairReport, VerifyReport, repair, verify
from .writer import LedgerWriter

__all__ = [
    "LedgerWriter",
    "LedgerReader",
    "Position",
    "ScanResult",
    "VerifyReport",
    "RepairReport",
    "MANIFEST_NAME",
    "scan",
    "verify",
    "repair",
    "read_events",
    "read_manifest",
    "write_manifest",
    "import_jsonl",
    "export_jsonl",
    "parse_jsonl",
    "event_to_json",
    "event_from_json",
    "encode_batch",
    "decode_batch",
    "Columns",
]
