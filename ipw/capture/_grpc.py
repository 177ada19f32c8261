"""gRPC plumbing shared by the monitor launcher and the telemetry session."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

__all__ = ["grpc_modules", "monitor_health", "open_channel", "signals_to_main_thread"]


def grpc_modules() -> tuple[Any, Any, Any]:
    import grpc

    from ipw_energy_monitor import energy_monitor_pb2, energy_monitor_pb2_grpc

    return grpc, energy_monitor_pb2, energy_monitor_pb2_grpc


@contextlib.contextmanager
def signals_to_main_thread() -> Iterator[None]:
    """Threads started inside inherit a mask blocking SIGINT and SIGTERM.

    The kernel hands a process-wide signal to any thread not blocking it; when
    that is a helper thread, Python's handler waits until the main thread next
    runs bytecode, which a main thread asleep in a system call may not do for
    a long time. Threads born here (ours and grpc's) leave those signals to it.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def open_channel(endpoint: str) -> Any:
    with signals_to_main_thread():  # the first channel starts grpc's own threads
        return grpc_modules()[0].insecure_channel(endpoint)


def monitor_health(endpoint: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The Health answer of the monitor at ``endpoint``, or None when nothing answers."""
    grpc, pb2, pb2_grpc = grpc_modules()
    with open_channel(endpoint) as channel:
        try:
            reply = pb2_grpc.EnergyMonitorStub(channel).Health(pb2.HealthRequest(), timeout=timeout_s, wait_for_ready=True)
        except grpc.RpcError:
            return None
    return {"status": reply.status, "version": reply.version, "collectors": list(reply.collectors),
            "interval_ms": reply.interval_ms, "notes": list(reply.notes)}
