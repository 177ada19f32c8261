"""Event vocabulary v1: what happened during a run, as frozen msgspec Structs.

Every event is tagged by an explicit ``kind`` string. Fields carry their unit
in their name (``t_ns``, ``power_w``, ``energy_j``). New fields are only ever
added with a default, so every ledger written since v1 stays decodable.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

SCHEMA_VERSION = 1


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"):
    """Base of every event. Never instantiated on its own."""


class RunStarted(Event, tag="run_started"):
    """A capture session began. Anchors the monotonic ``t_ns`` clock to wall time."""

    run_id: str
    t_ns: int
    wall_time_ns: int
    schema_version: int = SCHEMA_VERSION
    ipw_version: str = ""
    config: dict[str, Any] = {}
    host: dict[str, Any] = {}
    packages: dict[str, str] = {}
    resumed: bool = False


class DeviceSeen(Event, tag="device_seen"):
    """A power-measurable device and what can be read from it."""

    device: str
    device_type: str
    name: str = ""
    vendor: str = ""
    capabilities: dict[str, bool] = {}
    t_ns: int = 0
    collector: str = ""
    metadata: dict[str, Any] = {}


class QueryStarted(Event, tag="query_started"):
    """A prompt was sent to the inference service."""

    query_id: int
    t_ns: int
    record_id: str = ""
    problem: str = ""
    reference: str | None = None
    subject: str = ""
    warmup: bool = False
    prompt_text: str | None = None
    scorer: str | None = None
    choices: list[str] | None = None
    benchmark: str | None = None  # the catalogue benchmark the record came from (mmlu-pro …), for per-benchmark accuracy
    # an agent's call: the task it belongs to and its turn (1, 2, ...) within that task
    task_id: str | None = None
    turn: int | None = None


class Token(Event, tag="token"):
    """A streamed piece of output text (one or more model tokens)."""

    query_id: int
    t_ns: int
    text: str
    n_tokens: int = 1


class QueryFinished(Event, tag="query_finished"):
    """The service finished answering a query."""

    query_id: int
    t_ns: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    ttft_ns: int | None = None
    usage_source: str | None = None
    # the stream ended without a finish reason: the service cut it short (llama_cpp.server's
    # interrupt_requests does this when another request arrives), so the answer may be partial
    truncated: bool = False


class QueryFailed(Event, tag="query_failed"):
    """An attempt at a query failed; ``will_retry`` says whether another follows."""

    query_id: int
    t_ns: int
    error_type: str
    message: str
    attempt: int = 1
    will_retry: bool = False


class PowerSample(Event, tag="power_sample"):
    """One reading of a device. ``energy_j`` is a cumulative counter when present.

    ``bracket`` marks a reading the monitor took on demand at an edge of the
    measured window: ``start`` just before the first measured query started,
    ``end`` just after the last one ended. Streamed samples have none.
    """

    device: str
    t_ns: int
    power_w: float | None = None
    energy_j: float | None = None
    source: str = "measured"
    temperature_c: float | None = None
    memory_used_bytes: int | None = None
    bracket: str | None = None


class Verdict(Event, tag="verdict"):
    """A judge's decision on one query's answer; keyed by the judge spec."""

    query_id: int
    t_ns: int
    judge: str
    is_correct: bool | None
    score: float | None = None
    metadata: str = "{}"


class TelemetryStatus(Event, tag="telemetry_status"):
    """The energy monitor connected, was lost, came back or stopped.

    ``clock_offset_ns`` is the measured offset added to the monitor's clock to
    map its samples onto the run's clock.
    """

    t_ns: int
    status: str
    message: str = ""
    clock_offset_ns: int | None = None
    endpoint: str = ""


class Annotation(Event, tag="annotation"):
    """A free-form fact appended after capture (an import, a note)."""

    t_ns: int
    key: str
    value: str = ""


class HarnessCpu(Event, tag="harness_cpu"):
    """The capture process's own CPU time, sampled beside the power samples: ipw's footprint.

    ``cpu_s`` is the process's user + system seconds since it started (all
    threads); ``host_busy_cpu_s`` the busy seconds of every CPU of the host at
    the same moment (Linux ``/proc/stat``), or ``None`` where unknown. Both are
    cumulative: differences between two events of one process give what the
    harness took and what the whole host did meanwhile.
    """

    t_ns: int
    cpu_s: float
    host_busy_cpu_s: float | None = None
    host_cpus: int | None = None
    pid: int | None = None


class RunFinished(Event, tag="run_finished"):
    """A capture session ended."""

    t_ns: int
    status: str
    queries_completed: int = 0
    queries_failed: int = 0
    queries_truncated: int = 0  # of queries_completed, those whose stream ended without a finish reason


class TaskStarted(Event, tag="task_started"):
    """An agent task began: a unit of work made of one or more model calls and tool calls.

    ``source`` says who declared it: ``agent`` (ipw's own tool loop), ``header``
    (a proxied call's ``X-IPW-Task``), ``path`` (a ``/task/<id>/v1`` prefix) or
    ``gap`` (the proxy grouped calls by the time between them).
    """

    task_id: str
    t_ns: int
    source: str = "agent"
    name: str = ""
    prompt: str = ""
    record_id: str = ""
    check: str | None = None
    max_turns: int | None = None
    budget_s: float | None = None


class ToolCallStarted(Event, tag="tool_call_started"):
    """An agent asked for a tool and ipw began running it."""

    task_id: str
    call_id: str
    t_ns: int
    name: str
    turn: int | None = None
    arguments: str = ""


class ToolCallFinished(Event, tag="tool_call_finished"):
    """A tool call ended: its wall time and the CPU seconds of the process that ran it."""

    task_id: str
    call_id: str
    t_ns: int
    name: str = ""
    wall_ns: int = 0
    cpu_s: float | None = None
    ok: bool = True
    output: str = ""
    error: str = ""


class TaskFinished(Event, tag="task_finished"):
    """An agent task ended; ``outcome`` is ``solved``, ``failed``, ``out_of_turns``,
    ``out_of_time``, ``error`` or ``unknown`` (a proxied task nobody checked)."""

    task_id: str
    t_ns: int
    outcome: str
    turns: int = 0
    message: str = ""


class ServerStarted(Event, tag="server_started"):
    """ipw started the inference server this run talks to, and it answered its health URL.

    ``command`` is its argv with credential values cut out; ``version`` is null where
    neither its package nor ``GET /version`` says."""

    t_ns: int
    command: list[str] = []
    version: str | None = None
    startup_s: float = 0.0
    port: int = 0
    pid: int = 0
    health_url: str = ""


class ServerStopped(Event, tag="server_stopped"):
    """ipw stopped the server it started: its exit code and the last lines of its log (scrubbed)."""

    t_ns: int
    exit_code: int | None = None
    log_tail: str = ""


AnyEvent = Union[
    RunStarted,
    DeviceSeen,
    QueryStarted,
    Token,
    QueryFinished,
    QueryFailed,
    PowerSample,
    Verdict,
    TelemetryStatus,
    Annotation,
    RunFinished,
    HarnessCpu,
    TaskStarted,
    ToolCallStarted,
    ToolCallFinished,
    TaskFinished,
    ServerStarted,
    ServerStopped,
]

EVENT_TYPES: tuple[type[Event], ...] = AnyEvent.__args__  # type: ignore[attr-defined]

KINDS: dict[str, type[Event]] = {cls.__struct_config__.tag: cls for cls in EVENT_TYPES}
