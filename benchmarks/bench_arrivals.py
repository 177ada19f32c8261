"""How closely ipw follows a replayed arrival trace: ``arrival_trace_lateness_ms_max``.

A trace of 100 arrivals over about 2 s (gaps of 0 to 40 ms, two bursts of
simultaneous arrivals) is replayed by ``ipw record --arrival-trace``'s runner
against the loopback server (its own process, 16 tokens per answer) with
enough slots that none waits for one. Each measured query's ``query_started``
time, from the run's ``arrival_schedule`` annotation (offset 0), minus its
trace offset is its lateness; the figure is the largest lateness of a run,
the median over the runs. Target (issue 22): at most 5 ms.

``arrival_timer_lateness_ms_max`` is the host's own floor, measured between
the runs in the same process: one thread waits for the same offsets with
nothing else to do (no server, no other threads), and its worst lateness is
taken the same way. Where it is near 5 ms too, the host's CPUs are busy
elsewhere, and no scheduling in ipw can do better than that floor.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness import LoopbackServer  # noqa: E402


def _trace(n: int = 100, seed: int = 5) -> list[float]:
    rng = random.Random(seed)
    t, out = 0.0, []
    for i in range(n):
        out.append(round(t, 6))
        t += 0.0 if i in range(40, 45) or i in range(80, 86) else rng.uniform(0.0, 0.04)
    return out


def _once(base_url: str, offsets: list[float]) -> float:
    from ipw.capture.runner import CaptureConfig, Runner
    from ipw.events import Annotation, QueryStarted
    from ipw.ledger import read_events

    tmp = Path(tempfile.mkdtemp(prefix="ipw-bench-arrivals-"))
    try:
        data = tmp / "prompts.jsonl"
        data.write_text("".join(json.dumps({"problem": f"q{i}", "answer": "x"}) + "\n" for i in range(len(offsets))))
        trace = tmp / "trace.txt"
        trace.write_text("".join(f"{t}\n" for t in offsets))
        config = CaptureConfig(client="openai", model="bench", dataset="file", dataset_params={"path": str(data)},
                               output_dir=str(tmp), run_name="run", max_concurrency=32, energy="none",
                               client_base_url=base_url, gen_params={"max_tokens": 16},
                               client_params={"api": "chat"}, arrival_trace=str(trace))
        result = Runner(config).run()
        if result.completed != len(offsets):
            raise RuntimeError(f"ipw completed {result.completed} of {len(offsets)} queries")
        events = read_events(tmp / "run")
        origin = next(e.t_ns for e in events if isinstance(e, Annotation) and e.key == "arrival_schedule")
        started = sorted(e.t_ns for e in events if isinstance(e, QueryStarted))
        return max((t - origin) / 1e6 - want * 1e3 for t, want in zip(started, offsets))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _timer_floor(offsets: list[float]) -> float:
    """The worst lateness (ms) of a bare timed wait for each offset: what the host allows any program."""
    import threading
    import time

    never = threading.Event()
    origin_ns = time.monotonic_ns()
    worst_ms = 0.0
    for offset in offsets:
        due_ns = origin_ns + round(offset * 1e9)
        while (delay_ns := due_ns - time.monotonic_ns()) > 0:
            never.wait(delay_ns / 1e9)
        worst_ms = max(worst_ms, (time.monotonic_ns() - due_ns) / 1e6)
    return worst_ms


def run_arrivals_benchmark(repeats: int = 5) -> dict[str, Any]:
    offsets = _trace()
    lateness, floor = [], []
    with LoopbackServer(16) as server:
        for _ in range(repeats):
            lateness.append(_once(server.base_url, offsets))
            floor.append(_timer_floor(offsets))
    return {"arrival_trace_lateness_ms_max": round(statistics.median(lateness), 3),
            "arrival_timer_lateness_ms_max": round(statistics.median(floor), 3)}


if __name__ == "__main__":
    print(json.dumps(run_arrivals_benchmark(), indent=2))
