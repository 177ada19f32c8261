"""Synthetic ledgers with known truth for the report tests.

Queries run one after another on devices of constant power, so the energy
of a query under any attribution policy is power × duration, and the
expected deltas between two runs can be written down by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipw.events import (
    DeviceSeen,
    PowerSample,
    QueryFailed,
    QueryFinished,
    QueryStarted,
    RunFinished,
    RunStarted,
    TelemetryStatus,
    Token,
    Verdict,
)
from ipw.ledger import LedgerWriter

T0_NS = 5_000_000_000
JUDGE = "auto"


@dataclass
class Q:
    """One query of a synthetic run: times in seconds from the run start."""

    record_id: str
    start_s: float
    end_s: float
    completion_tokens: int
    prompt_tokens: int | None = 20
    correct: bool | None = None
    warmup: bool = False
    failed: bool = False
    benchmark: str | None = None  # query_started.benchmark: a mixture's record names its benchmark

    @property
    def ttft_s(self) -> float:
        return 0.1 * (self.end_s - self.start_s)


def ns(seconds: float) -> int:
    return T0_NS + int(round(seconds * 1e9))


def sequential(specs: list[tuple[str, float, int, bool | None]], *, gap_s: float = 0.2, prompt_tokens: int | None = 20) -> list[Q]:
    """Queries back to back: (record_id, duration_s, completion_tokens, correct)."""
    out, t = [], 0.5
    for record_id, duration, tokens, correct in specs:
        out.append(Q(record_id, t, t + duration, tokens, prompt_tokens, correct))
        t += duration + gap_s
    return out


def write_run(
    run_dir: Path,
    queries: list[Q],
    *,
    run_id: str | None = None,
    model: str = "gemma-3-270m",
    client: str = "llamacpp",
    dataset: str = "builtin",
    devices: dict[str, float] | None = None,
    counter_only: bool = False,
    interval_s: float = 0.05,
    skip_s: tuple[float, float] | None = None,
    host: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    telemetry: list[tuple[float, str]] = (),  # type: ignore[assignment]
    finished: bool = True,
) -> Path:
    """Write a ledger; ``devices`` maps device id -> constant power in W (none: no energy)."""
    cfg = {"client": client, "model": model, "dataset": dataset, "gen": {"temperature": 0, "max_tokens": 64}}
    cfg.update(config or {})
    previous: Any = None
    events: list[Any] = [
        RunStarted(
            run_id=run_id or run_dir.name, t_ns=T0_NS, wall_time_ns=1_767_225_600_000_000_000, ipw_version="1.0.0",
            config=cfg,
            host=host or {"os": "Linux", "kernel": "6.1", "cpu": "Test CPU", "cpu_count": 2, "memory_bytes": 8 << 30,
                          "accelerators": []},
            packages={"ipw": "1.0.0", "numpy": "2.0"},
        )
    ]
    for device in sorted(devices or {}):
        events.append(DeviceSeen(device=device, device_type="gpu" if device.startswith("nvidia") else "cpu",
                                 name=f"fake {device}", vendor="test",
                                 capabilities={"energy_counter": True, "power": not counter_only}))
    for at, status in telemetry:
        events.append(TelemetryStatus(t_ns=ns(at), status=status))
    for qid, q in enumerate(queries):
        events.append(QueryStarted(query_id=qid, t_ns=ns(q.start_s), record_id=q.record_id, problem=f"problem {q.record_id}",
                                   reference="A", subject="math" if qid % 2 else "history", warmup=q.warmup,
                                   benchmark=q.benchmark))
        if q.failed:
            events.append(QueryFailed(query_id=qid, t_ns=ns(q.end_s), error_type="ServerTimeoutError", message="timed out"))
            continue
        first = q.start_s + q.ttft_s
        for k in range(q.completion_tokens):
            at = first + (q.end_s - first) * k / max(q.completion_tokens, 1)
            events.append(Token(query_id=qid, t_ns=ns(at), text=f"w{k} "))
        events.append(QueryFinished(query_id=qid, t_ns=ns(q.end_s), prompt_tokens=q.prompt_tokens,
                                    completion_tokens=q.completion_tokens, finish_reason="stop",
                                    ttft_ns=int(round(q.ttft_s * 1e9))))
    end_s = max([q.end_s for q in queries] + [0.0]) + 0.5
    for device, watts in sorted((devices or {}).items()):
        n = int(round(end_s / interval_s)) + 1
        for i in range(n):
            t = i * interval_s
            if skip_s is not None and skip_s[0] < t < skip_s[1]:
                continue
            events.append(PowerSample(device=device, t_ns=ns(t), power_w=None if counter_only else watts,
                                      energy_j=watts * t))
    for qid, q in enumerate(queries):
        if q.correct is not None and not q.failed:
            events.append(Verdict(query_id=qid, t_ns=ns(end_s), judge=JUDGE, is_correct=q.correct, score=float(q.correct)))
    if finished:
        done = sum(1 for q in queries if not q.failed)
        events.append(RunFinished(t_ns=ns(end_s), status="completed", queries_completed=done,
                                  queries_failed=len(queries) - done))
    with LedgerWriter.create(run_dir, run_id=run_id or run_dir.name, flush_interval_s=0) as writer:
        # one frame per finished query, like capture; power samples, then verdicts and the end, in frames of their own
        for event in events:
            if isinstance(event, (PowerSample, Verdict)) and type(event) is not type(previous):
                writer.flush()
            writer.append(event)
            if isinstance(event, QueryFinished):
                writer.flush()
            previous = event
    return run_dir
