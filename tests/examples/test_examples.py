"""Every script in ``examples/`` runs against the real llama_cpp.server and does what it says.

The scripts are found with a glob, so a new example without an entry in
``CHECKS`` fails here until someone says what its output must hold.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from ipw.events import PowerSample, RunStarted, Token, Verdict
from ipw.ledger import read_events, verify
from tests._servers import free_port
from tests.conftest import assert_one_clean_line

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def run_example(script: str, out: Path, base_url: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IPW_EXAMPLE_BASE_URL": base_url}
    return subprocess.run([sys.executable, str(EXAMPLES / script), str(out)], env=env, cwd=out.parent,
                          capture_output=True, text=True, timeout=timeout_s)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def check_profile_local_server(out: Path, stdout: str) -> None:
    run = out / "local-server"
    assert verify(run).ok
    assert f"run directory: {run}" in stdout
    summary = _load(run / "analysis" / "summary.json")
    assert summary["metrics"]["queries_measured"]["value"] == 4
    printed = next(line for line in stdout.splitlines() if line.startswith("accuracy "))
    assert f"{summary['metrics']['accuracy']['value']:.4g}" in printed and "(counted)" in printed
    for name in ("accuracy.json", "energy.json", "latency.json", "summary.json"):
        assert name in stdout and (run / "analysis" / name).is_file()


def check_compare_runs(out: Path, stdout: str) -> None:
    short, long = out / "short-answers", out / "long-answers"
    assert verify(short).ok and verify(long).ok
    diff = _load(out / "diff.json")
    assert {(d["key"], d["a"], d["b"]) for d in diff["config"]} >= {("gen.max_tokens", 4, 8), ("run_name", "short-answers", "long-answers")}
    assert diff["accuracy_flips"]["shared_records"] == 4
    assert diff["deltas"]["latency_e2e_s"]["n_pairs"] == 4
    assert "setting gen.max_tokens: 4 -> 8" in stdout
    assert "deltas (B − A)" in stdout  # the table form printed at the end
    tokens = {run.name: sum(e.n_tokens for e in read_events(run) if isinstance(e, Token)) for run in (short, long)}
    assert tokens["short-answers"] <= 4 * 4 < tokens["long-answers"] <= 4 * 8


def check_rejudge_run(out: Path, stdout: str) -> None:
    run = out / "rejudged"
    judges = _load(run / "analysis" / "judges.json")
    expected = ["scorer:auto/v1", "scorer:exact/v1", "scorer:letter/v1"]
    assert judges["judges"] == expected
    assert len(judges["pairs"]) == 3 and all(pair["n"] == 6 for pair in judges["pairs"])
    # each judge judged every answer exactly once: the repeated pass asked nothing and appended nothing
    verdicts = [e for e in read_events(run) if isinstance(e, Verdict)]
    assert sorted(v.judge for v in verdicts) == sorted(expected * 6)
    for spec in expected:
        assert f"judge {spec}:" in stdout
    assert "3 judges: scorer:auto/v1, scorer:exact/v1, scorer:letter/v1" in stdout
    assert "agreement" in stdout


def check_import_meter_trace(out: Path, stdout: str) -> None:
    run = out / "metered"
    assert verify(run).ok
    with open(out / "wallplug.csv", newline="") as fh:
        rows = [(float(r["timestamp"]), float(r["power_w"])) for r in csv.DictReader(fh)]
    assert len(rows) >= 5
    events = read_events(run)
    started = next(e for e in events if isinstance(e, RunStarted))
    samples = [e for e in events if isinstance(e, PowerSample)]
    assert [s.device for s in samples] == ["meter:wall"] * len(rows)
    assert {s.source for s in samples} == {"imported"}
    assert [s.t_ns for s in samples] == [started.t_ns + int(t * 1e9) - started.wall_time_ns for t, _ in rows]
    energy = _load(run / "analysis" / "energy.json")
    device = energy["devices"]["meter:wall"]
    assert device["device_type"] == "system" and device["source"] == "imported" and device["samples"] == len(rows)
    low_w, high_w = min(w for _, w in rows), max(w for _, w in rows)
    span_s = energy["window"]["span_s"]
    assert low_w * span_s * 0.999 <= energy["total_energy_j"] <= high_w * span_s * 1.001
    assert sum(q["energy_j"] for q in energy["per_query"]) + energy["idle_energy_j"] == pytest.approx(energy["total_energy_j"])
    assert f"imported {len(rows)} samples" in stdout and "provenance imported" in stdout


def check_query_sql(out: Path, stdout: str) -> None:
    saved = _load(out / "query.json")
    results = saved["results"]
    tokens = {row["run_id"]: row["tokens"] for row in results["tokens_per_run"]}
    assert set(tokens) == set(saved["runs"])
    for run_id, run_dir in saved["runs"].items():
        assert tokens[run_id] == sum(e.n_tokens for e in read_events(out.parent / run_dir) if isinstance(e, Token))
    assert [row["queries"] for row in results["latency_per_run"]] == [3, 3]
    side = results["side_by_side"]
    assert len(side) == 3
    assert all(row["tokens_a"] <= 4 and row["tokens_b"] <= 8 for row in side)
    assert all(row["gaps"] > 0 and row["itl_p50_ms"] > 0 for row in results["inter_token_gap_per_run"])
    assert "-- side_by_side" in stdout and "(3 rows)" in stdout


def check_run_study(out: Path, stdout: str) -> None:
    study = out / "example-study"
    state = _load(study / "study.json")
    names = ["mc1-max_tokens4", "mc1-max_tokens8", "mc2-max_tokens4", "mc2-max_tokens8"]
    assert [c["name"] for c in state["cells"]] == names
    assert all(c["status"] == "completed" and verify(study / c["run_dir"]).ok for c in state["cells"])
    assert "first run: 4 cells run, 0 already complete" in stdout
    assert "second run: 0 cells run, 4 already complete" in stdout
    assert "4/4 cells complete" in stdout
    report = _load(study / "report" / "report.json")
    assert [r["cell"] for r in report["rows"]] == names and len(report["rows"]) == 4
    with open(out / "cells.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["cell"] for r in rows] == names and {r["gen_param.max_tokens"] for r in rows} == {"4", "8"}
    tokens = {n: sum(e.n_tokens for e in read_events(study / "runs" / n) if isinstance(e, Token)) for n in names}
    sql_part = stdout.split("-- tokens per cell", 1)[1]
    for name in names:
        line = next(x for x in sql_part.splitlines() if x.startswith(name + " "))
        assert line.split()[-1] == str(tokens[name])  # ipw query's per-cell sum matches the ledger
        assert tokens[name] <= 3 * int(name.rsplit("max_tokens", 1)[1])


CHECKS: dict[str, Callable[[Path, str], None]] = {
    "run_study.py": check_run_study,
    "profile_local_server.py": check_profile_local_server,
    "compare_runs.py": check_compare_runs,
    "rejudge_run.py": check_rejudge_run,
    "import_meter_trace.py": check_import_meter_trace,
    "query_sql.py": check_query_sql,
}


def test_every_example_has_a_check() -> None:
    assert len(SCRIPTS) >= 6
    assert set(SCRIPTS) - set(CHECKS) == set(), "examples without a check: add one to CHECKS"
    assert set(CHECKS) - set(SCRIPTS) == set(), "CHECKS names examples that are gone"


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_says_what_it_shows_and_how_to_run_it(script: str) -> None:
    doc = ast.get_docstring(ast.parse((EXAMPLES / script).read_text()))
    assert doc, f"examples/{script} has no docstring"
    assert "What it shows" in doc and "How to run it" in doc
    assert f"examples/{script}" in doc and "IPW_EXAMPLE_BASE_URL" in doc


@pytest.mark.e2e
@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_against_the_real_server(script: str, tmp_path: Path, llama_server_url: str) -> None:
    if script not in CHECKS:
        pytest.fail(f"examples/{script} has no check: add one to CHECKS in {Path(__file__).name}")
    out = tmp_path / "out"
    proc = run_example(script, out, llama_server_url)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    CHECKS[script](out, proc.stdout)


def test_an_example_fails_with_ipws_one_line_error(tmp_path: Path) -> None:
    """Nothing listens on the port: the example exits with ipw's code and its one clean line."""
    out = tmp_path / "out"
    proc = run_example("profile_local_server.py", out, f"http://127.0.0.1:{free_port()}/v1", timeout_s=120)
    assert proc.returncode == 5, proc.stderr
    assert_one_clean_line(proc.stderr)
    assert "does not answer" in proc.stderr
    assert proc.stdout == "" and not (out / "local-server").exists()


