"""Importing an external power meter's trace (CSV) into a run, marked ``imported``.

The CSV has a header. The time column is one of ``timestamp``, ``time``,
``unix_time``, ``t_s`` (Unix seconds, fractional allowed) or an ISO 8601
string; the reading is ``power_w``/``watts``/``power``/``w`` (instantaneous
watts) or ``energy_j``/``joules``/``energy``/``j`` (a cumulative counter in
joules). Samples are mapped onto the run's monotonic clock through the
wall-clock anchor in ``run_started``.

A trace is untrusted input: only a regular UTF-8 file of bounded size, line
length and row count is read; readings and times must be finite, and times
must fall between 1970 and 2262 (what a nanosecond clock in 64 bits holds).
"""

from __future__ import annotations

import csv
import hashlib
import math
import time
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterator

from .._untrusted import InputRefused, open_regular
from ..errors import UsageError
from ..events import Annotation, DeviceSeen, PowerSample, RunStarted

_TIME = ("timestamp", "time", "unix_time", "t_s", "ts")
_POWER = ("power_w", "watts", "power", "w")
_ENERGY = ("energy_j", "joules", "energy", "j")
MAX_TRACE_BYTES = 512 * 1024**2
MAX_TRACE_LINE_BYTES = 64 * 1024
MAX_TRACE_SAMPLES = 10_000_000
_MAX_UNIX_S = (2**63 - 1) / 1e9  # 2262-04-11: the last second a signed 64-bit ns clock holds
_CSV_HINT = "export the meter's readings as a UTF-8 CSV file with a header like 'timestamp,power_w'"


def _parse_time(value: str, where: str) -> float:
    text = value.strip()
    try:
        unix_s = float(text)
    except ValueError:
        try:
            unix_s = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            raise UsageError(f"{where}: {value[:60]!r} is neither Unix seconds nor an ISO 8601 time",
                             hint="write the time column as Unix seconds, e.g. 1795766400.25") from None
    if not 0 <= unix_s <= _MAX_UNIX_S:  # also refuses nan
        raise UsageError(f"{where}: time {value[:60]!r} is not between 1970 and 2262",
                         hint="write the time column as Unix seconds, e.g. 1795766400.25")
    return unix_s


def _lines(path: Path, fh: BinaryIO, digest: "hashlib._Hash") -> Iterator[str]:
    """The file's lines as text, each bounded in length; hashes every byte read."""
    number = 0
    while True:
        line = fh.readline(MAX_TRACE_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        digest.update(line)
        if len(line) > MAX_TRACE_LINE_BYTES:
            raise UsageError(f"{path} line {number} is longer than {MAX_TRACE_LINE_BYTES} bytes", hint=_CSV_HINT)
        if number > MAX_TRACE_SAMPLES + 1:
            raise UsageError(f"{path} has more than {MAX_TRACE_SAMPLES} samples",
                             hint="split the trace, or resample it to a lower rate")
        try:
            yield line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path} line {number} is not UTF-8 text (byte {exc.start})", hint=_CSV_HINT) from None


def read_power_csv(path: Path) -> tuple[str, list[tuple[float, float]]]:
    """(``"power_w"`` or ``"energy_j"``, [(unix seconds, value), ...]) from a meter CSV."""
    kind, rows, _digest = _read_trace(Path(path))
    return kind, rows


def _read_trace(path: Path) -> tuple[str, list[tuple[float, float]], str]:
    """(kind, sorted samples, sha256 of the file) of a meter CSV."""
    try:
        fh = open_regular(path, MAX_TRACE_BYTES)
    except InputRefused as exc:
        raise UsageError(f"cannot read the power trace: {exc}", hint="pass the meter's CSV export") from None
    digest = hashlib.sha256()
    with fh:
        reader = csv.DictReader(_lines(path, fh, digest))
        try:
            kind, rows = _samples(path, reader)
        except csv.Error as exc:
            raise UsageError(f"{path} line {reader.line_num}: cannot parse CSV ({exc})", hint=_CSV_HINT) from None
        digest.update(fh.read())  # the hash names the whole file, also a tail the reader left
    if not rows:
        raise UsageError(f"{path} has no samples", hint="export at least one reading")
    rows.sort()
    return kind, rows, digest.hexdigest()


