"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py).

Energy comes from ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since
the driver loaded; Volta and later) and is ``measured``. Where a GPU lacks that
counter, power from ``nvmlDeviceGetPowerUsage`` (milliwatts) is integrated by
the trapezoid rule and the energy is ``derived``.

Power is read every tick; the energy counter, temperature and memory every
``counter_interval_ms`` (100 ms), and only those readings carry ``energy_j``.
On an H200 the counter advances about ten times a second and one read of it
costs about 4 ms of CPU (power: about 1 us), so reading it at 100 Hz would
burn nearly half a core for no new information. Only the GPUs that
``CUDA_VISIBLE_DEVICES`` exposes are read; device ids use NVML's index (the one
``nvidia-smi`` shows), so they stay stable whatever that variable says.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable

from ipw.errors import BackendMissingError, CollectorError

from .base import (
    GpuState,
    Capabilities,
    Collector,
    CounterTotal,
    DeviceInfo,
    DeviceLostError,
    DevicePermissionError,
    Reading,
)

__all__ = ["NvmlCollector", "visible_indices", "nvml_error"]

COUNTER_INTERVAL_MS = 100


def visible_indices(spec: str | None, uuids: list[str]) -> list[int]:
    """NVML indices of the GPUs a ``CUDA_VISIBLE_DEVICES`` value exposes, in its order.

    Entries are indices or ``GPU-`` UUIDs (a unique prefix is enough). Like
    CUDA, the list ends at the first entry that names no GPU. ``None`` (the
    variable unset) exposes every GPU.
    """
    if spec is None:
        return list(range(len(uuids)))
    out: list[int] = []
    for token in spec.split(","):
        token = token.strip()
        if token.lstrip("-").isdigit():
            index = int(token)
            if not 0 <= index < len(uuids):
                break
        elif token.upper().startswith("GPU-"):
            matches = [i for i, uuid in enumerate(uuids) if uuid.lower().startswith(token.lower())]
            if len(matches) != 1:
                break
            index = matches[0]
        else:  # empty, MIG-… or garbage: CUDA stops here
            break
        if index not in out:
            out.append(index)
    return out


def nvml_error(nvml: Any, exc: Exception, call: str, device: str = "NVML") -> CollectorError:
    """Map an ``NVMLError`` onto the typed error that explains it."""
    code = getattr(exc, "value", None)
    if code == nvml.NVML_ERROR_NO_PERMISSION:
        return DevicePermissionError(
            f"{device}: {call} was refused by NVML (Insufficient Permissions)",
            hint="run the energy monitor as a user allowed to query the GPU (check that 'nvidia-smi -q -d POWER' "
            "works for that user; on locked-down hosts it needs root or the group owning /dev/nvidia*)",
        )
    if code == nvml.NVML_ERROR_GPU_IS_LOST:
        return DeviceLostError(
            f"{device}: the GPU is lost (NVML_ERROR_GPU_IS_LOST from {call}): it fell off the bus or its driver reset",
            hint="look for Xid errors in 'dmesg'; the GPU needs a reset or a reboot; readings continue without it",
        )
    if code in (nvml.NVML_ERROR_LIBRARY_NOT_FOUND, nvml.NVML_ERROR_DRIVER_NOT_LOADED):
        return CollectorError(
            f"NVML cannot start: {exc}",
            hint="install or load the NVIDIA driver ('nvidia-smi' must work) on this machine",
        )
    return CollectorError(f"{device}: NVML {call} failed: {exc}")


