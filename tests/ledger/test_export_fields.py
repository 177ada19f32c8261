"""``ipw ledger export`` writes every field of every event, those at their default too.

Interchange files are read by DuckDB, pandas and jq, where a missing field is
NULL: a token export without ``n_tokens`` (default 1) makes ``sum(n_tokens)``
undercount. The ledger's own encoding may keep omitting defaults; the export
may not, and ``import`` reads both forms.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest

from ipw import events as ev
from ipw.ledger import LedgerWriter, parse_jsonl, read_events
from ipw.ledger.parquet import read_parquet_events

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
GOLDEN_RUNS = sorted(p.parent for p in GOLDEN.glob("*/run/manifest.json"))


def _fields(kind: str) -> list[str]:
    return ["kind", *(f.encode_name for f in msgspec.structs.fields(ev.KINDS[kind]))]


def test_there_are_golden_ledgers_to_check() -> None:
    assert len(GOLDEN_RUNS) >= 2, GOLDEN_RUNS


@pytest.mark.parametrize("golden", GOLDEN_RUNS, ids=lambda p: p.parent.name)
def test_every_exported_line_has_every_field_of_its_kind(golden: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "events.jsonl"
    assert cli("ledger", "export", str(golden), "-o", str(out)).exit_code == 0
    lines = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert {line["kind"] for line in lines} >= {"run_started", "query_started", "token", "query_finished"}
    for line in lines:
        assert list(line) == _fields(line["kind"]), line  # every field, in declaration order


@pytest.mark.parametrize("golden", GOLDEN_RUNS, ids=lambda p: p.parent.name)
def test_export_import_export_is_byte_identical(golden: Path, tmp_path: Path, cli) -> None:
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    assert cli("ledger", "export", str(golden), "-o", str(first)).exit_code == 0
    imported = cli("ledger", "import", str(first), "-o", str(tmp_path / "run"))
    assert imported.exit_code == 0, imported.stderr
    assert cli("ledger", "export", str(tmp_path / "run"), "-o", str(second)).exit_code == 0
    assert second.read_bytes() == first.read_bytes()
    assert read_events(tmp_path / "run") == read_events(golden)


def test_a_default_n_tokens_is_exported_and_sums_right(tmp_path: Path, cli) -> None:
    run = tmp_path / "run"
    with LedgerWriter.create(run, run_id="tok", flush_interval_s=0) as writer:
        writer.append(ev.RunStarted(run_id="tok", t_ns=1, wall_time_ns=2))
        writer.append(ev.Token(query_id=0, t_ns=10, text="a"))  # n_tokens left at its default, 1
        writer.append(ev.Token(query_id=0, t_ns=11, text="bc", n_tokens=2))
    result = cli("ledger", "export", str(run), "--kind", "token")
    assert result.exit_code == 0, result.stderr
    tokens = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["n_tokens"] for t in tokens] == [1, 2]  # a reader that sums the column gets 3, not 2


def test_the_old_form_without_defaults_still_imports(tmp_path: Path, cli) -> None:
    old = tmp_path / "old.jsonl"  # as an export wrote it before: fields at their default left out
    old.write_bytes(b"\n".join([
        b'{"kind":"run_started","run_id":"old","t_ns":1,"wall_time_ns":2,"schema_version":1}',
        b'{"kind":"query_started","query_id":0,"t_ns":5}',
        b'{"kind":"token","query_id":0,"t_ns":10,"text":"a"}',
        b'{"kind":"query_finished","query_id":0,"t_ns":20,"completion_tokens":1}',
    ]) + b"\n")
    result = cli("ledger", "import", str(old), "-o", str(tmp_path / "run"))
    assert result.exit_code == 0, result.stderr
    assert read_events(tmp_path / "run") == list(parse_jsonl(old.read_bytes().splitlines()))
    again = cli("ledger", "export", str(tmp_path / "run"))
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    assert [list(line) for line in lines] == [_fields(line["kind"]) for line in lines]
    assert lines[2]["n_tokens"] == 1 and lines[1]["warmup"] is False


def test_parquet_has_every_field_as_a_column_with_its_value(tmp_path: Path, cli) -> None:
    run = tmp_path / "run"
    events = [
        ev.RunStarted(run_id="pq", t_ns=1, wall_time_ns=2),
        ev.QueryStarted(query_id=0, t_ns=5, record_id="r0"),
        ev.Token(query_id=0, t_ns=10, text="a"),
        ev.Token(query_id=0, t_ns=11, text="bc", n_tokens=2),
        ev.QueryFinished(query_id=0, t_ns=20, completion_tokens=3),
        ev.Verdict(query_id=0, t_ns=30, judge="j", is_correct=None),  # a required field that is null
    ]
    with LedgerWriter.create(run, run_id="pq", flush_interval_s=0) as writer:
        writer.extend(events)
    out = tmp_path / "parquet"
    result = cli("ledger", "export", str(run), "--format", "parquet", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    for kind in {ev.kind_of(e) for e in events}:
        table = pq.read_table(out / f"{kind}.parquet")
        assert table.column_names == ["seq", *_fields(kind)[1:]], kind
    assert pq.read_table(out / "token.parquet").column("n_tokens").to_pylist() == [1, 2]
    assert read_parquet_events(out) == events
