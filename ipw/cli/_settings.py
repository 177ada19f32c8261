"""Click options made from a settings Struct's fields, and the values they give read back into it.

A capture setting is declared once, on :class:`~ipw.capture.config.CaptureConfig`
or :class:`~ipw.capture.config.EvalSettings` (see :mod:`ipw.capture.settings`);
its flag, type, default and help come from there. A table setting
(``client_params``) is a repeatable ``--client-param K=V``.
"""

from __future__ import annotations

from typing import Any, Callable

import click
import msgspec

from ..capture.settings import FLAG, SettingField, convert_settings, settings_fields
from ._options import parse_kv

__all__ = ["settings_options", "from_options", "given_fields"]

_PATHS = {"dir": click.Path(file_okay=False), "file": click.Path(dir_okay=False)}
_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


def _option(field: SettingField) -> Callable[[Any], Any]:
    flag = FLAG(field.option)
    if field.base is bool:
        return click.option(flag, field.option, is_flag=True, help=field.description)
    if field.base is dict:
        return click.option(flag, field.option, multiple=True, metavar="K=V", help=field.description)
    show = field.default not in (None, "", {})
    return click.option(flag, field.option, required=field.required, default=field.default, show_default=show,
                        type=_PATHS.get(field.extra.get("path", ""), _TYPES[field.base]),
                        metavar=field.extra.get("metavar"), help=field.description)


def settings_options(struct: type[msgspec.Struct]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding one option per setting of ``struct`` that the command line takes."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for field in reversed([f for f in settings_fields(struct) if f.cli]):
            fn = _option(field)(fn)
        return fn

    return decorate


def from_options(struct: type[msgspec.Struct], kw: dict[str, Any], **given: Any) -> Any:
    """The ``struct`` the options in ``kw`` give (``given``: option values already read, e.g. a parsed table).

    A value that does not convert is a :class:`~ipw.errors.UsageError` naming its flag.
    """
    values: dict[str, Any] = {}
    for field in settings_fields(struct):
        if field.option in given:
            values[field.option] = given[field.option]
        elif field.cli and field.option in kw:
            value = kw[field.option]
            values[field.option] = parse_kv(value or (), FLAG(field.option)) if field.base is dict else value
    return convert_settings(struct, values, spell=FLAG)


def given_fields(struct: type[msgspec.Struct], extra: dict[str, str] | None = None) -> set[str]:
    """The fields of ``struct`` set on this command line (``extra``: other options and the field each sets)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    names = {f.option: f.name for f in settings_fields(struct)} | dict(extra or {})
    return {names[name] for name in ctx.params if name in names
            and ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
