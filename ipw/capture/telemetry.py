"""The ipw side of the energy monitor: start (or reuse) it, and turn its stream into events.

:class:`MonitorLauncher` reuses a monitor already serving at an address
(``endpoint=`` or ``$IPW_ENERGY_MONITOR``) or starts ``python -m
ipw_energy_monitor.server`` in its own process group, waits until it answers
Health, and stops it on exit, Ctrl-C or SIGTERM without leaving it orphaned
(the monitor also exits by itself when its parent is gone).

:class:`TelemetrySession` streams from a monitor on a background thread and
hands ``sink`` the events of :mod:`ipw.events`: ``DeviceSeen`` per device,
``TelemetryStatus`` (``connected``, ``lost``, ``reconnected``,
``device_lost``, ``device_error``, ``device_ok``, ``stopped``) and a
``PowerSample`` per reading, its ``t_ns`` mapped onto this process's
``time.monotonic_ns()`` by the offset measured with the Clock rpc. A monitor
that dies becomes a ``lost`` event and periodic reconnection attempts, never an
exception in the caller. :meth:`TelemetrySession.read_bracket` asks the monitor
to read every device at once (the Read rpc) at an edge of the measured window
and records the readings as ``PowerSample`` events marked ``bracket``; a
monitor that cannot answer within its short timeout becomes a
``bracket_missed`` status, and the run goes on.

:class:`HarnessCpuSampler` measures ipw itself: a ``HarnessCpu`` event with
the capture process's CPU seconds (and the host's busy CPU seconds) at the
start, every ``interval_s`` and at the end, so the energy analysis can report
the harness's own footprint beside the power samples.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from ..errors import TelemetryError
from ..events import DeviceSeen, Event, HarnessCpu, PowerSample, TelemetryStatus
from ._grpc import grpc_modules, monitor_health, open_channel, signals_to_main_thread
from .monitor import ENV_ENDPOINT, MonitorLauncher, launch_monitor

__all__ = ["ENV_ENDPOINT", "HarnessCpuSampler", "MonitorLauncher", "TelemetrySession", "host_busy_cpu_s",
           "launch_monitor", "monitor_health", "read_live"]

_SOURCES = {1: "measured", 2: "derived", 3: "estimated"}
_OPTIONAL = ("power_w", "energy_j", "temperature_c", "memory_used_bytes")


class _StreamEnded(Exception):
    """The monitor ended the stream on its own."""


class TelemetrySession:
    """Streams a monitor's samples into ``sink`` on a background thread; see the module docstring."""

    def __init__(self, endpoint: str, sink: Callable[[Event], None], interval_ms: int = 100, *,
                 reconnect_interval_s: float = 1.0, clock_probes: int = 5, flush_ms: int = 100,
                 max_batch: int = 512, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.endpoint, self.sink, self.interval_ms = endpoint, sink, interval_ms
        self.reconnect_interval_s, self.clock_probes = reconnect_interval_s, clock_probes
        self.flush_ms, self.max_batch, self.clock = flush_ms, max_batch, clock
        self.samples_received = 0
        self.dropped = 0
        self.lost = False
        self.lost_count = 0
        self.reconnects = 0
        self.connected_once = False
        self.clock_offset_ns: int | None = None
        self.clock_rtt_ns: int | None = None
        self.devices: dict[str, DeviceSeen] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._attempted = threading.Event()
        self._lock = threading.Lock()
        self._call: Any = None
        self._channel: Any = None
        self._thread: threading.Thread | None = None

    def start(self, wait_s: float = 10.0) -> TelemetrySession:
        """Start streaming; wait up to ``wait_s`` for the first connection attempt to conclude."""
        self._thread = threading.Thread(target=self._run, name="ipw-telemetry", daemon=True)
        with signals_to_main_thread():
            self._thread.start()
        self._attempted.wait(wait_s)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the stream and the thread; the last event is ``status="stopped"``."""
        self._stop.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()
            if self._channel is not None:
                self._channel.close()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> TelemetrySession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _emit(self, event: Event) -> None:
        try:
            self.sink(event)
        except Exception as exc:  # the sink is the caller's; its failure ends the session, not the caller
            self.error = f"the telemetry sink failed: {type(exc).__name__}: {exc}"
            self._stop.set()
            raise _StreamEnded(self.error) from exc

    def read_bracket(self, label: str, timeout_s: float = 0.5) -> int:
        """Read every device now for the window's ``label`` edge ("start"/"end"); the readings it recorded.

        Never raises: whatever keeps the monitor from answering is recorded as a ``bracket_missed`` status.
        """
        try:
            with self._lock:
                channel, offset_ns = self._channel, self.clock_offset_ns
            if channel is None or offset_ns is None or self.lost:
                raise _StreamEnded("the energy monitor is not connected")
            _, pb2, pb2_grpc = grpc_modules()
            batch = pb2_grpc.EnergyMonitorStub(channel).Read(pb2.ReadRequest(label=label), timeout=timeout_s)
            for s in batch.samples:
                optional = {f: getattr(s, f) for f in _OPTIONAL if s.HasField(f)}
                self._emit(PowerSample(device=s.device, t_ns=s.t_ns + offset_ns, bracket=label,
                                       source=_SOURCES.get(s.source, "measured"), **optional))
            return len(batch.samples)
        except Exception as exc:  # a bracket is best effort: the run never fails for it
            detail = exc.details() if hasattr(exc, "details") and callable(exc.details) else str(exc)
            try:
                self._status("bracket_missed", f"no {label} bracket read: {detail or type(exc).__name__}; "
                             "that edge of the window is interpolated between samples")
            except _StreamEnded:
                pass
            return 0

    def _status(self, status: str, message: str = "", offset_ns: int | None = None, t_ns: int | None = None) -> None:
        self._emit(TelemetryStatus(t_ns=self.clock() if t_ns is None else t_ns, status=status, message=message,
                                   clock_offset_ns=offset_ns, endpoint=self.endpoint))

    def _run(self) -> None:
        grpc = grpc_modules()[0]
        while not self._stop.is_set():
            try:
                self._stream_once()
            except Exception as exc:  # whatever breaks the stream is reported as an event, never raised
                if self._stop.is_set() or self.lost:
                    continue
                self.lost, self.lost_count = True, self.lost_count + 1
                detail = exc.details() if isinstance(exc, grpc.RpcError) else str(exc)
                verb = "stopped answering" if self.connected_once else "cannot be reached"
                try:
                    self._status("lost", f"energy monitor at {self.endpoint} {verb} ({detail or type(exc).__name__}); "
                                 f"power samples are missing until it answers again, retrying every "
                                 f"{self.reconnect_interval_s:g} s")
                except _StreamEnded:
                    break
            finally:
                self._attempted.set()
                with self._lock:
                    if self._channel is not None:
                        self._channel.close()
                    self._call = self._channel = None
                if not self._stop.is_set():
                    self._stop.wait(self.reconnect_interval_s)
        if self.error is None:
            try:
                self._status("stopped", f"{self.samples_received} samples received")
            except _StreamEnded:
                return

    def _stream_once(self) -> None:
        grpc, pb2, pb2_grpc = grpc_modules()
        channel = open_channel(self.endpoint)
        with self._lock:
            self._channel = channel
        stub = pb2_grpc.EnergyMonitorStub(channel)
        devices = stub.ListDevices(pb2.ListDevicesRequest(), timeout=5, wait_for_ready=True).devices
        offset_ns = self._measure_offset(stub, pb2)
        for d in devices:
            if d.device not in self.devices:
                metadata: dict[str, Any] = dict(d.metadata)
                if d.status and d.status != "ok":
                    metadata.update(status=d.status, message=d.message)
                caps = {k: getattr(d.capabilities, k) for k in ("energy_counter", "power", "temperature", "memory")}
                seen = DeviceSeen(device=d.device, device_type=d.device_type, name=d.name, vendor=d.vendor,
                                  capabilities=caps, t_ns=self.clock(), collector=d.collector, metadata=metadata)
                self.devices[d.device] = seen
                self._emit(seen)
        status = "reconnected" if self.connected_once else "connected"
        if self.connected_once:
            self.reconnects += 1
        self._status(status, f"{len(devices)} device(s); clock offset from the best of {self.clock_probes} round trips "
                     f"({(self.clock_rtt_ns or 0) / 1000:.0f} us)", offset_ns=offset_ns)
        self.connected_once, self.lost = True, False
        self._attempted.set()
        call = stub.StreamSamples(pb2.StreamRequest(interval_ms=self.interval_ms, max_batch=self.max_batch,
                                                    flush_ms=self.flush_ms))
        with self._lock:
            self._call = call
        if self._stop.is_set():
            call.cancel()
        for batch in call:
            for s in batch.samples:
                optional = {f: getattr(s, f) for f in _OPTIONAL if s.HasField(f)}
                self._emit(PowerSample(device=s.device, t_ns=s.t_ns + offset_ns,
                                       source=_SOURCES.get(s.source, "measured"), **optional))
            self.samples_received += len(batch.samples)
            self.dropped += batch.dropped
            for st in batch.statuses:
                self._status(f"device_{st.status}", f"{st.device}: {st.message}", t_ns=st.t_ns + offset_ns)
        if not self._stop.is_set():
            raise _StreamEnded("the monitor ended the stream")

    def _measure_offset(self, stub: Any, pb2: Any) -> int:
        probes = []  # (round trip, offset): the midpoint of the fastest round trip errs least
        for _ in range(max(self.clock_probes, 1)):
            t0_ns = self.clock()
            server_ns = stub.Clock(pb2.ClockRequest(), timeout=5).monotonic_ns
            t1_ns = self.clock()
            probes.append((t1_ns - t0_ns, (t0_ns + t1_ns) // 2 - server_ns))
        self.clock_rtt_ns, self.clock_offset_ns = min(probes)
        return self.clock_offset_ns


def host_busy_cpu_s(stat_path: str = "/proc/stat") -> float | None:
    """Busy seconds of all the host's CPUs since boot (everything but idle and iowait), or None off Linux."""
    try:
        with open(stat_path, "rb") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 8 or fields[0] != b"cpu":
        return None
    try:
        ticks = [int(f) for f in fields[1:]]
    except ValueError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already inside user and nice]
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


