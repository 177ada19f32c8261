"""``ipw query`` runs SQL that cannot touch the file system: it reads the views and nothing else.

DuckDB would otherwise let a statement write anywhere (``COPY … TO``), read any
file (``read_csv``), attach databases or install extensions. The views are
Arrow tables already in memory, so they keep working with external access off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_one_clean_line, run_cli

from .ledgers import Q, write_run

pytest.importorskip("duckdb")


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3, correct=True), Q("r2", 1.0, 1.4, 2, correct=False)])


def _refused(run: Path, sql: str) -> str:
    result = run_cli("query", str(run), sql)
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert "SQL failed" in result.stderr
    return result.stderr


def test_copy_to_a_file_is_refused_and_writes_nothing(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "anywhere.csv"
    _refused(run, f"COPY (SELECT 1) TO '{target}'")
    _refused(run, f"COPY queries TO '{target}' (FORMAT parquet)")
    assert not target.exists()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM '/etc/passwd'",
    "ATTACH '{tmp}/x.duckdb' AS x",
    "EXPORT DATABASE '{tmp}/exported'",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "RESET lock_configuration",
])
def test_file_and_configuration_access_is_refused(run: Path, tmp_path: Path, sql: str) -> None:
    _refused(run, sql.format(tmp=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_second_statement_cannot_turn_access_back_on(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "after.csv"
    _refused(run, f"SET enable_external_access = true; COPY (SELECT 1) TO '{target}'")
    assert not target.exists()


def test_the_views_still_answer(run: Path) -> None:
    result = run_cli("query", str(run), "--json", "SELECT count(*) AS n FROM tokens JOIN queries USING (run_id, query_id)")
    assert result.exit_code == 0, result.stderr
    assert '"n": 5' in result.stdout
