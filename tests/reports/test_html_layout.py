"""The HTML pages as a person sees them: chromium at 1,200 px wide, labels in words with units, no sideways scroll.

Each page (one run, an agent run with its tasks, a diff, a study with a leaderboard wider than the page)
is opened in headless chromium at 1,200 × 900 after a small script is added
that, once the page has loaded, writes the page's and each table box's
scroll and client widths into ``<body>``; ``--dump-dom`` returns them. The
screenshots are kept under pytest's tmp dir (and ``$IPW_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ipw.reports.html import report_html

from ._browser import Dom, open_in_chromium
from .studies import write_study

_MEASURE = """<script>
window.addEventListener('load', function () {
  var d = document.documentElement, boxes = [];
  document.querySelectorAll('.table-scroll').forEach(function (b) { boxes.push([b.scrollWidth, b.clientWidth]); });
  document.body.setAttribute('data-measured', JSON.stringify(
    {scroll: d.scrollWidth, client: d.clientWidth, boxes: boxes}));
});
</script>"""
SNAKE = re.compile(r"[A-Za-z0-9]+_[A-Za-z0-9_]+")
WITH_UNIT = re.compile(r"^[A-Z0-9ipC][^_]* \([^()]+\)$")  # words, then the unit in parentheses


def _open_at_1200(chromium: str, html: str, shot: Path) -> Dom:
    page = shot.with_suffix(".html")
    page.write_text(html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    return open_in_chromium(chromium, page, shot, window_px=(1200, 900), hide_scrollbars=False)


def _check(dom: Dom) -> dict[str, Any]:
    body = next(e for e in dom.elements if e["tag"] == "body")
    assert "data-measured" in body["attrs"], "the measuring script did not run"
    measured = json.loads(body["attrs"]["data-measured"])
    assert measured["client"] > 1000  # the window really was about 1,200 px wide
    assert measured["scroll"] <= measured["client"], f"the page scrolls sideways: {measured}"
    headers = [e["text"].strip() for e in dom.elements if e["tag"] == "th"]
    assert headers and not [h for h in headers if SNAKE.search(h)], headers
    labels = [e for e in dom.elements if "data-label-of" in e["attrs"]]
    assert labels
    for e in labels:
        assert WITH_UNIT.match(e["text"].strip()), (e["attrs"]["data-label-of"], e["text"])
    figures = [e for e in dom.elements if e["tag"] == "figure"]
    for f in figures:
        axis_labels = json.loads(f["attrs"]["data-axis-labels"])
        assert axis_labels, f["attrs"].get("id")
        for text in axis_labels:
            assert not SNAKE.search(text) and re.search(r"\([^()]+\)", text), (f["attrs"].get("id"), text)
    return {"measured": measured, "figures": figures}


def test_run_page_fits_and_says_units(runs: dict[str, Path], tmp_path: Path, chromium: str) -> None:
    seen = _check(_open_at_1200(chromium, report_html([runs["a"]]), tmp_path / "run.png"))
    assert len(seen["figures"]) == 2


def test_agent_run_page_fits_and_says_units(agent_runs: dict[str, Path], tmp_path: Path, chromium: str) -> None:
    dom = _open_at_1200(chromium, report_html([agent_runs["a"]]), tmp_path / "agent-run.png")
    seen = _check(dom)
    assert "task-timeline" in {f["attrs"].get("id") for f in seen["figures"]}
    # the tasks table and its overall figures are there, their labels checked with the rest above
    assert {"tasks", "tasks-overall"} <= {e["attrs"].get("id") for e in dom.elements if e["tag"] == "table"}
    assert {"turns", "wall_s", "model_energy_j", "tools_energy_j", "success_rate"} <= {
        e["attrs"]["data-label-of"] for e in dom.elements if "data-label-of" in e["attrs"]}


def test_diff_page_overlays_the_two_runs(runs: dict[str, Path], tmp_path: Path, chromium: str) -> None:
    dom = _open_at_1200(chromium, report_html([runs["a"], runs["b"]]), tmp_path / "diff.png")
    seen = _check(dom)
    ids = {f["attrs"].get("id") for f in seen["figures"]}
    assert {"latency-overlay", "power-overlay"} <= ids and len(seen["figures"]) >= 3


def test_a_wide_leaderboard_scrolls_inside_its_box(tmp_path: Path, chromium: str) -> None:
    study = write_study(tmp_path / "wide-study", extra_axes=6)
    seen = _check(_open_at_1200(chromium, report_html([study]), tmp_path / "study.png"))
    # the leaderboard is wider than the page, yet only its own box scrolls
    assert any(scroll > client for scroll, client in seen["measured"]["boxes"]), seen["measured"]
    pareto = [f for f in seen["figures"] if f["attrs"].get("id") == "pareto"]
    assert pareto and "Accuracy (fraction, 95% Wilson interval)" in json.loads(pareto[0]["attrs"]["data-axis-labels"])
