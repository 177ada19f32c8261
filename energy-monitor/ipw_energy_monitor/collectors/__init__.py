"""Power collectors and the factory that picks them.

``auto`` probes every collector that can exist on this platform and keeps the
ones that work; only when none of them can measure anything does it fall back
to the ``estimate`` collector, whose readings are labelled ``estimated``. An
explicit list (``rapl,nvml``) insists: a named collector that cannot work is
an error that says why.
"""

from __future__ import annotations

import sys
from typing import Iterable

from ipw.errors import UsageError

from .base import (
    Capabilities,
    Collector,
    DeviceInfo,
    DeviceLostError,
    DevicePermissionError,
    DeviceStatus,
    Reading,
)

__all__ = [
    "COLLECTOR_NAMES",
    "Capabilities",
    "Collector",
    "DeviceInfo",
    "DeviceLostError",
    "DevicePermissionError",
    "DeviceStatus",
    "Reading",
    "auto_collectors",
    "create_collector",
    "probe_collectors",
]

COLLECTOR_NAMES = ("nvml", "amdsmi", "rapl", "powermetrics", "estimate")


def create_collector(
    name: str,
    *,
    rapl_root: str | None = None,
    cpu_tdp_w: float | None = None,
    interval_ms: int = 100,
) -> Collector:
    """A new, not yet probed collector by name."""
    if name == "nvml":
        from .nvml import NvmlCollector

        return NvmlCollector()
    if name == "amdsmi":
        from .amdsmi import AmdSmiCollector

        return AmdSmiCollector()
    if name == "rapl":
        from .rapl import RaplCollector

        return RaplCollector(rapl_root)
    if name == "powermetrics":
        from .powermetrics import PowermetricsCollector

        return PowermetricsCollector(interval_ms)
    if name == "estimate":
        from .estimate import EstimatedCpuCollector

        return EstimatedCpuCollector(cpu_tdp_w)
    raise UsageError(
        f"unknown collector {name!r}",
        hint=f"choose auto or a comma-separated list of: {', '.join(COLLECTOR_NAMES)}",
    )


def _names(spec: str | Iterable[str]) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return [item.strip().lower() for item in items if item.strip()]


def probe_collectors(
    spec: str | Iterable[str] = "auto",
    *,
    rapl_root: str | None = None,
    cpu_tdp_w: float | None = None,
    interval_ms: int = 100,
) -> tuple[list[Collector], list[str]]:
    """The working collectors for ``spec`` and a note for each one that was left out.

    Raises the probe error of an explicitly named collector that cannot work.
    """
    names = _names(spec)
    options = {"rapl_root": rapl_root, "cpu_tdp_w": cpu_tdp_w, "interval_ms": interval_ms}
    if names in ([], ["auto"]):
        measured = ["nvml", "amdsmi", "rapl"] + (["powermetrics"] if sys.platform == "darwin" else [])
        chosen, notes = [], []
        for name in measured:
            collector = create_collector(name, **options)
            if collector.probe():
                chosen.append(collector)
                notes.extend(collector.notes)
            else:
                notes.append(f"{name}: {collector.unavailable_reason}")
        if not chosen:
            fallback = create_collector("estimate", **options)
            fallback.require()
            chosen.append(fallback)
            notes.append("estimate: nothing could be measured, so CPU power is estimated from utilisation x TDP")
        return chosen, notes
    if "auto" in names:
        raise UsageError("'auto' cannot be combined with collector names", hint="pass either auto or a list such as rapl,nvml")
    chosen = []
    try:
        for name in dict.fromkeys(names):
            collector = create_collector(name, **options)
            collector.require()
            chosen.append(collector)
    except BaseException:
        for collector in chosen:
            collector.close()
        raise
    return chosen, [note for c in chosen for note in c.notes]


def auto_collectors(
    spec: str | Iterable[str] = "auto",
    *,
    rapl_root: str | None = None,
    cpu_tdp_w: float | None = None,
    interval_ms: int = 100,
) -> list[Collector]:
    """The collectors to run for ``spec`` (``auto`` or names), probed and ready to read."""
    return probe_collectors(spec, rapl_root=rapl_root, cpu_tdp_w=cpu_tdp_w, interval_ms=interval_ms)[0]
