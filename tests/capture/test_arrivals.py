"""Arrival schedules: gamma gaps that match their distribution, a linear ramp-up, and a replayed trace.

The replay is followed through ``ipw record --arrival-trace`` against a loopback stub server (it stands in
for any OpenAI-compatible inference server; what is under test is when ipw sends). The intended send
times are checked exactly; the actual lateness only against a loose bound that holds on a loaded machine
(the 5 ms figure is measured by ``benchmarks/run.py`` as ``arrival_trace_lateness_ms_max``).
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest
from scipy import stats

from ipw.capture.arrivals import (MAX_TRACE_SPAN_S, gamma_gaps_s, ramped_offsets_s, read_trace, schedule_for)
from ipw.capture.config import CaptureConfig
from ipw.events import Annotation, QueryStarted
from ipw.errors import UsageError
from ipw._untrusted import InputRefused
from ipw.ledger import read_events
from tests.capture._stub_server import completions_server
from tests.conftest import assert_one_clean_line

RATE = 5.0


@pytest.mark.parametrize("burstiness", [0.5, 3.0])
def test_gamma_gaps_match_their_distribution(burstiness: float) -> None:
    gaps = gamma_gaps_s(10_000, RATE, burstiness, random.Random(7))
    fitted = stats.kstest(gaps, stats.gamma(a=burstiness, scale=1 / (RATE * burstiness)).cdf)
    assert fitted.pvalue > 0.01
    # the same sample against the Poisson process's exponential gaps of the same mean: told apart
    assert stats.kstest(gaps, stats.expon(scale=1 / RATE).cdf).pvalue < 0.01
    assert sum(gaps) / len(gaps) == pytest.approx(1 / RATE, rel=0.05)


def test_burstiness_1_is_the_poisson_process_and_the_default() -> None:
    config = CaptureConfig(client="openai", model="m", request_rate=RATE, seed=3)
    schedule = schedule_for(config, 10_000)
    assert schedule is not None and schedule.description["kind"] == "poisson"
    offsets = schedule.offsets_s
    gaps = [offsets[0]] + [b - a for a, b in zip(offsets, offsets[1:])]
    assert stats.kstest(gaps, stats.expon(scale=1 / RATE).cdf).pvalue > 0.01
    explicit = schedule_for(CaptureConfig(client="openai", model="m", request_rate=RATE, seed=3, burstiness=1.0), 50)
    assert explicit is not None and explicit.offsets_s == offsets[:50]  # seeded: the same on every machine


def test_ramp_up_maps_even_gaps_through_the_inverse_of_a_linear_rate() -> None:
    rate, ramp_s = 10.0, 2.0
    offsets = ramped_offsets_s([1 / rate] * 30, rate, ramp_s)
    # Λ(t) = r t² / (2R) during the ramp: the k-th arrival at sqrt(2Rk/r); after it, 1/r apart from R
    for k, t in enumerate(offsets, start=1):
        expected = math.sqrt(2 * ramp_s * k / rate) if k < rate * ramp_s / 2 else ramp_s + (k - 10) / rate
        assert t == pytest.approx(expected, abs=1e-9)
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    assert gaps[0] > gaps[5] > gaps[12]  # the gaps shrink while the rate rises
    assert ramped_offsets_s([0.1, 0.2], rate, 0.0) == pytest.approx([0.1, 0.3])


def test_a_ramped_schedule_keeps_the_full_rate_after_the_ramp() -> None:
    config = CaptureConfig(client="openai", model="m", request_rate=20.0, ramp_up_s=5.0, burstiness=2.0)
    offsets = schedule_for(config, 4000).offsets_s
    during = sum(1 for t in offsets if t < 5.0)
    after = sum(1 for t in offsets if 5.0 <= t < 105.0)
    assert 50 - 25 < during < 50 + 25  # Λ(5) = 20 · 5 / 2 = 50 expected during the ramp
    assert after == pytest.approx(2000, rel=0.1)


def test_trace_formats_all_give_offsets_from_the_first_arrival(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("# seconds\n0\n0.25\n\n0.25\n1.5\n")
    assert read_trace(plain)[0] == [0.0, 0.25, 0.25, 1.5]
    csv_file = tmp_path / "trace.csv"
    csv_file.write_text("request_id,TIMESTAMP,tokens\na,1700000000.5,3\nb,1700000001.0,9\n")
    assert read_trace(csv_file)[0] == [0.0, 0.5]
    jsonl = tmp_path / "trace.jsonl"
    jsonl.write_text('{"timestamp": "2023-11-16 18:15:46.500"}\n{"timestamp": "2023-11-16 18:15:48.000"}\n')
    assert read_trace(jsonl)[0] == pytest.approx([0.0, 1.5])


@pytest.mark.parametrize(("text", "words"), [
    ("0\n1\n0.5\n", "comes before"),
    ("0\nsoon\n", "line 2"),
    ("0\nnan\n", "not a finite time"),
    ("a,b\n1,2\n", "no time column"),
    ('{"timestamp": 1}\n[1]\n', "line 2"),
    ('{"t": 1}\n', "no time field"),
    ("", "no arrivals"),
    (f"0\n{MAX_TRACE_SPAN_S * 2}\n", "spans"),
])
def test_a_bad_trace_is_refused_with_its_reason(tmp_path: Path, text: str, words: str) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text(text)
    with pytest.raises(InputRefused, match=words):
        read_trace(trace)


def test_a_fifo_trace_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputRefused, match="FIFO"):
        read_trace(fifo)


@pytest.mark.parametrize(("changes", "words"), [
    # a Python caller's settings are named as Python spells them (the CLI says --request-rate)
    ({"burstiness": 0.5}, "^burstiness shapes the arrivals at request_rate, which is not set"),
    ({"ramp_up_s": 3.0}, "^ramp_up_s shapes the arrivals at request_rate, which is not set"),
    ({"request_rate": 2.0, "burstiness": 0.0}, "^burstiness: must be >= 0.01, got 0.0"),
    ({"request_rate": 2.0, "burstiness": float("nan")}, "^burstiness: must be >= 0.01, got NaN"),
    ({"request_rate": 2.0, "ramp_up_s": -1.0}, "^ramp_up_s: must be >= 0.0, got -1.0"),
    ({"request_rate": 2.0, "arrival_trace": "t.txt"}, "both decide"),
])
def test_arrival_settings_that_cannot_work_are_refused(changes: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        CaptureConfig(client="openai", model="m", **changes).validate()


def _record(url: str, out: Path, name: str, *extra: str) -> list[str]:
    return ["record", "--client", "openai", "--client-base-url", url, "--client-param", "api=completions",
            "--client-param", "usage_fallback=count", "--model", "m", "--energy", "none", "--output-dir", str(out),
            "--run-name", name, *extra]


def test_record_replays_a_trace_at_its_times(tmp_path: Path, cli) -> None:
    offsets = [0.0, 0.05, 0.05, 0.2, 0.35, 0.4]
    trace = tmp_path / "trace.txt"
    trace.write_text("".join(f"{t}\n" for t in offsets))
    with completions_server() as url:
        result = cli(*_record(url, tmp_path, "replay", "--arrival-trace", str(trace), "--max-queries", "6",
                              "--max-concurrency", "6", "--warmup-queries", "1"))
    assert result.exit_code == 0, result.stderr
    events = read_events(tmp_path / "replay")
    (mark,) = [e for e in events if isinstance(e, Annotation) and e.key == "arrival_schedule"]
    described = json.loads(mark.value)
    assert described["kind"] == "trace" and described["arrivals"] == 6
    # the intended send times are the trace's, exactly
    config = CaptureConfig(client="openai", model="m", arrival_trace=str(trace))
    assert list(schedule_for(config, 6).offsets_s) == offsets
    started = sorted(e.t_ns for e in events if isinstance(e, QueryStarted) and not e.warmup)
    lateness_s = [(t - mark.t_ns) / 1e9 - want for t, want in zip(started, offsets)]
    assert len(lateness_s) == 6
    assert min(lateness_s) >= 0  # never early
    assert max(lateness_s) < 0.25  # loose: a shared machine may stall; the 5 ms figure is a benchmark


def test_a_trace_shorter_than_the_run_is_refused_before_anything_is_recorded(tmp_path: Path, cli) -> None:
    trace = tmp_path / "short.txt"
    trace.write_text("0\n0.1\n")
    with completions_server() as url:
        result = cli(*_record(url, tmp_path, "short", "--arrival-trace", str(trace), "--max-queries", "3"))
    assert result.exit_code != 0
    assert_one_clean_line(result.stderr)
    assert "holds 2 arrivals" in result.stderr
    assert not (tmp_path / "short").exists()


def test_record_refuses_a_burstiness_without_a_rate_in_one_line(tmp_path: Path, cli) -> None:
    result = cli(*_record("http://127.0.0.1:9/v1", tmp_path, "b", "--burstiness", "0.5"))
    assert result.exit_code != 0
    assert_one_clean_line(result.stderr)
