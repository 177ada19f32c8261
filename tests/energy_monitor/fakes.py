"""Stand-ins for hardware this machine lacks, faithful at the library boundary.

- :class:`FakeNvml` builds a module that stands in for ``pynvml`` (NVIDIA's
  nvidia-ml-py bindings to libnvidia-ml): same function names, units
  (milliwatts, millijoules), constants and ``NVMLError(value)`` semantics.
- :class:`FakeAmdSmi` stands in for ROCm's ``amdsmi`` Python bindings.
- :class:`FakePowercap` writes a Linux powercap sysfs tree (the kernel's
  ``intel_rapl`` driver output) into a temporary folder, and advances its
  ``energy_uj`` counters at known power, wrapping at ``max_energy_range_uj``.
- :class:`FakeClock` stands in for ``time.monotonic_ns`` where a collector
  takes ``monotonic_ns=``.

Each fake integrates its power over time. Given a :class:`FakeClock` (the one
the collector under test reads), that time is the clock's: a reading's energy
is then an exact function of its own ``t_ns``, at any machine speed. Without
one it is real monotonic time, for tests that only need counters to move.
"""

from __future__ import annotations

import os
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class FakeClock:
    """A monotonic clock that moves only when read: each call is ``step_ns`` after the one before.

    ``now_ns`` is the instant it last handed out, the one the fake hardware is
    at: a collector stamps ``t_ns = clock()`` and then reads a counter, and the
    counter holds exactly the energy up to ``t_ns``, however long the machine
    paused in between. :meth:`follow` registers hardware that must be brought
    up to each new instant eagerly (files on disk, which the collector reads
    without asking the fake).
    """

    def __init__(self, step_ns: int = 10_000_000, start_ns: int | None = None) -> None:
        self.step_ns = step_ns
        self.start_ns = time.monotonic_ns() if start_ns is None else start_ns
        self.now_ns = self.start_ns
        self._followers: list[Callable[[int], None]] = []
        self._lock = threading.Lock()

    def follow(self, at_ns: Callable[[int], None]) -> None:
        self._followers.append(at_ns)

    def __call__(self) -> int:
        with self._lock:
            self.now_ns += self.step_ns
            for at_ns in self._followers:
                at_ns(self.now_ns)
            return self.now_ns


def _hardware_now(clock: FakeClock | None) -> Callable[[], int]:
    """What a fake reads as "now": the clock's last instant, else real monotonic time."""
    if clock is None:
        return time.monotonic_ns
    return lambda: clock.now_ns


# --------------------------------------------------------------------- NVML --

NVML_ERRORS = {
    1: "Uninitialized",
    3: "Not Supported",
    4: "Insufficient Permissions",
    9: "Driver Not Loaded",
    12: "NVML Shared Library Not Found",
    15: "GPU is lost",
    999: "Unknown Error",
}


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    power_w: float = 150.0
    has_energy_counter: bool = True
    temperature_c: int = 45
    memory_used_bytes: int = 2 << 30
    lost: bool = False
    no_permission: set[str] = field(default_factory=set)  # NVML calls refused with NO_PERMISSION
    energy_mj_at_start: int = 7_000_000  # the counter counts from driver load, not from zero
    t0_ns: int | None = None  # when the counter held energy_mj_at_start; set by FakeNvml

    def energy_mj(self, now_ns: int) -> int:
        assert self.t0_ns is not None
        return self.energy_mj_at_start + int(self.power_w * (now_ns - self.t0_ns) / 1e6)


