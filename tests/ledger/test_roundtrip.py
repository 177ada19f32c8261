"""Events survive the ledger and the JSON-lines form unchanged."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipw import events as ev
from ipw.ledger import LedgerWriter, decode_batch, encode_batch, export_jsonl, import_jsonl, read_events
from ipw.ledger.jsonl import event_to_json

from .strategies import EVENT_STRATEGIES, any_event


def test_every_event_kind_has_a_strategy() -> None:
    assert set(EVENT_STRATEGIES) == set(ev.KINDS)


def test_event_tags_are_explicit_and_stable() -> None:
    # the golden list of tags: changing one breaks every ledger ever written
    assert sorted(ev.KINDS) == [
        "annotation",
        "device_seen",
        "harness_cpu",
        "power_sample",
        "query_failed",
        "query_finished",
        "query_started",
        "run_finished",
        "run_started",
        "server_started",
        "server_stopped",
        "task_finished",
        "task_started",
        "telemetry_status",
        "token",
        "tool_call_finished",
        "tool_call_started",
        "verdict",
    ]


@given(st.lists(any_event, max_size=60))
@settings(max_examples=300, deadline=None)
def test_frame_codec_roundtrip(events: list[ev.Event]) -> None:
    assert decode_batch(encode_batch(events)) == events


@given(st.lists(any_event, min_size=1, max_size=40))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_import_export_roundtrip(tmp_path: Path, events: list[ev.Event]) -> None:
    # a fresh folder per example: hypothesis may run the same example twice
    run = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    source = io.BytesIO(b"".join(event_to_json(e) + b"\n" for e in events))
    assert import_jsonl(source, run) == len(events)
    out = io.BytesIO()
    export_jsonl(run, out)
    assert out.getvalue() == source.getvalue()
    assert read_events(run) == events


def test_large_batches_span_frames_and_segments(tmp_path: Path) -> None:
    run = tmp_path / "big"
    events = [ev.Token(query_id=i % 7, t_ns=10**12 + i * 1000, text=f" tok{i % 97}") for i in range(50_000)]
    events.insert(123, ev.QueryStarted(query_id=3, t_ns=5, problem="ünïcödé ✓", reference=None))
    with LedgerWriter.create(run, run_id="big", max_batch=4096, segment_max_bytes=1024, flush_interval_s=0) as w:
        for e in events:
            w.append(e)
    segments = sorted((run / "events").glob("*.ipwl"))
    assert len(segments) > 1
    assert read_events(run) == events


def test_cli_import_then_export_returns_the_same_events(tmp_path: Path, cli) -> None:
    golden = Path(__file__).resolve().parents[1] / "golden" / "v1" / "events.jsonl"
    run = tmp_path / "r"
    result = cli("ledger", "import", str(golden), "-o", str(run))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out.jsonl"
    result = cli("ledger", "export", str(run), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    src = [ev.KINDS and e for e in read_events(run)]
    from ipw.ledger import parse_jsonl

    assert list(parse_jsonl(out.read_bytes().splitlines())) == list(parse_jsonl(golden.read_bytes().splitlines())) == src


def test_import_rejects_a_bad_line_with_one_clear_line(tmp_path: Path, cli) -> None:
    from tests.conftest import assert_one_clean_line

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind":"token","query_id":0,"t_ns":1,"text":"a"}\n{"kind":"nonsense"}\n')
    result = cli("ledger", "import", str(bad), "-o", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert "line 2" in result.stderr


def test_existing_run_is_never_overwritten(tmp_path: Path) -> None:
    import pytest

    from ipw.errors import LedgerExistsError

    run = tmp_path / "r"
    with LedgerWriter.create(run, run_id="a") as w:
        w.append(ev.Annotation(t_ns=1, key="k"))
    with pytest.raises(LedgerExistsError):
        LedgerWriter.create(run, run_id="b")
    assert len(read_events(run)) == 1


def test_cli_export_to_stdout_and_import_from_stdin(tmp_path: Path, cli, monkeypatch) -> None:
    golden = Path(__file__).resolve().parents[1] / "golden" / "v1" / "run"
    result = cli("ledger", "export", str(golden))
    assert result.exit_code == 0, result.stderr
    expected = (Path(__file__).resolve().parents[1] / "golden" / "v1" / "events.jsonl").read_bytes()
    from ipw.ledger import parse_jsonl

    assert list(parse_jsonl(result.stdout.encode().splitlines())) == list(parse_jsonl(expected.splitlines()))
    monkeypatch.setattr("sys.stdin", io.StringIO(result.stdout))
    again = cli("ledger", "import", "-", "-o", str(tmp_path / "from-stdin"))
    assert again.exit_code == 0, again.stderr
    assert read_events(tmp_path / "from-stdin") == list(parse_jsonl(expected.splitlines()))
