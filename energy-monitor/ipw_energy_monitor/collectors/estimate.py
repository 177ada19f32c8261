"""An estimate of CPU power when nothing can be measured: utilisation × TDP.

Every reading is ``source="estimated"`` on device ``cpu:estimate``: it is a
model, never a measurement, and ipw's reports say so. The model is

    energy_j = tdp_w × (busy CPU seconds since start) / logical CPUs

where busy seconds come from the kernel's CPU time accounting (psutil), so the
cumulative energy is exact *for the model* at any sampling rate; ``power_w`` is
that energy's slope over a trailing window (``window_ms``), because the
kernel counts CPU time in 10 ms ticks.

The TDP is, in order: ``--cpu-tdp-w``; a match of the CPU's model name in
:data:`TDP_BY_MODEL`; else :data:`DEFAULT_W_PER_CPU` watts per logical CPU.
Where it came from is recorded in the device's metadata (``tdp_source``).
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from collections import deque
from pathlib import Path

from ipw.errors import ConfigError

from .base import Capabilities, Collector, DeviceInfo, Reading

__all__ = ["EstimatedCpuCollector", "resolve_tdp", "cpu_model_name", "TDP_BY_MODEL", "DEFAULT_W_PER_CPU"]

DEVICE_ID = "cpu:estimate"
DEFAULT_W_PER_CPU = 5.0
"""Watts per logical CPU when the model is unknown: a mid-range server core at full load."""

# (pattern on the model name, thermal design power in W, from the vendors' spec sheets)
TDP_BY_MODEL: tuple[tuple[str, float], ...] = (
    (r"Xeon.*Platinum 8480", 350.0),
    (r"Xeon.*Platinum 8380", 270.0),
    (r"Xeon.*Gold 6338", 205.0),
    (r"EPYC 9654", 360.0),
    (r"EPYC 7763", 280.0),
    (r"EPYC 7742", 225.0),
    (r"Core.*i9-13900K", 125.0),
    (r"Core.*i7-12700K", 125.0),
    (r"Ryzen 9 7950X", 170.0),
    (r"Ryzen 7 5800X", 105.0),
)


def cpu_model_name() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    return platform.processor() or platform.machine()


def resolve_tdp(tdp_w: float | None, model: str, cpu_count: int) -> tuple[float, str]:
    """The TDP to use and where it came from (``flag``, ``lookup: PATTERN`` or ``default: …``)."""
    if tdp_w is not None:
        if tdp_w <= 0:
            raise ConfigError(f"--cpu-tdp-w must be positive, got {tdp_w}", hint="pass the CPU's TDP in watts, e.g. --cpu-tdp-w 65")
        return float(tdp_w), "flag"
    for pattern, watts in TDP_BY_MODEL:
        if re.search(pattern, model, re.IGNORECASE):
            return watts, f"lookup: {pattern}"
    return DEFAULT_W_PER_CPU * cpu_count, f"default: {DEFAULT_W_PER_CPU:g} W x {cpu_count} logical CPUs"


class _BusyClock:
    """Seconds the machine's CPUs spent working, summed over CPUs.

    On Linux it reads the first line of /proc/stat through a descriptor kept
    open (about 20 us: cheap enough for 100 Hz); elsewhere it asks psutil.
    Idle, I/O wait and time stolen by a hypervisor are not work; guest time is
    already inside user time.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        if sys.platform.startswith("linux"):
            try:
                self._fd = os.open("/proc/stat", os.O_RDONLY)
            except OSError:
                self._fd = None
        self._tick_s = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01

    def busy_seconds(self) -> float:
        if self._fd is not None:
            # "cpu  user nice system idle iowait irq softirq steal guest guest_nice", in clock ticks
            fields = os.pread(self._fd, 256, 0).split(b"\n", 1)[0].split()
            user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[1:8])
            return (user + nice + system + irq + softirq) * self._tick_s
        import psutil

        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0) + getattr(times, "steal", 0.0)
        return sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0) - idle

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class EstimatedCpuCollector(Collector):
    """``cpu:estimate``: CPU power modelled from utilisation and TDP, always ``estimated``."""

    name = "estimate"

    def __init__(
        self,
        tdp_w: float | None = None,
        *,
        model_name: str | None = None,
        cpu_count: int | None = None,
        window_ms: int = 200,
    ) -> None:
        super().__init__()
        self._tdp_arg = tdp_w
        self._model_arg = model_name
        self._cpu_count_arg = cpu_count
        self._window_ns = window_ms * 1_000_000
        self.tdp_w = 0.0
        self.tdp_source = ""
        self.model = ""
        self.cpu_count = 1
        self._busy0 = 0.0
        self._clock: _BusyClock | None = None
        self._history: deque[tuple[int, float]] = deque()
        self._info: DeviceInfo | None = None

    def _open(self) -> None:
        import psutil

        self.cpu_count = self._cpu_count_arg or psutil.cpu_count(logical=True) or 1
        self.model = self._model_arg if self._model_arg is not None else cpu_model_name()
        self.tdp_w, self.tdp_source = resolve_tdp(self._tdp_arg, self.model, self.cpu_count)
        self._clock = _BusyClock()
        self._busy0 = self._clock.busy_seconds()
        self._history.append((time.monotonic_ns(), 0.0))
        self._info = DeviceInfo(
            device=DEVICE_ID,
            device_type="cpu",
            name=self.model,
            vendor=_vendor(self.model),
            capabilities=Capabilities(power=True),
            collector=self.name,
            metadata={
                "tdp_w": f"{self.tdp_w:g}",
                "tdp_source": self.tdp_source,
                "cpu_count": str(self.cpu_count),
                "model": "energy_j = tdp_w * busy_cpu_seconds / cpu_count",
            },
        )

    def devices(self) -> list[DeviceInfo]:
        return [self._info] if self._info is not None else []

    def read(self) -> list[Reading]:
        t_ns = time.monotonic_ns()
        assert self._clock is not None
        energy_j = self.tdp_w * (self._clock.busy_seconds() - self._busy0) / self.cpu_count
        history = self._history
        history.append((t_ns, energy_j))
        # Keep the newest entry at least one window old as the slope's start.
        while len(history) > 2 and t_ns - history[1][0] >= self._window_ns:
            history.popleft()
        t0_ns, e0_j = history[0]
        power_w = (energy_j - e0_j) * 1e9 / (t_ns - t0_ns) if t_ns > t0_ns else 0.0
        return [Reading(DEVICE_ID, t_ns, power_w, energy_j, "estimated")]

    def close(self) -> None:
        if self._clock is not None:
            self._clock.close()
            self._clock = None


def _vendor(model: str) -> str:
    for vendor in ("Intel", "AMD", "Apple", "ARM", "Ampere"):
        if vendor.lower() in model.lower():
            return vendor
    return ""