class FakeNvml:
    """Builds the stand-in ``pynvml`` module for a list of :class:`FakeGpu`, on ``clock``'s time."""

    def __init__(self, gpus: list[FakeGpu], *, init_error: int | None = None, clock: FakeClock | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.initialized = False
        self.now_ns = _hardware_now(clock)
        for gpu in gpus:
            if gpu.t0_ns is None:
                gpu.t0_ns = self.now_ns()
        self.module = self._build()

    def _build(self) -> types.ModuleType:
        fake = self
        m = types.ModuleType("pynvml")

        class NVMLError(Exception):
            def __init__(self, value: int) -> None:
                super().__init__(value)
                self.value = value

            def __str__(self) -> str:
                return NVML_ERRORS.get(self.value, f"NVML Error with code {self.value}")

        m.NVMLError = NVMLError
        m.NVML_ERROR_UNINITIALIZED = 1
        m.NVML_ERROR_NOT_SUPPORTED = 3
        m.NVML_ERROR_NO_PERMISSION = 4
        m.NVML_ERROR_DRIVER_NOT_LOADED = 9
        m.NVML_ERROR_LIBRARY_NOT_FOUND = 12
        m.NVML_ERROR_GPU_IS_LOST = 15
        m.NVML_ERROR_UNKNOWN = 999
        m.NVML_TEMPERATURE_GPU = 0

        def gpu_for(handle: FakeGpu, call: str) -> FakeGpu:
            if not fake.initialized:
                raise NVMLError(1)
            if handle.lost:
                raise NVMLError(15)
            if call in handle.no_permission:
                raise NVMLError(4)
            return handle

        def nvmlInit() -> None:
            if fake.init_error is not None:
                raise NVMLError(fake.init_error)
            fake.initialized = True

        def nvmlShutdown() -> None:
            if not fake.initialized:
                raise NVMLError(1)
            fake.initialized = False

        def nvmlSystemGetDriverVersion() -> str:
            if not fake.initialized:
                raise NVMLError(1)
            return "580.159.04"

        def nvmlDeviceGetCount() -> int:
            if not fake.initialized:
                raise NVMLError(1)
            return len(fake.gpus)

        def nvmlDeviceGetHandleByIndex(index: int) -> FakeGpu:
            if not fake.initialized:
                raise NVMLError(1)
            return fake.gpus[index]

        def nvmlDeviceGetUUID(handle: FakeGpu) -> str:
            return gpu_for(handle, "nvmlDeviceGetUUID").uuid

        def nvmlDeviceGetName(handle: FakeGpu) -> str:
            return gpu_for(handle, "nvmlDeviceGetName").name

        def nvmlDeviceGetPowerUsage(handle: FakeGpu) -> int:  # milliwatts
            return int(gpu_for(handle, "nvmlDeviceGetPowerUsage").power_w * 1000)

        def nvmlDeviceGetTotalEnergyConsumption(handle: FakeGpu) -> int:  # millijoules
            gpu = gpu_for(handle, "nvmlDeviceGetTotalEnergyConsumption")
            if not gpu.has_energy_counter:  # pre-Volta GPUs
                raise NVMLError(3)
            return gpu.energy_mj(fake.now_ns())

        def nvmlDeviceGetTemperature(handle: FakeGpu, sensor: int) -> int:
            return gpu_for(handle, "nvmlDeviceGetTemperature").temperature_c

        def nvmlDeviceGetMemoryInfo(handle: FakeGpu, version: int | None = None) -> types.SimpleNamespace:
            gpu = gpu_for(handle, "nvmlDeviceGetMemoryInfo")
            total = 80 << 30
            return types.SimpleNamespace(total=total, free=total - gpu.memory_used_bytes, used=gpu.memory_used_bytes)

        for fn in (nvmlInit, nvmlShutdown, nvmlSystemGetDriverVersion, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex, nvmlDeviceGetUUID,
                   nvmlDeviceGetName, nvmlDeviceGetPowerUsage, nvmlDeviceGetTotalEnergyConsumption,
                   nvmlDeviceGetTemperature, nvmlDeviceGetMemoryInfo):
            setattr(m, fn.__name__, fn)
        return m


# ------------------------------------------------------------------- amdsmi --

@dataclass
class FakeAmdGpu:
    market_name: str = "AMD Instinct MI300X"
    uuid: str = "a1ff74a1-0000-1000-80d4-4f0f2d1f8a11"
    power_w: float = 300.0
    has_energy_counter: bool = True
    counter_resolution_uj: float = 15.259
    no_permission: bool = False
    t0_ns: int | None = None  # when the accumulator was zero; set by FakeAmdSmi

    def ticks(self, now_ns: int) -> int:
        assert self.t0_ns is not None
        return int(self.power_w * (now_ns - self.t0_ns) / 1e3 / self.counter_resolution_uj)


class FakeAmdSmi:
    """Builds the stand-in ``amdsmi`` module for a list of :class:`FakeAmdGpu`, on ``clock``'s time."""

    STATUS_NOT_SUPPORTED = 2
    STATUS_NO_PERM = 10

    def __init__(self, gpus: list[FakeAmdGpu], *, clock: FakeClock | None = None) -> None:
        self.gpus = gpus
        self.now_ns = _hardware_now(clock)
        for gpu in gpus:
            if gpu.t0_ns is None:
                gpu.t0_ns = self.now_ns()
        self.module = self._build()

    def _build(self) -> types.ModuleType:
        fake = self
        m = types.ModuleType("amdsmi")

        class AmdSmiException(Exception):
            pass

        class AmdSmiLibraryException(AmdSmiException):
            def __init__(self, err_code: int) -> None:
                super().__init__(err_code)
                self.err_code = err_code

            def get_error_code(self) -> int:
                return self.err_code

        m.AmdSmiException = AmdSmiException
        m.AmdSmiLibraryException = AmdSmiLibraryException
        m.AmdSmiRetCode = types.SimpleNamespace(STATUS_SUCCESS=0, STATUS_NOT_SUPPORTED=2, STATUS_NO_PERM=10)
        m.AmdSmiTemperatureType = types.SimpleNamespace(EDGE=0, HOTSPOT=1)
        m.AmdSmiTemperatureMetric = types.SimpleNamespace(CURRENT=0)
        m.AmdSmiMemoryType = types.SimpleNamespace(VRAM=0)

        def check(gpu: FakeAmdGpu) -> FakeAmdGpu:
            if gpu.no_permission:
                raise AmdSmiLibraryException(10)
            return gpu

        m.amdsmi_init = lambda *flags: None
        m.amdsmi_shut_down = lambda: None
        m.amdsmi_get_processor_handles = lambda: list(fake.gpus)
        m.amdsmi_get_gpu_asic_info = lambda h: {"market_name": check(h).market_name, "vendor_name": "AMD"}
        m.amdsmi_get_gpu_device_uuid = lambda h: check(h).uuid
        m.amdsmi_get_temp_metric = lambda h, sensor, metric: 52
        m.amdsmi_get_gpu_memory_usage = lambda h, mem_type: 4 << 30

        def amdsmi_get_power_info(h: FakeAmdGpu) -> dict[str, object]:
            gpu = check(h)
            # ROCm 6 on MI300: the average is "N/A", the current socket power is set
            return {"current_socket_power": gpu.power_w, "average_socket_power": "N/A", "power_limit": 750}

        def amdsmi_get_energy_count(h: FakeAmdGpu) -> dict[str, object]:
            gpu = check(h)
            if not gpu.has_energy_counter:
                raise AmdSmiLibraryException(2)
            now_ns = fake.now_ns()
            return {"energy_accumulator": gpu.ticks(now_ns), "counter_resolution": gpu.counter_resolution_uj,
                    "timestamp": now_ns}

        m.amdsmi_get_power_info = amdsmi_get_power_info
        m.amdsmi_get_energy_count = amdsmi_get_energy_count
        return m


# ----------------------------------------------------------------- powercap --

@dataclass
class Zone:
    key: str           # "intel-rapl:0" or "intel-rapl:0:1"
    name: str          # "package-0", "core", "uncore", "dram", "psys"
    power_w: float
    max_range_uj: int
    counter_uj: int = 0
    total_uj: int = 0  # truth: everything written since the start, unwrapped


class FakePowercap:
    """A powercap tree laid out as the kernel does, its counters advanced on demand, by a clock or a thread.

    ``root/devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:1/…``
    holds the files; ``root/intel-rapl:0`` and ``root/intel-rapl:0:1`` are the
    class links, as in ``/sys/class/powercap``. Files are replaced atomically,
    as a kernel attribute read never sees half a number. Given a ``clock``, the
    counters are brought up to each instant it hands out, before the collector
    that stamped it reads them.
    """

    def __init__(self, root: Path, zones: list[Zone], *, clock: FakeClock | None = None) -> None:
        self.root = root
        self.zones = {z.key: z for z in zones}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._files: dict[str, Path] = {}
        base = root / "devices" / "virtual" / "powercap" / "intel-rapl"
        base.mkdir(parents=True)
        (base / "enabled").write_text("1\n")
        (root / "intel-rapl").symlink_to(base)
        for zone in zones:
            parts = zone.key.split(":")
            path = base / f"intel-rapl:{parts[1]}" if len(parts) == 2 else base / f"intel-rapl:{parts[1]}" / zone.key
            path.mkdir(parents=True, exist_ok=True)
            (path / "name").write_text(zone.name + "\n")
            (path / "max_energy_range_uj").write_text(f"{zone.max_range_uj}\n")
            (path / "enabled").write_text("1\n")
            (root / zone.key).symlink_to(path)
            self._files[zone.key] = path.resolve() / "energy_uj"
            self._write(zone)
        if clock is not None:
            self._t_ns = clock.now_ns
            clock.follow(self._at)

    def path(self, key: str) -> Path:
        return (self.root / key).resolve()

    def _write(self, zone: Zone, atomic: bool = True) -> None:
        target, data = self._files[zone.key], f"{zone.counter_uj}\n".encode()
        if not atomic:  # overwritten, never emptied: freeing the file's block is slow on some disks
            fd = os.open(target, os.O_WRONLY)
            try:
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            finally:
                os.close(fd)
            return
        tmp = target.with_name(".energy_uj.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def _at(self, t_ns: int) -> None:
        # In place (a rename costs milliseconds): the collector that reads the clock reads the files after it returns.
        dt_ns, self._t_ns = t_ns - self._t_ns, t_ns
        self.advance_ns(dt_ns, atomic=False)

    def advance(self, dt_s: float) -> None:
        """Add ``power_w * dt_s`` to every zone, wrapping like the hardware counter."""
        self.advance_ns(round(dt_s * 1e9))

    def advance_ns(self, dt_ns: int, atomic: bool = True) -> None:
        with self._lock:
            for zone in self.zones.values():
                step_uj = round(zone.power_w * dt_ns / 1e3)
                zone.total_uj += step_uj
                zone.counter_uj = (zone.counter_uj + step_uj) % (zone.max_range_uj + 1)
                self._write(zone, atomic)

    def run(self, step_s: float = 0.003) -> None:
        """Advance in real time on a background thread until :meth:`halt`."""
        def loop() -> None:
            last_ns = time.monotonic_ns()
            while not self._stop.wait(step_s):
                now_ns = time.monotonic_ns()
                self.advance_ns(now_ns - last_ns)
                last_ns = now_ns

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="fake-powercap", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def truth_j(self, key: str) -> float:
        with self._lock:
            return self.zones[key].total_uj / 1e6
