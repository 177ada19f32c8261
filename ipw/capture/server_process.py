"""An inference server ipw starts for one run and stops after it: ``--server-cmd`` and a study's ``[server]``.

A :class:`ServerSpec` holds a command template, a health URL and a start-up
timeout. :class:`ServerProcess` fills the template's placeholders —
``{port}`` (a free loopback port picked now), ``{model}`` (the run's model as
given), ``{model_path}`` (that model resolved the way the llamacpp client
resolves it: ``gemma-3-270m`` is the packaged GGUF), ``{python}`` (this
interpreter, so a study file is portable) and any ``{NAME}`` the spec's
``values`` give (a study's ``"server.NAME"`` matrix key) — splits it with
:func:`shlex.split` (no shell), and starts it in its own session with its
output in a log file. It waits until the health URL answers 200, stops the
server with SIGTERM to its process group, then SIGKILL after a grace period,
and leaves no orphan: on Linux a tiny wrapper sets ``PR_SET_PDEATHSIG`` before
it ``exec``\\ s the server, so even a ``kill -9`` of ipw takes the server down.

What the server did becomes two events: ``server_started`` (its command with
credentials cut out, version, start-up time, port, pid) and ``server_stopped``
(exit code and the last lines of its log, scrubbed). A server that cannot start
— an unknown program, an early exit, no health within the timeout — raises
:class:`~ipw.errors.ServerUnreachableError` (or :class:`~ipw.errors.ConfigError`
for a template that cannot be filled) with the log's last lines in the message.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ServerUnreachableError, UsageError
from ..events import ServerStarted, ServerStopped
from ..secrets import REDACTED, is_secret_name, register, scrub

__all__ = ["ServerSpec", "ServerProcess", "DEFAULT_HEALTH_URL", "DEFAULT_BASE_URL", "fill_template",
           "redact_argv", "LOG_TAIL_LINES"]

DEFAULT_HEALTH_URL = "http://127.0.0.1:{port}/v1/models"
DEFAULT_BASE_URL = "http://127.0.0.1:{port}/v1"
LOG_TAIL_LINES = 40
MESSAGE_TAIL_LINES = 6  # the lines an error message quotes; the event keeps LOG_TAIL_LINES
STOP_GRACE_S = 10.0
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# exec the server with a parent-death signal: if ipw dies (even by SIGKILL) the kernel kills the server
_GUARD = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)  # ipw died before the guard was armed\n"
    "try:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "except OSError as exc:\n"
    "    print(f'cannot run {sys.argv[2]}: {exc.strerror}', file=sys.stderr)\n"
    "    sys.exit(127)\n"
)
_LIVE: set[ServerProcess] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for server in live:
        server.stop()


atexit.register(_stop_all)


@dataclass(frozen=True)
class ServerSpec:
    """How to start a server: a command template, where to ask for health, how long to wait, the cooldown."""

    command: str
    health_url: str = DEFAULT_HEALTH_URL
    startup_timeout_s: float = 180.0
    values: dict[str, Any] = field(default_factory=dict)  # {NAME} -> value, e.g. a swept n_ctx
    cooldown_s: float = 0.0
    idle_within_pct: float | None = None  # wait until power is within this % of the idle baseline
    idle_timeout_s: float = 300.0

    def check(self) -> None:
        """Refuse a spec that can never start: an empty or unsplittable command, a timeout <= 0."""
        if not self.command.strip():
            raise UsageError("the server command is empty", hint='e.g. "{python} -m llama_cpp.server --model '
                                                                  '{model_path} --port {port}"')
        try:
            shlex.split(self.command)
        except ValueError as exc:
            raise UsageError(f"the server command cannot be split into arguments: {exc}",
                             hint="close the quote") from None
        for name, value in (("startup_timeout_s", self.startup_timeout_s), ("cooldown_s", self.cooldown_s),
                            ("idle_timeout_s", self.idle_timeout_s)):
            if value < 0 or (name == "startup_timeout_s" and value == 0):
                raise UsageError(f"server {name} must be {'> 0' if name == 'startup_timeout_s' else '>= 0'}, "
                                 f"got {value}")
        if self.idle_within_pct is not None and self.idle_within_pct <= 0:
            raise UsageError(f"server idle_within_pct must be > 0, got {self.idle_within_pct}")


def fill_template(template: str, values: dict[str, Any]) -> str:
    """``template`` with each ``{NAME}`` replaced; a name with no value is a ConfigError naming it."""
    missing = sorted({m for m in _PLACEHOLDER.findall(template) if m not in values})
    if missing:
        raise ConfigError(f"the server command names {', '.join('{' + m + '}' for m in missing)}, which "
                          "nothing fills", hint=f"give it a value in [server] or sweep \"server.{missing[0]}\"; "
                          f"ipw fills {{port}}, {{model}}, {{model_path}} and {{python}}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def redact_argv(argv: list[str]) -> list[str]:
    """``argv`` with the value of every credential-named flag (``--api-key X``, ``--token=X``) cut out."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            register(arg)
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and is_secret_name(name.lstrip("-")):
            if eq:
                register(value)
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(arg)
    return [scrub(a) for a in out]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One started server: :meth:`start` it (or use it as a context manager), then :meth:`stop` it."""

    def __init__(self, spec: ServerSpec, *, model: str) -> None:
        self.spec, self.model = spec, model
        self.port: int | None = None
        self.argv: list[str] = []
        self.shown_command: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.version: str | None = None
        self.startup_s: float | None = None
        self.health_url = ""
        self.exit_code: int | None = None
        self.log_tail: list[str] = []
        self._log_path: Path | None = None
        self._started_t_ns = 0
        self._stopped: ServerStopped | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL a client talks to: ``http://127.0.0.1:PORT/v1``."""
        return DEFAULT_BASE_URL.format(port=self.port)

    def _values(self, port: int) -> dict[str, Any]:
        values: dict[str, Any] = {**self.spec.values, "python": sys.executable, "model": self.model, "port": port}
        if "{model_path}" in self.spec.command:  # resolved only when asked: it may assemble the packaged model
            from .clients.llamacpp import resolve_model_path

            values["model_path"] = str(resolve_model_path(self.model))
        return values

    def start(self) -> ServerProcess:
        """Start the server and wait until it is healthy; raises ServerUnreachableError with its log tail."""
        self.spec.check()
        self.port = _free_port()
        values = self._values(self.port)
        self.argv = shlex.split(fill_template(self.spec.command, values))
        self.health_url = fill_template(self.spec.health_url, values)
        self.shown_command = redact_argv(self.argv)  # registers its credentials before its log is ever read
        program = shutil.which(self.argv[0])
        if program is None:
            raise ConfigError(f"the server command's program {self.argv[0]!r} was not found",
                              hint="give a full path, or use {python} -m MODULE for a Python server")
        fd, name = tempfile.mkstemp(prefix="ipw-server-", suffix=".log")
        self._log_path = Path(name)
        guard = [sys.executable, "-c", _GUARD, str(os.getpid())] if sys.platform.startswith("linux") else []
        t0 = time.monotonic()
        with os.fdopen(fd, "wb") as log:
            # its own session: a Ctrl-C at the terminal reaches ipw only, and ipw stops the server in order
            self.process = subprocess.Popen([*guard, *self.argv], stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._wait_healthy(t0)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        self._started_t_ns = time.monotonic_ns()
        self.version = self._read_version()
        return self

    def _wait_healthy(self, t0: float) -> None:
        import httpx

        assert self.process is not None
        deadline = t0 + self.spec.startup_timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                self.stop()
                raise ServerUnreachableError(f"the server exited with code {code} before it answered"
                                             f"{self._quoted_tail()}", hint="fix the server command")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.health_url, timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise ServerUnreachableError(
                    f"the server did not answer {self.health_url} within {self.spec.startup_timeout_s:g} s"
                    f"{self._quoted_tail()}", hint="raise startup_timeout_s, or check the health URL")
            time.sleep(0.2)

    def _quoted_tail(self) -> str:
        lines = [ln.strip() for ln in self.log_tail if ln.strip()][-MESSAGE_TAIL_LINES:]
        return "; its log ends: " + " | ".join(lines) if lines else "; its log is empty"

    def _read_version(self) -> str | None:
        """The server's version: its package's (``python -m PKG`` in this interpreter), else ``GET /version``."""
        if len(self.argv) > 2 and self.argv[0] == sys.executable and self.argv[1] == "-m":
            from importlib import metadata

            top = self.argv[2].partition(".")[0]
            for dist in metadata.packages_distributions().get(top, []):
                with contextlib.suppress(metadata.PackageNotFoundError):
                    return f"{dist} {metadata.version(dist)}"
        import httpx

        with contextlib.suppress(httpx.HTTPError, ValueError, AttributeError):
            reply = httpx.get(f"http://127.0.0.1:{self.port}/version", timeout=2.0)
            if reply.status_code == 200:
                version = reply.json().get("version")
                return str(version) if version is not None else None
        return None

    def started_event(self) -> ServerStarted:
        return ServerStarted(t_ns=self._started_t_ns, command=self.shown_command, version=self.version,
                             startup_s=self.startup_s or 0.0, port=self.port or 0, pid=self.pid or 0,
                             health_url=scrub(self.health_url))

    def stop(self, grace_s: float = STOP_GRACE_S) -> ServerStopped:
        """Stop the server and its process group (SIGTERM, then SIGKILL); idempotent. Returns the event."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        process, self.process = self.process, None
        if process is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):  # the whole group: whatever the server started goes too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=grace_s)
                    if sig == signal.SIGTERM:
                        # the leader is gone; its group may not be: SIGKILL what is left of it
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(process.pid, signal.SIGKILL)
                        break
            self.exit_code = process.wait()
        if self._log_path is not None:
            self.log_tail = self._read_tail()
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None
        if self._stopped is None or process is not None:
            self._stopped = ServerStopped(t_ns=time.monotonic_ns(), exit_code=self.exit_code,
                                          log_tail="\n".join(self.log_tail))
        return self._stopped

    def _read_tail(self) -> list[str]:
        assert self._log_path is not None
        try:
            with self._log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64 * 1024))  # a chatty server's log can be large: its end only
                lines = log.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        return [scrub(ln)[:500] for ln in lines[-LOG_TAIL_LINES:]]

    def __enter__(self) -> ServerProcess:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
