"""Option bundles and parsers shared by several commands."""

from __future__ import annotations

import functools
import json
import math
from typing import Any, Callable

import click

from .._untrusted import MAX_JSON_DEPTH, InputRefused, check_depth
from ..errors import UsageError


def parse_kv(pairs: tuple[str, ...] | list[str], flag: str) -> dict[str, Any]:
    """Parse ``k=v`` pairs; values are JSON when they parse as JSON, else strings.

    A JSON value nested deeper than ``MAX_JSON_DEPTH`` is refused (exit 2): it
    would otherwise overflow the stack here or wherever it is later encoded.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"{flag} expects key=value, got {pair!r}",
                hint=f"write it as {flag} name=value, e.g. {flag} temperature=0",
            )
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
            if value.count("[") + value.count("{") > MAX_JSON_DEPTH:  # nesting needs a bracket per level
                check_depth(parsed)
        except (RecursionError, InputRefused):
            raise UsageError(f"{flag} {key}=… nests JSON deeper than {MAX_JSON_DEPTH} levels",
                             hint=f"give {key} a flatter value") from None
        except ValueError:
            parsed = value
        if isinstance(parsed, float) and not math.isfinite(parsed):
            raise UsageError(f"{flag} {key}={value} is not a finite number", hint=f"pass a number like {flag} {key}=0.5")
        out[key] = parsed
    return out


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not values any backend takes: read them as plain strings
    raise ValueError(name)


def wait_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--wait`` for a command that writes a run: queue behind another writer instead of exiting 3.

    Every writer it starts names itself in the run's lock file by the command path.
    """

    @click.option("--wait", "wait_for_writer", is_flag=True,
                  help="If another process is writing the run, wait for it to finish instead of exiting with code 3.")
    @functools.wraps(fn)
    def command(*args: Any, wait_for_writer: bool, **kwargs: Any) -> Any:
        from ..ledger.lock import LockHolder, writer_policy

        def on_wait(holder: LockHolder | None) -> None:
            who = holder.describe() if holder is not None else "another process"
            click.echo(f"ipw: waiting for {who} to finish writing the run", err=True)

        path = click.get_current_context().command_path
        with writer_policy(command=path, wait=wait_for_writer, on_wait=on_wait):
            return fn(*args, **kwargs)

    return command


def eval_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The upstream eval flags: one per setting of :class:`~ipw.capture.config.EvalSettings`."""
    from ..capture.config import EvalSettings
    from ._settings import settings_options

    return settings_options(EvalSettings)(fn)


def eval_flags(kw: dict[str, Any]) -> Any:
    """The ``--eval-*`` flags, for :mod:`ipw.judging.select`."""
    from ..judging.select import EvalFlags

    params = parse_kv(kw.get("eval_param") or (), "--eval-param")
    return EvalFlags(kw.get("eval_client"), kw.get("eval_base_url"), kw.get("eval_model"), params)
