"""A 2×2 study against the real llama_cpp.server with the local executor: run, rerun, resume, report, SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.events import RunStarted
from ipw.ledger import read_events, verify
from tests._servers import free_port
from tests.conftest import run_cli
from tests.studies._study_files import GRID_CELLS, queries_started, write_study

pytestmark = pytest.mark.e2e


def _report_bytes(study_dir: Path, *extra: Path) -> dict[str, bytes]:
    files = sorted((study_dir / "report").iterdir()) + list(extra)
    return {str(p): p.read_bytes() for p in files}


def test_grid_study_runs_each_cell_once_and_reports_four_rows(tmp_path: Path, llama_server_url: str) -> None:
    spec = write_study(tmp_path / "grid.toml", base_url=llama_server_url, output_dir=tmp_path / "studies")
    first = run_cli("study", "run", str(spec), "--json")
    assert first.exit_code == 0, first.stderr
    out = json.loads(first.stdout)
    study = tmp_path / "studies" / "grid"
    assert out["ran"] == 4 and out["skipped"] == 0
    assert [c["name"] for c in out["cells"]] == GRID_CELLS
    for cell in out["cells"]:
        run = study / cell["run_dir"]
        report = verify(run)
        assert cell["status"] == "completed" and report.ok and cell["head_hash"] == report.head_hash
        started = next(e for e in read_events(run) if isinstance(e, RunStarted))
        assert started.config["max_concurrency"] == cell["params"]["max_concurrency"]
        assert started.config["gen"]["max_tokens"] == cell["params"]["gen_param.max_tokens"]
    work = queries_started(study)
    assert work == {name: 3 for name in GRID_CELLS}

    again = run_cli("study", "run", str(spec), "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["ran"] == 0
    assert queries_started(study) == work  # no query was sent twice

    status = run_cli("study", "status", str(study))
    assert status.exit_code == 0 and "4/4 cells complete" in status.stdout

    csv_file, parquet_file = tmp_path / "cells.csv", tmp_path / "cells.parquet"
    built = run_cli("study", "report", str(study), "--json", "--csv", str(csv_file), "--parquet", str(parquet_file))
    assert built.exit_code == 0, built.stderr
    report = json.loads(built.stdout)
    assert [r["cell"] for r in report["rows"]] == GRID_CELLS
    for row in report["rows"]:
        assert row["queries"] == 3 and row["status"] == "completed"
        summary = json.loads((study / "runs" / row["cell"] / "analysis" / "summary.json").read_text())["metrics"]
        assert row["accuracy"] == summary["accuracy"]["value"]  # the cell's own summary, replayed again
        assert row["intelligence_per_watt"] == summary["intelligence_per_watt"]["value"]
        assert row["decided"] == summary["correct"]["value"] + summary["incorrect"]["value"]
        if row["decided"]:
            assert 0.0 <= row["accuracy_ci_low"] <= row["accuracy"] <= row["accuracy_ci_high"] <= 1.0
        else:
            assert row["accuracy"] is row["accuracy_ci_low"] is row["accuracy_ci_high"] is None
        assert row["energy_provenance"] == "estimated" and row["mean_energy_per_query_j"] > 0
        assert row["e2e_p50_s"] <= row["e2e_p99_s"]
    assert set(report["pareto_front"]) <= set(GRID_CELLS)
    assert bool(report["pareto_front"]) == any(r["decided"] for r in report["rows"])
    figures = {p.name for p in (study / "report").glob("*.png")}
    assert figures == {"accuracy_vs_energy.png", "ipw_vs_max_concurrency.png", "ipw_vs_gen_param.max_tokens.png"}
    before = _report_bytes(study, csv_file, parquet_file)
    table = run_cli("study", "report", str(study), "--csv", str(csv_file), "--parquet", str(parquet_file))
    assert table.exit_code == 0 and "Wilson" in table.stdout and "mc2-max_tokens8" in table.stdout
    assert _report_bytes(study, csv_file, parquet_file) == before  # rebuilt byte for byte

    sql = ("SELECT c.cell, c.max_concurrency, c.gen_param_max_tokens, count(*) AS n "
           "FROM queries q JOIN cells c USING (run_id) GROUP BY ALL ORDER BY c.cell")
    rows = json.loads(run_cli("query", str(study), sql, "--json").stdout)
    assert [(r["cell"], r["max_concurrency"], r["gen_param_max_tokens"], r["n"]) for r in rows] == [
        ("mc1-max_tokens4", 1, 4, 3), ("mc1-max_tokens8", 1, 8, 3),
        ("mc2-max_tokens4", 2, 4, 3), ("mc2-max_tokens8", 2, 8, 3)]


def test_a_cut_cell_is_resumed_and_the_others_left_alone(tmp_path: Path, llama_server_url: str) -> None:
    spec = write_study(tmp_path / "grid.toml", base_url=llama_server_url, output_dir=tmp_path / "studies",
                       matrix='max_concurrency = [1, 2]\n', energy="none")
    assert run_cli("study", "run", str(spec)).exit_code == 0
    study = tmp_path / "studies" / "grid"
    cut = study / "runs" / "mc2"
    segment = sorted((cut / "events").glob("*.ipwl"))[-1]
    segment.write_bytes(segment.read_bytes()[:-40])  # a torn tail: the run_finished frame is gone
    assert not verify(cut).ok
    before = queries_started(study)
    result = run_cli("study", "run", str(spec), "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ran"] == 1 and out["skipped"] == 1
    assert verify(cut).ok
    after = queries_started(study)
    assert after["mc1"] == before["mc1"]  # the complete cell was not touched
    assert after["mc2"] <= 3 + before["mc2"]


def test_failed_cells_are_recorded_and_the_others_finish(tmp_path: Path, llama_server_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    matrix = f'max_concurrency = [0, 1]\nclient_base_url = [{json.dumps(llama_server_url)}, {json.dumps(dead)}]\n'
    spec = write_study(tmp_path / "bad.toml", base_url=llama_server_url, output_dir=tmp_path / "studies",
                       matrix=matrix, max_queries=2, energy="none")
    result = run_cli("study", "run", str(spec), "--json")
    assert result.exit_code == 9, result.stderr
    assert "Traceback" not in result.stderr
    cells = {(c["params"]["max_concurrency"], c["params"]["client_base_url"] == dead): c
             for c in json.loads(result.stdout)["cells"]}
    good = cells[(1, False)]
    assert good["status"] == "completed" and verify(tmp_path / "studies" / "grid" / good["run_dir"]).ok
    for key in ((0, False), (0, True)):
        assert cells[key]["status"] == "failed" and "max_concurrency: must be >= 1, got 0" in cells[key]["message"]
    unreachable = cells[(1, True)]
    assert unreachable["status"] == "failed" and "does not answer" in unreachable["message"]
    assert "\n" not in unreachable["message"]
    text = run_cli("study", "run", str(spec))
    assert text.exit_code == 9
    assert "1/4 cells completed" in text.stderr and "FAILED" in text.stderr
