"""ipw's benchmarks. ``python benchmarks/run.py --json`` prints one JSON object.

Each figure is the median of several repetitions on this machine; targets are
in SPEC §7. Benchmarks never run as timed assertions in the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _data import run_events, token_events  # noqa: E402

from ipw.ledger import LedgerReader, LedgerWriter  # noqa: E402


def _median(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def bench_ledger_append(n: int = 1_000_000, repeats: int = 5) -> dict[str, Any]:
    """Token events through the public writer API (append one by one), fsync at each flush."""
    events = token_events(n)
    sizes: list[float] = []

    def once() -> float:
        tmp = Path(tempfile.mkdtemp(prefix="ipw-bench-"))
        try:
            t0 = time.perf_counter()
            writer = LedgerWriter.create(tmp / "run", run_id="bench")
            append = writer.append
            for e in events:
                append(e)
            writer.close()
            elapsed = time.perf_counter() - t0
            on_disk = sum(p.stat().st_size for p in (tmp / "run" / "events").iterdir())
            sizes.append(on_disk / n)
            return n / elapsed
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    rate = _median(once, repeats)
    return {"ledger_append_events_per_s": round(rate), "ledger_bytes_per_token_event": round(statistics.median(sizes), 3)}


def bench_replay(n_queries: int = 1000, tokens_per_query: int = 1000, repeats: int = 5) -> dict[str, Any]:
    """Decode a ~1M-event run and run the accuracy, energy and latency projections over it."""
    from ipw.replay import build_view

    events = run_events(n_queries, tokens_per_query)
    tmp = Path(tempfile.mkdtemp(prefix="ipw-bench-"))
    run = tmp / "run"
    with LedgerWriter.create(run, run_id="bench", flush_interval_s=0) as writer:
        writer.extend(events)
    projections = _projections()
    try:

        def once() -> float:
            t0 = time.perf_counter()
            view = build_view(LedgerReader(run).columns(), run)
            for proj in projections:
                proj.compute(view, {})
            return len(events) / (time.perf_counter() - t0)

        rate = _median(once, repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "replay_events_per_s": round(rate),
        "replay_projections": [p.analysis_id for p in projections],
        "replay_events": len(events),
    }


def _projections() -> list[Any]:
    out = []
    for module, name in (("accuracy", "AccuracyProjection"), ("energy", "EnergyProjection"), ("latency", "LatencyProjection")):
        try:
            mod = __import__(f"ipw.analyses.{module}", fromlist=[name])
            out.append(getattr(mod, name)())
        except (ImportError, AttributeError):
            continue
    return out


def bench_runner(n_tokens: int = 200_000, repeats: int = 5) -> dict[str, Any]:
    try:
        from bench_runner import run_runner_benchmark
    except ImportError:
        return {}
    return {"runner_overhead_us_per_token": round(_median(lambda: run_runner_benchmark(n_tokens), repeats), 3)}


def bench_monitor() -> dict[str, Any]:
    try:
        from bench_monitor import run_monitor_benchmark
    except ImportError:
        return {}
    return run_monitor_benchmark()


def bench_attribution() -> dict[str, Any]:
    try:
        from bench_attribution import run_attribution_benchmark
    except ImportError:
        return {}
    return run_attribution_benchmark()


def bench_window(repeats: int = 3) -> dict[str, Any]:
    """Short windows through the real monitor and its bracket reads; the median run's worst window (bench_window.py)."""
    from bench_window import run_window_benchmark

    runs = sorted((run_window_benchmark(seed=seed) for seed in range(repeats)),
                  key=lambda r: r["energy_window_error_percent_max"])
    result = runs[len(runs) // 2]
    result["energy_window_error_percent_worst"] = runs[-1]["energy_window_error_percent_max"]
    result["energy_window_inside_bound"] = all(r["energy_window_inside_bound"] for r in runs)
    return result


def bench_harness() -> dict[str, Any]:
    """SPEC §10: ipw against a plain httpx-async client on a loopback server, same run (see harness.py)."""
    from harness import run_concurrency_check, run_harness_benchmark

    result = run_harness_benchmark()
    result.update(run_concurrency_check())
    result.update(run_concurrency_check(concurrency=1024, queries=2048))  # SPEC §10: up to at least 1,024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    all_steps = ("ledger", "replay", "runner", "monitor", "attribution", "window", "harness", "study", "dataset",
                 "proxy", "arrivals")
    parser.add_argument("--only", help="comma-separated: " + ",".join(all_steps))
    args = parser.parse_args()
    selected = set(args.only.split(",")) if args.only else set(all_steps)
    result: dict[str, Any] = {}
    steps = [
        ("ledger", bench_ledger_append),
        ("replay", bench_replay),
        ("runner", bench_runner),
        ("monitor", bench_monitor),
        ("attribution", bench_attribution),
        ("window", bench_window),
        ("harness", bench_harness),
        ("study", lambda: __import__("bench_study").run_study_benchmark()),
        ("dataset", lambda: __import__("bench_dataset").run_dataset_benchmark()),
        ("proxy", lambda: __import__("bench_proxy").run_proxy_benchmark()),
        ("arrivals", lambda: __import__("bench_arrivals").run_arrivals_benchmark()),
    ]
    for name, fn in steps:
        if name in selected:
            result.update(fn())
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key, value in sorted(result.items()):
            print(f"{key:40} {value}")


if __name__ == "__main__":
    main()
