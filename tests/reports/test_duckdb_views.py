"""SQL over one or many ledgers through the DuckDB views."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipw.errors import LedgerError, UsageError
from ipw.replay.engine import load_run
from ipw.reports.duckdb_views import VIEW_NAMES, build_tables, host_summary, query_runs

from .conftest import PLAN
from .ledgers import Q, sequential, write_run

pytest.importorskip("duckdb")

TOKENS_PER_RUN = sum(tokens for _r, _d, tokens, _a, _b in PLAN)


def test_tokens_counted_per_run_over_two_ledgers(runs: dict[str, Path]) -> None:
    columns, rows = query_runs([runs["a"], runs["b"]], "SELECT run_id, count(*) FROM tokens GROUP BY 1 ORDER BY 1")
    assert columns[0] == "run_id"
    assert rows == [("a", TOKENS_PER_RUN), ("b", TOKENS_PER_RUN)]


def test_queries_join_verdicts(runs: dict[str, Path]) -> None:
    sql = """
        SELECT q.run_id, sum(CASE WHEN v.is_correct THEN 1 ELSE 0 END) AS correct, count(v.query_id) AS judged
        FROM queries q LEFT JOIN verdicts v USING (run_id, query_id)
        WHERE NOT q.warmup AND q.status = 'completed'
        GROUP BY 1 ORDER BY 1
    """
    _columns, rows = query_runs([runs["a"], runs["b"]], sql)
    assert rows == [("a", 3, 5), ("b", 4, 6)]


def test_query_columns_and_values(runs: dict[str, Path]) -> None:
    columns, rows = query_runs([runs["a"]], "SELECT * FROM queries ORDER BY query_id LIMIT 1")
    row = dict(zip(columns, rows[0]))
    assert row["record_id"] == "r1" and row["completion_tokens"] == 8 and row["prompt_tokens"] == 20
    assert row["end_ns"] - row["start_ns"] == 400_000_000
    assert row["ttft_ns"] == 40_000_000
    assert row["status"] == "completed" and row["finish_reason"] == "stop" and row["warmup"] is False
    assert row["answer"] == "".join(f"w{k} " for k in range(8))


def test_runs_view(runs: dict[str, Path]) -> None:
    columns, rows = query_runs([runs["a"], runs["b"]], "SELECT run_id, model, client, dataset, status, host FROM runs ORDER BY 1")
    assert rows[0][:5] == ("a", "gemma-3-270m", "llamacpp", "builtin", "completed")
    assert rows[1][1] == "gemma-3-1b"
    assert "Fake GPU (driver 550.1)" in rows[1][5] and "4 CPUs" in rows[1][5]
    _c, started = query_runs([runs["a"]], "SELECT year(started_at_utc) FROM runs")
    assert started == [(2026,)]


def test_power_nulls_where_a_device_has_only_a_counter(tmp_path: Path) -> None:
    run = write_run(tmp_path / "counter", sequential([("x", 1.0, 5, True)]), devices={"nvidia:0": 60.0},
                    counter_only=True, interval_s=0.5)
    _c, rows = query_runs([run], "SELECT count(*), count(power_w), max(energy_j), min(source) FROM power")
    n = rows[0][0]
    assert n > 0 and rows[0][1] == 0
    assert rows[0][2] == pytest.approx(60.0 * 0.5 * (n - 1))
    assert rows[0][3] == "measured"


def test_failed_and_unfinished_queries_have_a_status(tmp_path: Path) -> None:
    queries = [Q("ok", 0.1, 0.5, 3), Q("bad", 0.6, 0.9, 0, failed=True)]
    run = write_run(tmp_path / "mixed", queries, finished=False)
    _c, rows = query_runs([run], "SELECT record_id, status, error_type, completion_tokens FROM queries ORDER BY query_id")
    assert rows == [("ok", "completed", None, 3), ("bad", "failed", "ServerTimeoutError", None)]
    _c, status = query_runs([run], "SELECT status, queries_completed, queries_failed FROM runs")
    assert status == [("unfinished", 1, 1)]


def test_nested_config_names(tmp_path: Path) -> None:
    run = write_run(tmp_path / "nested", [], client="x", config={"client": {"id": "openai", "base_url": "http://h"},
                                                                  "dataset": {"id": "file", "path": "d.jsonl"}})
    _c, rows = query_runs([run], "SELECT client, dataset FROM runs")
    assert rows == [("openai", "file")]


def test_every_view_builds_with_types_even_when_empty(tmp_path: Path) -> None:
    view = load_run(write_run(tmp_path / "empty", []))
    tables = build_tables([view])
    assert set(tables) == set(VIEW_NAMES)
    assert tables["tokens"].num_rows == 0 and str(tables["tokens"].schema.field("t_ns").type) == "int64"
    assert tables["runs"].num_rows == 1


def test_sql_errors_are_one_clear_usage_error(runs: dict[str, Path]) -> None:
    with pytest.raises(UsageError) as info:
        query_runs([runs["a"]], "SELECT nope FROM queries")
    message = info.value.one_line()
    assert message.startswith("SQL failed:") and "nope" in message and "\n" not in message
    with pytest.raises(UsageError, match="empty"):
        query_runs([runs["a"]], "   ")
    with pytest.raises(LedgerError, match="holds no ledger"):
        query_runs([runs["a"].parent / "missing"], "SELECT 1")


def test_host_summary() -> None:
    assert host_summary({}) == ""
    text = host_summary({"os": "Linux", "kernel": "6.8", "cpu": "EPYC", "cpu_count": 16, "memory_bytes": 64 << 30,
                         "accelerators": [{"name": "H100", "driver_version": "550"}, "TPU"]})
    assert text == "Linux 6.8, EPYC, 16 CPUs, 64.0 GiB, H100 (driver 550), TPU"
