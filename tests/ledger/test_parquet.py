"""``ipw ledger export --format parquet``: one file per event kind, read back by pyarrow, pandas-ready, and by ipw."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from ipw.cli import cli
from ipw.events import kind_of
from ipw.ledger import LedgerReader
from ipw.ledger.parquet import export_parquet, is_parquet_export, read_parquet_events

from ..reports.conftest import plan_queries
from ..reports.ledgers import write_run

pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow comes with the analysis extra")


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", plan_queries(0.0, side="a"), devices={"nvidia:0": 100.0, "rapl:package-0": 20.0},
                     telemetry=[(0.1, "connected")])


def test_one_file_per_kind_and_token_rows_equal_token_events(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    result = CliRunner().invoke(cli, ["ledger", "export", str(run), "--format", "parquet", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    events = list(LedgerReader(run).events())
    kinds = sorted({kind_of(e) for e in events})
    assert sorted(p.name for p in out.iterdir()) == [f"{k}.parquet" for k in kinds]
    for path in out.iterdir():  # pyarrow reads every file, and the row count is the event count
        table = pq.read_table(path)
        assert table.num_rows == sum(1 for e in events if kind_of(e) == path.stem), path.name
    tokens = pq.read_table(out / "token.parquet").to_pylist()
    expected = [msgspec.structs.asdict(e) for e in events if kind_of(e) == "token"]
    assert len(tokens) == 66 and set(tokens[0]) == {"seq", "query_id", "t_ns", "text", "n_tokens"}
    assert [{k: v for k, v in row.items() if k != "seq"} for row in tokens] == expected
    assert all(row["n_tokens"] == 1 for row in tokens)
    assert pq.read_table(out / "token.parquet").schema.field("t_ns").type == "int64"
    started = pq.read_table(out / "run_started.parquet").to_pylist()[0]
    assert json.loads(started["config"])["model"] == "gemma-3-270m"  # nested fields are JSON text


def test_a_parquet_export_reads_back_as_the_same_run(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    export_parquet(run, out)
    assert is_parquet_export(out) and not is_parquet_export(run)
    assert read_parquet_events(out) == list(LedgerReader(run).events())
    sql = "SELECT count(*) AS n, sum(n_tokens) AS t FROM tokens"
    from_ledger = CliRunner().invoke(cli, ["query", str(run), sql, "--json"], catch_exceptions=False)
    from_parquet = CliRunner().invoke(cli, ["query", str(out), sql, "--json"], catch_exceptions=False)
    assert from_parquet.exit_code == 0, from_parquet.output
    assert json.loads(from_parquet.output) == json.loads(from_ledger.output) == [{"n": 66, "t": 66}]


def test_parquet_needs_an_output_folder(run: Path) -> None:
    from ipw.errors import UsageError

    with pytest.raises(UsageError, match="folder"):
        CliRunner().invoke(cli, ["ledger", "export", str(run), "--format", "parquet"], catch_exceptions=False)
