"""The ``ipw`` command line: thin click commands and the one error boundary.

Exit codes (documented in the README):

    0   success (record, profile: every query was answered)
    1   an ipw error without a more specific code, or an operating-system
        error (OSError: a path that cannot be created, read or written)
    2   bad usage: unknown id, malformed k=v, a setting that cannot work
    3   a ledger is damaged or cannot be written
    4   a dataset cannot be read
    5   the inference service failed (record, profile: every query failed; the run is kept)
    6   the judge could not be asked
    7   the energy monitor failed
    8   an optional backend is not installed
    9   a study finished, but one or more of its cells failed (see study.json)
    10  an installed plugin failed to load, to start or while used (the line names it)
    11  record, profile: the run finished, but some of its queries failed (the run is kept)
    70  an internal error (a bug: please report it with IPW_DEBUG=1 output)
    130 interrupted (Ctrl-C); everything acknowledged is kept (proxy: a call was in flight)
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from typing import Any

import click

from ..errors import IpwError
from ..secrets import register_env, scrub

__all__ = ["main", "cli"]

# command name -> "module:attribute", imported only when the command runs
_COMMANDS = {
    "profile": "ipw.cli.capture_cmd:profile",
    "record": "ipw.cli.capture_cmd:record",
    "replay": "ipw.cli.replay_cmd:replay",
    "analyze": "ipw.cli.replay_cmd:analyze",
    "plot": "ipw.cli.plot_cmd:plot",
    "diff": "ipw.cli.diff_cmd:diff",
    "query": "ipw.cli.query_cmd:query",
    "energy": "ipw.cli.energy_cmd:energy",
    "list": "ipw.cli.list_cmd:list_components",
    "ledger": "ipw.cli.ledger_cmd:ledger",
    "report": "ipw.cli.report_cmd:report",
    "study": "ipw.cli.study_cmd:study",
    "proxy": "ipw.cli.proxy_cmd:proxy",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ipw", prog_name="ipw")
def cli() -> None:
    """Intelligence Per Watt: measure correct answers per joule of an LLM stack.

    Every token, power sample and verdict is recorded in an append-only ledger;
    every result is a replay over it.

    Example:

        ipw profile --client llamacpp --model gemma-3-270m --max-queries 20
    """


def error_line(exc: IpwError) -> str:
    return f"ipw: error: {exc.one_line()}"


def _exit_promptly(code: int) -> None:
    """Exit ``code``; without waiting for a query thread stuck on a silent server (its run is already closed)."""
    import threading

    stuck = [t for t in threading.enumerate()
             if t is not threading.main_thread() and not t.daemon and t.name.startswith("ipw-query")]
    if stuck:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


# errno -> (what failed, what to do), for an OSError that reached the boundary
_OS_ERRORS = {
    errno.ENOENT: ("a file or folder does not exist", "check the path; its parent folder must exist"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another --output-dir, --run-name or -o"),
    errno.EISDIR: ("a folder is in the way of a file", "choose another output path"),
    errno.EEXIST: ("a file or folder is already there", "choose another name or remove it"),
    errno.EACCES: ("permission denied", "choose a path you can write to"),
    errno.EPERM: ("the operation is not permitted", "choose a path you can write to"),
    errno.EROFS: ("the file system is read-only", "choose a path on a writable disk"),
    errno.ENOSPC: ("the disk is full", "free some space, then run the command again"),
    errno.EDQUOT: ("the disk quota is used up", "free some space, then run the command again"),
}


def os_error_line(exc: OSError) -> str:
    """An ``OSError`` as one line: what failed, the OS's words and the path, what to do."""
    what, hint = _OS_ERRORS.get(exc.errno or -1, ("a file operation failed", "check the path and its permissions"))
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    detail = f"{reason}: {' -> '.join(paths)}" if paths else reason
    return " ".join(f"ipw: error: {what} ({detail}); {hint}".split())


class _ScrubbedStream:
    """A text stream that passes every write through :func:`ipw.secrets.scrub`.

    Installed as ``sys.stderr`` for the whole command, so that error lines,
    warnings and progress never print a credential, whoever writes them.
    Once nobody reads it any more (a closed pipe: EPIPE), writes are dropped:
    a message that cannot be shown must not change what the command does,
    least of all turn a stop (Ctrl-C, SIGTERM) into a ``BrokenPipeError``.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: Any) -> int:
        if self._gone:
            return len(text)
        try:
            if isinstance(text, str):
                self._stream.write(scrub(text))
                return len(text)
            return self._stream.write(text)  # click probes for a binary stream with b""
        except (OSError, ValueError):  # the reader went away, or the stream was closed
            self._gone = True
            return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._gone = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ipw`` console script: the single error boundary."""
    register_env()
    stderr = sys.stderr
    sys.stderr = _ScrubbedStream(stderr)
    try:
        _main(argv)
    finally:
        sys.stderr = stderr


def _exit_if_plugin_failed(exc: BaseException) -> None:
    """Exit 10 with one line naming the plugin, when plugin code raised ``exc``."""
    from ..registry import plugin_failure

    failure = plugin_failure(exc)
    if failure is not None:
        click.echo(error_line(failure), err=True)
        sys.exit(failure.exit_code)


def _main(argv: list[str] | None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="ipw", standalone_mode=False)
    except IpwError as exc:
        click.echo(error_line(exc), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("ipw: interrupted; everything acknowledged so far is kept in the ledger", err=True)
        _exit_promptly(130)
    except click.ClickException as exc:
        click.echo(f"ipw: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("ipw: interrupted; everything acknowledged so far is kept in the ledger", err=True)
        _exit_promptly(130)
    except BrokenPipeError:
        _exit_promptly(0)
    except OSError as exc:
        click.echo(os_error_line(exc), err=True)
        sys.exit(1)
    except SystemExit as exc:  # a plugin's sys.exit() is its failure, not ipw's exit status
        _exit_if_plugin_failed(exc)
        raise
    except Exception as exc:  # the last line of defence: a bug, still one line
        if os.environ.get("IPW_DEBUG"):
            raise
        _exit_if_plugin_failed(exc)
        click.echo(
            f"ipw: internal error: {type(exc).__name__}: {exc} (rerun with IPW_DEBUG=1 for the traceback and report it)",
            err=True,
        )
        sys.exit(70)
    code: Any = rv if isinstance(rv, int) else 0
    sys.exit(code)
