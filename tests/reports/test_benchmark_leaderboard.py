"""The per-benchmark leaderboard: a study whose cells answered records of two benchmarks (a mixture).

Both benchmarks number their records r1, r2, so a record is only told apart by
(benchmark, record id); routing counts four records, not two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.analyses.proportion import wilson_interval
from ipw.analyses.summary import SummaryProjection
from ipw.replay.engine import load_run
from ipw.reports.html import report_html
from ipw.reports.routing_outputs import study_routing
from ipw.reports.study_table import study_table
from ipw.studies.report import build_report, format_report

from .ledgers import Q, write_run

# cell: [(benchmark, record, correct)]; every query lasts 0.5 s at 100 W
ANSWERS = {
    "small": [("mmlu-pro", "r1", True), ("mmlu-pro", "r2", False), ("gsm8k", "r1", True), ("gsm8k", "r2", True)],
    "large": [("mmlu-pro", "r1", True), ("mmlu-pro", "r2", True), ("gsm8k", "r1", False), ("gsm8k", "r2", True)],
}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench-study")
    cells = []
    for name, answers in ANSWERS.items():
        queries = [Q(rid, 0.5 + i, 1.0 + i, 4, 20, ok, benchmark=bench) for i, (bench, rid, ok) in enumerate(answers)]
        write_run(root / "runs" / name, queries, devices={"nvidia:0": 100.0}, dataset="mix")
        cells.append({"name": name, "params": {"model": name}, "run_dir": f"runs/{name}", "status": "completed"})
    (root / "study.json").write_text(json.dumps({"name": "bench", "axes": ["model"], "cells": cells}))
    return root


def test_each_cell_row_carries_the_summary_by_benchmark(study: Path) -> None:
    table = study_table(study)
    assert table.benchmarks == ["gsm8k", "mmlu-pro"]
    small, large = table.rows
    assert small.by_benchmark == SummaryProjection().compute(load_run(study / "runs" / "small"), {})["by_benchmark"]
    assert small.by_benchmark["mmlu-pro"]["accuracy"] == 0.5 and small.by_benchmark["gsm8k"]["accuracy"] == 1.0
    assert large.by_benchmark["mmlu-pro"]["accuracy"] == 1.0 and large.by_benchmark["gsm8k"]["accuracy"] == 0.5
    assert (large.by_benchmark["gsm8k"]["accuracy_ci_low"],
            large.by_benchmark["gsm8k"]["accuracy_ci_high"]) == wilson_interval(1, 2)
    assert small.by_benchmark["gsm8k"]["mean_energy_per_query_j"] == pytest.approx(50.0)


def test_report_json_and_the_terminal_keep_the_per_benchmark_table(study: Path) -> None:
    report = build_report(study, figures=False)
    assert report["by_benchmark"]["large"]["gsm8k"]["correct"] == 1
    assert json.loads((study / "report" / "report.json").read_text())["by_benchmark"] == report["by_benchmark"]
    text = format_report(json.loads(json.dumps(report)))  # read back from the document, as a saved report is
    lines = text.splitlines()
    at = lines.index("accuracy by benchmark (fraction of decided answers; intervals in report.json):")
    assert lines[at + 1].split() == ["cell", "gsm8k", "mmlu-pro"]
    body = [line.split() for line in lines[at + 2:] if line.split() and line.split()[0] in ANSWERS]
    assert body == [["small", "1", "0.5"], ["large", "0.5", "1"]]


def test_html_pages_show_the_leaderboard_per_benchmark(study: Path) -> None:
    page = report_html([study])
    assert 'id="benchmark-leaderboard"' in page
    assert 'data-benchmark="gsm8k" data-key="accuracy" data-cell="large" data-value="0.5"' in page
    assert 'data-benchmark="mmlu-pro" data-key="accuracy" data-cell="small" data-value="0.5"' in page
    run_page = report_html([study / "runs" / "small"])
    assert 'id="benchmarks"' in run_page
    assert 'data-benchmark="mmlu-pro" data-key="accuracy" data-value="0.5"' in run_page
    assert 'data-benchmark="gsm8k" data-key="decided" data-value="2"' in run_page


def test_routing_tells_records_of_two_benchmarks_apart(study: Path) -> None:
    r = study_routing(study)
    assert r.records_compared == 4 and r.records_dropped == 0
    # right somewhere: every record (mmlu-pro r2 by large, gsm8k r1 by small)
    assert r.covered == 4 and r.strategy("oracle").correct == 4
    # each answer costs 50 J, so ties go to the earlier cell: the oracle sends large only mmlu-pro r2
    assert r.oracle_records_by_cell == {"small": 3, "large": 1}
