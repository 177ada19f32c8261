"""An estimate of CPU power when nothing can be measured: utilisation × TDP.

Every reading is ``source="estimated"`` on device ``cpu:estimate``: it is a
model, never a measurement, and ipw's reports say so. The model is

    energy_j = tdp_w × (busy CPU seconds since start) / logical CPUs

where busy seconds come from the kernel's CPU time accounting (/proc/stat, or
psutil elsewhere). The kernel counts CPU time in ticks (10 ms), so a short
interval can see a whole tick on every CPU, more busy time than it lasted, and
a counter can step back. Each reading therefore credits at most what the CPUs
could have done in the time since the last one (``elapsed × cpu_count`` busy
seconds); the rest waits, up to :data:`MAX_LAG_S` per CPU, and is credited in
later intervals. So power never exceeds the TDP, energy never decreases, and the
cumulative energy still follows the model, a tick late at most. ``power_w`` is
that energy's slope over a trailing window (``window_ms``).

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
from typing import Callable

from ipw.errors import CollectorError, ConfigError

from .base import Capabilities, Collector, CollectorOptions, DeviceInfo, Reading

__all__ = ["EstimatedCpuCollector", "resolve_tdp", "cpu_model_name", "TDP_BY_MODEL", "DEFAULT_W_PER_CPU",
           "MAX_LAG_S"]

DEVICE_ID = "cpu:estimate"
DEFAULT_W_PER_CPU = 5.0
"""Watts per logical CPU when the model is unknown: a mid-range server core at full load."""

MAX_LAG_S = 1.0
"""Busy seconds per CPU held for later intervals: the kernel may account a busy
tickless (nohz_full) CPU's time late, by up to the 1 Hz remote tick. Busy time
beyond that is no CPU's work and is dropped, never turned into power."""

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

    On Linux it reads the first line of /proc/stat (or ``proc_stat``: a file in
    its format) through a descriptor kept open (about 20 us: cheap enough for
    100 Hz); elsewhere it asks psutil. Idle, I/O wait and time stolen by a
    hypervisor are not work; guest time is already inside user time.
    """

    def __init__(self, proc_stat: str | None = None) -> None:
        self._fd: int | None = None
        path = proc_stat or ("/proc/stat" if sys.platform.startswith("linux") else None)
        if path is not None:
            try:
                self._fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                if proc_stat is not None:  # asked for this file: no silent fallback to the real machine
                    raise CollectorError(f"cannot read CPU times from {proc_stat}: {exc.strerror}") from exc
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
    """``cpu:estimate``: CPU power modelled from utilisation and TDP, always ``estimated``.

    ``proc_stat`` and ``monotonic_ns`` replace the kernel's CPU time file and
    clock (tests feed them pathological readings); by default they are the real ones.
    """

    name = "estimate"
    fallback = True  # a model, not a measurement: only when nothing can be measured

    @classmethod
    def from_options(cls, options: CollectorOptions) -> EstimatedCpuCollector:
        return cls(options.cpu_tdp_w)

    def __init__(
        self,
        tdp_w: float | None = None,
        *,
        model_name: str | None = None,
        cpu_count: int | None = None,
        window_ms: int = 200,
        proc_stat: str | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__()
        self._tdp_arg = tdp_w
        self._model_arg = model_name
        self._cpu_count_arg = cpu_count
        self._window_ns = window_ms * 1_000_000
        self._proc_stat = proc_stat
        self._monotonic_ns = monotonic_ns
        self.tdp_w = 0.0
        self.tdp_source = ""
        self.model = ""
        self.cpu_count = 1
        self._busy_last_s = 0.0  # the highest busy-seconds counter seen
        self._pending_s = 0.0  # busy seconds seen but not yet credited
        self._last_t_ns = 0
        self._energy_j = 0.0
        self._clock: _BusyClock | None = None
        self._history: deque[tuple[int, float]] = deque()
        self._info: DeviceInfo | None = None

    def _open(self) -> None:
        import psutil

        self.cpu_count = self._cpu_count_arg or psutil.cpu_count(logical=True) or 1
        self.model = self._model_arg if self._model_arg is not None else cpu_model_name()
        self.tdp_w, self.tdp_source = resolve_tdp(self._tdp_arg, self.model, self.cpu_count)
        self._clock = _BusyClock(self._proc_stat)
        self._busy_last_s = self._clock.busy_seconds()
        self._last_t_ns = self._monotonic_ns()
        self._history.append((self._last_t_ns, 0.0))
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
        assert self._clock is not None
        t_ns = max(self._monotonic_ns(), self._last_t_ns)
        busy_s = self._clock.busy_seconds()
        # A counter that stepped back adds nothing, and counts again only once past its highest value.
        self._pending_s = min(self._pending_s + max(0.0, busy_s - self._busy_last_s), MAX_LAG_S * self.cpu_count)
        self._busy_last_s = max(self._busy_last_s, busy_s)
        credit_s = min(self._pending_s, (t_ns - self._last_t_ns) / 1e9 * self.cpu_count)
        self._pending_s -= credit_s
        self._last_t_ns = t_ns
        self._energy_j += self.tdp_w * credit_s / self.cpu_count
        energy_j = self._energy_j
        history = self._history
        history.append((t_ns, energy_j))
        # Keep the newest entry at least one window old as the slope's start.
        while len(history) > 2 and t_ns - history[1][0] >= self._window_ns:
            history.popleft()
        t0_ns, e0_j = history[0]
        # Each interval's energy is at most tdp_w x its length, so is the slope; min() only absorbs rounding.
        power_w = min(self.tdp_w, (energy_j - e0_j) * 1e9 / (t_ns - t0_ns)) if t_ns > t0_ns else 0.0
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
