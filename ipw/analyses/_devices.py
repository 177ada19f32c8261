"""Which power devices a run has, what kind each is, and which add up without double counting.

A device nests inside another by the rule of :mod:`ipw.events.devices`
(``parent`` / ``includes`` metadata, RAPL subdomains of a package that is
also present). Only top-level devices are summed; an ``estimated`` device is
left out when a measured device of the same type exists, and a ``system``
meter (it includes everything) is never added to the components.
:class:`DeviceEnergy` is one device's energy and how it enters the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..events.devices import device_parents
from ..replay.engine import RunView
from ._numbers import finite

__all__ = ["DeviceEnergy", "device_type_of", "nesting", "choose_total", "select_devices"]


def device_type_of(view: RunView, device: str) -> str:
    """The device's type from ``device_seen``, else guessed from its id."""
    seen = view.devices.get(device)
    if seen is not None and seen.device_type:
        return seen.device_type.lower()
    d = device.lower()
    if "psys" in d or d.startswith(("system", "wall")):
        return "system"
    if "dram" in d:
        return "dram"
    if d.startswith(("nvidia", "amd", "gpu", "cuda", "rocm")):
        return "gpu"
    if d.startswith(("rapl", "cpu")):
        return "cpu"
    return "unknown"


def nesting(view: RunView, ids: list[str]) -> dict[str, str]:
    """Which device is inside which (metadata ``parent`` / ``includes``, RAPL subdomains): :func:`ipw.events.devices.device_parents`."""
    return device_parents(ids, {d: view.devices[d].metadata for d in ids if d in view.devices})


def choose_total(view: RunView, devices: dict[str, Any]) -> None:
    """Mark the devices whose energies add up without double counting (see module docstring)."""
    usable = sorted(d for d, info in devices.items() if info.method is not None)
    parents = nesting(view, usable)
    for child, parent in parents.items():
        devices[child].nested_in = parent
    top = [d for d in usable if d not in parents]
    components = [d for d in top if devices[d].device_type != "system"]
    measured_types = {devices[d].device_type for d in components if devices[d].source != "estimated"}
    for d in components:
        if devices[d].source == "estimated" and devices[d].device_type in measured_types:
            devices[d].note = f"left out of the total: a {devices[d].device_type} device was measured"
    chosen = [d for d in components if devices[d].note is None] or top
    for d in top:
        if devices[d].device_type == "system" and components:
            devices[d].note = "system meter: includes the components, so it is not added to them"
    for d in chosen:
        devices[d].in_total = True


def select_devices(view: RunView, wanted: list[str] | None) -> list[str]:
    ids = sorted(view.power)
    if wanted is None:
        return ids
    known = set(view.power) | set(view.devices)
    types = {device_type_of(view, d) for d in known}
    unknown = [w for w in wanted if w not in known and w.lower() not in types]
    if unknown:
        raise UsageError(
            f"unknown device(s) {', '.join(unknown)}",
            hint=f"devices in this run: {', '.join(sorted(known)) or 'none'}; or a type: {', '.join(sorted(types)) or 'none'}",
        )
    lowered = {w.lower() for w in wanted}
    return [d for d in ids if d in wanted or device_type_of(view, d) in lowered]


@dataclass
class DeviceEnergy:
    """One device's energy over the measured window and how it enters the total."""

    device: str
    device_type: str
    source: str
    method: str | None  # "counter" | "power" | None when the trace is unusable
    samples: int
    span_s: float | None
    energy_j: float | None = None
    baseline_power_w: float | None = None
    in_total: bool = False
    nested_in: str | None = None
    note: str | None = None
    energy_j_bound: float | None = None
    readings_in_window: int | None = None
    edges_bracketed: bool = False
    sensor: dict[str, float] | None = None

    def to_dict(self, window_s: float | None) -> dict[str, Any]:
        mean_w = self.energy_j / window_s if self.energy_j is not None and window_s else None
        return {
            "energy_j_bound": finite(self.energy_j_bound),
            "readings_in_window": self.readings_in_window,
            "edges_bracketed": self.edges_bracketed,
            "sensor": self.sensor,
            "device_type": self.device_type,
            "source": self.source,
            "method": self.method,
            "samples": self.samples,
            "span_s": finite(self.span_s),
            "energy_j": finite(self.energy_j),
            "mean_power_w": finite(mean_w),
            "baseline_power_w": finite(self.baseline_power_w),
            "in_total": self.in_total,
            "nested_in": self.nested_in,
            "note": self.note,
        }
