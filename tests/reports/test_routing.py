"""Coverage, the oracle router and the cascade on a study whose answers and joules are known.

Three cells answer records r1..r5 one after another on a device of constant
100 W, so a query's attributed energy is 100 W × its duration; which answers
are right is written below. Two more records are dropped (r6 is not answered
by every cell, r7 is not judged by every cell), one cell measured no energy
and one has no run. Every expected number is worked out by hand in the
comments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.analyses.energy import per_query_energy
from ipw.errors import UsageError
from ipw.reports import load_views
from ipw.reports.routing import Answer, CellOutcomes, route
from ipw.reports.routing_outputs import study_routing

from tests.conftest import assert_one_clean_line, run_cli

from .ledgers import sequential, write_run

POWER_W = 100.0
# record: (seconds, correct) per cell; energy J = 100 × seconds
SMALL = {"r1": (0.1, True), "r2": (0.2, False), "r3": (0.1, False), "r4": (0.1, False), "r5": (0.3, True),
         "r6": (0.1, True), "r7": (0.1, True)}
MEDIUM = {"r1": (0.3, True), "r2": (0.3, True), "r3": (0.4, False), "r4": (0.2, False), "r5": (0.2, True),
          "r6": (0.2, False), "r7": (0.1, None)}
LARGE = {"r1": (0.6, True), "r2": (0.5, True), "r3": (0.5, True), "r4": (0.7, False), "r5": (0.6, False),
         "r7": (0.1, True)}


def _plan(table: dict[str, tuple[float, bool | None]]) -> list:
    return sequential([(rid, seconds, 4, ok) for rid, (seconds, ok) in table.items()])


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("routing")
    cells = []
    for name, table, devices in (("small", SMALL, {"nvidia:0": POWER_W}), ("medium", MEDIUM, {"nvidia:0": POWER_W}),
                                 ("large", LARGE, {"nvidia:0": POWER_W}), ("dark", LARGE, None)):
        write_run(root / "runs" / name, _plan(table), devices=devices)
        cells.append({"name": name, "params": {"model": name}, "run_dir": f"runs/{name}", "status": "completed"})
    cells.append({"name": "pending", "params": {"model": "pending"}, "status": "pending"})
    (root / "study.json").write_text(json.dumps({"name": "routing", "axes": ["model"], "cells": cells}))
    return root


def test_records_cells_and_coverage_are_the_hand_counted_ones(study: Path) -> None:
    r = study_routing(study)
    assert r.cells == ["small", "medium", "large"]
    assert set(r.cells_left_out) == {"dark", "pending"}
    assert r.cells_left_out["pending"] == "no run recorded (pending)"
    # r1..r5 compared; r6 missing from large, r7 unjudged in medium
    assert r.records_compared == 5 and r.records_dropped == 2
    assert r.dropped_by_reason == {"not answered by every cell": 1, "not judged by every cell": 1,
                                   "no attributed energy in every cell": 0}
    # right somewhere: r1 (all), r2 (medium, large), r3 (large), r5 (small, medium); r4 nowhere
    assert (r.covered, r.coverage) == (4, pytest.approx(0.8))
    assert r.coverage_ci_low == pytest.approx(0.3755, abs=1e-4) and r.coverage_ci_high == pytest.approx(0.9638, abs=1e-4)


def test_each_cell_alone_and_the_best_single_cell(study: Path) -> None:
    r = study_routing(study)
    small, medium, large = (r.strategy(n) for n in ("small", "medium", "large"))
    # small: right on r1, r5; 10+20+10+10+30 J. medium: r1, r2, r5; 30+30+40+20+20. large: r1..r3; 60+50+50+70+60
    assert (small.correct, small.total_energy_j) == (2, pytest.approx(80.0, rel=1e-9))
    assert (medium.correct, medium.total_energy_j) == (3, pytest.approx(140.0, rel=1e-9))
    assert (large.correct, large.total_energy_j) == (3, pytest.approx(290.0, rel=1e-9))
    assert r.best_cell == "medium"  # as accurate as large, for less energy
    assert medium.accuracy == pytest.approx(0.6) and medium.mean_energy_per_query_j == pytest.approx(28.0)
    assert medium.intelligence_per_joule == pytest.approx(0.6 / 28.0)
    assert medium.mean_power_w == pytest.approx(POWER_W) and medium.intelligence_per_watt == pytest.approx(0.006)
    assert medium.energy_saved_vs_best_j == pytest.approx(0.0, abs=1e-9)


def test_the_oracle_sends_each_record_to_its_cheapest_right_cell(study: Path) -> None:
    r = study_routing(study)
    oracle = r.strategy("oracle")
    # r1 -> small 10, r2 -> medium 30, r3 -> large 50, r4 (nobody right) -> small 10, wrong; r5 -> medium 20
    assert r.oracle_records_by_cell == {"small": 2, "medium": 2, "large": 1}
    assert (oracle.records, oracle.correct) == (5, 4)
    assert oracle.accuracy == pytest.approx(r.coverage)
    assert oracle.total_energy_j == pytest.approx(120.0, rel=1e-9)
    assert oracle.busy_s == pytest.approx(1.2, rel=1e-9)
    assert oracle.intelligence_per_joule == pytest.approx(0.8 / 24.0)
    assert oracle.intelligence_per_watt == pytest.approx(0.8 / POWER_W)
    assert oracle.energy_saved_vs_best_j == pytest.approx(20.0, rel=1e-9)
    assert oracle.energy_saved_vs_best_fraction == pytest.approx(20.0 / 140.0)
    assert (oracle.accuracy_ci_low, oracle.accuracy_ci_high) == (r.coverage_ci_low, r.coverage_ci_high)


def test_the_cascade_escalates_smallest_first_and_pays_every_cell_it_tried(study: Path) -> None:
    r = study_routing(study)
    cascade = r.strategy("cascade")
    # mean J/query: small 16, medium 28, large 58
    assert r.cascade_order == ["small", "medium", "large"]
    # r1 small 10 | r2 small 20 + medium 30 | r3 10 + 40 + large 50 | r4 10 + 20 + 70, wrong | r5 small 30
    assert cascade.total_energy_j == pytest.approx(290.0, rel=1e-9)
    assert (cascade.correct, r.cascade_settled_by_step) == (4, [2, 1, 1])
    assert cascade.energy_saved_vs_best_j == pytest.approx(-150.0, rel=1e-9)


def test_an_explicit_cascade_order(study: Path) -> None:
    r = study_routing(study, cascade=["large", "small"])
    cascade = r.strategy("cascade")
    # r1 60 | r2 50 | r3 50 | r4 70 + 10, wrong | r5 60 + 30
    assert (cascade.correct, cascade.total_energy_j) == (4, pytest.approx(330.0, rel=1e-9))
    assert r.cascade_settled_by_step == [3, 1] and r.cascade_order_rule == "as given"
    with pytest.raises(UsageError, match="names no compared cell: dark"):
        study_routing(study, cascade=["small", "dark"])


def test_energy_bounds_are_the_sum_of_the_per_query_bounds_paid(study: Path) -> None:
    # the synthetic devices read exactly, so the ledger's bounds are 0 J: the sum is checked on answers built here
    r = study_routing(study)
    for name in ("small", "medium", "large"):
        energy = per_query_energy(load_views([study / "runs" / name])[0])
        assert r.strategy(name).total_energy_j_bound == pytest.approx(
            sum(b for q, b in energy.energy_j_bound.items() if energy.record_ids[q] in {"r1", "r2", "r3", "r4", "r5"}))
    a = CellOutcomes("a", answers={("b", "x"): Answer(False, 1.0, 0.25, 1.0), ("b", "y"): Answer(True, 2.0, 0.5, 1.0)})
    b = CellOutcomes("b", answers={("b", "x"): Answer(True, 4.0, 1.0, 2.0), ("b", "y"): Answer(True, 8.0, None, 2.0)})
    routed = route([a, b])
    # oracle: x -> b (4 J ± 1), y -> a (2 J ± 0.5); cascade a, b: x pays a and b (± 0.25 + 1), y pays a (± 0.5)
    assert routed.strategy("oracle").total_energy_j_bound == pytest.approx(1.5)
    assert routed.strategy("cascade").total_energy_j_bound == pytest.approx(1.75)
    assert routed.strategy("b").total_energy_j_bound is None  # one answer without a bound: no bound on the sum
    assert routed.strategy("cascade").busy_s == pytest.approx(4.0)


def test_too_few_cells_is_one_usage_error(tmp_path: Path) -> None:
    write_run(tmp_path / "runs" / "only", _plan(SMALL), devices={"nvidia:0": POWER_W})
    (tmp_path / "study.json").write_text(json.dumps({"cells": [{"name": "only", "status": "completed"}]}))
    with pytest.raises(UsageError, match="two or more cells"):
        study_routing(tmp_path)


def test_cli_routing_json_text_and_refusal(study: Path) -> None:
    result = run_cli("study", "report", str(study), "--routing", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["routing"]["records_compared"] == 5 and doc["routing"]["best_cell"] == "medium"
    assert json.loads((study / "report" / "routing.json").read_text()) == doc["routing"]
    assert len(doc["rows"]) == 5  # the study table is still there
    text = run_cli("study", "report", str(study), "--routing", "--cascade", "large,small")
    assert text.exit_code == 0, text.stderr
    assert "coverage: 0.800" in text.stdout and "cascade: large → small (as given)" in text.stdout
    bad = run_cli("study", "report", str(study), "--routing", "--cascade", "nope")
    assert bad.exit_code == 2 and "nope" in bad.stderr
    assert_one_clean_line(bad.stderr)
    lonely = run_cli("study", "report", str(study), "--cascade", "small")
    assert lonely.exit_code == 2 and "--routing" in lonely.stderr
    assert_one_clean_line(lonely.stderr)


def test_html_study_report_has_the_routing_section(study: Path) -> None:
    from ipw.reports.html import report_html

    page = report_html([study])
    assert '<section id="routing">' in page
    assert 'data-strategy="oracle" data-column="total_energy_j" data-value="120.0' in page
    assert 'data-field="coverage" data-value="0.8"' in page
    assert "Energy saved vs the best single cell (J)" in page and 'class="table-scroll"' in page
