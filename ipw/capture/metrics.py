"""Prometheus metrics of a capture in progress, served as text on ``http://HOST:PORT/metrics``.

:class:`CaptureMetrics` is a runner observer (``Runner(observers=[…])``): the
runner hands it its :class:`~ipw.capture.config.Progress` once and every
telemetry event as it arrives. Counters are read from the progress at scrape
time, so a token costs the exporter nothing. Exposed:

    ipw_tokens_total                       output tokens streamed so far
    ipw_queries_completed_total            queries that ended well (warm-ups included)
    ipw_queries_failed_total               queries that failed for good
    ipw_power_watts{device=…}              the device's latest power reading
    ipw_energy_joules_total{device=…}      energy since the capture began: the device's
                                           counter where it has one, else its power
                                           integrated by the trapezoid rule

These are live indications for a dashboard; the analyses over the ledger are
the results. ``prometheus-client`` comes with the ``metrics`` extra. The
server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from ..errors import BackendMissingError, UsageError

__all__ = ["CaptureMetrics", "MetricsServer", "prometheus_available"]


def prometheus_available() -> bool:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def _prometheus() -> Any:
    return BackendMissingError.require("prometheus_client", "--metrics-port", "metrics")


class CaptureMetrics:
    """Runner observer that turns progress and power samples into Prometheus metrics."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._lock = threading.Lock()
        self._power_w: dict[str, float] = {}
        self._energy_j: dict[str, float] = {}
        self._counter_start: dict[str, float] = {}
        self._last: dict[str, tuple[int, float | None]] = {}  # device -> (t_ns, power_w) of its previous sample

    def attach(self, progress: Any) -> None:
        self._progress = progress

    def observe(self, event: Any) -> None:
        device = getattr(event, "device", None)
        t_ns = getattr(event, "t_ns", None)
        if device is None or t_ns is None or not hasattr(event, "power_w"):
            return  # device_seen, telemetry_status: nothing to count
        power, counter = event.power_w, event.energy_j
        with self._lock:
            if power is not None:
                self._power_w[device] = power
            if counter is not None:
                start = self._counter_start.setdefault(device, counter)
                self._energy_j[device] = max(self._energy_j.get(device, 0.0), counter - start)
            elif power is not None:
                previous = self._last.get(device)
                if previous is not None and previous[1] is not None and t_ns > previous[0]:
                    self._energy_j[device] = self._energy_j.get(device, 0.0) + (
                        (previous[1] + power) / 2 * (t_ns - previous[0]) / 1e9)
                self._energy_j.setdefault(device, 0.0)
            self._last[device] = (t_ns, power)

    def energy_j(self) -> dict[str, float]:
        """Joules per device since the capture began (what ``ipw_energy_joules_total`` shows)."""
        with self._lock:
            return dict(self._energy_j)

    def collect(self) -> Iterator[Any]:
        """The prometheus-client collector protocol: called on every scrape."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        progress = self._progress
        yield CounterMetricFamily("ipw_tokens", "Output tokens streamed so far.", value=progress.tokens if progress else 0)
        yield CounterMetricFamily("ipw_queries_completed", "Queries that completed.", value=progress.done if progress else 0)
        yield CounterMetricFamily("ipw_queries_failed", "Queries that failed for good.",
                                  value=progress.failed if progress else 0)
        power = GaugeMetricFamily("ipw_power_watts", "Latest power reading per device.", labels=["device"])
        energy = CounterMetricFamily("ipw_energy_joules", "Energy per device since the capture began.",
                                     labels=["device"])
        with self._lock:
            for device, watts in sorted(self._power_w.items()):
                power.add_metric([device], watts)
            for device, joules in sorted(self._energy_j.items()):
                energy.add_metric([device], joules)
        yield power
        yield energy


class MetricsServer:
    """Serves a :class:`CaptureMetrics` at ``/metrics`` on a background thread; a context manager."""

    def __init__(self, metrics: CaptureMetrics, port: int, host: str = "127.0.0.1") -> None:
        prometheus = _prometheus()
        self.registry = prometheus.CollectorRegistry(auto_describe=False)
        self.registry.register(metrics)
        registry, generate = self.registry, prometheus.generate_latest
        content_type = prometheus.CONTENT_TYPE_LATEST

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server spelling)
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served")
                    return
                body = generate(registry)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # the CLI owns stderr
                pass

        server_class = ThreadingHTTPServer
        if ":" in host:  # an IPv6 address such as ::1

            class server_class(ThreadingHTTPServer):  # type: ignore[no-redef]  # noqa: N801
                address_family = socket.AF_INET6

        try:
            self._server = server_class((host, port), Handler)
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on {host}:{port} ({exc.strerror or exc})",
                             hint="choose a free port with --metrics-port, or 0 for any") from None
        self._server.daemon_threads = True
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="ipw-metrics", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def __enter__(self) -> MetricsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
