"""``search = "goodput"`` through ``ipw study run``: the loopback server of ``test_goodput`` (TTFT 200 ms × the
requests it holds), whose highest concurrency within ``ttft_ms=700`` is 3, known before the study runs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.studies._study_files import queries_started
from tests.studies.test_goodput import SLO, slowing_server


def _study(path: Path, url: str, output_dir: Path, extra: str = "") -> Path:
    path.write_text(
        f'name = "goodput"\noutput_dir = {json.dumps(str(output_dir))}\n'
        f'search = "goodput"\nslo = "{SLO}"\ntarget_attainment = 0.9\nsearch_low = 1\nsearch_high = 8\n{extra}\n'
        f'[base]\nclient = "openai"\nclient_base_url = {json.dumps(url)}\nmodel = "m"\nmax_queries = 12\n'
        'energy = "none"\nclient_param = { api = "completions" }\ngen_param = { max_tokens = 1 }\n')
    return path


def test_a_study_finds_the_known_level_reports_it_and_reuses_its_probes(tmp_path: Path) -> None:
    with slowing_server() as url:
        spec = _study(tmp_path / "goodput.toml", url, tmp_path / "studies")
        first = run_cli("study", "run", str(spec))
        assert first.exit_code == 0, first.stderr
        assert "search of base: goodput at max_concurrency 3" in first.stderr
        study = tmp_path / "studies" / "goodput"
        work = queries_started(study)
        assert sorted(work) == ["base@c1", "base@c2", "base@c3", "base@c4", "base@c8"]  # each level probed once

        again = run_cli("study", "run", str(spec))
        assert again.exit_code == 0, again.stderr
        assert queries_started(study) == work  # the rerun reused every probe: no query sent twice

    state = json.loads((study / "study.json").read_text())
    cell = state["cells"][0]
    assert cell["status"] == "completed" and cell["run_dir"] == "runs/base@c3"
    assert cell["goodput"]["level"] == 3 and cell["goodput"]["axis"] == "max_concurrency"
    assert [(p["level"], p["meets"]) for p in cell["goodput"]["probes"]] == [
        (1, True), (8, False), (4, False), (2, True), (3, True)]
    assert state["search"]["slo"] == {"ttft_ms": 700.0}

    built = run_cli("study", "report", str(study), "--json")
    assert built.exit_code == 0, built.stderr
    (row,) = json.loads(built.stdout)["rows"]
    assert row["goodput_level"] == 3 and row["slo_attainment"] >= 0.9 and row["goodput_queries_per_s"] > 0
    assert row["queries"] == 12
    text = run_cli("study", "report", str(study))
    assert text.exit_code == 0 and "goodput lvl" in text.stdout


def test_when_no_level_meets_the_target_the_cell_says_so_with_no_level(tmp_path: Path) -> None:
    with slowing_server() as url:
        spec = _study(tmp_path / "g.toml", url, tmp_path / "studies").read_text()
        spec = spec.replace('slo = "ttft_ms=700"', 'slo = "ttft_ms=100"').replace("search_high = 8", "search_high = 2")
        (tmp_path / "g.toml").write_text(spec)
        result = run_cli("study", "run", str(tmp_path / "g.toml"))
    assert result.exit_code == 0, result.stderr
    cell = json.loads((tmp_path / "studies" / "goodput" / "study.json").read_text())["cells"][0]
    assert cell["goodput"]["level"] is None and [p["level"] for p in cell["goodput"]["probes"]] == [1]
    assert cell["message"].startswith("no max_concurrency from 1 to 2")
    (row,) = json.loads(run_cli("study", "report", str(tmp_path / "studies" / "goodput"), "--json").stdout)["rows"]
    assert row["goodput_level"] is None and row["slo_attainment"] == 0.0


def test_a_search_is_refused_on_ray_and_a_bad_key_before_anything_runs(tmp_path: Path) -> None:
    spec = _study(tmp_path / "g.toml", "http://127.0.0.1:9/v1", tmp_path / "studies")
    ray = run_cli("study", "run", str(spec), "--executor", "ray")
    assert ray.exit_code == 2 and "runs locally" in ray.stderr
    spec.write_text(spec.read_text().replace("target_attainment = 0.9", "target_attainment = 2"))
    bad = run_cli("study", "run", str(spec))
    assert bad.exit_code == 2 and "target_attainment: must be <= 1.0, got 2" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "studies").exists()


def test_auto_repeats_run_at_the_level_the_search_found(tmp_path: Path) -> None:
    """Repeat 1 is searched; repeat 2 runs at its level and, its SLO attainment being the same, the interval
    is tight at once: repeat 3 is not needed. The figure is measured against the study's SLO."""
    auto = 'repeats = "auto"\nmax_repeats = 3\nmin_repeats = 2\nrepeat_target = 10\nrepeat_metric = "slo_attainment"'
    with slowing_server() as url:
        result = run_cli("study", "run", str(_study(tmp_path / "g.toml", url, tmp_path / "studies", auto)))
        assert result.exit_code == 0, result.stderr
    study = tmp_path / "studies" / "goodput"
    cells = {c["name"]: c for c in json.loads((study / "study.json").read_text())["cells"]}
    assert cells["r1"]["run_dir"] == "runs/r1@c3" and cells["r2"]["run_dir"] == "runs/r2@c3"
    assert cells["r2"]["status"] == "completed" and cells["r3"]["status"] == "not_needed"
    assert "tight after 2 repeats" in cells["r3"]["message"]
    rows = json.loads(run_cli("study", "report", str(study), "--json").stdout)["rows"]
    assert [(r["cell"], r["goodput_level"]) for r in rows] == [("r1", 3), ("r2", 3)]
