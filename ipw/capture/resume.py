"""Resuming a run: its settings come from its ledger, and a flag given again must agree with them.

``--resume`` runs the queries a run has not finished, with the settings stored
in its first ``run_started``. A flag left out is taken from there. A flag given
again is compared with the stored value:

    safe to change    --max-concurrency, --request-rate, --max-retries, --warmup-queries
                      (warm-ups are not rerun on a resume), --sample-interval-ms, the
                      retry backoff, the client's timeouts (timeout_s, connect_timeout_s),
                      and --max-queries when it grows (the records are a prefix of the
                      same dataset, so the run becomes the larger run it would have been)
    secrets           api_key and headers are never stored; each session takes them live
    anything else     refused: a different model, dataset, generation setting, client,
                      base URL or energy setting would make one run measure two things

A safe change applies to this session only and is recorded as an ``annotation``
event (key ``resume_changed_flags``) right after the session's ``run_started``.

Which records a resume asks: every planned record without a finished query.
That includes a record whose last attempt ended in a final ``query_failed``
(``retry_failed=True``, the default): a study re-runs a ``partial`` cell this
way, asking only its failed queries again while every answered one stands.
``retry_failed=False`` leaves failed records as they are and asks only the
records that never got an outcome (a run cut short).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

import msgspec

from ..errors import UsageError
from ..secrets import REDACTED, is_secret_name, scrub
from .config import CaptureConfig

if TYPE_CHECKING:
    from ..ledger.lock import RunLock

__all__ = ["SAFE_FIELDS", "SAFE_CLIENT_PARAMS", "LIVE_CLIENT_PARAMS", "resume_config", "explicit_fields",
           "ResumeState", "resume_state", "failed_records"]

SAFE_FIELDS = frozenset(
    {"max_concurrency", "request_rate", "max_retries", "retry_backoff_s", "sample_interval_ms", "warmup_queries"}
)
SAFE_CLIENT_PARAMS = frozenset({"timeout_s", "connect_timeout_s"})
LIVE_CLIENT_PARAMS = frozenset({"api_key", "headers", "transport"})  # never stored, so never compared
_NOT_COMPARED = frozenset({"output_dir", "run_name", "eval"})
_KV_FLAGS = {"client_params": "--client-param", "dataset_params": "--dataset-param", "gen_params": "--gen-param"}
_FLAGS = {"client": "--client", "dataset": "--dataset", "retry_backoff_s": "retry_backoff_s"}


def _flag(field: str) -> str:
    return _FLAGS.get(field) or "--" + field.replace("_", "-")


def explicit_fields(config: CaptureConfig) -> set[str]:
    """The fields a library caller set: client and model, and every field that differs from its default."""
    out = {"client", "model"}
    for f in msgspec.structs.fields(CaptureConfig):
        default = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
        if default is not msgspec.NODEFAULT and getattr(config, f.name) != default:
            out.add(f.name)
    return out


_UNSET = object()


def _show(value: Any) -> str:
    return "unset" if value is _UNSET else scrub(json.dumps(value, default=str))


def _without_redacted(value: Any) -> Any:
    """``value`` with every ``<redacted>`` placeholder left out, at any depth."""
    if isinstance(value, dict):
        return {k: _without_redacted(v) for k, v in value.items() if v != REDACTED}
    if isinstance(value, list):
        return [_without_redacted(v) for v in value if v != REDACTED]
    return value


def _same(a: Any, b: Any) -> bool:
    # the stored side went through JSON-like encoding: tuples became lists, and 4 == 4.0 holds as in Python
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str) or a == b


def resume_config(
    stored: dict[str, Any], live: CaptureConfig, explicit: Iterable[str] | None
) -> tuple[CaptureConfig, dict[str, dict[str, Any]]]:
    """The config of a resumed session and the safe changes it makes (flag → was/now).

    ``stored`` is the run's first ``run_started.config``; ``explicit`` names the
    fields of ``live`` the user set (None: see :func:`explicit_fields`). Raises
    :class:`UsageError` naming every flag that differs and may not.
    """
    given = set(explicit_fields(live) if explicit is None else explicit) - _NOT_COMPARED
    known = {f.name for f in msgspec.structs.fields(CaptureConfig)}
    kwargs = {k: _without_redacted(v) for k, v in stored.items() if k in known}
    changes: dict[str, dict[str, Any]] = {}
    refused: list[str] = []
    for field in sorted(given & known):
        now, was = getattr(live, field), kwargs.get(field)
        if field in _KV_FLAGS:
            merged = dict(was or {})
            for key, value in sorted(now.items()):
                if field == "client_params" and (key in LIVE_CLIENT_PARAMS or is_secret_name(key)):
                    continue  # never stored, so there is nothing to compare with
                label = f"{_KV_FLAGS[field]} {key}"
                if key in merged and _same(merged[key], value):
                    continue
                if field == "client_params" and key in SAFE_CLIENT_PARAMS:
                    changes[label] = {"was": merged.get(key), "now": value}
                    merged[key] = value
                else:
                    refused.append(f"{label} (was {_show(merged.get(key, _UNSET))}, now {_show(value)})")
            kwargs[field] = merged
            continue
        if _same(was, now):
            continue
        grows = field == "max_queries" and was is not None and (now is None or now > was)
        if field in SAFE_FIELDS or grows:
            changes[_flag(field)] = {"was": was, "now": now}
            kwargs[field] = now
        else:
            refused.append(f"{_flag(field)} (was {_show(was)}, now {_show(now)})")
    if refused:
        raise UsageError(
            f"--resume: {len(refused)} flag(s) differ from the run being resumed: {'; '.join(refused)}",
            hint="leave them out (the run's own values are used) or give the run's values; "
            "for other settings start a new run with another --run-name",
        )
    # secrets were never stored: this invocation's are used (the placeholders were dropped above)
    live_secrets = {k: v for k, v in live.client_params.items() if k in LIVE_CLIENT_PARAMS or is_secret_name(k)}
    kwargs["client_params"] = {**kwargs.get("client_params", {}), **live_secrets}
    kwargs["eval"] = {**kwargs.get("eval", {}), **live.eval}
    kwargs["output_dir"] = live.output_dir
    return CaptureConfig(**kwargs), changes


class ResumeState(NamedTuple):
    """Where a resumed run stands: its settings, its id, the records it has measured, the next query id."""

    config: CaptureConfig
    run_id: str
    done_records: set[str]
    next_qid: int
    changes: dict[str, dict[str, Any]]  # the safe flag changes, flag → was/now
    failed_records: frozenset[str] = frozenset()  # records whose last outcome was a final query_failed


def failed_records(view: Any) -> frozenset[str]:
    """The records of a run view whose last query ended in a final ``query_failed`` and none finished."""
    last: dict[str, bool] = {}  # record -> whether its latest query (by id) failed for good
    for _, query in sorted(view.queries.items()):
        if query.started is None or query.warmup:
            continue
        last[query.record_id] = query.finished is None and any(not f.will_retry for f in query.failures)
    done = {q.record_id for q in view.measured_queries()}
    return frozenset(r for r, failed in last.items() if failed and r not in done)


def resume_state(
    run_dir: Path, live: CaptureConfig, explicit: Iterable[str] | None, lock: RunLock | None = None,
    *, retry_failed: bool = True,
) -> ResumeState:
    """Repair ``run_dir``'s ledger and read back what a resume of it continues from.

    ``retry_failed`` (the default) asks failed records again; False counts them as done.
    """
    from ..ledger import repair
    from ..replay import load_run

    repair(run_dir, lock=lock)
    view = load_run(run_dir)
    if not view.runs_started:
        raise UsageError(f"{run_dir} has no run_started event to resume from", hint="start a new run instead")
    config, changes = resume_config(dict(view.runs_started[0].config), live, explicit)
    config.run_name = run_dir.name
    done = {q.record_id for q in view.measured_queries()}
    failed = failed_records(view)
    if not retry_failed:
        done |= failed
    next_qid = max(view.queries, default=-1) + 1
    return ResumeState(config, view.runs_started[0].run_id, done, next_qid, changes, failed)
