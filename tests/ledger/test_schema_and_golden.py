"""The committed schema matches the code; the golden v1 ledger stays readable."""

from __future__ import annotations

import json
from pathlib import Path

from ipw.events import SCHEMA_VERSION, json_schema
from ipw.ledger import parse_jsonl, read_events, verify

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"


def test_committed_schema_matches_the_code() -> None:
    committed = json.loads((ROOT / "schemas" / f"events-v{SCHEMA_VERSION}.json").read_text())
    assert committed == json_schema(), "schemas/ drifted from ipw.events: run `python -m ipw.events > schemas/events-v1.json`"


def test_schema_lists_every_kind() -> None:
    schema = json_schema()
    tags = {d["properties"]["kind"]["enum"][0] for d in schema["$defs"].values()}
    from ipw.events import KINDS

    assert tags == set(KINDS)


def test_golden_v1_ledger_reads_and_verifies() -> None:
    run = GOLDEN / "v1" / "run"
    assert verify(run).ok
    expected = list(parse_jsonl((GOLDEN / "v1" / "events.jsonl").read_bytes().splitlines()))
    assert read_events(run) == expected
    assert len({type(e) for e in expected}) == 11  # every kind of v1 is in the golden ledger


def test_golden_v1_replays() -> None:
    from ipw.replay import load_run

    view = load_run(GOLDEN / "v1" / "run")
    assert view.run_id == "golden-v1"
    assert view.queries[0].text == " 56\n"
    assert view.queries[0].token_counts == [1, 1, 2]
    assert view.queries[0].finished.truncated is False  # written before the field existed: its default
    assert view.queries[1].text == " B — ünïcödé ✓"
    assert len(view.queries[1].failures) == 1
    assert view.power["cpu:estimate"].source == "estimated"
