"""AMD GPUs through the ``amdsmi`` Python bindings of ROCm.

Energy comes from ``amdsmi_get_energy_count`` (an accumulator times its
resolution in microjoules) and is ``measured``; where a GPU lacks it, socket
power from ``amdsmi_get_power_info`` (watts) is integrated and the energy is
``derived``. Device ids are ``amd:N`` in amdsmi's processor order.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable

from ipw.errors import BackendMissingError, CollectorError

from .base import (
    GpuState,
    Capabilities,
    Collector,
    CounterTotal,
    DeviceInfo,
    DevicePermissionError,
    Reading,
)

__all__ = ["AmdSmiCollector", "amdsmi_error"]

AUX_INTERVAL_NS = 100_000_000  # temperature and memory change slowly: read them at 10 Hz
# Field names differ across ROCm releases; the first one holding a number wins.
_POWER_FIELDS = ("socket_power", "current_socket_power", "average_socket_power")
_COUNTER_FIELDS = ("energy_accumulator", "power")


def amdsmi_error(amdsmi: Any, exc: Exception, call: str, device: str = "amdsmi") -> CollectorError:
    """Map an ``AmdSmiLibraryException`` onto the typed error that explains it."""
    if _has_code(amdsmi, exc, "NO_PERM"):
        return DevicePermissionError(
            f"{device}: {call} was refused by amdsmi (no permission)",
            hint="run the energy monitor as a user in the 'render' and 'video' groups, or as root",
        )
    return CollectorError(f"{device}: amdsmi {call} failed: {exc}")


def _has_code(amdsmi: Any, exc: Exception, name: str) -> bool:
    """Whether ``exc`` carries the return code ``name`` (``STATUS_…`` in newer releases, ``ERR_…`` in older)."""
    codes = getattr(amdsmi, "AmdSmiRetCode", None)
    code = exc.get_error_code() if hasattr(exc, "get_error_code") else None
    wanted = {getattr(codes, prefix + name, None) for prefix in ("STATUS_", "ERR_")} - {None}
    return code is not None and code in wanted


def _number(value: Any) -> float | None:
    # amdsmi writes "N/A" where a field is not supported.
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _first_number(info: dict[str, Any], fields: tuple[str, ...]) -> float | None:
    for name in fields:
        value = _number(info.get(name))
        if value is not None:
            return value
    return None


class AmdSmiCollector(Collector):
    """Energy (or power), temperature and memory of the AMD GPUs amdsmi sees."""

    name = "amdsmi"

    def __init__(self, *, monotonic_ns: Callable[[], int] = time.monotonic_ns) -> None:
        """``monotonic_ns`` replaces the clock that stamps readings (tests share theirs with a stand-in GPU)."""
        super().__init__()
        self._monotonic_ns = monotonic_ns
        self._amdsmi: Any = None
        self._gpus: list[GpuState] = []
        self._aux_due_ns = 0

    def _open(self) -> None:
        try:
            import amdsmi
        except ImportError:
            raise BackendMissingError("amdsmi (AMD GPUs)", "amd", module="amdsmi") from None
        try:
            amdsmi.amdsmi_init()
            handles = list(amdsmi.amdsmi_get_processor_handles())
        except amdsmi.AmdSmiException as exc:
            raise amdsmi_error(amdsmi, exc, "amdsmi_init") from exc
        self._amdsmi = amdsmi
        try:
            self._gpus = [self._describe(i, h) for i, h in enumerate(handles)]
        except CollectorError:
            self.close()
            raise
        if not self._gpus:
            self.close()
            raise CollectorError("amdsmi found no AMD GPU", hint="check that 'amd-smi list' shows the GPUs")

    def _call(self, call: str, *args: Any) -> Any:
        return getattr(self._amdsmi, call)(*args)

    def _try(self, call: str, device: str, *args: Any) -> Any:
        """The call's result, or None where this GPU does not support it."""
        amdsmi = self._amdsmi
        try:
            return self._call(call, *args)
        except amdsmi.AmdSmiLibraryException as exc:
            if _has_code(amdsmi, exc, "NOT_SUPPORTED"):
                return None
            raise amdsmi_error(amdsmi, exc, call, device) from exc

    def _describe(self, index: int, handle: Any) -> GpuState:
        device = f"amd:{index}"
        energy = self._try("amdsmi_get_energy_count", device, handle)
        power = self._try("amdsmi_get_power_info", device, handle)
        asic = self._try("amdsmi_get_gpu_asic_info", device, handle) or {}
        uuid = self._try("amdsmi_get_gpu_device_uuid", device, handle) or ""
        caps = Capabilities(
            energy_counter=bool(energy) and _first_number(energy, _COUNTER_FIELDS) is not None,
            power=bool(power) and _first_number(power, _POWER_FIELDS) is not None,
            temperature=self._temperature(handle, device) is not None,
            memory=self._memory(handle, device) is not None,
        )
        if not (caps.energy_counter or caps.power):
            self.notes.append(f"{device}: amdsmi reports neither an energy counter nor power; it is not read")
        info = DeviceInfo(
            device=device,
            device_type="gpu",
            name=str(asic.get("market_name", "")),
            vendor="AMD",
            capabilities=caps,
            collector=self.name,
            metadata={"uuid": str(uuid), "index": str(index)},
        )
        return GpuState(info, handle, CounterTotal() if caps.energy_counter else None)

    def _temperature(self, handle: Any, device: str) -> float | None:
        amdsmi = self._amdsmi
        value = self._try(
            "amdsmi_get_temp_metric",
            device,
            handle,
            amdsmi.AmdSmiTemperatureType.EDGE,
            amdsmi.AmdSmiTemperatureMetric.CURRENT,
        )
        return _number(value)

    def _memory(self, handle: Any, device: str) -> int | None:
        value = self._try("amdsmi_get_gpu_memory_usage", device, handle, self._amdsmi.AmdSmiMemoryType.VRAM)
        number = _number(value)
        return None if number is None else int(number)

    def devices(self) -> list[DeviceInfo]:
        return [gpu.info for gpu in self._gpus]

    def read(self) -> list[Reading]:
        now_ns = self._monotonic_ns()
        aux = now_ns >= self._aux_due_ns
        if aux:
            self._aux_due_ns = now_ns + AUX_INTERVAL_NS
        out: list[Reading] = []
        for gpu in self._gpus:
            caps = gpu.info.capabilities
            if not (caps.energy_counter or caps.power):
                continue
            device = gpu.info.device
            t_ns = self._monotonic_ns()
            try:
                power_w = None
                if caps.power:
                    power_w = _first_number(self._call("amdsmi_get_power_info", gpu.handle), _POWER_FIELDS)
                if gpu.counter is not None:
                    count = self._call("amdsmi_get_energy_count", gpu.handle)
                    raw = int(_first_number(count, _COUNTER_FIELDS) or 0)
                    resolution_uj = float(count.get("counter_resolution", 1.0))
                    energy_j, source = gpu.counter.update(raw) * resolution_uj / 1e6, "measured"
                elif power_w is not None:
                    energy_j, source = gpu.integrator.add(t_ns, power_w), "derived"
                else:
                    raise CollectorError(f"{device}: amdsmi returned no power value")
                temperature_c = self._temperature(gpu.handle, device) if aux and caps.temperature else None
                memory_used = self._memory(gpu.handle, device) if aux and caps.memory else None
            except self._amdsmi.AmdSmiException as exc:
                self._fail(gpu, amdsmi_error(self._amdsmi, exc, "read", device), t_ns)
                continue
            except CollectorError as exc:
                self._fail(gpu, exc, t_ns)
                continue
            if gpu.state != "ok":
                gpu.state = "ok"
                self._report(device, t_ns, "ok", "readings resumed")
            out.append(Reading(device, t_ns, power_w, energy_j, source, temperature_c, memory_used))
        return out

    def _fail(self, gpu: GpuState, error: CollectorError, t_ns: int) -> None:
        if gpu.state != "error":
            gpu.state = "error"
            self._report(gpu.info.device, t_ns, "error", error.one_line())

    def close(self) -> None:
        if self._amdsmi is not None:
            amdsmi, self._amdsmi = self._amdsmi, None
            with contextlib.suppress(amdsmi.AmdSmiException):
                amdsmi.amdsmi_shut_down()
