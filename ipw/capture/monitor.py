"""Starting (or reusing) the energy monitor, and stopping it without leaving an orphan.

:class:`MonitorLauncher` reuses a monitor already serving at an address
(``endpoint=`` or ``$IPW_ENERGY_MONITOR``) or starts ``python -m
ipw_energy_monitor.server`` in its own process group, waits until it answers
Health, and stops it on exit, Ctrl-C or SIGTERM (the monitor also exits by
itself when its parent is gone).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any

from ..errors import TelemetryError, UsageError
from ._grpc import monitor_health, signals_to_main_thread

__all__ = ["ENV_ENDPOINT", "MonitorLauncher", "launch_monitor"]

ENV_ENDPOINT = "IPW_ENERGY_MONITOR"
_LIVE: set[MonitorLauncher] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_launched() -> None:
    with _LIVE_LOCK:
        launchers = list(_LIVE)
    for launcher in launchers:
        launcher.stop()


def _on_sigterm(signum: int, frame: Any) -> None:
    # Stop our monitors, then die of SIGTERM exactly as without this handler.
    _stop_all_launched()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


atexit.register(_stop_all_launched)


class MonitorLauncher:
    """A running energy monitor: reused when one answers at the given address, else started."""

    def __init__(self, *, bind: str = "127.0.0.1", port: int | None = None, interval_ms: int = 100,
                 collectors: str = "auto", cpu_tdp_w: float | None = None, endpoint: str | None = None,
                 rapl_root: str | None = None, start_timeout_s: float = 30.0) -> None:
        self.bind, self.port, self.interval_ms = bind, port, interval_ms
        self.collectors, self.cpu_tdp_w, self.rapl_root = collectors, cpu_tdp_w, rapl_root
        self.start_timeout_s = start_timeout_s
        self._given_endpoint = endpoint
        self.endpoint: str | None = None
        self.reused = False
        self.health: dict[str, Any] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> str:
        """Reuse or start the monitor; return its ``host:port``. Raises TelemetryError."""
        given, origin = self._given_endpoint, "endpoint argument"
        if given is None and os.environ.get(ENV_ENDPOINT):
            given, origin = os.environ[ENV_ENDPOINT], f"${ENV_ENDPOINT}"
        if given:
            self.health = monitor_health(given)
            if self.health is None:
                raise TelemetryError(f"no energy monitor answers at {given} (from the {origin})",
                                     hint=f"start one there with 'ipw-energy-monitor --port {given.rpartition(':')[2]}', "
                                     f"or unset {ENV_ENDPOINT} to let ipw start its own")
            self.endpoint, self.reused = given, True
            return given
        self._spawn()
        return self.endpoint  # type: ignore[return-value]

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "ipw_energy_monitor.server", "--bind", self.bind, "--port", str(self.port or 0),
               "--interval-ms", str(self.interval_ms), "--collectors", self.collectors, "--parent-pid", str(os.getpid())]
        if self.cpu_tdp_w is not None:
            cmd += ["--cpu-tdp-w", str(self.cpu_tdp_w)]
        if self.rapl_root is not None:
            cmd += ["--rapl-root", str(self.rapl_root)]
        return cmd

    def _spawn(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: the monitor can never block on it
        # Its own session: a Ctrl-C at the terminal reaches ipw only, and ipw stops the monitor in order.
        self.process = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._stderr, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE.add(self)
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None

        def pump() -> None:  # first line to the queue, the rest drained so the pipe never fills
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")

        with signals_to_main_thread():
            threading.Thread(target=pump, name="ipw-monitor-stdout", daemon=True).start()
        try:
            line = lines.get(timeout=self.start_timeout_s)
        except queue.Empty:
            self.stop()
            raise TelemetryError(f"the energy monitor did not start within {self.start_timeout_s:g} s",
                                 hint="run 'ipw-energy-monitor --port 0' by hand to see what it waits for") from None
        text = line.decode(errors="replace").strip()
        if not text.startswith("listening on "):
            self.process.wait(timeout=self.start_timeout_s)
            code = self.process.returncode
            reason = self._stderr_tail() or text or f"exit code {code}"
            self.stop()
            if code == UsageError.exit_code:  # a bad option: the monitor's message already says what to pass
                raise UsageError(f"the energy monitor could not start: {reason}")
            raise TelemetryError(f"the energy monitor could not start: {reason}",
                                 hint="fix what it says, choose collectors with --energy / --collectors, or pass --energy none")
        self.endpoint = text.removeprefix("listening on ")
        self.health = monitor_health(self.endpoint, timeout_s=self.start_timeout_s)
        if self.health is None:
            self.stop()
            raise TelemetryError(f"the energy monitor at {self.endpoint} started but does not answer Health",
                                 hint="check that nothing blocks loopback connections")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1].removeprefix("ipw-energy-monitor: error: ") if lines else ""

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop a monitor this launcher started (terminate, wait, kill). Idempotent."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        process, self.process = self.process, None
        if process is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):  # its process group: anything it started goes too
                if process.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=timeout_s)
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> MonitorLauncher:
        if self.endpoint is None:  # launch_monitor() has started it already
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_monitor(bind: str = "127.0.0.1", port: int | None = None, interval_ms: int = 100,
                   collectors: str = "auto", cpu_tdp_w: float | None = None, *, endpoint: str | None = None,
                   rapl_root: str | None = None, start_timeout_s: float = 30.0) -> MonitorLauncher:
    """A started :class:`MonitorLauncher` (use it as a context manager to stop it)."""
    launcher = MonitorLauncher(bind=bind, port=port, interval_ms=interval_ms, collectors=collectors,
                               cpu_tdp_w=cpu_tdp_w, endpoint=endpoint, rapl_root=rapl_root,
                               start_timeout_s=start_timeout_s)
    launcher.start()
    return launcher
