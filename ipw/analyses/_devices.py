"""Which power devices a run has, what kind each is, and which add up without double counting.

A device nests inside another when its ``device_seen.metadata["parent"]``
names it, when the other lists it in ``metadata["includes"]``, or when it is
a RAPL subdomain (``core``, ``uncore``, ``pp0``, ``pp1``) of a package that is
also present. Only top-level devices are summed; an ``estimated`` device is
left out when a measured device of the same type exists, and a ``system``
meter (it includes everything) is never added to the components.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError
from ..replay.engine import RunView

__all__ = ["device_type_of", "nesting", "choose_total", "select_devices"]

_RAPL_SUBDOMAIN = re.compile(r"^rapl:(?:(?P<pkg>package-\d+)[:/.])?(?:core|uncore|pp0|pp1)(?:-(?P<idx>\d+))?$")


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
    """Which device is inside which (metadata ``parent`` / ``includes``, RAPL subdomains)."""
    parents: dict[str, str] = {}
    for d in ids:
        meta = view.devices[d].metadata if d in view.devices else {}
        parent = meta.get("parent")
        if isinstance(parent, str) and parent in ids and parent != d:
            parents[d] = parent
            continue
        m = _RAPL_SUBDOMAIN.match(d)
        if m:
            package = f"rapl:{m['pkg'] or 'package-' + (m['idx'] or '0')}"
            if package in ids:
                parents[d] = package
    for d in ids:
        meta = view.devices[d].metadata if d in view.devices else {}
        for child in meta.get("includes") or ():
            if child in ids and child != d:
                parents.setdefault(child, d)
    return parents


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