def _samples(path: Path, reader: csv.DictReader) -> tuple[str, list[tuple[float, float]]]:
    fields = {name.strip().lower(): name for name in (reader.fieldnames or [])}
    t_col = next((fields[n] for n in _TIME if n in fields), None)
    p_col = next((fields[n] for n in _POWER if n in fields), None)
    e_col = next((fields[n] for n in _ENERGY if n in fields), None)
    if t_col is None or (p_col is None and e_col is None):
        raise UsageError(
            f"{path}: header {list(fields)[:20]} lacks a time column and a watts or joules column",
            hint="use a header like 'timestamp,power_w' or 'timestamp,energy_j'",
        )
    kind, col = ("power_w", p_col) if p_col is not None else ("energy_j", e_col)
    rows = []
    for row in reader:
        where = f"{path} line {reader.line_num}"
        raw = (row.get(col) or "").strip()
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"{where}: {raw[:60]!r} is not a number", hint=f"the {col} column must be numeric") from None
        if not math.isfinite(value):
            raise UsageError(f"{where}: {raw[:60]!r} is not a finite number", hint=f"the {col} column must be numeric")
        rows.append((_parse_time(row.get(t_col) or "", where), value))
    return kind, rows


def import_power_trace(
    run_dir: Path,
    trace: Path,
    *,
    device: str = "meter:0",
    device_type: str = "system",
    offset_s: float | None = None,
) -> int:
    """Append the trace to the run's ledger; returns the number of samples."""
    from ..ledger import LedgerReader, LedgerWriter

    if offset_s is not None and not (math.isfinite(offset_s) and abs(offset_s) <= _MAX_UNIX_S):
        raise UsageError(f"--offset-s {offset_s} is not a usable number of seconds", hint="e.g. --offset-s -3.5")
    kind, rows, digest = _read_trace(Path(trace))
    anchor = next((e for e in LedgerReader(run_dir).events(kinds={"run_started"})), None)
    if not isinstance(anchor, RunStarted):
        raise UsageError(f"{run_dir} has no run_started event to align the trace to", hint="import into a recorded run")
    shift_ns = int((offset_s or 0.0) * 1e9)
    # on the run's clock, through its wall-time anchor; a ledger holds signed 64-bit times
    samples = [(anchor.t_ns + (int(unix_s * 1e9) + shift_ns - anchor.wall_time_ns), value) for unix_s, value in rows]
    if not all(-(2**63) <= t_ns < 2**63 for t_ns, _ in (samples[0], samples[-1])):
        raise UsageError(f"{trace}: its times fall outside what the run's clock can hold",
                         hint="check --offset-s and the trace's time column")
    with LedgerWriter.open_append(run_dir) as writer:
        writer.append(
            DeviceSeen(
                device=device,
                device_type=device_type,
                name=Path(trace).name,
                vendor="external meter",
                capabilities={"energy_counter": kind == "energy_j", "power": kind == "power_w",
                              "temperature": False, "memory": False},
                t_ns=anchor.t_ns,
                collector="import",
                metadata={"file": Path(trace).name, "sha256": digest},
            )
        )
        for t_ns, value in samples:
            if kind == "power_w":
                writer.append(PowerSample(device=device, t_ns=t_ns, power_w=value, source="imported"))
            else:
                writer.append(PowerSample(device=device, t_ns=t_ns, energy_j=value, source="imported"))
        # on the run's clock, through its wall-time anchor (this machine's monotonic clock may differ)
        writer.append(Annotation(t_ns=anchor.t_ns + (time.time_ns() - anchor.wall_time_ns), key="power_trace_imported",
                                 value=f"{Path(trace).name} sha256={digest} samples={len(rows)} device={device}"))
    return len(rows)
