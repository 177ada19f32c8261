"""Power collectors and the factory that picks them.

Every collector is found through the registry (:data:`ipw.registry.REGISTRY`,
kind ``collectors``): the built-ins registered there and the plugins of the
``ipw.collectors`` entry-point group, which this process (the monitor runs on
its own) discovers from its own ``sys.path`` the same way ``ipw`` does. There
is no other list of names. Each is built with :meth:`Collector.from_options`.

``auto`` probes every built-in collector that can exist on this platform (its
``platforms``) and keeps the ones that work; only when none of them can
measure anything does it fall back to the ``fallback`` ones (``estimate``),
whose readings are labelled ``estimated``. A plugin is used only when named,
so installing one never changes what ``auto`` measures. An explicit list
(``rapl,nvml``, ``mymeter``) insists: a named collector that cannot work is an
error that says why, and a plugin that breaks is one line naming it (exit 10).
"""

from __future__ import annotations

import sys
from typing import Iterable

from ipw.errors import IpwError, UsageError
from ipw.registry import REGISTRY

from .base import (
    Capabilities,
    Collector,
    CollectorOptions,
    DeviceInfo,
    DeviceLostError,
    DevicePermissionError,
    DeviceStatus,
    Reading,
)

__all__ = [
    "Capabilities",
    "Collector",
    "CollectorOptions",
    "DeviceInfo",
    "DeviceLostError",
    "DevicePermissionError",
    "DeviceStatus",
    "Reading",
    "auto_collectors",
    "collector_names",
    "create_collector",
    "probe_collectors",
]


def collector_names() -> list[str]:
    """Every registered collector id, plugins included."""
    return REGISTRY.ids("collectors")


def create_collector(
    name: str,
    *,
    rapl_root: str | None = None,
    cpu_tdp_w: float | None = None,
    interval_ms: int = 100,
) -> Collector:
    """A new, not yet probed collector by name."""
    return _build(name, CollectorOptions(rapl_root, cpu_tdp_w, interval_ms), require=False)


def _build(name: str, options: CollectorOptions, *, require: bool) -> Collector:
    """The registered collector ``name`` built from ``options`` (and, with ``require``, probed or refused)."""
    if name not in collector_names():
        raise UsageError(
            f"unknown collector {name!r}",
            hint=f"choose auto or a comma-separated list of: {', '.join(collector_names())} (see 'ipw list collectors')",
        )

    def make(cls: type[Collector]) -> Collector:
        collector = cls.from_options(options)
        if not isinstance(collector, Collector):
            raise TypeError(f"{cls!r} built a {type(collector).__name__}, not a Collector")
        if require:
            collector.require()  # what a plugin's probe raises that is not an IpwError, build() names it by
        return collector

    return REGISTRY.build("collectors", name, make)


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
    options = CollectorOptions(rapl_root, cpu_tdp_w, interval_ms)
    if names in ([], ["auto"]):
        return _auto(options)
    if "auto" in names:
        raise UsageError("'auto' cannot be combined with collector names", hint="pass either auto or a list such as rapl,nvml")
    chosen: list[Collector] = []
    try:
        for name in dict.fromkeys(names):
            chosen.append(_build(name, options, require=True))
    except BaseException:
        for collector in chosen:
            collector.close()
        raise
    return chosen, [note for c in chosen for note in c.notes]


def _auto(options: CollectorOptions) -> tuple[list[Collector], list[str]]:
    """Every built-in collector of this platform that works; the fallbacks only when none does."""
    measured: list[str] = []
    fallbacks: list[str] = []
    notes: list[str] = []
    for component in REGISTRY.components("collectors"):
        if component.is_plugin:
            continue
        try:
            cls = component.load()
        except IpwError as exc:  # its vendor library is not installed here
            notes.append(f"{component.id}: {exc.one_line()}")
            continue
        if cls.platforms is not None and sys.platform not in cls.platforms:
            continue
        (fallbacks if cls.fallback else measured).append(component.id)
    chosen: list[Collector] = []
    for name in measured:
        collector = _build(name, options, require=False)
        if collector.probe():
            chosen.append(collector)
            notes.extend(collector.notes)
        else:
            notes.append(f"{name}: {collector.unavailable_reason}")
    if not chosen:
        for name in fallbacks:
            chosen.append(_build(name, options, require=True))
            notes.append(f"{name}: nothing could be measured, so CPU power is estimated from utilisation x TDP")
    return chosen, notes


def auto_collectors(
    spec: str | Iterable[str] = "auto",
    *,
    rapl_root: str | None = None,
    cpu_tdp_w: float | None = None,
    interval_ms: int = 100,
) -> list[Collector]:
    """The collectors to run for ``spec`` (``auto`` or names), probed and ready to read."""
    return probe_collectors(spec, rapl_root=rapl_root, cpu_tdp_w=cpu_tdp_w, interval_ms=interval_ms)[0]