def test_the_experiment_study_uses_a_server_per_cell_bursty_arrivals_and_auto_repeats(tmp_path: Path) -> None:
    """examples/experiment.toml parses into the study it says: every cell its own server (n_threads swept),
    gamma arrivals with a ramp-up, a goodput search over max_concurrency, and repeats until J per correct
    answer is within 5 %."""
    from ipw.studies.goodput import SearchSettings
    from ipw.studies.goodput_cells import probe_cell
    from ipw.studies.repeats import RepeatRule
    from ipw.studies.spec import load_spec

    spec = load_spec(EXAMPLES / "experiment.toml")
    assert spec.search == SearchSettings(search="goodput", slo="ttft_ms=2000,tpot_ms=200", search_high=16,
                                         search_low=1, target_attainment=0.9, search_axis="max_concurrency")
    assert spec.search.targets_ms == {"tpot_ms": 200.0, "ttft_ms": 2000.0}
    probe = probe_cell(spec.cells()[0], spec.search, 4)
    assert probe.name == "n_threads2-r1@c4" and probe.capture_config(tmp_path).max_concurrency == 4
    probe.capture_config(tmp_path).validate()  # a probe is a usable run with the arrival settings
    assert spec.repeat_rule == RepeatRule(target=0.05, max_repeats=6, min_repeats=3, metric="joules_per_correct")
    cells = spec.cells()
    assert len(cells) == 2 * 6
    assert [c.server_spec().values for c in cells[::6]] == [{"n_threads": 2}, {"n_threads": 4}]  # type: ignore[union-attr]
    config = cells[0].capture_config(tmp_path)
    config.validate()  # the arrival settings are a usable combination
    assert (config.request_rate, config.burstiness, config.ramp_up_s) == (4, 0.5, 5)


@pytest.mark.parametrize("section", ["### Arrivals:", "### Repeats until the interval is tight",
                                     "**Goodput search**"])
def test_the_readme_study_files_parse(section: str, tmp_path: Path) -> None:
    from ipw.studies.spec import parse_spec

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(section, 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    spec = parse_spec(block)
    cells = spec.cells()
    for cell in cells:
        cell.capture_config(tmp_path).validate()
    if "Repeats" in section:
        assert spec.repeat_rule is not None and len(cells) == 2 * spec.repeat_rule.max_repeats
    elif "Goodput" in section:
        from ipw.studies.goodput_cells import probe_cell

        assert spec.search is not None and spec.search.targets_ms == {"ttft_ms": 700.0}
        assert (spec.search.search_axis, spec.search.search_low, spec.search.search_high) == ("max_concurrency", 1, 8)
        assert spec.search.target_attainment == 0.9 and len(cells) == 2
        probe = probe_cell(cells[0], spec.search, 3)
        assert probe.name == "max_tokens1@c3" and probe.capture_config(tmp_path).max_concurrency == 3
    else:
        assert [c.capture_config(tmp_path).burstiness for c in cells] == [0.25, 1.0, 4.0]
