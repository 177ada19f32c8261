"""Making an event the reader would refuse storable, or saying why it is not.

msgspec Structs do not check their field types when they are built, so an
event can hold a value its frame could not carry (an int past 64 bits, a lone
surrogate) or one the typed reader would refuse (``True`` for a count). The
codec calls into this module only after a batch failed its check; each bad
event becomes a cleaned copy, or an ``event_dropped`` annotation saying what
it was and why it could not be kept. Nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..events import Annotation, Event

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
_MSGPACK_INT_MAX = 2**64 - 1
_REASON_CHARS = 300


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced, so that it encodes as UTF-8."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _clean(value: Any) -> Any:
    """Strings made encodable and unencodable ints written out, inside free-form values."""
    if type(value) is str:
        return clean_text(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if type(value) is int and not I64_MIN <= value <= _MSGPACK_INT_MAX:
        return str(value)
    return value


def _bad_optional(value: Any) -> bool:
    """A value an optional number field cannot keep: a bool, or an int past int64."""
    return isinstance(value, bool) or (type(value) is int and not I64_MIN <= value <= I64_MAX)


def sanitised(event: Any) -> Event | None:
    """A copy of ``event`` with strings cleaned and bad optional numbers set to ``None``.

    Returns ``None`` when there is nothing to change (or ``event`` is not an
    event at all), so the caller knows a copy would not help.
    """
    if not isinstance(event, Event):
        return None
    changes: dict[str, Any] = {}
    for info in msgspec.structs.fields(event):
        value = getattr(event, info.name)
        if info.default is None and _bad_optional(value):
            changes[info.name] = None
            continue
        new = _clean(value)
        if new != value or type(new) is not type(value):
            changes[info.name] = new
    if not changes:
        return None
    return msgspec.structs.replace(event, **changes)


def kind_name(event: Any) -> str:
    """The event's tag (``query_finished``), or its Python type for a non-event."""
    if isinstance(event, Event):
        tag = type(event).__struct_config__.tag
        if isinstance(tag, str):
            return tag
    return type(event).__name__


def dropped(event: Any, reason: str) -> Annotation:
    """The annotation that stands in the ledger for an event that could not be kept."""
    t_ns = getattr(event, "t_ns", 0)
    if type(t_ns) is not int or not I64_MIN <= t_ns <= I64_MAX:
        t_ns = 0
    text = " ".join(reason.split())
    if len(text) > _REASON_CHARS:
        text = text[: _REASON_CHARS - 1] + "…"
    return Annotation(t_ns=t_ns, key="event_dropped", value=clean_text(f"{kind_name(event)}: {text}"))