class NvmlCollector(Collector):
    """Energy, power, temperature and memory of the visible NVIDIA GPUs."""

    name = "nvml"

    def __init__(
        self,
        visible_devices: str | None = None,
        *,
        use_env: bool = True,
        counter_interval_ms: int = COUNTER_INTERVAL_MS,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """``visible_devices`` overrides ``$CUDA_VISIBLE_DEVICES`` (read unless ``use_env`` is False).

        ``monotonic_ns`` replaces the clock that stamps readings and schedules
        the counter (tests share theirs with a stand-in GPU).
        """
        super().__init__()
        self._counter_interval_ns = counter_interval_ms * 1_000_000
        self._monotonic_ns = monotonic_ns
        if visible_devices is None and use_env:
            visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self._visible_spec = visible_devices
        self._nvml: Any = None
        self._gpus: list[GpuState] = []
        self._slow_due_ns = 0

    def _open(self) -> None:
        try:
            import pynvml
        except ImportError:
            raise BackendMissingError("NVML (NVIDIA GPUs)", "nvidia", module="pynvml") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise nvml_error(pynvml, exc, "nvmlInit") from exc
        self._nvml = pynvml
        try:
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
        except pynvml.NVMLError as exc:
            pynvml.nvmlShutdown()
            raise nvml_error(pynvml, exc, "device enumeration") from exc
        selected = visible_indices(self._visible_spec, uuids)
        if not selected:
            pynvml.nvmlShutdown()
            raise CollectorError(
                f"NVML sees {len(handles)} GPU(s) but none is visible "
                f"(CUDA_VISIBLE_DEVICES={self._visible_spec!r})",
                hint="set CUDA_VISIBLE_DEVICES to the GPUs to measure, or unset it",
            )
        try:
            for cuda_index, index in enumerate(selected):
                try:
                    self._gpus.append(self._describe(index, cuda_index, handles[index], uuids[index]))
                except DeviceLostError as exc:
                    self.notes.append(exc.one_line())
            if not self._gpus:
                raise CollectorError("every visible NVIDIA GPU is lost", hint="; ".join(self.notes))
        except CollectorError:
            pynvml.nvmlShutdown()
            raise

    def _describe(self, index: int, cuda_index: int, handle: Any, uuid: str) -> GpuState:
        nvml = self._nvml
        device = f"nvidia:{index}"

        def supported(call: str, *args: Any) -> bool:
            try:
                getattr(nvml, call)(handle, *args)
            except nvml.NVMLError as exc:
                if exc.value == nvml.NVML_ERROR_NOT_SUPPORTED:
                    return False
                raise nvml_error(nvml, exc, call, device) from exc
            return True

        caps = Capabilities(
            energy_counter=supported("nvmlDeviceGetTotalEnergyConsumption"),
            power=supported("nvmlDeviceGetPowerUsage"),
            temperature=supported("nvmlDeviceGetTemperature", nvml.NVML_TEMPERATURE_GPU),
            memory=supported("nvmlDeviceGetMemoryInfo"),
        )
        if not (caps.energy_counter or caps.power):
            self.notes.append(f"{device}: NVML reports neither an energy counter nor power; it is not read")
        info = DeviceInfo(
            device=device,
            device_type="gpu",
            name=_text(nvml.nvmlDeviceGetName(handle)),
            vendor="NVIDIA",
            capabilities=caps,
            collector=self.name,
            metadata={"uuid": uuid, "nvml_index": str(index), "cuda_index": str(cuda_index)},
        )
        return GpuState(info, handle, CounterTotal() if caps.energy_counter else None)

    def devices(self) -> list[DeviceInfo]:
        return [gpu.info for gpu in self._gpus]

    def read(self) -> list[Reading]:
        nvml = self._nvml
        now_ns = self._monotonic_ns()
        slow = now_ns >= self._slow_due_ns  # the counter, temperature and memory
        if slow:
            self._slow_due_ns = now_ns + self._counter_interval_ns
        out: list[Reading] = []
        for gpu in self._gpus:
            caps = gpu.info.capabilities
            if gpu.state == "lost" or not (caps.power or (slow and caps.energy_counter)):
                continue
            t_ns = self._monotonic_ns()
            try:
                power_w = nvml.nvmlDeviceGetPowerUsage(gpu.handle) / 1000.0 if caps.power else None
                energy_j, source = None, "measured"
                if gpu.counter is not None:
                    if slow:
                        energy_j = gpu.counter.update(int(nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))) / 1000.0
                elif power_w is not None:
                    energy_j, source = gpu.integrator.add(t_ns, power_w), "derived"
                temperature_c = memory_used = None
                if slow and caps.temperature:
                    temperature_c = float(nvml.nvmlDeviceGetTemperature(gpu.handle, nvml.NVML_TEMPERATURE_GPU))
                if slow and caps.memory:
                    memory_used = int(nvml.nvmlDeviceGetMemoryInfo(gpu.handle).used)
            except nvml.NVMLError as exc:
                self._fail(gpu, nvml_error(nvml, exc, "read", gpu.info.device), t_ns)
                continue
            if gpu.state != "ok":
                gpu.state = "ok"
                self._report(gpu.info.device, t_ns, "ok", "readings resumed")
            out.append(Reading(gpu.info.device, t_ns, power_w, energy_j, source, temperature_c, memory_used))
        return out

    def read_now(self) -> list[Reading]:
        self._slow_due_ns = 0  # the edge of a window needs the counter now, not at its next slow tick
        return self.read()

    def _fail(self, gpu: GpuState, error: CollectorError, t_ns: int) -> None:
        # A lost GPU stays lost; other errors are reported once and retried each tick.
        status = "lost" if isinstance(error, DeviceLostError) else "error"
        if gpu.state != status:
            gpu.state = status
            self._report(gpu.info.device, t_ns, status, error.one_line())

    def close(self) -> None:
        if self._nvml is not None:
            nvml, self._nvml = self._nvml, None
            # Shutting down a library whose GPU is gone may fail; nothing is left to release then.
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()


def _text(value: Any) -> str:
    # nvidia-ml-py before 11.5 returned bytes, later versions str.
    return value.decode() if isinstance(value, bytes) else str(value)
