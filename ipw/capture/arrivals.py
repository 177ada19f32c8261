"""When each measured query is sent: the arrival schedule of a capture.

A schedule is a list of offsets in seconds from the moment the measured
queries begin (warm-ups are never scheduled: they go as fast as allowed).
The runner hands each query to its thread once a ``max_concurrency`` slot is
free, and that thread waits for the query's offset (:func:`wait_until`), never
sending early; a query waits later when every slot is busy.

- No ``request_rate``: no schedule, queries go as fast as the slots allow.
- ``request_rate`` r with ``burstiness`` k (default 1): the gaps between
  arrivals are Gamma(shape=k, scale=1/(r·k)), mean 1/r whatever k is, as
  ``vllm bench --burstiness`` draws them. k = 1 is a Poisson process;
  k < 1 is burstier (clusters and long pauses), k > 1 more even.
- ``ramp_up_s`` R: the rate rises linearly from 0 to r over the first R
  seconds, then stays at r. The gaps above are drawn in the process's own
  time (its expected arrival count Λ) and mapped back to seconds by
  Λ⁻¹: Λ(t) = r·t²/(2R) for t < R, r·R/2 + r·(t − R) after.
- ``arrival_trace``: the arrival times of a file, replayed as they are. A
  trace is one number of seconds per line, or CSV with a header, or JSON
  lines, whose ``timestamp`` column (or ``time``, ``arrival_time``,
  ``offset_s``) holds seconds or ISO 8601 times. The offsets are taken from
  the first arrival, so a trace of Unix times and one of offsets from 0
  replay alike. A trace is untrusted input: its size and count are bounded
  and a bad line is refused with its number.

Every schedule is seeded (``seed``), so a run's intended send times are the
same on every machine; the runner records the schedule it followed as an
``arrival_schedule`` annotation whose ``t_ns`` is the moment offset 0 stands
for.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .._untrusted import InputRefused, decode_json, read_regular

__all__ = ["ArrivalSchedule", "gamma_gaps_s", "wait_until", "ramped_offsets_s", "read_trace", "schedule_for",
           "MAX_TRACE_BYTES", "MAX_TRACE_ARRIVALS", "MAX_TRACE_SPAN_S", "TIME_COLUMNS"]

MAX_TRACE_BYTES = 64 * 1024**2
MAX_TRACE_ARRIVALS = 1_000_000
MAX_TRACE_SPAN_S = 7 * 86400.0  # a week: longer is no capture, and a wait that long overflows the clock
# a trace's time column, by the names the usual public traces give it (matched case-insensitively)
TIME_COLUMNS = ("timestamp", "time", "arrival_time", "offset_s")


@dataclass(frozen=True)
class ArrivalSchedule:
    """The offsets (s, from the start of the measured queries) at which each query is sent, and how."""

    offsets_s: tuple[float, ...]
    description: dict[str, Any]

    def annotation_value(self) -> str:
        return json.dumps({**self.description, "arrivals": len(self.offsets_s)}, sort_keys=True)


def gamma_gaps_s(n: int, rate_per_s: float, burstiness: float, rng: random.Random) -> list[float]:
    """``n`` gaps with mean ``1/rate_per_s``: Gamma(shape=burstiness, scale=1/(rate·burstiness))."""
    scale = 1.0 / (rate_per_s * burstiness)
    return [rng.gammavariate(burstiness, scale) for _ in range(n)]


def ramped_offsets_s(gaps_s: list[float], rate_per_s: float, ramp_up_s: float) -> list[float]:
    """Arrival offsets from gaps drawn at the full rate, with the rate rising linearly over ``ramp_up_s``.

    The cumulative sums of the gaps, times the rate, are the expected arrival count Λ at each arrival;
    Λ⁻¹ turns each into seconds. Without a ramp this is the plain cumulative sum."""
    out, total = [], 0.0
    ramp_count = rate_per_s * ramp_up_s / 2  # Λ(R): arrivals expected during the ramp
    for gap in gaps_s:
        total += gap
        count = total * rate_per_s
        if ramp_up_s > 0 and count < ramp_count:
            out.append(math.sqrt(2 * ramp_up_s * count / rate_per_s))
        else:
            out.append(ramp_up_s + (count - ramp_count) / rate_per_s if ramp_up_s > 0 else total)
    return out


def schedule_for(config: Any, n_arrivals: int) -> ArrivalSchedule | None:
    """The schedule of ``n_arrivals`` measured queries under ``config`` (a CaptureConfig); None for none.

    Raises ``InputRefused`` for a trace that cannot be read, and ``ValueError`` for one shorter than the plan."""
    trace = getattr(config, "arrival_trace", None)
    if trace:
        offsets, digest = read_trace(trace)
        if len(offsets) < n_arrivals:
            raise ValueError(f"the arrival trace holds {len(offsets)} arrivals, and the run plans {n_arrivals} "
                             "measured queries")
        return ArrivalSchedule(tuple(offsets[:n_arrivals]),
                               {"kind": "trace", "path": str(trace), "sha256": digest,
                                "trace_arrivals": len(offsets)})
    rate = config.request_rate
    if not rate:
        return None
    burstiness = float(getattr(config, "burstiness", None) or 1.0)
    ramp_up_s = float(getattr(config, "ramp_up_s", None) or 0.0)
    rng = random.Random(config.seed)
    offsets = ramped_offsets_s(gamma_gaps_s(n_arrivals, rate, burstiness, rng), rate, ramp_up_s)
    kind = "poisson" if burstiness == 1.0 else "gamma"
    return ArrivalSchedule(tuple(offsets), {"kind": kind, "request_rate": rate, "burstiness": burstiness,
                                            "ramp_up_s": ramp_up_s, "seed": config.seed})


def wait_until(due_ns: int, stop: threading.Event) -> bool:
    """Wait until ``time.monotonic_ns()`` reaches ``due_ns``; False if ``stop`` was set first. Never early."""
    # a wait may wake a little before its timeout, so wait again for the rest
    while (delay_ns := due_ns - time.monotonic_ns()) > 0:
        if stop.wait(delay_ns / 1e9):
            return False
    return not stop.is_set()


def read_trace(path: str | Path) -> tuple[list[float], str]:
    """The offsets (s, from the first arrival) of a trace file, and the file's sha256."""
    data = read_regular(path, MAX_TRACE_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputRefused(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise InputRefused(f"{path} holds no arrivals")
    if len(lines) > MAX_TRACE_ARRIVALS + 1:
        raise InputRefused(f"{path} holds more than {MAX_TRACE_ARRIVALS} arrivals")
    if lines[0][1].startswith("{"):
        times = [_seconds(_field(decode_json(line), path, n), path, n) for n, line in lines]
    elif _is_number(lines[0][1]):
        times = [_seconds(line, path, n) for n, line in lines]
    else:
        times = _csv_times(text, path)
    if not times:
        raise InputRefused(f"{path} holds no arrivals")
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            raise InputRefused(f"{path}: arrival {i + 1} ({times[i]}) comes before the one above it "
                               f"({times[i - 1]}); a trace lists arrivals in order")
    first = times[0]
    if times[-1] - first > MAX_TRACE_SPAN_S:
        raise InputRefused(f"{path} spans {times[-1] - first:.0f} s, more than the {MAX_TRACE_SPAN_S:.0f} s allowed")
    return [t - first for t in times], digest


def _csv_times(text: str, path: str | Path) -> list[float]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None) or []
    names = [h.strip().lower() for h in header]
    column = next((names.index(c) for c in TIME_COLUMNS if c in names), None)
    if column is None:
        raise InputRefused(f"{path}: its header names no time column ({', '.join(TIME_COLUMNS)})")
    times = []
    for n, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(times) >= MAX_TRACE_ARRIVALS:
            raise InputRefused(f"{path} holds more than {MAX_TRACE_ARRIVALS} arrivals")
        if column >= len(row):
            raise InputRefused(f"{path} line {n}: no value in the {names[column]!r} column")
        times.append(_seconds(row[column], path, n))
    return times


def _field(row: Any, path: str | Path, n: int) -> Any:
    if not isinstance(row, dict):
        raise InputRefused(f"{path} line {n}: expected a JSON object with a time field")
    lowered = {str(k).lower(): v for k, v in row.items()}
    for name in TIME_COLUMNS:
        if name in lowered:
            return lowered[name]
    raise InputRefused(f"{path} line {n}: no time field ({', '.join(TIME_COLUMNS)})")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _seconds(value: Any, path: str | Path, n: int) -> float:
    """A time as seconds: a number, or an ISO 8601 time (its POSIX timestamp)."""
    if isinstance(value, bool):
        raise InputRefused(f"{path} line {n}: {value!r} is not a time")
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                seconds = datetime.fromisoformat(text).timestamp()
            except ValueError:
                raise InputRefused(f"{path} line {n}: {text[:40]!r} is neither seconds nor an ISO 8601 time") from None
    elif isinstance(value, (int, float)):
        seconds = float(value)
    else:
        raise InputRefused(f"{path} line {n}: {str(value)[:40]!r} is not a time")
    if not math.isfinite(seconds):
        raise InputRefused(f"{path} line {n}: {seconds} is not a finite time")
    return seconds
