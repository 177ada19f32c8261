"""Accuracy, IPW and IPJ per benchmark: records of two benchmarks (and some of the run's own dataset) in one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _energy_runs import device, make_run, power_samples, query, run_started, verdict
from ipw.analyses import AccuracyProjection
from ipw.analyses.proportion import wilson_interval
from ipw.analyses.summary import SummaryProjection
from ipw.events import QueryFinished, QueryStarted, RunStarted, Token, Verdict
from ipw.replay import build_view
from ipw.reports.analysis_files import dumps_result

POWER_W = 150.0


def _mixed_run(tmp_path: Path):
    # back to back at a constant 150 W: q1 [1, 2] and q2 [2, 3] mmlu-pro (150 J each), q3 [3, 4.5] gsm8k (225 J),
    # q4 [4.5, 5] names no benchmark, so it is the run's dataset, builtin (75 J); q1, q3, q4 right, q2 wrong
    events = [run_started(), device("nvidia:0", "gpu")]
    for qid, (start, end, bench) in enumerate([(1.0, 2.0, "mmlu-pro"), (2.0, 3.0, "mmlu-pro"),
                                               (3.0, 4.5, "gsm8k"), (4.5, 5.0, None)], start=1):
        started, *rest = query(qid, start, end, [start + 0.25])
        events += [{**started, **({"benchmark": bench} if bench else {})}, *rest]
    events += [verdict(1, True), verdict(2, False), verdict(3, True), verdict(4, True)]
    times = [k * 0.1 for k in range(61)]
    events += power_samples("nvidia:0", times, power_w=[POWER_W] * len(times))
    return make_run(tmp_path, events)


def test_summary_gives_each_benchmark_its_accuracy_interval_ipw_and_ipj(tmp_path: Path) -> None:
    result = SummaryProjection().compute(_mixed_run(tmp_path), {})
    by = result["by_benchmark"]
    assert list(by) == ["builtin", "gsm8k", "mmlu-pro"]
    mmlu, gsm8k, builtin = by["mmlu-pro"], by["gsm8k"], by["builtin"]
    assert (mmlu["correct"], mmlu["incorrect"], mmlu["total"], mmlu["accuracy"]) == (1, 1, 2, 0.5)
    assert (mmlu["accuracy_ci_low"], mmlu["accuracy_ci_high"]) == wilson_interval(1, 2)
    assert mmlu["mean_energy_per_query_j"] == pytest.approx(150.0)
    assert mmlu["intelligence_per_joule"] == pytest.approx(0.5 / 150.0)
    # power is the run's (150 W: the queries fill the window), shared by the benchmarks
    assert result["metrics"]["mean_power_w"]["value"] == pytest.approx(POWER_W)
    assert mmlu["intelligence_per_watt"] == pytest.approx(0.5 / POWER_W)
    assert gsm8k["accuracy"] == 1.0 and gsm8k["accuracy_ci_high"] == 1.0
    assert gsm8k["accuracy_ci_low"] == pytest.approx(0.2065, abs=1e-4)
    assert gsm8k["mean_energy_per_query_j"] == pytest.approx(225.0)
    assert gsm8k["intelligence_per_joule"] == pytest.approx(1 / 225.0)
    assert builtin["mean_energy_per_query_j"] == pytest.approx(75.0)
    assert builtin["intelligence_per_joule"] == pytest.approx(1 / 75.0)
    assert sum(b["total"] for b in by.values()) == result["metrics"]["queries_measured"]["value"]
    json.loads(dumps_result(result))  # JSON-ready, no NaN


def test_one_benchmark_is_the_run_itself(tmp_path: Path) -> None:
    events = [run_started(dataset="gsm8k"), device("nvidia:0", "gpu")]
    for i in range(4):
        events += query(i + 1, 1.0 + i, 2.0 + i, [1.5 + i])
    events += [verdict(1, True), verdict(2, True), verdict(3, False), verdict(4, True)]
    times = [k * 0.1 for k in range(61)]
    events += power_samples("nvidia:0", times, power_w=[POWER_W] * len(times))
    result = SummaryProjection().compute(make_run(tmp_path, events), {})
    only = result["by_benchmark"]["gsm8k"]
    assert list(result["by_benchmark"]) == ["gsm8k"]
    for name in ("intelligence_per_watt", "intelligence_per_joule", "mean_energy_per_query_j", "accuracy"):
        assert only[name] == pytest.approx(result["metrics"][name]["value"]), name


def test_without_energy_a_benchmark_has_accuracy_but_no_ratio(tmp_path: Path) -> None:
    events = [run_started(dataset="arc-challenge")]
    events += query(1, 1.0, 2.0, [1.5]) + [verdict(1, True)]
    by = SummaryProjection().compute(make_run(tmp_path, events), {})["by_benchmark"]["arc-challenge"]
    assert by["accuracy"] == 1.0 and by["accuracy_ci_low"] is not None
    assert by["mean_energy_per_query_j"] is None and by["intelligence_per_watt"] is None
    assert by["intelligence_per_joule"] is None


def test_accuracy_json_splits_by_benchmark_and_leaves_warmups_out() -> None:
    events: list = [RunStarted(run_id="mix", t_ns=0, wall_time_ns=1, config={"model": "m", "dataset": "mix"})]
    plan = [("gpqa-diamond", True), ("gpqa-diamond", False), ("gpqa-diamond", None), ("math-500", True),
            ("math-500", True)]
    for qid, (bench, _) in enumerate(plan, start=1):
        events += [QueryStarted(query_id=qid, t_ns=qid * 10, record_id="0" if qid == 4 else f"r{qid}",
                                benchmark=bench),
                   Token(query_id=qid, t_ns=qid * 10 + 1, text="x"), QueryFinished(query_id=qid, t_ns=qid * 10 + 2)]
    events += [QueryStarted(query_id=90, t_ns=900, benchmark="simpleqa", warmup=True), QueryFinished(query_id=90, t_ns=901)]
    events += [Verdict(query_id=q, t_ns=1000 + q, judge="j", is_correct=ok) for q, (_, ok) in enumerate(plan, start=1)]
    events += [Verdict(query_id=90, t_ns=1090, judge="j", is_correct=True)]
    result = AccuracyProjection().compute(build_view([events]), {})
    by = result["by_benchmark"]
    assert list(by) == ["gpqa-diamond", "math-500"]  # the warm-up's benchmark never appears
    gpqa = by["gpqa-diamond"]
    assert (gpqa["correct"], gpqa["incorrect"], gpqa["unevaluated"], gpqa["total"]) == (1, 1, 1, 3)
    assert gpqa["accuracy"] == 0.5
    assert (gpqa["accuracy_ci_low"], gpqa["accuracy_ci_high"]) == wilson_interval(1, 2)
    assert by["math-500"]["accuracy"] == 1.0 and by["math-500"]["accuracy_ci_high"] == 1.0
    assert by["math-500"]["accuracy_ci_low"] == pytest.approx(wilson_interval(2, 2)[0])
    assert result["correct"] == sum(b["correct"] for b in by.values())
