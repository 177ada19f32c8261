"""Build small runs with known truth for the energy, latency, regression and summary tests.

A run is written as JSON lines (SPEC §4 event objects) and imported with
``ipw.ledger.import_jsonl`` (what ``ipw ledger import`` does), then replayed
with ``load_run``. Times are given in seconds from ``T0_NS``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ipw.ledger import import_jsonl
from ipw.replay import RunView, load_run

T0_NS = 7_000_000_000_000  # an uptime-like monotonic origin, far from zero


def ns(seconds: float) -> int:
    return T0_NS + int(round(seconds * 1e9))


def run_started(**config: Any) -> dict[str, Any]:
    return {
        "kind": "run_started",
        "run_id": "test-run",
        "t_ns": ns(0),
        "wall_time_ns": 1_700_000_000_000_000_000,
        "config": {"client": "openai", "model": "tiny", "dataset": "builtin", **config},
        "host": {"os": "Linux", "cpu": "test cpu", "cpu_count": 2},
    }


def device(device_id: str, device_type: str, **metadata: Any) -> dict[str, Any]:
    return {"kind": "device_seen", "device": device_id, "device_type": device_type, "metadata": metadata}


def query(
    query_id: int,
    start_s: float,
    end_s: float,
    tokens: Iterable[float | tuple[float, int]] = (),
    *,
    prompt_tokens: int | None = 10,
    completion_tokens: int | None = None,
    ttft_s: float | None = None,
    warmup: bool = False,
) -> list[dict[str, Any]]:
    """A completed query: start, its token events (time or (time, n_tokens)), finish."""
    out: list[dict[str, Any]] = [
        {"kind": "query_started", "query_id": query_id, "t_ns": ns(start_s), "record_id": f"r{query_id}",
         "warmup": warmup}
    ]
    count = 0
    for tok in tokens:
        t, n = tok if isinstance(tok, tuple) else (tok, 1)
        out.append({"kind": "token", "query_id": query_id, "t_ns": ns(t), "text": "x" * n, "n_tokens": n})
        count += n
    finished: dict[str, Any] = {
        "kind": "query_finished",
        "query_id": query_id,
        "t_ns": ns(end_s),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": count if completion_tokens is None else completion_tokens,
    }
    if ttft_s is not None:
        finished["ttft_ns"] = int(round(ttft_s * 1e9))
    out.append(finished)
    return out


def power_samples(
    device_id: str,
    times_s: Iterable[float],
    *,
    power_w: Iterable[float | None] | None = None,
    energy_j: Iterable[float | None] | None = None,
    source: str = "measured",
) -> list[dict[str, Any]]:
    times = list(times_s)
    powers = list(power_w) if power_w is not None else [None] * len(times)
    counters = list(energy_j) if energy_j is not None else [None] * len(times)
    return [
        {"kind": "power_sample", "device": device_id, "t_ns": ns(t), "power_w": p, "energy_j": e, "source": source}
        for t, p, e in zip(times, powers, counters)
    ]


def verdict(query_id: int, is_correct: bool | None, judge: str = "exact") -> dict[str, Any]:
    return {"kind": "verdict", "query_id": query_id, "t_ns": ns(100), "judge": judge, "is_correct": is_correct}


def write_jsonl(path: Path, events: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
    return path


def make_run(tmp_path: Path, events: Iterable[dict[str, Any]], name: str = "run") -> RunView:
    """Write ``events`` as JSON lines, import them into a new ledger, and replay it."""
    events = list(events)
    if not any(e["kind"] == "run_started" for e in events):
        events.insert(0, run_started())
    ordered = sorted(events, key=lambda e: e.get("t_ns", 0))
    source = write_jsonl(tmp_path / f"{name}.jsonl", ordered)
    run_dir = tmp_path / name
    import_jsonl(source, run_dir)
    return load_run(run_dir)


def counter_of(power_w: Any, times_s: list[float]) -> list[float]:
    """The exact cumulative energy (J) at ``times_s`` of a piecewise-constant ``power_w(t)``.

    ``power_w`` must be constant between consecutive sample times (checked at the midpoint).
    """
    out, total = [1000.0], 1000.0  # counters start anywhere
    for a, b in zip(times_s, times_s[1:]):
        total += power_w((a + b) / 2) * (b - a)
        out.append(total)
    return out


def by_query(result: dict[str, Any], key: str = "energy_j") -> dict[int, Any]:
    return {row["query_id"]: row[key] for row in result["per_query"]}
