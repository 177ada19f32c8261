"""``ipw report``: the HTML file opened in a real browser (headless chromium), its numbers read back from the DOM.

Each report is rendered by Debian's ``chromium`` (``.ci/run`` installs it; the
``chromium`` fixture in tests/conftest.py skips these tests where it is missing,
and fails them on CI): one call (``open_in_chromium`` of tests/reports/_browser.py)
takes the screenshot and dumps the DOM after the page's script ran.
The screenshots are kept under pytest's tmp dir (and copied to
``$IPW_TEST_ARTIFACTS`` when set) and their paths printed (``pytest -s``
shows them), so a person can look at what the test saw.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ipw.cli import cli
from ipw.replay.engine import load_run
from ipw.reports._metrics import query_rows
from ipw.reports.diff import diff_runs

from ._browser import open_in_chromium
from .conftest import plan_queries
from .ledgers import write_run


def _report(paths: list[Path], out: Path, *options: str) -> Path:
    args = ["report", *map(str, paths), "-o", str(out)]
    for option in options:
        args += ["--option", option]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    text = out.read_text(encoding="utf-8")
    # self-contained: nothing to fetch when opened from an email attachment
    for needle in ("http://", "https://", "<link", "src=\"file:", "@import"):
        assert needle not in text, needle
    return out


def _value(element: dict[str, Any]) -> Any:
    raw = element["attrs"].get("data-value")
    return None if raw in (None, "") else json.loads(raw)


def _summary_json(run: Path, *options: str) -> dict[str, Any]:
    args = ["replay", str(run), "--analysis", "summary", "--json"]
    for option in options:
        args += ["--option", option]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = json.loads((run / "analysis" / "summary.json").read_text())
    assert written["metrics"] == json.loads(result.output)["metrics"]
    return written


@pytest.fixture(scope="module")
def study(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study folder built by hand: study.json and runs/<cell>/, three cells of known energy and accuracy."""
    root = tmp_path_factory.mktemp("study") / "gemma-settings"
    cells = []
    for name, shift, side in (("tokens-16", 0.0, "a"), ("tokens-64", 0.5, "b"), ("tokens-256", 1.0, "a")):
        write_run(root / "runs" / name, plan_queries(shift, side=side), devices={"nvidia:0": 100.0})
        cells.append({"name": name, "params": {"gen_param.max_tokens": int(name.split("-")[1])},
                      "run_dir": f"runs/{name}", "status": "completed"})
    (root / "study.json").write_text(json.dumps({"name": "gemma-settings", "cells": cells}))
    return root


def test_run_report_numbers_match_summary_json(runs: dict[str, Path], tmp_path: Path, chromium: str) -> None:
    html = _report([runs["a"]], tmp_path / "run.html", "carbon_intensity_g_per_kwh=400")
    summary = _summary_json(runs["a"], "carbon_intensity_g_per_kwh=400")
    dom = open_in_chromium(chromium, html, tmp_path / "run.png")
    assert dom.with_attr("data-report", "run")
    cells = {e["attrs"]["data-metric"]: e for e in dom.with_attr("data-metric")}
    assert set(cells) == set(summary["metrics"])  # every number of the summary, and nothing else
    for name, metric in summary["metrics"].items():
        assert _value(cells[name]) == metric["value"], name
        assert cells[name]["text"].endswith(metric["provenance"] or "none"), (name, cells[name]["text"])
    for name in ("joules_per_output_token", "output_tokens_per_joule", "co2_g", "co2_g_per_query"):
        assert summary["metrics"][name]["value"] is not None, name
    assert summary["metrics"]["co2_g"]["provenance"] == "derived"
    assert dom.with_attr("id", "power-timeline") and dom.with_attr("id", "latency")
    imgs = [e for e in dom.elements if e["tag"] == "img"]
    assert len(imgs) == 2 and all(e["attrs"]["src"].startswith("data:image/png;base64,") for e in imgs)
    # the per-query table: one row per measured query, with the query rows' own numbers
    rows = query_rows(load_run(runs["a"]))
    assert [_value(e) for e in dom.with_attr("data-field", "query_id")] == [r.query_id for r in rows]
    assert [_value(e) for e in dom.with_attr("data-field", "energy_j")] == [r.energy_j for r in rows]
    assert [_value(e) for e in dom.with_attr("data-field", "ttft_s")] == [r.ttft_s for r in rows]
    assert [_value(e) for e in dom.with_attr("data-field", "completion_tokens")] == [8, 12, 10, 16, 14, 6]
    assert [e["text"] for e in dom.with_attr("data-field", "answer")] == [load_run(runs["a"]).queries[r.query_id].text
                                                                          for r in rows]
    verdicts = [e["attrs"]["data-value"] for e in dom.with_attr("data-field", "verdict")]
    assert verdicts == ["correct", "correct", "incorrect", "incorrect", "correct", ""]


