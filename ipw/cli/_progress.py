"""Live progress on stderr: queries done/total, tokens/s, watts per device, joules so far, ETA.

On a terminal it is a ``rich`` live display (a bar and one status line,
redrawn four times a second). Off a terminal (a log file, CI) it is one plain
line per second, and only when something changed. ``--json`` turns it off.
The watts and joules come from the same runner observer as the Prometheus
metrics (:class:`ipw.capture.metrics.CaptureMetrics`): live indications, not
the results, which are replays of the ledger.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

__all__ = ["ProgressLine", "JudgeProgress", "status_text"]


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def status_text(progress: Any, energy_j: dict[str, float]) -> str:
    """``queries 3/12 | 41.0 tok/s | nvidia:0 120.5 W | 512 J | ETA 0:42``: one capture's state as text."""
    finished = progress.done + progress.failed
    parts = [f"queries {finished}/{progress.total}" + (f" ({progress.failed} failed)" if progress.failed else "")]
    parts.append(f"{progress.tokens_per_s:.1f} tok/s")
    watts = dict(progress.last_power_w)
    parts.append(", ".join(f"{d} {w:.1f} W" for d, w in sorted(watts.items())) if watts else "– W")
    if energy_j:
        from ..events.devices import device_parents

        nested = device_parents(energy_j)  # a RAPL core inside its package is not counted again
        parts.append(f"{sum(j for d, j in energy_j.items() if d not in nested):.4g} J")
    else:
        parts.append("– J")
    eta = progress.eta_s
    parts.append(f"ETA {_clock(eta)}" if eta is not None else "ETA –")
    return " | ".join(parts)


class ProgressLine:
    """The capture's progress display; also a runner observer (pass it in ``Runner(observers=…)``).

    Each redraw is one :meth:`tick`. A timer calls it (rich's refresh thread on a terminal, four times a
    second; a thread every ``interval_s`` elsewhere); with ``timer=False`` nothing ticks on its own and
    the owner calls :meth:`tick`, so what each tick writes can be checked without waiting on a clock.
    """

    def __init__(self, enabled: bool | None = None, *, stream: TextIO | None = None, interval_s: float = 1.0,
                 timer: bool = True) -> None:
        from ..capture.metrics import CaptureMetrics

        self.enabled = True if enabled is None else enabled
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.timer = timer
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._energy = CaptureMetrics()  # joules per device from the power samples, as for /metrics
        self._progress: Any = None
        self._live: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lines_on = False  # plain lines are being written (enabled, attached, not a terminal)
        self._last_state: Any = None

    # -- runner observer -----------------------------------------------------
    def attach(self, progress: Any) -> None:
        self._progress = progress
        self._energy.attach(progress)
        if not self.enabled:
            return
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._live = Live(get_renderable=self._renderable, console=console, refresh_per_second=4, transient=False,
                              auto_refresh=self.timer)
            self._live.start()
        else:
            self._lines_on = True
            if self.timer:
                self._thread = threading.Thread(target=self._lines, name="ipw-progress", daemon=True)
                self._thread.start()

    def observe(self, event: Any) -> None:
        self._energy.observe(event)

    # -- the runner's per-query callback: everything is read live, nothing to do here
    def __call__(self, progress: Any) -> None:
        self._progress = progress

    def _text(self) -> str:
        return status_text(self._progress, self._energy.energy_j())

    def _renderable(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        progress = self._progress
        grid.add_row(ProgressBar(total=max(progress.total, 1), completed=progress.done + progress.failed, width=30),
                     self._text())
        return grid

    def _lines(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def tick(self) -> None:
        """One redraw: the rich display on a terminal; elsewhere a plain line, when something changed."""
        if self._live is not None:
            self._live.refresh()
        elif self._lines_on:
            self._line()

    def _line(self) -> None:
        p = self._progress
        # what was counted or read, not the rates, which drift with the clock alone
        state = (p.done, p.failed, p.tokens, sorted(p.last_power_w.items()), sorted(self._energy.energy_j().items()))
        if state != self._last_state:
            self._last_state = state
            self.stream.write(f"progress: {self._text()}\n")
            self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._lines_on:
            self._lines_on = False
            self._line()  # the final state, once


class JudgeProgress:
    """``judging N/M`` while a judge works: a rich status on a terminal, silent elsewhere."""

    def __init__(self, enabled: bool | None = None, *, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = tty if enabled is None else enabled and tty
        self._live: Any = None
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        from rich.text import Text

        with self._lock:
            if self._live is None:
                from rich.console import Console
                from rich.live import Live

                self._live = Live(console=Console(file=self.stream), refresh_per_second=4)
                self._live.start()
            self._live.update(Text(f"judging {done}/{total}"))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

