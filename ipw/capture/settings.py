"""Settings as people write them (flags, study keys, Python), converted into their typed Structs.

Each setting is declared once: a field of :class:`~ipw.capture.config.CaptureConfig`
or :class:`~ipw.capture.config.EvalSettings`, its constraints a ``msgspec.Meta``
(``max_concurrency: Annotated[int, Meta(ge=1)]``) and its words for people an
:func:`about` Meta beside them:

``description``
    the help text of its flag
``option``
    the name people write: the study key, and with dashes the flag (default:
    the field's name; ``client_params`` is written ``client_param``)
``cli`` / ``study``
    False where that source does not take it (a study names its runs itself)
``hint``
    what to write instead, said with an error

:func:`settings_fields` walks them: the CLI builds its options from it and a
study its keys. :func:`convert_settings` converts one source's values with
``msgspec.convert``, and an error names the setting the way that source spells
it (:data:`FLAG` ``--max-concurrency``, :data:`KEY` ``max_concurrency``) with
the same words whatever the source: ``must be >= 1, got 0``.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

import msgspec

from ..errors import UsageError

__all__ = ["about", "SettingField", "settings_fields", "convert_settings", "check_setting", "FLAG", "KEY",
           "setting_error"]

S = TypeVar("S", bound=msgspec.Struct)
Spelling = Callable[[str], str]

FLAG: Spelling = lambda option: "--" + option.replace("_", "-")  # noqa: E731  the command line's spelling
KEY: Spelling = lambda option: option  # noqa: E731  a study file's (and Python's) spelling

_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a table"}


def about(description: str, **extra: Any) -> msgspec.Meta:
    """The words of one setting for people: its help text, and ``option``/``cli``/``study``/``hint``/``metavar``."""
    return msgspec.Meta(description=description, extra=extra)


@dataclass(frozen=True)
class SettingField:
    """One setting of a Struct, as its sources see it."""

    name: str           # the Struct's field
    option: str         # what people write (a study key; a flag with dashes)
    base: type          # int, float, str, bool or dict
    annotation: Any     # the field's type with its constraints, for msgspec.convert
    default: Any
    required: bool
    description: str
    extra: Mapping[str, Any]

    @property
    def cli(self) -> bool:
        return bool(self.extra.get("cli", True))

    @property
    def study(self) -> bool:
        return bool(self.extra.get("study", True))


def _unwrap(annotation: Any) -> tuple[type, list[msgspec.Meta]]:
    """The plain type under Annotated and Optional, and every Meta met on the way."""
    metas: list[msgspec.Meta] = []
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
            metas.extend(a for a in args[1:] if isinstance(a, msgspec.Meta))
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in args if a is not type(None))
        elif origin is not None:
            return origin, metas
        else:
            return annotation, metas


def settings_fields(struct: type[msgspec.Struct]) -> list[SettingField]:
    """Every field of ``struct`` that carries an :func:`about` (the others are not settings people write)."""
    out = []
    for f in msgspec.structs.fields(struct):
        base, metas = _unwrap(f.type)
        words = next((m for m in metas if m.description is not None), None)
        if words is None:
            continue
        extra = dict(words.extra or {})
        default = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
        out.append(SettingField(name=f.name, option=extra.get("option", f.name), base=base, annotation=f.type,
                                default=None if default is msgspec.NODEFAULT else default,
                                required=f.required, description=words.description or "", extra=extra))
    return out


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def setting_error(setting: SettingField, value: Any, exc: msgspec.ValidationError, *, spell: Spelling,
                  where: str = "") -> UsageError:
    """The one line for ``value`` refused as ``setting``: the same words from every source, its name spelt as there."""
    message = str(exc).split(" - at `", 1)[0]
    constraint = re.match(r"Expected `[^`]+` ([<>=].*|of length .*)$", message)
    if constraint and ", got `" not in message:
        words = f"must be {constraint.group(1)}, got {_show(value)}"
    else:
        words = f"expected {_TYPE_WORDS.get(setting.base, setting.base.__name__)}, got {_show(value)}"
    hint = setting.extra.get("hint") or f"e.g. {spell(setting.option)}" + (
        f" {setting.default}" if setting.default not in (None, {}, "") else "")
    return UsageError(f"{where}{spell(setting.option)}: {words}", hint=hint)


def check_setting(setting: SettingField, value: Any, *, spell: Spelling, where: str = "",
                  ranges: bool = True) -> None:
    """Refuse ``value`` for ``setting`` unless it converts: its type, and (``ranges``) its constraints."""
    try:
        msgspec.convert(value, setting.annotation if ranges else setting.base)
    except msgspec.ValidationError as exc:
        raise setting_error(setting, value, exc, spell=spell, where=where) from None


def convert_settings(struct: type[S], values: Mapping[str, Any], *, spell: Spelling = KEY, where: str = "",
                     **fixed: Any) -> S:
    """``values`` (keyed by option name, as the source writes them) and ``fixed`` fields, as a ``struct``.

    A value that does not convert raises :class:`UsageError` naming it with ``spell``, after ``where``.
    """
    fields = {f.option: f for f in settings_fields(struct)}
    data = dict(fixed)
    for option, value in values.items():
        data[fields[option].name if option in fields else option] = value
    try:
        return msgspec.convert(data, struct)
    except msgspec.ValidationError as exc:
        path = re.search(r" - at `\$\.(\w+)", str(exc))
        named = next((f for f in fields.values() if path and f.name == path.group(1)), None)
        if named is None:
            raise UsageError(f"{where}{exc}") from None
        raise setting_error(named, data.get(named.name), exc, spell=spell, where=where) from None