class HarnessCpuSampler:
    """Emits ``HarnessCpu`` events into ``sink``: at start, every ``interval_s``, and at stop."""

    def __init__(self, sink: Callable[[Event], None], interval_s: float = 1.0, *,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.sink, self.interval_s, self.clock = sink, interval_s, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpus = os.cpu_count()
        self._pid = os.getpid()

    def sample(self) -> None:
        self.sink(HarnessCpu(t_ns=self.clock(), cpu_s=time.process_time(), host_busy_cpu_s=host_busy_cpu_s(),
                             host_cpus=self._cpus, pid=self._pid))

    def start(self) -> HarnessCpuSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="ipw-harness-cpu", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


def read_live(endpoint: str, duration_s: float, interval_ms: int = 100) -> dict[str, Any]:
    """Read a monitor for ``duration_s``; per device: source, mean watts, joules over the window."""
    events: list[Event] = []
    lock = threading.Lock()

    def sink(event: Event) -> None:
        with lock:
            events.append(event)

    session = TelemetrySession(endpoint, sink, interval_ms, flush_ms=min(100, max(interval_ms, 10)))
    with session:
        if session.connected_once:
            time.sleep(duration_s)
    with lock:
        statuses = [e for e in events if isinstance(e, TelemetryStatus)]
        samples = [e for e in events if isinstance(e, PowerSample)]
    if not session.connected_once:
        reason = next((s.message for s in statuses if s.status == "lost"), "no answer")
        raise TelemetryError(f"could not read the energy monitor: {reason}", hint="check that the monitor is running")
    devices = [_summarise(seen, [s for s in samples if s.device == name]) for name, seen in session.devices.items()]
    return {
        "endpoint": endpoint,
        "duration_s": duration_s,
        "interval_ms": interval_ms,
        "clock_offset_ns": session.clock_offset_ns,
        "devices": devices,
        "events": [{"status": s.status, "message": s.message} for s in statuses if s.status not in ("connected", "stopped")],
    }


def _summarise(seen: DeviceSeen, samples: list[PowerSample]) -> dict[str, Any]:
    counters = [s for s in samples if s.energy_j is not None]
    power = [s for s in samples if s.power_w is not None]
    if len(counters) >= 2:  # a counter that went back to zero means the monitor restarted: skip that step
        energy_j = sum(max(0.0, b.energy_j - a.energy_j) for a, b in zip(counters, counters[1:]))  # type: ignore[operator]
        window_s = (counters[-1].t_ns - counters[0].t_ns) / 1e9
    else:
        energy_j = sum((a.power_w + b.power_w) / 2 * (b.t_ns - a.t_ns) / 1e9 for a, b in zip(power, power[1:]))  # type: ignore[operator]
        window_s = (power[-1].t_ns - power[0].t_ns) / 1e9 if power else 0.0
    mean_power_w = energy_j / window_s if window_s > 0 else (power[-1].power_w if power else None)
    return {
        "device": seen.device, "device_type": seen.device_type, "name": seen.name, "vendor": seen.vendor,
        "source": samples[-1].source if samples else None, "mean_power_w": mean_power_w,
        "energy_j": energy_j, "window_s": window_s, "samples": len(samples),
        "status": seen.metadata.get("status", "ok"),
    }
