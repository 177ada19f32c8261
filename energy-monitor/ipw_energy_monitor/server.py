"""The energy monitor's gRPC server and its command line.

    ipw-energy-monitor --bind 127.0.0.1 --port 0 --interval-ms 10 --collectors auto

prints ``listening on HOST:PORT`` once it serves (port 0 picks a free port),
then serves until SIGTERM or SIGINT, or until the process named by
``--parent-pid`` is gone (so a monitor never outlives the ipw that started
it). It binds to loopback unless ``--bind`` says otherwise. Errors are one
line on stderr and a non-zero exit code (ipw's codes: 2 usage, 7 telemetry,
8 missing backend).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from concurrent import futures
from typing import Any, Iterator, Sequence

import grpc

from ipw.errors import IpwError, TelemetryError

from . import __version__
from . import energy_monitor_pb2 as pb2
from . import energy_monitor_pb2_grpc as pb2_grpc
from .collectors import Collector, collector_names, probe_collectors
from .collectors.base import DeviceStatus, Reading
from .hub import Sampler

__all__ = ["MonitorServer", "EnergyMonitorServicer", "main", "build_parser", "format_address"]

_SOURCES = {
    "measured": pb2.SOURCE_MEASURED,
    "derived": pb2.SOURCE_DERIVED,
    "estimated": pb2.SOURCE_ESTIMATED,
}
DEFAULT_MAX_BATCH = 512
DEFAULT_FLUSH_MS = 100


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _sample(reading: Reading) -> pb2.Sample:
    sample = pb2.Sample(device=reading.device, t_ns=reading.t_ns, source=_SOURCES[reading.source])
    if reading.power_w is not None:
        sample.power_w = reading.power_w
    if reading.energy_j is not None:
        sample.energy_j = reading.energy_j
    if reading.temperature_c is not None:
        sample.temperature_c = reading.temperature_c
    if reading.memory_used_bytes is not None:
        sample.memory_used_bytes = reading.memory_used_bytes
    return sample


def _status(status: DeviceStatus) -> pb2.DeviceStatus:
    return pb2.DeviceStatus(device=status.device, t_ns=status.t_ns, status=status.status, message=status.message)


class EnergyMonitorServicer(pb2_grpc.EnergyMonitorServicer):
    """Answers the five rpcs from a running :class:`~ipw_energy_monitor.hub.Sampler`."""

    def __init__(self, sampler: Sampler, notes: Sequence[str] = ()) -> None:
        self.sampler = sampler
        self.notes = list(notes)

    def Health(self, request: pb2.HealthRequest, context: Any) -> pb2.HealthResponse:
        return pb2.HealthResponse(
            status="serving",
            version=__version__,
            collectors=[c.name for c in self.sampler.collectors],
            interval_ms=self.sampler.default_interval_ns // 1_000_000,
            notes=self.notes,
        )

    def ListDevices(self, request: pb2.ListDevicesRequest, context: Any) -> pb2.ListDevicesResponse:
        devices = []
        for collector in self.sampler.collectors:
            for info in collector.devices():
                status, message = self.sampler.device_states.get(info.device, ("ok", ""))
                devices.append(
                    pb2.Device(
                        device=info.device,
                        device_type=info.device_type,
                        name=info.name,
                        vendor=info.vendor,
                        capabilities=pb2.Capabilities(**info.capabilities.as_dict()),
                        collector=info.collector,
                        metadata=info.metadata,
                        status=status,
                        message=message,
                    )
                )
        return pb2.ListDevicesResponse(devices=devices)

    def StreamSamples(self, request: pb2.StreamRequest, context: Any) -> Iterator[pb2.SampleBatch]:
        sub = self.sampler.subscribe(request.interval_ms, request.max_batch or DEFAULT_MAX_BATCH)
        context.add_callback(sub.close)  # the client went away: end this generator
        flush_ns = (request.flush_ms or DEFAULT_FLUSH_MS) * 1_000_000
        try:
            while True:
                taken = sub.take(flush_ns)
                if taken is None:
                    return
                samples, statuses, dropped = taken
                yield pb2.SampleBatch(
                    samples=[_sample(r) for r in samples],
                    statuses=[_status(s) for s in statuses],
                    dropped=dropped,
                )
        finally:
            self.sampler.unsubscribe(sub)

    def Clock(self, request: pb2.ClockRequest, context: Any) -> pb2.ClockResponse:
        return pb2.ClockResponse(monotonic_ns=time.monotonic_ns())

    def Read(self, request: pb2.ReadRequest, context: Any) -> pb2.SampleBatch:
        return pb2.SampleBatch(samples=[_sample(r) for r in self.sampler.read_now()])


class MonitorServer:
    """A sampler and a gRPC server around it; usable in process (tests) or from :func:`main`."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        *,
        bind: str = "127.0.0.1",
        port: int = 0,
        interval_ms: int = 100,
        notes: Sequence[str] = (),
        max_workers: int = 16,
    ) -> None:
        self.bind = bind
        self.port = port
        self.collectors = list(collectors)
        self.sampler = Sampler(self.collectors, interval_ms)
        self._notes = list(notes)
        self._max_workers = max_workers
        self._server: grpc.Server | None = None

    @property
    def address(self) -> str:
        return format_address(self.bind, self.port)

    def start(self) -> int:
        """Start sampling and serving; return the bound port."""
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="ipw-energy-rpc"),
            options=[("grpc.so_reuseport", 0)],
        )
        pb2_grpc.add_EnergyMonitorServicer_to_server(EnergyMonitorServicer(self.sampler, self._notes), server)
        try:
            port = server.add_insecure_port(format_address(self.bind, self.port))
        except RuntimeError as exc:
            port, detail = 0, str(exc)
        else:
            detail = "the address is in use or not local"
        if not port:
            raise TelemetryError(
                f"the energy monitor cannot listen on {format_address(self.bind, self.port)}: {detail}",
                hint="choose another --port (0 picks a free one) or a --bind address of this machine",
            )
        self.port = port
        self.sampler.start()
        server.start()
        self._server = server
        return port

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop sampling, end every stream, stop serving, close the collectors."""
        self.sampler.stop()
        if self._server is not None:
            self._server.stop(grace_s).wait()
            self._server = None
        for collector in self.collectors:
            collector.close()

    def __enter__(self) -> MonitorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipw-energy-monitor",
        description="Stream power samples of this machine's GPUs and CPUs over gRPC.",
        epilog="Example: ipw-energy-monitor --port 0 --interval-ms 10 --collectors auto",
    )
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--interval-ms", type=int, default=100, help="sampling interval in ms (default 100)")
    parser.add_argument(
        "--collectors",
        default="auto",
        help=f"auto, or a comma-separated list of: {', '.join(collector_names())}",
    )
    parser.add_argument("--cpu-tdp-w", type=float, default=None, help="CPU TDP in watts for the estimate collector")
    parser.add_argument(
        "--rapl-root",
        default=None,
        help="powercap root for RAPL (default $IPW_RAPL_ROOT, else /sys/class/powercap)",
    )
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is no longer our parent")
    return parser


def _serve_until_stopped(server: MonitorServer, parent_pid: int | None) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        if parent_pid is not None and os.getppid() != parent_pid:
            break  # the ipw that started us is gone: do not outlive it
    server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``ipw-energy-monitor``; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.interval_ms < 1:
        print("ipw-energy-monitor: error: --interval-ms must be at least 1", file=sys.stderr, flush=True)
        return 2
    collectors: list[Collector] = []
    try:
        collectors, notes = probe_collectors(
            args.collectors, rapl_root=args.rapl_root, cpu_tdp_w=args.cpu_tdp_w, interval_ms=args.interval_ms
        )
        server = MonitorServer(collectors, bind=args.bind, port=args.port, interval_ms=args.interval_ms, notes=notes)
        server.start()
    except IpwError as exc:
        for collector in collectors:
            collector.close()
        print(f"ipw-energy-monitor: error: {exc.one_line()}", file=sys.stderr, flush=True)
        return exc.exit_code
    print(f"listening on {server.address}", flush=True)
    for note in notes:
        print(f"ipw-energy-monitor: note: {note}", file=sys.stderr, flush=True)
    if args.bind not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        print(
            f"ipw-energy-monitor: note: listening on {args.bind}, not loopback: anyone who reaches it can read power samples",
            file=sys.stderr,
            flush=True,
        )
    _serve_until_stopped(server, args.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
