"""The one study table: report.json, CSV, Parquet, the terminal, the HTML leaderboard and the SQL ``cells`` view agree.

Every output is rendered from :func:`ipw.reports.study_table.study_table`;
here each is read back by its own reader (json, csv, pyarrow, DuckDB through
``ipw query``, an HTML parser, the terminal text) and compared row by row,
value by value, with the table itself.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ipw.errors import UsageError
from ipw.reports.html import report_html
from ipw.reports.labels import LABELS, label
from ipw.reports.study_file import read_study
from ipw.reports.study_outputs import columns, records
from ipw.reports.study_stats import wilson_interval
from ipw.reports.study_table import COLUMNS, study_table
from ipw.studies.report import build_report, format_report, write_csv, write_parquet
from tests.conftest import run_cli

from .studies import write_study

pytest.importorskip("duckdb")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_study(tmp_path_factory.mktemp("table") / "gemma-settings")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=0)
    return a == b


def _assert_rows(expected: list[dict[str, Any]], got: list[dict[str, Any]], where: str) -> None:
    assert [r["cell"] for r in got] == [r["cell"] for r in expected], where
    for want, have in zip(expected, got):
        for key, value in want.items():
            assert _same(value, have[key]), (where, want["cell"], key, value, have[key])


class _Cells(HTMLParser):
    """``data-column`` / ``data-field`` values of the leaderboard's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr":
            self.rows.append({})
        elif tag == "td" and a.get("data-field") == "cell":
            self.rows[-1]["cell"] = a["data-sort"]
            self.rows[-1]["on_pareto_front"] = a.get("class") == "front"
        elif tag == "td" and (a.get("data-field") or "").startswith("param."):
            raw = a.get("data-value")
            self.rows[-1][a["data-field"][len("param."):]] = None if raw in (None, "") else json.loads(raw)
        elif tag == "td" and a.get("data-column"):
            raw = a.get("data-value") or ""
            column = a["data-column"]
            text_column = column in ("status", "energy_provenance")
            self.rows[-1][column] = raw if text_column else (None if raw == "" else json.loads(raw))


def test_every_output_renders_the_same_rows(study: Path, tmp_path: Path) -> None:
    table = study_table(study)
    expected = records(table)
    assert [r["cell"] for r in expected] == ["tokens-16", "tokens-64", "tokens-256"]
    assert all(r["queries"] == 6 for r in expected)  # every query of the plan completed
    assert {r["cell"] for r in expected if r["on_pareto_front"]} == {"tokens-16", "tokens-64"}
    _assert_outputs_agree(study, tmp_path)
    written = json.loads((study / "report" / "report.json").read_text())
    assert written["pareto_front"] == ["tokens-16", "tokens-64"]


def test_an_agent_study_has_task_columns_in_every_output(tmp_path: Path) -> None:
    from ipw.analyses.tasks import TasksProjection
    from ipw.replay.engine import load_run

    from .studies import write_agent_study

    study = write_agent_study(tmp_path / "agents")
    rows = {r.cell: r for r in study_table(study).rows}
    for cell in ("agent-small", "agent-large"):
        tasks = TasksProjection().compute(load_run(study / "runs" / cell), {})
        for key in ("success_rate", "joules_per_task", "joules_per_solved_task"):
            assert getattr(rows[cell], key) == pytest.approx(tasks[key]) and tasks[key] is not None, (cell, key)
    assert rows["agent-large"].joules_per_task > rows["agent-small"].joules_per_task
    question = rows["questions"]  # a cell of plain questions has no tasks: None, not zero
    assert question.success_rate is None and question.joules_per_task is None and question.queries == 6
    _assert_outputs_agree(study, tmp_path / "outputs")


