"""``ipw query`` reads a result as it comes: a result of any size costs one batch of memory.

The table shows at most ``--limit`` rows (10,000 by default) and says when
there were more; ``--format csv`` and ``--format json`` print every row, a
batch at a time.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ipw.cli.query_cmd import TABLE_ROWS
from tests.conftest import assert_one_clean_line, run_cli

from .ledgers import Q, write_run

pytest.importorskip("duckdb")

NOTE = "more rows not shown: use --limit N, or --format csv or json for every row"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("query_rows")
    return write_run(root / "run", [Q("r1", 0.0, 0.5, 3, correct=True), Q("r2", 1.0, 1.4, 2, correct=False)])


def _data_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    return lines[2:-1]  # header, rule, …, footer


def test_the_table_shows_the_first_ten_thousand_rows_and_says_there_are_more(run: Path) -> None:
    result = run_cli("query", str(run), f"SELECT i FROM range({TABLE_ROWS + 5}) t(i)")
    assert result.exit_code == 0, result.stderr
    rows = _data_lines(result.stdout)
    assert [int(r) for r in rows] == list(range(TABLE_ROWS))
    assert result.stdout.splitlines()[-1] == f"({TABLE_ROWS:,} rows shown; {NOTE})"


@pytest.mark.parametrize("n, limit, note", [(7, 3, True), (3, 3, False), (2, 3, False), (5, 0, True)])
def test_limit_caps_the_table_and_the_note_appears_only_when_rows_were_left_out(
        run: Path, n: int, limit: int, note: bool) -> None:
    result = run_cli("query", str(run), "--limit", str(limit), f"SELECT i FROM range({n}) t(i)")
    assert result.exit_code == 0, result.stderr
    shown = min(n, limit)
    assert [int(r) for r in _data_lines(result.stdout)] == list(range(shown))
    last = result.stdout.splitlines()[-1]
    assert last == (f"({shown:,} rows shown; {NOTE})" if note else f"({shown} row{'s' if shown != 1 else ''})")


def test_csv_and_json_print_every_row(run: Path) -> None:
    n = 3 * TABLE_ROWS + 18  # more than the table shows, and several batches; the last row has a half
    sql = f"SELECT i, 'x' || i AS label, CASE WHEN i % 2 = 0 THEN NULL ELSE i / 2 END AS half FROM range({n}) t(i)"
    as_csv = run_cli("query", str(run), "--format", "csv", sql)
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["i", "label", "half"] and len(rows) == n + 1
    assert rows[1] == ["0", "x0", ""] and rows[-1] == [str(n - 1), f"x{n - 1}", str((n - 1) / 2)]
    for flag in (["--format", "json"], ["--json"]):
        as_json = run_cli("query", str(run), *flag, sql)
        assert as_json.exit_code == 0, as_json.stderr
        records = json.loads(as_json.stdout)
        assert len(records) == n and records[0] == {"i": 0, "label": "x0", "half": None}
        assert records[-1] == {"i": n - 1, "label": f"x{n - 1}", "half": (n - 1) / 2}


def test_csv_and_json_of_an_empty_result_and_an_explicit_limit(run: Path) -> None:
    assert json.loads(run_cli("query", str(run), "--json", "SELECT * FROM tokens WHERE false").stdout) == []
    assert run_cli("query", str(run), "--format", "csv", "SELECT 1 AS a WHERE false").stdout == "a\n"
    capped = run_cli("query", str(run), "--format", "json", "--limit", "4", "SELECT i FROM range(10) t(i)")
    assert [r["i"] for r in json.loads(capped.stdout)] == [0, 1, 2, 3]
    assert "the first 4 rows printed; more rows not printed (--limit)" in capped.stderr


def test_an_error_while_the_rows_come_is_one_line(run: Path) -> None:
    # the cast fails on a row deep in the result (DuckDB checks a small result whole before the first row)
    sql = "SELECT CASE WHEN i < 2000000 THEN i::VARCHAR ELSE 'x' END::INTEGER AS v FROM range(3000000) t(i)"
    result = run_cli("query", str(run), "--format", "csv", sql)
    assert result.exit_code == 2, result.stderr
    assert_one_clean_line(result.stderr)
    assert "SQL failed: Conversion Error" in result.stderr
    assert result.stdout.count("\n") > TABLE_ROWS  # rows had been printed when it failed


def test_a_hundred_million_rows_take_one_batch_of_memory(run: Path) -> None:
    # held at once, 10^8 rows of Python ints need several GiB; read as they come, the process stays small
    code = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'ipw.cli', 'query', sys.argv[1],"
        " 'SELECT i FROM range(100000000) t(i)'], capture_output=True, text=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(done.stdout.splitlines()[-1])\n"
        "sys.stderr.write(done.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=600)
    first, last = done.stdout.splitlines()
    code_, max_rss_kib = (int(x) for x in first.split())
    assert code_ == 0, done.stderr
    assert last == f"({TABLE_ROWS:,} rows shown; {NOTE})"
    assert max_rss_kib < 1024 * 1024, f"ipw query held {max_rss_kib / 1024:.0f} MiB"  # generous: it needs ~0.2 GiB
