"""Waiting out a cooldown between two runs, so that the heat of one does not bias the power of the next.

Two rules, which combine: a fixed ``cooldown_s``, and (with ``within_pct``)
waiting until the devices' total power is back within that share of an idle
baseline measured before the first run, reading the energy monitor once a
second, for at most ``timeout_s``. Without an energy monitor the idle rule
cannot be checked: :func:`idle_power_w` returns None and only the fixed wait
applies, and :class:`Cooled` says so rather than claiming the device cooled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import TelemetryError

__all__ = ["Cooled", "idle_power_w", "cool_down", "total_power_w"]


@dataclass(frozen=True)
class Cooled:
    """What a cooldown did: how long it waited, the last power read, and whether it reached the target."""

    waited_s: float
    power_w: float | None = None
    target_w: float | None = None
    reached: bool | None = None  # None: no power target (a fixed wait, or no monitor to read)


def total_power_w(reading: dict[str, Any]) -> float | None:
    """The sum of the mean watts of every device in a :func:`~ipw.capture.telemetry.read_live` reading."""
    watts = [d["mean_power_w"] for d in reading.get("devices", []) if d.get("mean_power_w") is not None]
    return float(sum(watts)) if watts else None


def _reader(collectors: str) -> Any:
    """A context manager that yields ``read(duration_s) -> watts or None`` over one energy monitor."""
    import contextlib

    from .telemetry import launch_monitor, read_live

    @contextlib.contextmanager
    def reading() -> Any:
        with launch_monitor(collectors=collectors) as launcher:
            yield lambda duration_s: total_power_w(read_live(launcher.endpoint, duration_s))

    return reading()


def idle_power_w(*, collectors: str = "auto", duration_s: float = 3.0) -> float | None:
    """The devices' total power with nothing running, in watts; None when no energy monitor can be read."""
    try:
        with _reader(collectors) as read:
            return read(duration_s)
    except TelemetryError:
        return None


def cool_down(*, cooldown_s: float = 0.0, idle_w: float | None = None, within_pct: float | None = None,
              timeout_s: float = 300.0, collectors: str = "auto", sleep: Callable[[float], None] = time.sleep,
              reader: Any = None) -> Cooled:
    """Wait ``cooldown_s``, then until power is within ``within_pct`` % of ``idle_w`` (at most ``timeout_s``)."""
    start = time.monotonic()
    if cooldown_s > 0:
        sleep(cooldown_s)
    if idle_w is None or within_pct is None:
        return Cooled(waited_s=time.monotonic() - start)
    target_w = idle_w * (1 + within_pct / 100)
    power_w = None
    try:
        with reader or _reader(collectors) as read:
            deadline = time.monotonic() + timeout_s
            while True:
                power_w = read(1.0)
                if power_w is not None and power_w <= target_w:
                    return Cooled(time.monotonic() - start, power_w, target_w, True)
                if time.monotonic() >= deadline:
                    return Cooled(time.monotonic() - start, power_w, target_w, False)
    except TelemetryError:
        return Cooled(time.monotonic() - start, power_w, target_w, None)
