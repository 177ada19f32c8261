"""A telemetry sink for tests: every event a session emits, kept in order, with waits for what is expected."""

from __future__ import annotations

import threading
import time
from typing import Callable

from ipw.events import Event, PowerSample, TelemetryStatus


class EventLog:
    """A thread-safe sink that keeps every event, with helpers to wait and filter."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def snapshot(self) -> list[Event]:
        with self._cond:
            return list(self.events)

    def samples(self, device: str | None = None) -> list[PowerSample]:
        return [e for e in self.snapshot() if isinstance(e, PowerSample) and (device is None or e.device == device)]

    def statuses(self, status: str | None = None) -> list[TelemetryStatus]:
        return [e for e in self.snapshot() if isinstance(e, TelemetryStatus) and (status is None or e.status == status)]

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def wait_samples(self, device: str, count: int, timeout_s: float = 10.0) -> bool:
        return self.wait_for(lambda evs: sum(isinstance(e, PowerSample) and e.device == device for e in evs) >= count,
                             timeout_s)
