"""The keys a study file may set, and the type of value each one takes, checked when the file is parsed.

A value of the wrong type (``max_queries = "abc"``, ``max_concurrency = [{a = 1}]``)
is refused here, naming the table and the key, before any folder exists — not
discovered cell by cell once the study runs. Ranges (``max_concurrency >= 1``)
stay with :class:`ipw.capture.config.CaptureConfig`, which checks them when a
cell's run starts, so a cell with an unusable value fails alone and the
others go on.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import UsageError

__all__ = ["TABLE_KEYS", "SCALAR_KEYS", "SERVER_KEYS", "check_value", "check_server_value", "MAX_VALUE_DEPTH"]

# what each scalar key takes: a check and the words for a value that fails it
_STR = (lambda v: isinstance(v, str), "a string")
_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
_NUMBER = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number")
_BOOL = (lambda v: isinstance(v, bool), "true or false")

_SCALARS: dict[str, tuple[Any, str]] = {
    "client": _STR, "model": _STR, "dataset": _STR, "client_base_url": _STR, "energy": _STR,
    "eval_client": _STR, "eval_base_url": _STR, "eval_model": _STR,
    "max_queries": _INT, "max_concurrency": _INT, "warmup_queries": _INT, "max_retries": _INT,
    "sample_interval_ms": _INT,
    "request_rate": _NUMBER, "cpu_tdp_w": _NUMBER, "burstiness": _NUMBER, "ramp_up_s": _NUMBER,
    "arrival_trace": _STR,
    "no_eval": _BOOL,
}
SCALAR_KEYS = tuple(_SCALARS)
# the [server] table: how to start a server per cell; any other entry NAME is a value for {NAME} in the command
_SERVER: dict[str, tuple[Any, str]] = {
    "command": _STR, "health_url": _STR, "startup_timeout_s": _NUMBER, "cooldown_s": _NUMBER,
    "idle_within_pct": _NUMBER, "idle_timeout_s": _NUMBER,
}
SERVER_KEYS = tuple(_SERVER)
_PLACEHOLDER_VALUE = (lambda v: isinstance(v, (str, int, float)), "a string, number or boolean")
TABLE_KEYS = ("client_param", "dataset_param", "gen_param", "eval_param", "resources")
# a table entry (gen_param.stop = ["\n"]) may hold lists and tables, but never nested past this
MAX_VALUE_DEPTH = 8


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def check_server_value(where: str, table: str, key: str, value: Any) -> None:
    """Refuse ``value`` for a [server] entry (``command``, ``startup_timeout_s``, or a ``{NAME}`` value)."""
    check, words = _SERVER.get(key, _PLACEHOLDER_VALUE)
    if not check(value):
        raise UsageError(f"{where} {table} server.{key}: expected {words}, got {_show(value)}",
                         hint="see the [server] table in the README")


def check_value(where: str, table: str, key: str, value: Any) -> None:
    """Refuse ``value`` for ``key`` (a scalar key, a table key, or ``table.entry``) unless its type fits."""
    head, dot, entry = key.partition(".")
    if not dot and key in _SCALARS:
        check, words = _SCALARS[key]
        if not check(value):
            raise UsageError(f"{where} {table} {key}: expected {words}, got {_show(value)}",
                             hint="see examples/study.toml")
        return
    if not dot and head in TABLE_KEYS:
        if not isinstance(value, dict):
            raise UsageError(f"{where} {table} {key}: expected a table, got {_show(value)}",
                             hint=f"e.g. {key} = {{ name = value }}")
        for name, item in value.items():
            check_value(where, table, f"{key}.{name}", item)
        return
    if head == "resources":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UsageError(f"{where} {table} {key}: expected a quantity >= 0, got {_show(value)}",
                             hint="e.g. resources = { GPU = 1 }")
        return
    if _depth(value) > MAX_VALUE_DEPTH:
        raise UsageError(f"{where} {table} {key}: the value nests deeper than {MAX_VALUE_DEPTH} levels",
                         hint="give a plain value, list or table")
