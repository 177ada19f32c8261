"""Shared fixtures: in-process monitor servers and a collecting telemetry sink (:mod:`tests._event_log`)."""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import pytest

from ipw.capture.telemetry import TelemetrySession
from ipw_energy_monitor.collectors import Collector
from ipw_energy_monitor.server import MonitorServer
from tests._event_log import EventLog


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