def test_the_query_table_sorts_in_the_browser(runs: dict[str, Path], tmp_path: Path, chromium: str) -> None:
    html = _report([runs["a"]], tmp_path / "run.html")
    plain_dom = open_in_chromium(chromium, html, tmp_path / "plain.png")
    plain = [_value(e) for e in plain_dom.with_attr("data-field", "energy_j")]
    dom = open_in_chromium(chromium, html, tmp_path / "sorted.png", fragment="#sort=queries,4,desc")
    ordered = [_value(e) for e in dom.with_attr("data-field", "energy_j")]
    assert plain != ordered  # the script moved rows: the ledger order is not already sorted
    assert ordered == sorted(plain, reverse=True)
    assert [e for e in dom.elements if e["tag"] == "th" and e["attrs"].get("aria-sort") == "descending"]


def test_diff_report_shows_the_deltas_with_intervals(runs: dict[str, Path], tmp_path: Path, chromium: str) -> None:
    html = _report([runs["a"], runs["b"]], tmp_path / "diff.html")
    dom = open_in_chromium(chromium, html, tmp_path / "diff.png")
    assert dom.with_attr("data-report", "diff")
    expected = diff_runs(load_run(runs["a"]), load_run(runs["b"]))
    shown = {e["attrs"]["data-delta"]: e for e in dom.with_attr("data-delta")}
    assert set(shown) == set(expected["deltas"]) >= {"accuracy", "energy_per_query_j", "joules_per_output_token"}
    for key, delta in expected["deltas"].items():
        attrs = shown[key]["attrs"]
        assert _value(shown[key]) == delta["delta"], key
        assert (json.loads(attrs["data-ci-low"]) if attrs["data-ci-low"] else None) == delta["ci_low"], key
        assert (json.loads(attrs["data-ci-high"]) if attrs["data-ci-high"] else None) == delta["ci_high"], key
    flips = expected["accuracy_flips"]
    assert dom.with_attr("data-field", "n_right_to_wrong")[0]["text"] == str(flips["n_right_to_wrong"]) == "1"
    assert dom.with_attr("data-field", "n_wrong_to_right")[0]["text"] == str(flips["n_wrong_to_right"]) == "1"
    for scope, run in (("a", runs["a"]), ("b", runs["b"])):
        summary = _summary_json(run)
        for e in dom.with_attr("data-scope", scope):
            assert _value(e) == summary["metrics"][e["attrs"]["data-metric"]]["value"]


def test_study_report_leaderboard_and_pareto(study: Path, tmp_path: Path, chromium: str) -> None:
    html = _report([study], tmp_path / "study.html")
    dom = open_in_chromium(chromium, html, tmp_path / "study.png")
    assert dom.with_attr("data-report", "study")
    names = [e["attrs"]["data-sort"] for e in dom.with_attr("data-field", "cell")]
    assert sorted(names) == ["tokens-16", "tokens-256", "tokens-64"]
    ipj = []
    for name in names:
        summary = _summary_json(study / "runs" / name)
        shown = {e["attrs"]["data-metric"]: e for e in dom.with_attr("data-scope", name)}
        assert {"accuracy", "intelligence_per_joule", "joules_per_output_token"} <= set(shown)
        for metric, e in shown.items():
            assert _value(e) == summary["metrics"][metric]["value"], (name, metric)
        ipj.append(summary["metrics"]["intelligence_per_joule"]["value"])
    assert ipj == sorted(ipj, reverse=True)  # best intelligence per joule first
    # tokens-16 is the cheapest and as accurate as tokens-256, which it dominates; tokens-64 is more accurate
    front = {e["attrs"]["data-sort"] for e in dom.with_attr("data-field", "cell") if e["attrs"].get("class") == "front"}
    assert front == {"tokens-16", "tokens-64"}
    params = [e["attrs"].get("data-value") for e in dom.with_attr("data-field", "param.gen_param.max_tokens")]
    assert sorted(map(int, params)) == [16, 64, 256]
    assert dom.with_attr("id", "pareto")


def _ipw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipw.cli", *args], capture_output=True, text=True, timeout=120)


def test_report_refuses_what_it_cannot_show(runs: dict[str, Path], study: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    for args, code, words in (
        ([str(tmp_path / "nothing")], 3, "nothing"),
        ([str(study), str(runs["a"])], 2, "study folder is reported on its own"),
        ([str(runs["a"]), "--option", "carbon_intensity_g_per_kwh=-5"], 2, "carbon intensity"),
    ):
        done = _ipw("report", *args, "-o", str(out))
        lines = done.stderr.strip().splitlines()
        assert (done.returncode, len(lines)) == (code, 1), done.stderr
        assert lines[0].startswith("ipw: error:") and words in lines[0], lines[0]
        assert not out.exists()
