"""What every power collector is: a vendor-neutral base and the records it yields.

A collector opens one kind of hardware (NVML, amdsmi, RAPL, powermetrics, or
the utilisation model), lists its devices and reads them. It never prints:
what goes wrong becomes an :class:`ipw.errors.CollectorError` (or one of the
two subclasses below) whose message says what failed and whose hint says what
to do. A device that goes away while being read is *reported* through
:meth:`Collector.take_statuses`, never raised out of :meth:`Collector.read`.

``energy_j`` in a :class:`Reading` is cumulative since the collector opened
the device; ``source`` says where it comes from: ``measured`` (a hardware
counter or sensor), ``derived`` (integrated from measured power) or
``estimated`` (a model, not a measurement).

What ipw's energy analysis needs to bound its error (its sensor model, see
:mod:`ipw.analyses.energy`) a device may declare in ``DeviceInfo.metadata``,
as decimal strings: ``counter_update_s`` (how often the hardware refreshes the
energy counter, so how stale a read can be), ``power_average_s`` (the window a
power reading averages over) and ``model_error_fraction`` (for an estimate,
its relative error). Where a device says nothing, the analysis uses defaults
by collector.
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ipw.errors import CollectorError, IpwError

__all__ = [
    "Capabilities",
    "Collector",
    "CollectorOptions",
    "CounterTotal",
    "DeviceInfo",
    "DeviceLostError",
    "DevicePermissionError",
    "DeviceStatus",
    "GpuState",
    "PowerIntegrator",
    "Reading",
    "SOURCES",
    "DEVICE_TYPES",
]

SOURCES = ("measured", "derived", "estimated")
DEVICE_TYPES = ("gpu", "cpu", "dram", "soc", "system")


class DevicePermissionError(CollectorError):
    """A device exists but this process is not allowed to read it."""


class DeviceLostError(CollectorError):
    """A device vanished while being read (fell off the bus, driver reset)."""


@dataclass(frozen=True)
class Capabilities:
    energy_counter: bool = False
    power: bool = False
    temperature: bool = False
    memory: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {
            "energy_counter": self.energy_counter,
            "power": self.power,
            "temperature": self.temperature,
            "memory": self.memory,
        }


@dataclass(frozen=True)
class DeviceInfo:
    """A readable device: a stable id (``nvidia:0``, ``rapl:package-0``) and what it offers."""

    device: str
    device_type: str
    name: str = ""
    vendor: str = ""
    capabilities: Capabilities = Capabilities()
    collector: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of one device at ``t_ns`` (the monitor's ``time.monotonic_ns()``)."""

    device: str
    t_ns: int
    power_w: float | None = None
    energy_j: float | None = None
    source: str = "measured"
    temperature_c: float | None = None
    memory_used_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A change in a device's state: ``lost``, ``error`` or back to ``ok``."""

    device: str
    t_ns: int
    status: str
    message: str = ""


class PowerIntegrator:
    """Joules from successive power readings, by the trapezoid rule."""

    __slots__ = ("energy_j", "_last_t_ns", "_last_power_w")

    def __init__(self) -> None:
        self.energy_j = 0.0
        self._last_t_ns: int | None = None
        self._last_power_w = 0.0

    def add(self, t_ns: int, power_w: float) -> float:
        """Account for the interval since the previous reading; return the total so far."""
        if self._last_t_ns is not None and t_ns > self._last_t_ns:
            self.energy_j += (self._last_power_w + power_w) * 0.5 * (t_ns - self._last_t_ns) / 1e9
        self._last_t_ns = t_ns
        self._last_power_w = power_w
        return self.energy_j


class CounterTotal:
    """The amount a hardware counter advanced since its first read, across wraps.

    ``range_max`` is the largest value the counter holds before it restarts at
    zero (RAPL's ``max_energy_range_uj``). Without one, a counter that goes
    backwards was reset (a driver reload) and restarted from zero.
    """

    __slots__ = ("total", "range_max", "_last")

    def __init__(self, range_max: int | None = None) -> None:
        self.total = 0
        self.range_max = range_max
        self._last: int | None = None

    def update(self, raw: int) -> int:
        if self._last is not None:
            delta = raw - self._last
            if delta < 0:
                delta = delta % (self.range_max + 1) if self.range_max else raw
            self.total += delta
        self._last = raw
        return self.total


@dataclass
class GpuState:
    """One GPU as a vendor collector tracks it: its description, handle, counter and health."""

    info: DeviceInfo
    handle: Any
    counter: CounterTotal | None
    integrator: PowerIntegrator = field(default_factory=PowerIntegrator)
    state: str = "ok"


@dataclass(frozen=True)
class CollectorOptions:
    """The energy monitor's settings a collector may be built from (see :meth:`Collector.from_options`)."""

    rapl_root: str | None = None
    cpu_tdp_w: float | None = None
    interval_ms: int = 100


class Collector(abc.ABC):
    """Base of every collector: probe once, list devices, read, close.

    Subclasses implement :meth:`_open` (import the vendor library lazily, find
    the devices, raise a typed error when it cannot), :meth:`devices` and
    :meth:`read`, and may extend :meth:`close`. The monitor builds each one
    with :meth:`from_options`; ``platforms`` and ``fallback`` say when ``auto``
    tries it.
    """

    name: ClassVar[str] = ""
    platforms: ClassVar[frozenset[str] | None] = None  # the sys.platform values where auto tries it (None: all)
    fallback: ClassVar[bool] = False  # auto uses it only when no other collector measures anything

    @classmethod
    def from_options(cls, options: CollectorOptions) -> Collector:
        """A new, not yet probed collector for the monitor's settings; one that reads none is built bare."""
        return cls()

    def __init__(self) -> None:
        self._probed = False
        self._probe_error: IpwError | None = None
        self._statuses: list[DeviceStatus] = []
        self._status_lock = threading.Lock()
        self.notes: list[str] = []

    def probe(self) -> bool:
        """Open the hardware once; True when it can be read. Never raises."""
        if not self._probed:
            self._probed = True
            try:
                self._open()
            except IpwError as exc:
                self._probe_error = exc
        return self._probe_error is None

    @property
    def available(self) -> bool:
        return self.probe()

    @property
    def unavailable_reason(self) -> str | None:
        """Why the collector cannot be used (message and hint), or None."""
        self.probe()
        return self._probe_error.one_line() if self._probe_error else None

    def require(self) -> None:
        """Raise the error that keeps this collector from working, if any."""
        if not self.probe():
            assert self._probe_error is not None
            raise self._probe_error

    def take_statuses(self) -> list[DeviceStatus]:
        """The device state changes since the last call."""
        if not self._statuses:  # the common case, without taking the lock
            return []
        with self._status_lock:
            out, self._statuses = self._statuses, []
        return out

    def _report(self, device: str, t_ns: int, status: str, message: str = "") -> None:
        with self._status_lock:
            self._statuses.append(DeviceStatus(device, t_ns, status, message))

    @abc.abstractmethod
    def _open(self) -> None:
        """Import the backend, find the devices; raise a CollectorError subclass when impossible."""

    @abc.abstractmethod
    def devices(self) -> list[DeviceInfo]:
        """The devices this collector reads (after a successful probe)."""

    @abc.abstractmethod
    def read(self) -> list[Reading]:
        """One reading per readable device; lost devices are skipped and reported."""

    def read_now(self) -> list[Reading]:
        """A reading of everything the devices offer, taken at once: the edge of a measured window.

        A collector that reads some values less often than every tick (NVML's
        counter) reads them all here.
        """
        return self.read()

    def close(self) -> None:
        """Release the backend. Safe to call more than once."""
