"""Frame payloads: a batch of events as msgpack, compressed with zstd.

A payload is one msgpack map. Token events, the bulk of every ledger, are
stored column-wise so that zstd sees like next to like; every other event is
stored whole, as its tagged map, with its position in the batch::

    {"e":  [event, ...],        # non-token events, tagged maps (SPEC §4 form)
     "i":  [int, ...],          # their positions in the batch
     "tq": [int, ...],          # token query_id
     "td": [int, ...],          # token t_ns: first absolute, then deltas
     "tx": [str, ...],          # token text
     "tn": [int, ...] | nil}    # token n_tokens, nil when every one is 1

Decoding restores the exact sequence of events.

Encoding never writes what decoding would refuse. Non-token events (a few per
batch) are encoded once and decoded back with the reader's typed decoder;
token columns are checked for type and int64 range as whole lists. When any
check fails the batch is taken event by event: good events are kept, a bad
one is replaced by a cleaned copy or by an ``event_dropped`` annotation (see
:mod:`._sanitise`), so one bad value never costs the events around it.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, NamedTuple

import msgspec
import numpy as np
import zstandard

from .. import secrets
from ..events import SCHEMA_VERSION, AnyEvent, Event, Token, upcast
from ._sanitise import I64_MAX, I64_MIN, dropped, sanitised

ZSTD_LEVEL = 3

# a token column the reader can decode into int64 / str
_Int64s = list[Annotated[int, msgspec.Meta(ge=I64_MIN, le=I64_MAX)]]
_Texts = list[str]
# what encoding or checking an event that the reader would refuse raises
_INVALID = (TypeError, ValueError, OverflowError, msgspec.MsgspecError)

_local = threading.local()


class _Payload(msgspec.Struct, omit_defaults=True):
    e: list[AnyEvent] = []
    i: list[int] = []
    tq: list[int] = []
    td: list[int] = []
    tx: list[str] = []
    tn: list[int] | None = None


class _CheckedPayload(msgspec.Struct, omit_defaults=True):
    """``_Payload`` for encoding, with the non-token events already encoded and checked.

    Same fields in the same order, so it encodes to the same bytes.
    """

    e: msgspec.Raw
    i: list[int]
    tq: list[int] = []
    td: list[int] = []
    tx: list[str] = []
    tn: list[int] | None = None


class _RawPayload(msgspec.Struct, omit_defaults=True):
    e: list[dict[str, Any]] = []
    i: list[int] = []
    tq: list[int] = []
    td: list[int] = []
    tx: list[str] = []
    tn: list[int] | None = None


class Columns(NamedTuple):
    """One decoded frame: non-token events with positions, and token columns."""

    others: list[Event]
    positions: list[int]
    tok_query_id: np.ndarray  # int64
    tok_t_ns: np.ndarray  # int64, absolute
    tok_text: list[str]
    tok_n: np.ndarray | None  # int64, None when every token event has n_tokens == 1

    def __len__(self) -> int:
        return len(self.others) + len(self.tok_text)

    def events(self) -> list[Event]:
        tq = self.tok_query_id.tolist()
        tt = self.tok_t_ns.tolist()
        if self.tok_n is None:
            tokens = [Token(query_id=q, t_ns=t, text=x) for q, t, x in zip(tq, tt, self.tok_text)]
        else:
            tokens = [
                Token(query_id=q, t_ns=t, text=x, n_tokens=n)
                for q, t, x, n in zip(tq, tt, self.tok_text, self.tok_n.tolist())
            ]
        if not self.others:
            return tokens  # type: ignore[return-value]
        if not tokens:
            return list(self.others)
        out: list[Event] = []
        it = iter(tokens)
        prev = 0
        for pos, ev in zip(self.positions, self.others):
            if pos > prev:
                out.extend(next(it) for _ in range(pos - prev))
            out.append(ev)
            prev = pos + 1
        out.extend(it)
        return out


def _tools() -> Any:
    tools = getattr(_local, "tools", None)
    if tools is None:
        tools = _local.tools = (
            msgspec.msgpack.Encoder(),
            msgspec.msgpack.Decoder(_Payload),
            zstandard.ZstdCompressor(level=ZSTD_LEVEL),
            zstandard.ZstdDecompressor(),
            msgspec.msgpack.Decoder(_RawPayload),
            msgspec.msgpack.Decoder(list[AnyEvent]),
        )
    return tools


class TokenRun(NamedTuple):
    """``len(texts)`` token events of one query stamped at one time, each one model token.

    What a writer queues for the tokens a client read together (see
    :meth:`ipw.ledger.LedgerWriter.append_tokens`): it encodes exactly as the
    ``Token`` events it stands for, without building them.
    """

    query_id: int
    t_ns: int
    texts: list[str]


def encode_batch(events: list[Event]) -> bytes:
    """Encode and compress a batch of events into one frame payload.

    An event the reader would refuse is replaced by a cleaned copy or by an
    ``event_dropped`` annotation; the batch keeps its length and order.
    """
    return encode_items(events)[0]


def encode_items(items: list[Event | TokenRun]) -> tuple[bytes, int]:
    """:func:`encode_batch` for events and token runs: the payload and the number of events it holds."""
    try:
        return _encode_checked(items)
    except _INVALID:
        pass
    return _encode_checked([_storable(e) for e in _expanded(items)])


def _expanded(items: list[Event | TokenRun]) -> list[Event]:
    out: list[Event] = []
    for item in items:
        if type(item) is TokenRun:
            out.extend(Token(query_id=item.query_id, t_ns=item.t_ns, text=text) for text in item.texts)
        else:
            out.append(item)  # type: ignore[arg-type]
    return out


def _columns(items: list[Event | TokenRun]) -> tuple[list[Event], list[int], list[Any], list[Any], list[Any], list[Any] | None]:
    """Non-token events with their positions, and the token columns (query id, time, text, count or None)."""
    others: list[Event] = []
    positions: list[int] = []
    tq: list[Any] = []
    ts: list[Any] = []
    tx: list[Any] = []
    tn: list[Any] | None = None
    pos = 0
    for e in items:
        kind = type(e)
        if kind is TokenRun:
            k = len(e.texts)  # type: ignore[union-attr]
            tq += [e.query_id] * k
            ts += [e.t_ns] * k
            tx += e.texts  # type: ignore[union-attr]
            if tn is not None:
                tn += [1] * k
            pos += k
        elif kind is Token:
            tq.append(e.query_id)
            ts.append(e.t_ns)
            tx.append(e.text)  # type: ignore[union-attr]
            n = e.n_tokens  # type: ignore[union-attr]
            if tn is not None:
                tn.append(n)
            elif n != 1:
                tn = [1] * (len(tx) - 1)
                tn.append(n)
            pos += 1
        else:
            positions.append(pos)
            others.append(e)  # type: ignore[arg-type]
            pos += 1
    return others, positions, tq, ts, tx, tn


def _encode_checked(items: list[Event | TokenRun]) -> tuple[bytes, int]:
    """Encode a batch, raising one of ``_INVALID`` when any event would not read back."""
    enc, _dec, cctx, _dctx, _raw, check_others = _tools()
    others, positions, tq, ts, tx, tn = _columns(items)
    payload: _Payload | _CheckedPayload
    if others:
        encoded = enc.encode(others)
        if secrets.found_in(encoded):
            # the last line of defence: a credential a server echoed into a message, a config or
            # metadata is rewritten here, before any byte reaches the disk. Token text is left
            # alone: it is the hot path, and a server would have to feed the request's headers to
            # the model for a credential to reach the generated text.
            encoded = enc.encode([_scrubbed(e) for e in others])
        check_others.decode(encoded)  # the reader's own typed decoder
        payload = _CheckedPayload(e=msgspec.Raw(encoded), i=positions)
    else:
        payload = _Payload()
    if tx:
        t_ns = msgspec.convert(ts, _Int64s)
        stamps = np.fromiter(t_ns, dtype=np.int64, count=len(t_ns))
        deltas = np.empty_like(stamps)
        deltas[0] = stamps[0]
        np.subtract(stamps[1:], stamps[:-1], out=deltas[1:])
        payload.tq = msgspec.convert(tq, _Int64s)
        payload.td = deltas.tolist()
        payload.tx = msgspec.convert(tx, _Texts)
        if tn is not None:
            payload.tn = msgspec.convert(tn, _Int64s)
    return cctx.compress(enc.encode(payload)), len(others) + len(tx)


def _scrubbed(event: Event) -> Event:
    """``event`` with every string in it, at any depth, passed through :func:`ipw.secrets.scrub`."""
    changes = {}
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if isinstance(value, (str, dict, list)):
            clean = secrets.scrub_value(value)
            if clean != value:
                changes[name] = clean
    return msgspec.structs.replace(event, **changes) if changes else event


def storage_problem(event: Event) -> str | None:
    """Why the reader would refuse ``event`` alone, or ``None`` when it would not."""
    enc, _dec, _cctx, _dctx, _raw, check_others = _tools()
    if type(event) is Token:
        for name, kind in (("query_id", _Int64s), ("t_ns", _Int64s), ("n_tokens", _Int64s), ("text", _Texts)):
            value = getattr(event, name)
            try:
                enc.encode(msgspec.convert([value], kind))
            except _INVALID as exc:
                return f"{name}={value!r}: {str(exc).replace(' - at `$[0]`', '')}"
        return None
    try:
        check_others.decode(enc.encode([event]))
    except _INVALID as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _storable(event: Event) -> Event:
    """``event`` itself, a cleaned copy of it, or the annotation that replaces it."""
    problem = storage_problem(event)
    if problem is None:
        return event
    copy = sanitised(event)
    if copy is not None and storage_problem(copy) is None:
        return copy
    return dropped(event, problem.replace("$[0].", "").replace("$[0]", "event"))


def decode_columns(payload: bytes | memoryview, schema_version: int = SCHEMA_VERSION) -> Columns:
    """Decode one frame payload into columns; raises ``ValueError`` when invalid."""
    _enc, dec, _cctx, dctx, raw_dec, _check = _tools()
    try:
        raw = dctx.decompress(payload)
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd payload does not decompress: {exc}") from exc
    try:
        if schema_version == SCHEMA_VERSION:
            p = dec.decode(raw)
            others: list[Event] = p.e
        else:
            p = raw_dec.decode(raw)
            others = msgspec.convert([upcast(d, schema_version) for d in p.e], list[AnyEvent])
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, KeyError) as exc:
        raise ValueError(f"events do not decode: {exc}") from exc
    n_tok = len(p.tx)
    if len(p.tq) != n_tok or len(p.td) != n_tok or (p.tn is not None and len(p.tn) != n_tok):
        raise ValueError("token columns have different lengths")
    if len(p.i) != len(others) or (p.i and (min(p.i) < 0 or max(p.i) >= n_tok + len(others))):
        raise ValueError("event positions do not fit the batch")
    try:
        tq = np.asarray(p.tq, dtype=np.int64)
        tt = np.cumsum(np.asarray(p.td, dtype=np.int64))
        tn = None if p.tn is None else np.asarray(p.tn, dtype=np.int64)
    except OverflowError as exc:
        raise ValueError(f"token column out of range: {exc}") from exc
    return Columns(others, p.i, tq, tt, p.tx, tn)


def decode_batch(payload: bytes | memoryview, schema_version: int = SCHEMA_VERSION) -> list[Event]:
    """Decode one frame payload into the exact sequence of events it holds."""
    return decode_columns(payload, schema_version).events()
