"""What happened during a run: the event vocabulary, with no I/O.

Events are frozen msgspec Structs with an explicit ``kind`` tag. ``upcast``
turns an event dictionary written under an older schema version into the
current form; v1 is the first version, so it is the identity today, and each
later version registers its step with :func:`register_upcaster`.
"""

from __future__ import annotations

from typing import Any, Callable

from ._v1 import (
    EVENT_TYPES,
    KINDS,
    SCHEMA_VERSION,
    Annotation,
    AnyEvent,
    DeviceSeen,
    Event,
    HarnessCpu,
    PowerSample,
    QueryFailed,
    QueryFinished,
    QueryStarted,
    RunFinished,
    RunStarted,
    ServerStarted,
    ServerStopped,
    TaskFinished,
    TaskStarted,
    TelemetryStatus,
    Token,
    ToolCallFinished,
    ToolCallStarted,
    Verdict,
)

__all__ = [
    "SCHEMA_VERSION",
    "EVENT_TYPES",
    "KINDS",
    "AnyEvent",
    "Event",
    "RunStarted",
    "DeviceSeen",
    "QueryStarted",
    "Token",
    "QueryFinished",
    "QueryFailed",
    "PowerSample",
    "Verdict",
    "TelemetryStatus",
    "Annotation",
    "RunFinished",
    "HarnessCpu",
    "TaskStarted",
    "ToolCallStarted",
    "ToolCallFinished",
    "TaskFinished",
    "ServerStarted",
    "ServerStopped",
    "register_upcaster",
    "upcast",
    "kind_of",
    "json_schema",
]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# version N -> function turning an event dict of version N into version N + 1
_UPCASTERS: dict[int, Upcaster] = {}


def register_upcaster(from_version: int, fn: Upcaster) -> None:
    """Register the step that lifts an event dict from ``from_version`` to the next."""
    _UPCASTERS[from_version] = fn


def upcast(raw: dict[str, Any], version: int) -> dict[str, Any]:
    """Lift an event dict written under schema ``version`` to the current schema."""
    while version < SCHEMA_VERSION:
        raw = _UPCASTERS[version](raw)
        version += 1
    return raw


def kind_of(event: Event) -> str:
    """The ``kind`` tag of an event."""
    return event.__struct_config__.tag  # type: ignore[return-value]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the event vocabulary, as committed under ``schemas/``."""
    import msgspec

    schema = msgspec.json.schema(AnyEvent)
    schema["$id"] = f"https://ipw.dev/schemas/events-v{SCHEMA_VERSION}.json"
    schema["title"] = f"ipw event vocabulary v{SCHEMA_VERSION}"
    return schema
