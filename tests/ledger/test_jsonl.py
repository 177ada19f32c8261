"""``ipw ledger import`` stores exactly what the file says or nothing; ``export`` says its schema version."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ipw import events as ev
from ipw.errors import UsageError
from ipw.ledger import LedgerWriter, event_to_json, export_jsonl, import_jsonl, read_events

from tests.conftest import assert_one_clean_line

GOOD = [
    b'{"kind":"run_started","run_id":"imp","t_ns":1,"wall_time_ns":2}',
    b'{"kind":"query_started","query_id":0,"t_ns":10,"problem":"2+2?"}',
]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b'{"kind":"query_finished","query_id":%d,"t_ns":50}' % 2**70, "query_id"),
        (b'{"kind":"token","query_id":0,"t_ns":%d,"text":" x"}' % 2**64, "t_ns"),
        (b'{"kind":"token","query_id":0,"t_ns":%d,"text":" x"}' % -(2**63 + 1), "t_ns"),
        (b'{"kind":"query_finished","query_id":0,"t_ns":50,"completion_tokens":%d}' % 2**80, "completion_tokens"),
    ],
)
def test_an_out_of_range_number_is_refused_and_nothing_is_created(tmp_path: Path, cli, line: bytes, field: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join([*GOOD, line]) + b"\n")
    run = tmp_path / "run"
    result = cli("ledger", "import", str(source), "-o", str(run))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert "line 3" in result.stderr and field in result.stderr, result.stderr
    assert not run.exists()
    with pytest.raises(UsageError):
        import_jsonl(source, run)
    assert not run.exists()


def test_an_in_range_import_is_kept_exactly(tmp_path: Path, cli) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join([*GOOD, b'{"kind":"token","query_id":%d,"t_ns":%d,"text":" x"}' % (2**63 - 1, -(2**63))]))
    run = tmp_path / "run"
    result = cli("ledger", "import", str(source), "-o", str(run))
    assert result.exit_code == 0, result.stderr
    events = read_events(run)
    assert events[-1] == ev.Token(query_id=2**63 - 1, t_ns=-(2**63), text=" x")
    assert not any(isinstance(e, ev.Annotation) for e in events)


def test_export_always_says_the_schema_version(tmp_path: Path, cli) -> None:
    run = tmp_path / "run"
    with LedgerWriter.create(run, run_id="exp", flush_interval_s=0) as w:
        w.append(ev.RunStarted(run_id="exp", t_ns=1, wall_time_ns=2))  # schema_version left at its default
    out = io.BytesIO()
    export_jsonl(run, out)
    first = json.loads(out.getvalue().splitlines()[0])
    assert first["kind"] == "run_started"
    assert first["schema_version"] == ev.SCHEMA_VERSION
    result = cli("ledger", "export", str(run))
    assert json.loads(result.stdout.splitlines()[0])["schema_version"] == ev.SCHEMA_VERSION
    # and it reads back as the same event, every field in declaration order (defaults included)
    assert list(first) == ["kind", "run_id", "t_ns", "wall_time_ns", "schema_version", "ipw_version", "config",
                           "host", "packages", "resumed"]
    assert json.loads(event_to_json(ev.RunStarted(run_id="exp", t_ns=1, wall_time_ns=2)))["schema_version"] == 1
