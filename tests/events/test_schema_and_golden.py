"""The committed schema matches the code; the golden v1 ledger stays readable."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Union, get_args

import pytest

from ipw.events import SCHEMA_VERSION, json_schema
from ipw.ledger import parse_jsonl, read_events, verify

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"


def _normalised(node: Any) -> Any:
    """A schema as a structure, free of the encoder's formatting.

    msgspec renders docstrings into ``description`` with whitespace that
    changes between releases (0.23 keeps line breaks earlier ones folded);
    what a description says is its words, so those are compared with
    whitespace collapsed. Everything else (types, required fields, tags,
    defaults) is compared exactly, key order aside.
    """
    if isinstance(node, dict):
        return {
            key: " ".join(value.split()) if key in ("description", "title") and isinstance(value, str) else _normalised(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_normalised(item) for item in node]
    return node


def _committed() -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / f"events-v{SCHEMA_VERSION}.json").read_text())


def test_committed_schema_matches_the_code() -> None:
    assert _normalised(_committed()) == _normalised(json_schema()), (
        "schemas/ drifted from ipw.events: run `python -m ipw.events > schemas/events-v1.json`"
    )


def test_schema_comparison_ignores_description_whitespace_only() -> None:
    """A re-wrapped description compares equal; a reworded one does not."""
    rewrapped = copy.deepcopy(_committed())
    description = rewrapped["$defs"]["RunStarted"]["description"]
    rewrapped["$defs"]["RunStarted"]["description"] = "\n    " + description.replace(" ", "\n  ", 2) + "\n"
    assert _normalised(rewrapped) == _normalised(json_schema())
    reworded = copy.deepcopy(_committed())
    reworded["$defs"]["RunStarted"]["description"] = description + " (changed)"
    assert _normalised(reworded) != _normalised(json_schema())


@pytest.mark.parametrize(
    ("kind", "field", "mutate"),
    [
        ("QueryFinished", "completion_tokens", lambda p: {**p, "type": "string"}),
        ("Token", "query_id", lambda p: {"type": "number"}),
        ("RunStarted", "schema_version", lambda p: {**p, "default": 2}),
    ],
)
def test_a_real_schema_change_fails_the_comparison(kind: str, field: str, mutate: Any) -> None:
    """The contract can fail: a field whose type or default changes is a difference."""
    changed = copy.deepcopy(_committed())
    properties = changed["$defs"][kind]["properties"]
    assert field in properties
    properties[field] = mutate(properties[field])
    assert _normalised(changed) != _normalised(json_schema())


def test_a_field_type_changed_in_the_code_fails_the_comparison() -> None:
    """Built from a Struct whose field type differs, the schema no longer matches the committed one."""
    import msgspec

    from ipw import events as ev

    class Token(ev.Event, tag="token"):
        __doc__ = ev.Token.__doc__
        query_id: str  # int in ipw.events
        t_ns: int
        text: str
        n_tokens: int = 1

    kinds = [Token if t is ev.Token else t for t in get_args(ev.AnyEvent)]
    schema = msgspec.json.schema(Union[tuple(kinds)])  # type: ignore[arg-type]
    schema["$id"], schema["title"] = json_schema()["$id"], json_schema()["title"]
    assert schema["$defs"]["Token"]["properties"]["query_id"] == {"type": "string"}
    assert _normalised(schema) != _normalised(_committed())
    # and that field is the only difference: put its type back and they agree
    schema["$defs"]["Token"]["properties"]["query_id"] = {"type": "integer"}
    assert _normalised(schema) == _normalised(_committed())


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
