"""Shared fixtures: in-process monitor servers and a collecting telemetry sink."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator, Sequence

import pytest

from ipw.capture.telemetry import TelemetrySession
from ipw.events import Event, PowerSample, TelemetryStatus
from ipw_energy_monitor.collectors import Collector
from ipw_energy_monitor.server import MonitorServer


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


@pytest.fixture
def event_log() -> EventLog:
    return EventLog()


@pytest.fixture
def serve() -> Iterator[Callable[..., MonitorServer]]:
    """Start an in-process monitor over given collectors on a free loopback port."""
    servers: list[MonitorServer] = []

    def start(collectors: Sequence[Collector], interval_ms: int = 10, notes: Sequence[str] = ()) -> MonitorServer:
        for collector in collectors:
            collector.require()
        server = MonitorServer(collectors, port=0, interval_ms=interval_ms, notes=notes)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(grace_s=0.2)


@pytest.fixture
def session_for(event_log: EventLog) -> Iterator[Callable[..., TelemetrySession]]:
    """Start a TelemetrySession into ``event_log``; stopped at teardown."""
    sessions: list[TelemetrySession] = []

    def start(endpoint: str, interval_ms: int = 10, **kwargs: object) -> TelemetrySession:
        session = TelemetrySession(endpoint, event_log, interval_ms, flush_ms=20, **kwargs)  # type: ignore[arg-type]
        session.start()
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.stop()
