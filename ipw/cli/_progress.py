"""A one-line progress display on stderr: queries done, tokens/s, watts, ETA.

Silent when stderr is not a terminal or under ``--json``.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any


class ProgressLine:
    def __init__(self, enabled: bool | None = None, min_interval_s: float = 0.2) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0
        self._lock = threading.Lock()
        self._min = min_interval_s
        self._shown = False

    def __call__(self, progress: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        finished = progress.done + progress.failed
        with self._lock:
            if now - self._last < self._min and finished < progress.total:
                return
            self._last = now
            parts = [f"queries {finished}/{progress.total}"]
            if progress.failed:
                parts[0] += f" ({progress.failed} failed)"
            parts.append(f"{progress.tokens_per_s:.1f} tok/s")
            power_w = progress.power_w
            parts.append(f"{power_w:.1f} W" if power_w is not None else "– W")
            eta = progress.eta_s
            parts.append(f"ETA {_clock(eta)}" if eta is not None else "ETA –")
            sys.stderr.write("\r\033[K" + " | ".join(parts))
            sys.stderr.flush()
            self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class JudgeProgress:
    """``judging N/M`` on one line while a judge works; silent off a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._shown = False
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            sys.stderr.write(f"\r\033[Kjudging {done}/{total}")
            sys.stderr.flush()
            self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
