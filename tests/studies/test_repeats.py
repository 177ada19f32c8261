"""``repeats = "auto"``: the stopping rule on known sequences, the study runner's bookkeeping, and one real
study through the CLI against the loopback completions stub (it stands in for any OpenAI-compatible
server; what is under test is when ipw stops repeating)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from scipy import stats

from ipw.errors import UsageError
from ipw.ledger import import_jsonl
from ipw.reports.repeat_stats import t_interval
from ipw.studies import runner as study_runner
from ipw.studies import repeats as repeats_module
from ipw.studies.repeats import RepeatRule, run_until_tight
from ipw.studies.spec import parse_spec
from tests.capture._stub_server import completions_server
from tests.conftest import run_cli


@dataclass(frozen=True)
class _Cell:
    name: str


def _drive(values: list[float | None], rule: RepeatRule, done: int = 0):
    cells = [_Cell(f"r{i + 1}") for i in range(rule.max_repeats)]
    by_name = dict(zip((c.name for c in cells), values))
    ran: list[str] = []
    outcome = run_until_tight(cells, rule, complete=lambda c: int(c.name[1:]) <= done,
                              run=lambda c: ran.append(c.name), metric=lambda c: by_name[c.name])
    assert outcome.ran == ran
    return outcome


def _expected_stop(values: list[float], rule: RepeatRule) -> int | None:
    """The first n >= min_repeats whose 95 % t half-width is within the target share: computed here directly."""
    for n in range(rule.min_repeats, len(values) + 1):
        xs = values[:n]
        mean = sum(xs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
        if stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) <= rule.target * abs(mean):
            return n
    return None


def test_t_interval_matches_scipy() -> None:
    xs = [10.0, 12.0, 11.0, 13.0]
    got = t_interval(xs, "m")
    low, high = stats.t.interval(0.95, len(xs) - 1, loc=11.5, scale=stats.sem(xs))
    assert (got.low, got.high) == pytest.approx((low, high))
    assert got.cv == pytest.approx(stats.tstd(xs) / 11.5)
    assert t_interval([3.0], "m").half_width is None


def test_a_metric_of_known_variance_stops_where_its_interval_meets_the_target() -> None:
    rng = random.Random(11)
    values = [rng.gauss(100.0, 4.0) for _ in range(40)]  # sd 4 around 100: about 11 repeats for ±2.5 %
    rule = RepeatRule(target=0.025, max_repeats=40, min_repeats=3)
    n = _expected_stop(values, rule)
    assert n is not None and 4 < n < 40
    outcome = _drive(values, rule)
    assert outcome.stopped == "tight"
    assert outcome.ran == [f"r{i}" for i in range(1, n + 1)]
    assert outcome.not_needed == [f"r{i}" for i in range(n + 1, 41)]
    assert outcome.interval.half_width_share <= 0.025 < t_interval(values[:n - 1]).half_width_share


def test_alternating_values_stop_at_four() -> None:
    # 99, 101, 99: half-width 4.30·1.155/√3 = 2.87 > 2 % of 99.7; with 101 added: 3.18·1.155/2 = 1.84 ≤ 2
    outcome = _drive([99.0, 101.0] * 5, RepeatRule(target=0.02, max_repeats=10))
    assert (outcome.stopped, len(outcome.ran), len(outcome.not_needed)) == ("tight", 4, 6)


def test_a_target_that_cannot_be_met_stops_at_max_repeats() -> None:
    outcome = _drive([1.0, 100.0] * 3, RepeatRule(target=0.05, max_repeats=6))
    assert outcome.stopped == "max_repeats"
    assert outcome.ran == [f"r{i}" for i in range(1, 7)] and outcome.not_needed == []
    assert "max_repeats (6)" in outcome.message(RepeatRule(target=0.05, max_repeats=6))


def test_repeats_without_a_figure_are_not_counted_and_complete_ones_are_not_rerun() -> None:
    rule = RepeatRule(target=0.05, max_repeats=6)
    outcome = _drive([None, 50.0, 50.0, None, 50.0, 50.0], rule, done=2)
    assert outcome.ran == ["r3", "r4", "r5"]  # r1, r2 were complete; the 3rd value comes with r5
    assert outcome.values == [50.0, 50.0, 50.0] and outcome.not_needed == ["r6"]


def test_a_zero_mean_is_never_tight() -> None:
    assert _drive([0.0] * 4, RepeatRule(target=0.5, max_repeats=4)).stopped == "max_repeats"


_BASE = '[base]\nclient = "openai"\nmodel = "m"\n[matrix]\nmax_concurrency = [1, 2]\n'


def test_auto_spec_has_max_repeats_cells_per_combination() -> None:
    spec = parse_spec('repeats = "auto"\nmax_repeats = 4\nrepeat_target = 0.1\nrepeat_metric = "accuracy"\n' + _BASE)
    assert spec.repeat_rule == RepeatRule(target=0.1, max_repeats=4, min_repeats=3, metric="accuracy")
    assert [c.name for c in spec.cells()][:4] == ["mc1-r1", "mc1-r2", "mc1-r3", "mc1-r4"]
    assert parse_spec(_BASE).repeat_rule is None


@pytest.mark.parametrize(("head", "words"), [
    ("max_repeats = 4\n", 'only applies with repeats = "auto"'),
    ('repeats = "auto"\nmax_repeats = 1\n', "max_repeats must be"),
    ('repeats = "auto"\nmax_repeats = 3\nmin_repeats = 4\n', "min_repeats must be"),
    ('repeats = "auto"\nrepeat_target = 0\n', "repeat_target must be"),
    ('repeats = "auto"\nrepeat_metric = "energy_provenance"\n', "not a figure of the study report"),
    ('repeats = "often"\n', "repeats must be"),
])
def test_auto_settings_that_cannot_work_are_refused(head: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_spec(head + _BASE)


def test_the_study_runner_marks_unneeded_repeats_and_a_rerun_runs_nothing(tmp_path: Path, monkeypatch) -> None:
    """The cell runner stubbed to write a small finished ledger, and the figure injected per repeat."""
    figures = {"mc1": [10.0, 10.0, 10.0, 10.0, 10.0], "mc2": [1.0, 9.0, 1.0, 9.0, 1.0]}
    ran: list[str] = []

    def fake_run_cell(cell, runs_dir, *, resume, progress=None):
        ran.append(cell.name)
        events = [{"kind": "run_started", "run_id": cell.name, "t_ns": 1, "wall_time_ns": 2, "config": {}},
                  {"kind": "run_finished", "t_ns": 3, "status": "completed", "queries_completed": 0,
                   "queries_failed": 0}]
        source = tmp_path / f"{cell.name}.jsonl"
        source.write_text("".join(json.dumps(e) + "\n" for e in events))
        import_jsonl(source, runs_dir / cell.name)

    def fake_metric(run_dir: Path, name: str) -> float:
        combo, _, repeat = run_dir.name.partition("-r")
        return figures[combo][int(repeat) - 1]

    monkeypatch.setattr(study_runner, "run_cell", fake_run_cell)
    monkeypatch.setattr(repeats_module, "metric_of", fake_metric)
    spec = parse_spec(f'output_dir = {json.dumps(str(tmp_path))}\nrepeats = "auto"\nmax_repeats = 5\n' + _BASE)
    outcome = study_runner.run_study(spec)
    assert ran == ["mc1-r1", "mc1-r2", "mc1-r3", "mc2-r1", "mc2-r2", "mc2-r3", "mc2-r4", "mc2-r5"]
    status = {c["name"]: c["status"] for c in outcome.cells}
    assert status["mc1-r4"] == status["mc1-r5"] == "not_needed"
    assert [s for n, s in status.items() if n.startswith("mc2")] == ["completed"] * 5
    assert outcome.ok and outcome.ran == 8
    ran.clear()
    again = study_runner.run_study(spec)
    assert ran == [] and again.ran == 0 and again.ok


def test_ray_refuses_auto_repeats_before_anything_is_made(tmp_path: Path) -> None:
    spec = parse_spec(f'output_dir = {json.dumps(str(tmp_path))}\nrepeats = "auto"\n' + _BASE)
    with pytest.raises(UsageError, match="runs locally"):
        study_runner.run_study(spec, executor="ray")
    assert not any(tmp_path.iterdir())


def test_a_real_auto_study_stops_when_its_figure_is_steady(tmp_path: Path) -> None:
    """The stub answers ' 4': on two records answered 4 and two answered 5, accuracy is 0.5 on every repeat,
    so the interval has no width and the study stops at min_repeats, two of five repeats unneeded."""
    data = tmp_path / "four.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "problem": f"What is {a} + {b}?", "answer": str(a + b),
                                        "subject": "arithmetic", "scorer": "numeric"}) + "\n"
                            for i, (a, b) in enumerate([(2, 2), (1, 3), (2, 3), (1, 4)])))
    study = tmp_path / "auto.toml"
    with completions_server() as url:
        study.write_text(
            f'output_dir = {json.dumps(str(tmp_path / "studies"))}\n'
            'repeats = "auto"\nmax_repeats = 5\nrepeat_target = 0.05\nrepeat_metric = "accuracy"\n'
            f'[base]\nclient = "openai"\nmodel = "m"\nenergy = "none"\ndataset = {json.dumps(str(data))}\n'
            f'client_base_url = {json.dumps(url)}\nclient_param = {{ api = "completions", usage_fallback = "count" }}\n'
        )
        result = run_cli("study", "run", str(study))
    assert result.exit_code == 0, result.stderr
    assert "tight after 3 repeats" in result.stderr
    cells = json.loads((tmp_path / "studies" / "auto" / "study.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["completed"] * 3 + ["not_needed"] * 2
    report = run_cli("study", "report", str(tmp_path / "studies" / "auto"), "--json")
    assert report.exit_code == 0, report.stderr
    doc = json.loads(report.stdout)
    assert [r["cell"] for r in doc["rows"]] == ["r1", "r2", "r3"]
    (group,) = doc["repeats"]
    accuracy = group["intervals"]["accuracy"]
    assert (accuracy["n"], accuracy["mean"], accuracy["half_width"], accuracy["cv"]) == (3, 0.5, 0.0, 0.0)
    text = run_cli("study", "report", str(tmp_path / "studies" / "auto"))
    assert "across repeats (mean, 95 % t-interval, CV)" in text.stdout
