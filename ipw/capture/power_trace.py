"""Importing an external power meter's trace (CSV) into a run, marked ``imported``.

The CSV has a header. The time column is one of ``timestamp``, ``time``,
``unix_time``, ``t_s`` (Unix seconds, fractional allowed) or an ISO 8601
string; the reading is ``power_w``/``watts``/``power``/``w`` (instantaneous
watts) or ``energy_j``/``joules``/``energy``/``j`` (a cumulative counter in
joules). Samples are mapped onto the run's monotonic clock through the
wall-clock anchor in ``run_started``.
"""

from __future__ import annotations

import csv
import hashlib
import time
from datetime import datetime
from pathlib import Path

from ..errors import UsageError
from ..events import Annotation, DeviceSeen, PowerSample, RunStarted

_TIME = ("timestamp", "time", "unix_time", "t_s", "ts")
_POWER = ("power_w", "watts", "power", "w")
_ENERGY = ("energy_j", "joules", "energy", "j")


def _parse_time(value: str, where: str) -> float:
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(f"{where}: {value!r} is neither Unix seconds nor an ISO 8601 time",
                         hint="write the time column as Unix seconds, e.g. 1795766400.25") from None


def read_power_csv(path: Path) -> tuple[str, list[tuple[float, float]]]:
    """(``"power_w"`` or ``"energy_j"``, [(unix seconds, value), ...]) from a meter CSV."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist", hint="pass the meter's CSV export")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = {name.strip().lower(): name for name in (reader.fieldnames or [])}
        t_col = next((fields[n] for n in _TIME if n in fields), None)
        p_col = next((fields[n] for n in _POWER if n in fields), None)
        e_col = next((fields[n] for n in _ENERGY if n in fields), None)
        if t_col is None or (p_col is None and e_col is None):
            raise UsageError(
                f"{path}: header {list(fields)} lacks a time column and a watts or joules column",
                hint="use a header like 'timestamp,power_w' or 'timestamp,energy_j'",
            )
        kind, col = ("power_w", p_col) if p_col is not None else ("energy_j", e_col)
        rows = []
        for number, row in enumerate(reader, start=2):
            where = f"{path} line {number}"
            raw = (row.get(col) or "").strip()
            try:
                value = float(raw)
            except ValueError:
                raise UsageError(f"{where}: {raw!r} is not a number", hint=f"the {col} column must be numeric") from None
            rows.append((_parse_time(row.get(t_col) or "", where), value))
    if not rows:
        raise UsageError(f"{path} has no samples", hint="export at least one reading")
    rows.sort()
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

    kind, rows = read_power_csv(trace)
    anchor = next((e for e in LedgerReader(run_dir).events(kinds={"run_started"})), None)
    if not isinstance(anchor, RunStarted):
        raise UsageError(f"{run_dir} has no run_started event to align the trace to", hint="import into a recorded run")
    shift_ns = int((offset_s or 0.0) * 1e9)
    digest = hashlib.sha256(Path(trace).read_bytes()).hexdigest()
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
        for unix_s, value in rows:
            wall_ns = int(unix_s * 1e9) + shift_ns
            t_ns = anchor.t_ns + (wall_ns - anchor.wall_time_ns)
            if kind == "power_w":
                writer.append(PowerSample(device=device, t_ns=t_ns, power_w=value, source="imported"))
            else:
                writer.append(PowerSample(device=device, t_ns=t_ns, energy_j=value, source="imported"))
        # on the run's clock, through its wall-time anchor (this machine's monotonic clock may differ)
        writer.append(Annotation(t_ns=anchor.t_ns + (time.time_ns() - anchor.wall_time_ns), key="power_trace_imported",
                                 value=f"{Path(trace).name} sha256={digest} samples={len(rows)} device={device}"))
    return len(rows)