def _assert_outputs_agree(study: Path, tmp_path: Path) -> None:
    """report.json, CSV, Parquet, the SQL cells view, the HTML leaderboard and the terminal hold the table's rows."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    table = study_table(study)
    expected = records(table)
    # report.json
    report = build_report(study)
    written = json.loads((study / "report" / "report.json").read_text())
    assert written["columns"] == columns(table) and written["pareto_front"] == table.pareto_front
    _assert_rows(expected, written["rows"], "report.json")
    # CSV: text, so every value is compared as the CSV writer spells it
    write_csv(report, tmp_path / "cells.csv")
    got = list(csv.DictReader(io.StringIO((tmp_path / "cells.csv").read_text())))
    assert list(got[0]) == columns(table)
    for want, have in zip(expected, got):
        assert {k: "" if v is None else str(v) for k, v in want.items()} == have
    # Parquet
    write_parquet(report, tmp_path / "cells.parquet")
    _assert_rows(expected, pq.read_table(tmp_path / "cells.parquet").to_pylist(), "parquet")
    # SQL: the cells view of ipw query, parameters with SQL names, plus run_id
    done = run_cli("query", str(study), "SELECT * FROM cells ORDER BY cell", "--json")
    assert done.exit_code == 0, done.stderr
    sql = json.loads(done.stdout)
    assert [r["run_id"] for r in sql] == [r["cell"] for r in sorted(expected, key=lambda r: r["cell"])]
    for r in sql:
        for axis in table.axes:
            r[axis] = r.pop(re.sub(r"\W", "_", axis))
    _assert_rows(sorted(expected, key=lambda r: r["cell"]), sql, "cells view")
    # HTML leaderboard: best intelligence per joule first, each cell's exact value in data-value
    parser = _Cells()
    parser.feed(report_html([study]))
    html_rows = {r["cell"]: r for r in parser.rows if "cell" in r}
    assert set(html_rows) == {r["cell"] for r in expected}
    for want in expected:
        _assert_rows([want], [html_rows[want["cell"]]], "html")
    # terminal: one line per cell, in order, with every value as the table formats it
    text = format_report(report)
    from ipw.reports.tables import format_cell

    lines = []  # the comparison table: its header and rule, then a line per cell (other tables follow it)
    for line in text.splitlines()[2:]:
        if not line.split() or line.split()[0] not in html_rows:
            break
        lines.append(line)
    assert [line.split()[0] for line in lines] == [r["cell"] for r in expected]
    for want, line in zip(expected, lines):
        for c in COLUMNS:
            assert format_cell(want[c.name]) in line, (want["cell"], c.name)


def test_the_row_numbers_are_the_analyses_own(study: Path) -> None:
    table = study_table(study)
    for row in table.rows:
        summary = run_cli("replay", str(study / "runs" / row.cell), "--analysis", "summary", "--json")
        metrics = json.loads(summary.stdout)["metrics"]
        for column in COLUMNS:
            if column.from_summary:
                assert getattr(row, column.name) == metrics[column.name]["value"], (row.cell, column.name)
        assert (row.accuracy_ci_low, row.accuracy_ci_high) == wilson_interval(row.correct, row.decided)
        assert row.accuracy_ci_low <= row.accuracy <= row.accuracy_ci_high


def test_wilson_is_statsmodels_wilson() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for k, n in ((3, 5), (81, 263), (1, 2), (7, 9)):
        assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"), abs=1e-12)


def test_every_column_has_words_and_a_unit() -> None:
    for column in COLUMNS:
        assert "_" not in column.label and column.label.endswith(")") and "(" in column.label, column
        assert column.label == LABELS[column.name]
    assert label("mean_power_w") == "Mean power (W)"
    assert label("some_new_energy_j") == "Some new energy (J)"  # a key nobody declared still gets words and a unit


def test_study_json_is_decoded_with_its_type(study: Path, tmp_path: Path) -> None:
    assert [c.name for c in read_study(study).cells] == ["tokens-16", "tokens-64", "tokens-256"]
    for doc, words in (
        ({"cells": [{"cell": "x"}]}, "name"),  # the other spellings a tolerant reader once guessed at
        ({"cells": [{"name": 7}]}, "name"),
        ({"cells": [{"name": "x", "params": []}]}, "params"),
        ({"cells": "x"}, "cells"),
        ({"cells": [{"name": "x", "run_dir": "/etc"}]}, "outside the study"),
        ({"cells": [{"name": "x", "run_dir": "runs/../../x"}]}, "outside the study"),
        ({"cells": [{"name": "x"}, {"name": "x"}]}, "twice"),
    ):
        bad = tmp_path / f"bad-{len(list(tmp_path.iterdir()))}"
        bad.mkdir()
        (bad / "study.json").write_text(json.dumps(doc))
        with pytest.raises(UsageError) as err:
            read_study(bad)
        assert words in str(err.value), (doc, str(err.value))


def test_the_journal_of_a_study_being_run_is_applied(study: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(study, tmp_path / "copy"))
    (copy / "study.journal").write_text(
        json.dumps({"name": "tokens-64", "params": {"gen_param.max_tokens": 64}, "status": "failed"}) + "\n"
        + '{"name": "tokens-16", "stat')  # a line torn by a kill
    table = study_table(copy)
    assert [r.status for r in table.rows] == ["completed", "failed", "completed"]
