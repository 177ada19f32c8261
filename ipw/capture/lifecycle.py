"""The parts of a capture's life that touch processes and signals: the energy monitor, SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable

__all__ = ["CaptureTelemetry", "start_telemetry", "terminate_as_interrupt"]


class CaptureTelemetry:
    """The energy monitor for one capture: launched (or reused), streamed into the ledger, stopped."""

    def __init__(self, *, sink: Callable[[Any], None], collectors: str, interval_ms: int, cpu_tdp_w: float | None) -> None:
        self.sink = sink
        self.collectors = collectors
        self.interval_ms = interval_ms
        self.cpu_tdp_w = cpu_tdp_w
        self.launcher: Any = None
        self.session: Any = None

    def __enter__(self) -> "CaptureTelemetry":
        from .telemetry import TelemetrySession, launch_monitor

        self.launcher = launch_monitor(interval_ms=self.interval_ms, collectors=self.collectors, cpu_tdp_w=self.cpu_tdp_w)
        try:
            self.session = TelemetrySession(self.launcher.endpoint, self.sink, self.interval_ms).start()
        except BaseException:
            self.launcher.stop()
            raise
        return self

    def bracket(self, label: str) -> None:
        """Have the monitor read every device now: the ``label`` edge of the measured window."""
        if self.session is not None:
            self.session.read_bracket(label)

    def __exit__(self, *exc: object) -> None:
        try:
            if self.session is not None:
                self.session.stop()
        finally:
            if self.launcher is not None:
                self.launcher.stop()


def start_telemetry(config: Any, writer: Any, progress: Any, factory: Any = None,
                    observers: tuple[Any, ...] = ()) -> tuple[Any, str | None]:
    """Start the energy monitor for a capture: (the running session or None, a note on why energy is not measured).

    Each power event goes to the ledger, to the progress line's watts, and to every observer.
    """
    import time

    from ..errors import TelemetryError

    if config.energy == "none":
        return None, "energy was not measured (--energy none)"
    factory = factory or CaptureTelemetry

    def sink(event: Any) -> None:
        writer.append(event)
        power = getattr(event, "power_w", None)
        if power is not None:
            progress.last_power_w[event.device] = power
        for observer in observers:
            observer.observe(event)

    try:
        session = factory(
            sink=sink,
            collectors=config.energy,
            interval_ms=config.sample_interval_ms,
            cpu_tdp_w=config.cpu_tdp_w,
        )
        session.__enter__()
    except TelemetryError as exc:
        from ..events import TelemetryStatus

        writer.append(TelemetryStatus(t_ns=time.monotonic_ns(), status="unavailable", message=exc.one_line()))
        return None, f"energy was not measured: {exc.one_line()}"
    return session, None


def terminate_as_interrupt() -> Any:
    """Make SIGTERM raise KeyboardInterrupt in the main thread; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, _raise)
