"""The keys a study file may set, and the type of value each one takes, checked when the file is parsed.

The run settings are the fields of :class:`~ipw.capture.config.CaptureConfig`
and :class:`~ipw.capture.config.EvalSettings` that a study takes (declared
there once, see :mod:`ipw.capture.settings`); ``resources`` and the
``[server]`` table are a study's own. A value of the wrong type
(``max_queries = "abc"``, ``max_concurrency = [{a = 1}]``) is refused here,
naming the table and the key, before any folder exists — not discovered cell
by cell once the study runs. A [base] value is held to its constraints here
too (``max_concurrency = 0`` would fail every cell); a [matrix] value's range
is checked when its cell's run starts, so a cell with an unusable value fails
alone and the others go on, with the same words.
"""

from __future__ import annotations

import json
from typing import Any

from ..capture.config import CaptureConfig, EvalSettings
from ..capture.settings import KEY, SettingField, check_setting, settings_fields
from ..errors import UsageError

__all__ = ["SETTINGS", "CAPTURE_KEYS", "EVAL_KEYS", "TABLE_KEYS", "SCALAR_KEYS", "SERVER_KEYS", "check_value",
           "check_server_value", "MAX_VALUE_DEPTH"]

# what each scalar key takes: a check and the words for a value that fails it
_STR = (lambda v: isinstance(v, str), "a string")
_NUMBER = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number")

# every run setting a study takes, by key: the capture's settings, then how answers are judged
SETTINGS: dict[str, SettingField] = {f.option: f for struct in (CaptureConfig, EvalSettings)
                                     for f in settings_fields(struct) if f.study}
_SCALARS = {key: f for key, f in SETTINGS.items() if f.base is not dict}
CAPTURE_KEYS = frozenset(f.option for f in settings_fields(CaptureConfig) if f.study)
EVAL_KEYS = frozenset(f.option for f in settings_fields(EvalSettings))
SCALAR_KEYS = tuple(_SCALARS)
# the [server] table: how to start a server per cell; any other entry NAME is a value for {NAME} in the command
_SERVER: dict[str, tuple[Any, str]] = {
    "command": _STR, "health_url": _STR, "startup_timeout_s": _NUMBER, "cooldown_s": _NUMBER,
    "idle_within_pct": _NUMBER, "idle_timeout_s": _NUMBER,
}
SERVER_KEYS = tuple(_SERVER)
_PLACEHOLDER_VALUE = (lambda v: isinstance(v, (str, int, float)), "a string, number or boolean")
TABLE_KEYS = (*(key for key, f in SETTINGS.items() if f.base is dict), "resources")
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


def check_value(where: str, table: str, key: str, value: Any, *, ranges: bool = False) -> None:
    """Refuse ``value`` for ``key`` (a scalar key, a table key, or ``table.entry``) unless its type fits,
    and with ``ranges`` its constraints too."""
    head, dot, entry = key.partition(".")
    if not dot and key in _SCALARS:
        check_setting(_SCALARS[key], value, spell=KEY, where=f"{where} {table} ", ranges=ranges)
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
