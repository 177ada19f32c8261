"""Token runs: the tokens of one socket read queued as one item, written exactly as the events they stand for.

``LedgerWriter.append_tokens(q, t, texts)`` must put in the ledger the very
bytes that appending ``Token(q, t, text)`` for each text would: same frames,
same hash chain, same events read back, and the same repair of a value the
reader would refuse.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ipw import events as ev
from ipw.ledger import LedgerWriter, decode_batch, encode_batch, read_events, verify
from ipw.ledger._codec import TokenRun, encode_items
from ipw.ledger._format import segment_name

from .strategies import any_event

_RUN = st.builds(TokenRun, st.integers(0, 2**40), st.integers(0, 2**62),
                 st.lists(st.text(max_size=5), min_size=0, max_size=8))


def _expand(items: list) -> list[ev.Event]:
    out: list[ev.Event] = []
    for item in items:
        if type(item) is TokenRun:
            out += [ev.Token(query_id=item.query_id, t_ns=item.t_ns, text=t) for t in item.texts]
        else:
            out.append(item)
    return out


@given(st.lists(st.one_of(_RUN, any_event), max_size=30))
@settings(max_examples=300, deadline=None)
def test_runs_encode_to_the_bytes_of_the_tokens_they_stand_for(items: list) -> None:
    events = _expand(items)
    payload, count = encode_items(items)
    assert count == len(events)
    assert payload == encode_batch(events)
    assert decode_batch(payload) == events


def test_a_token_with_several_model_tokens_after_runs_keeps_every_count() -> None:
    items = [TokenRun(1, 10, ["a", "b"]), ev.Token(query_id=1, t_ns=11, text="cd", n_tokens=3), TokenRun(1, 12, ["e"])]
    events = decode_batch(encode_items(items)[0])
    assert [(e.text, e.n_tokens) for e in events] == [("a", 1), ("b", 1), ("cd", 3), ("e", 1)]


def test_a_run_with_a_text_the_reader_would_refuse_keeps_the_others() -> None:
    # a lone surrogate cannot be stored as UTF-8: that one event is replaced, the rest stand
    items = [TokenRun(2, 50, ["ok", "\ud800", "fine"]), ev.QueryFinished(query_id=2, t_ns=60)]
    events = decode_batch(encode_items(items)[0])
    assert len(events) == 4
    assert [e.text for e in events[:3] if isinstance(e, ev.Token)][0] == "ok"
    assert isinstance(events[2], ev.Token) and events[2].text == "fine"
    assert not (isinstance(events[1], ev.Token) and events[1].text == "\ud800")
    assert isinstance(events[3], ev.QueryFinished)


def test_append_tokens_writes_the_same_ledger_as_appending_each_token(tmp_path: Path) -> None:
    start = ev.RunStarted(t_ns=1, wall_time_ns=2, run_id="r", schema_version=ev.SCHEMA_VERSION)
    texts = [f" t{i}" for i in range(300)]
    for name, write in (
        ("runs", lambda w: [w.append_tokens(7, 1000 + i, texts[i * 30:(i + 1) * 30]) for i in range(10)]),
        ("tokens", lambda w: [w.append(ev.Token(query_id=7, t_ns=1000 + i, text=t))
                              for i in range(10) for t in texts[i * 30:(i + 1) * 30]]),
    ):
        with LedgerWriter.create(tmp_path / name, run_id="r", flush_interval_s=0) as writer:
            writer.append(start)
            write(writer)
            writer.flush()
            assert writer.events_acknowledged == 301
    assert verify(tmp_path / "runs").ok
    assert read_events(tmp_path / "runs") == read_events(tmp_path / "tokens")
    seg = Path("events") / segment_name(1)
    assert (tmp_path / "runs" / seg).read_bytes() == (tmp_path / "tokens" / seg).read_bytes()
