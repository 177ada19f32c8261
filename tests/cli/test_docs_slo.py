"""The README's "Figures that hold up" section is tested against the code it describes.

The validity table must name exactly the checks :mod:`ipw.analyses.validity`
emits, with its thresholds; the SLO table every SLO metric of the summary;
and the goodput snippet is run as written (only its server URL and output
folder changed) against the loopback server of ``tests/studies/test_goodput.py``,
a stand-in for an inference server whose TTFT is 200 ms × the requests it
holds, so the level it must find (3 under TTFT ≤ 700 ms) is known in advance.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from ipw.analyses import validity
from ipw.analyses.summary import METRIC_ORDER

from tests.studies.test_goodput import slowing_server

ROOT = Path(__file__).resolve().parents[2]
HEADING = "### Figures that hold up: steady state, validity and SLOs"


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    _, found, rest = readme.partition(f"\n{HEADING}\n")
    assert found, f"README.md has no {HEADING!r} section"
    out, fenced = [], False
    for line in rest.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,3} ", line):
            break
        out.append(line)
    return "".join(out)


def test_the_validity_table_names_every_check_and_threshold() -> None:
    text = _section()
    documented = set(re.findall(r"^\| `(\w+)`", text, flags=re.M))  # the first column of the table's rows
    emitted = set(re.findall(r'_check\("(\w+)"', Path(validity.__file__).read_text(encoding="utf-8")))
    assert emitted and emitted <= documented, f"checks not in the README: {emitted - documented}"
    assert f"default {validity.DEFAULT_MIN_STEADY_S:g}" in text
    assert f"{validity.IN_FLIGHT_FRACTION:g} × the target" in text
    assert f"at least {validity.MIN_COVERAGE:g} of the run's window" in text
    assert f"longer than {validity.GAP_INTERVALS} sample intervals" in text
    for key in validity.TDP_KEYS:
        assert f"`{key}`" in text


def test_the_slo_table_names_every_slo_metric_of_the_summary() -> None:
    text = _section()
    slo_metrics = [m for m in METRIC_ORDER if "slo" in m or m.startswith("goodput")]
    assert len(slo_metrics) == 5
    for name in slo_metrics:
        assert f"`{name}`" in text, name


def test_the_goodput_snippet_finds_the_known_level(tmp_path: Path) -> None:
    snippet = _section().split("```python\n", 1)[1].split("```", 1)[0]
    assert snippet.count('"http://127.0.0.1:8000/v1"') == 1 and snippet.count('"runs/goodput"') == 1
    out = io.StringIO()
    with slowing_server() as url:
        code = snippet.replace('"http://127.0.0.1:8000/v1"', repr(url)).replace('"runs/goodput"', repr(str(tmp_path)))
        scope: dict[str, object] = {"__name__": "readme_goodput"}
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md (goodput snippet)", "exec"), scope)
    result = scope["result"].to_dict()  # type: ignore[attr-defined]
    assert result["level"] == 3 and [p["level"] for p in result["probes"]] == [1, 8, 4, 2, 3]
    assert out.getvalue().startswith("{'target_attainment': 0.9, 'level': 3, 'probes': [{'level': 1,")
    assert (tmp_path / "mc3").is_dir()  # each probe is an ordinary run folder, as the README says
