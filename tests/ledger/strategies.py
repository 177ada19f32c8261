"""Hypothesis strategies for every event kind of the v1 vocabulary."""

from __future__ import annotations

from hypothesis import strategies as st

from ipw import events as ev

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
t_ns = st.integers(min_value=0, max_value=2**63 - 1)
text = st.text(max_size=40)  # unicode, including the empty string
small = st.integers(min_value=0, max_value=2**31)
maybe_float = st.none() | st.floats(allow_nan=False, allow_infinity=False)
json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | text
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
json_obj = st.dictionaries(text, json_value, max_size=4)

EVENT_STRATEGIES = {
    "run_started": st.builds(
        ev.RunStarted, run_id=text, t_ns=t_ns, wall_time_ns=t_ns, schema_version=st.just(1), ipw_version=text,
        config=json_obj, host=json_obj, packages=st.dictionaries(text, text, max_size=3), resumed=st.booleans(),
    ),
    "device_seen": st.builds(
        ev.DeviceSeen, device=text, device_type=st.sampled_from(["gpu", "cpu", "dram", "soc", "system"]), name=text,
        vendor=text, capabilities=st.dictionaries(st.sampled_from(["energy_counter", "power", "temperature", "memory"]), st.booleans()),
        t_ns=t_ns,
    ),
    "query_started": st.builds(
        ev.QueryStarted, query_id=small, t_ns=t_ns, record_id=text, problem=text, reference=st.none() | text,
        subject=text, warmup=st.booleans(), prompt_text=st.none() | text, scorer=st.none() | text,
        choices=st.none() | st.lists(text, max_size=4), task_id=st.none() | text, turn=st.none() | small,
    ),
    "token": st.builds(ev.Token, query_id=small, t_ns=t_ns, text=text, n_tokens=st.integers(0, 1000)),
    "query_finished": st.builds(
        ev.QueryFinished, query_id=small, t_ns=t_ns, prompt_tokens=st.none() | small,
        completion_tokens=st.none() | small, finish_reason=st.none() | text, ttft_ns=st.none() | int64,
    ),
    "query_failed": st.builds(
        ev.QueryFailed, query_id=small, t_ns=t_ns, error_type=text, message=text, attempt=small, will_retry=st.booleans(),
    ),
    "power_sample": st.builds(
        ev.PowerSample, device=text, t_ns=t_ns, power_w=maybe_float, energy_j=maybe_float,
        source=st.sampled_from(["measured", "derived", "estimated", "imported"]), temperature_c=maybe_float,
    ),
    "verdict": st.builds(
        ev.Verdict, query_id=small, t_ns=t_ns, judge=text, is_correct=st.none() | st.booleans(), score=maybe_float,
        metadata=text,
    ),
    "telemetry_status": st.builds(ev.TelemetryStatus, t_ns=t_ns, status=text, message=text, clock_offset_ns=st.none() | int64),
    "annotation": st.builds(ev.Annotation, t_ns=t_ns, key=text, value=text),
    "harness_cpu": st.builds(
        ev.HarnessCpu, t_ns=t_ns, cpu_s=st.floats(0, 1e9), host_busy_cpu_s=st.none() | st.floats(0, 1e12),
        host_cpus=st.none() | small, pid=st.none() | small,
    ),
    "task_started": st.builds(
        ev.TaskStarted, task_id=text, t_ns=t_ns, source=st.sampled_from(["agent", "header", "path", "gap"]),
        name=text, prompt=text, check=st.none() | text, max_turns=st.none() | small,
    ),
    "tool_call_started": st.builds(
        ev.ToolCallStarted, task_id=text, call_id=text, t_ns=t_ns, name=text, turn=st.none() | small, arguments=text,
    ),
    "tool_call_finished": st.builds(
        ev.ToolCallFinished, task_id=text, call_id=text, t_ns=t_ns, name=text, wall_ns=st.integers(0, 2**62),
        cpu_s=st.none() | st.floats(0, 1e9), ok=st.booleans(), output=text, error=text,
    ),
    "task_finished": st.builds(
        ev.TaskFinished, task_id=text, t_ns=t_ns,
        outcome=st.sampled_from(["solved", "failed", "out_of_turns", "out_of_time", "error", "unknown"]),
        turns=small, message=text,
    ),
    "server_started": st.builds(
        ev.ServerStarted, t_ns=t_ns, command=st.lists(text, max_size=6), version=st.none() | text,
        startup_s=st.floats(0, 1e6), port=st.integers(0, 65535), pid=small, health_url=text,
    ),
    "server_stopped": st.builds(ev.ServerStopped, t_ns=t_ns, exit_code=st.none() | st.integers(-64, 255),
                                log_tail=text),
    "run_finished": st.builds(
        ev.RunFinished, t_ns=t_ns, status=st.sampled_from(["completed", "interrupted", "failed"]),
        queries_completed=small, queries_failed=small,
    ),
}

any_event = st.one_of(*EVENT_STRATEGIES.values())
