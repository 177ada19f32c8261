"""Goodput search against a loopback server whose latency grows with the load in a known way.

The server (a stand-in for an inference server that slows down as its batch
grows) answers each completion after 200 ms × the number of requests it holds
when that one arrives, itself included, and lets go of the request before it
writes the answer, so a closed loop at concurrency c never shows it more than
c. Under an SLO of TTFT ≤ 700 ms, concurrency 3 (600 ms) meets it for every
query, and at concurrency 4 every query after the first wave waits 800 ms: the
highest compliant concurrency is 3, known before the search runs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from ipw import api
from ipw.capture.config import CaptureConfig
from ipw.errors import UsageError
from ipw.studies.goodput import search_goodput, run_attainment

from tests._servers import StubHandler, loopback_http, one_chunk_sse

UNIT_S = 0.2
SLO = "ttft_ms=700"


@contextlib.contextmanager
def slowing_server() -> Iterator[str]:
    lock = threading.Lock()
    held = [0]

    class Handler(StubHandler):
        def do_POST(self) -> None:
            self.read_body()
            with lock:
                held[0] += 1
                in_flight = held[0]
            time.sleep(UNIT_S * in_flight)
            with lock:
                held[0] -= 1
            self.send_whole(200, "text/event-stream", one_chunk_sse(" 4", "stop"))

    with loopback_http(Handler) as url:
        yield url


def test_the_search_finds_the_highest_concurrency_within_the_slo(tmp_path: Path) -> None:
    with slowing_server() as url:
        def measure(level: int) -> float | None:
            config = CaptureConfig(client="openai", model="m", client_base_url=url, output_dir=str(tmp_path),
                                   run_name=f"mc{level}", max_queries=12, max_concurrency=level, energy="none",
                                   client_params={"api": "completions"}, gen_params={"max_tokens": 1})
            return run_attainment(api.record(config).run_dir, SLO)

        result = search_goodput(measure, low=1, high=8, target_attainment=0.9)
    assert result.level == 3
    assert [p.level for p in result.probes] == [1, 8, 4, 2, 3]  # low, high, then halving
    assert [p.meets for p in result.probes] == [True, False, False, True, True]
    at_4 = result.probes[2].attainment
    assert at_4 is not None and at_4 <= 4 / 12  # only the first wave (1, 2, 3 held) can be fast enough


def _known(attainment: dict[int, float]):
    seen: list[int] = []

    def measure(level: int) -> float:
        seen.append(level)
        return attainment[level]
    return measure, seen


def test_bisection_on_a_known_curve_probes_each_level_once() -> None:
    curve = {k: (1.0 if k <= 11 else 0.5) for k in range(1, 33)}
    measure, seen = _known(curve)
    result = search_goodput(measure, low=1, high=32, target_attainment=0.95)
    assert result.level == 11 and len(seen) == len(set(seen)) == 7  # 1, 32, 16, 8, 12, 10, 11
    assert result.to_dict()["probes"][0] == {"level": 1, "attainment": 1.0, "meets": True}


def test_when_even_the_lowest_level_misses_there_is_no_level() -> None:
    measure, seen = _known({1: 0.2, 2: 0.1})
    result = search_goodput(measure, low=1, high=2, target_attainment=0.9)
    assert result.level is None and seen == [1]


def test_when_the_highest_level_meets_it_is_the_answer() -> None:
    measure, seen = _known({2: 1.0, 64: 0.99})
    assert search_goodput(measure, low=2, high=64, target_attainment=0.99).level == 64 and seen == [2, 64]


def test_a_probe_that_measured_nothing_is_a_miss() -> None:
    measure, _ = _known({1: 1.0, 2: None, 3: None})  # type: ignore[dict-item]
    assert search_goodput(measure, low=1, high=3, target_attainment=0.5).level == 1


@pytest.mark.parametrize(("low", "high", "target"), [(0, 4, 0.9), (5, 4, 0.9), (1, 4, 0.0), (1, 4, 1.5)])
def test_bad_bounds_are_usage_errors(low: int, high: int, target: float) -> None:
    with pytest.raises(UsageError):
        search_goodput(lambda level: 1.0, low=low, high=high, target_attainment=target)
