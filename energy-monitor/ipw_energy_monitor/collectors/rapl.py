"""CPU packages and DRAM through Linux RAPL powercap (``/sys/class/powercap``).

The kernel exposes one zone per package, ``intel-rapl:N`` (name
``package-N``), with subzones ``intel-rapl:N:M`` named ``core``, ``uncore`` or
``dram``. Each zone has ``energy_uj``, a counter that restarts at zero after
``max_energy_range_uj``. The package already includes its core and uncore, so
only packages and DRAM become devices (``rapl:package-N``, ``rapl:dram-N``):
summing every device this collector reports never counts a joule twice. A
``psys`` zone (the whole platform, packages included) is skipped for the same
reason, and said so in :attr:`notes`.

Since Linux 5.10 ``energy_uj`` is readable by root only; the error raised then
says how to open it up.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ipw.errors import CollectorError

from .base import Capabilities, Collector, CollectorOptions, CounterTotal, DeviceInfo, DevicePermissionError, Reading

__all__ = ["RaplCollector", "RaplZone", "find_zones", "unavailable_reason", "DEFAULT_POWERCAP_ROOT"]

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
_ZONE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone: ``key`` is ``intel-rapl:N`` or ``intel-rapl:N:M``."""

    key: str
    path: Path
    name: str
    package: int
    sub: int | None


def find_zones(root: Path) -> list[RaplZone]:
    """Every RAPL zone under ``root``, top level and nested, each once, sorted."""
    found: dict[str, Path] = {}
    tops = [p for p in root.iterdir() if _ZONE.match(p.name)] if root.is_dir() else []
    for top in tops:
        found.setdefault(top.name, top)
        # In sysfs the subzones are both listed at the top (as links) and nested in their parent.
        if top.is_dir():
            for child in top.iterdir():
                if _ZONE.match(child.name):
                    found.setdefault(child.name, child)
    zones = []
    for key, path in found.items():
        match = _ZONE.match(key)
        assert match is not None
        name_file = path / "name"
        name = name_file.read_text().strip() if name_file.is_file() else key
        sub = match.group(2)
        zones.append(RaplZone(key, path, name, int(match.group(1)), None if sub is None else int(sub)))
    return sorted(zones, key=lambda z: (z.package, -1 if z.sub is None else z.sub))


def unavailable_reason(root: str | os.PathLike[str] | None = None) -> str | None:
    """Why RAPL cannot be read on this host, or None when some zone's ``energy_uj`` reads as a number.

    A cheap probe for ``ipw list``: it reads one counter and keeps nothing open.
    """
    path = Path(root or os.environ.get("IPW_RAPL_ROOT") or DEFAULT_POWERCAP_ROOT)
    if not path.is_dir():
        return f"no powercap tree at {path}"
    try:
        zones = find_zones(path)
    except OSError as exc:
        return f"cannot list {path}: {exc}"
    if not zones:
        return f"{path} holds no intel-rapl zone"
    denied = None
    for zone in zones:
        try:
            _read_int(zone.path / "energy_uj")
            return None
        except PermissionError:
            denied = zone.path / "energy_uj"
        except (OSError, ValueError):
            continue
    if denied is not None:
        return f"cannot read {denied}: permission denied (root only since Linux 5.10)"
    return f"no readable energy_uj counter under {path}"


def _read_int(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return int(os.read(fd, 64))
    finally:
        os.close(fd)


def _permission_error(root: Path, path: Path) -> DevicePermissionError:
    return DevicePermissionError(
        f"cannot read {path}: permission denied (Linux restricts RAPL energy counters to root since 5.10)",
        hint=f"run the energy monitor as root, or make the counters readable: "
        f"sudo chmod a+r {root}/intel-rapl:*/energy_uj {root}/intel-rapl:*/intel-rapl:*/energy_uj",
    )


@dataclass
class _Domain:
    info: DeviceInfo
    energy_path: Path
    counter: CounterTotal
    last_t_ns: int | None = None
    last_energy_j: float = 0.0
    failed: bool = False


class RaplCollector(Collector):
    """Cumulative energy of each CPU package and DRAM domain, from RAPL counters."""

    name = "rapl"

    @classmethod
    def from_options(cls, options: CollectorOptions) -> RaplCollector:
        return cls(options.rapl_root)

    def __init__(self, root: str | os.PathLike[str] | None = None, *, include_subzones: bool = False,
                 monotonic_ns: Callable[[], int] = time.monotonic_ns) -> None:
        """``root`` defaults to ``$IPW_RAPL_ROOT``, else ``/sys/class/powercap``.

        ``include_subzones`` also reports core and uncore, marked in their
        metadata as ``nested_in`` their package (so never to be summed with it).
        ``monotonic_ns`` replaces the clock that stamps readings (tests share
        theirs with a stand-in powercap tree).
        """
        super().__init__()
        self._monotonic_ns = monotonic_ns
        self.root = Path(root or os.environ.get("IPW_RAPL_ROOT") or DEFAULT_POWERCAP_ROOT)
        self.include_subzones = include_subzones
        self._domains: list[_Domain] = []

    def _open(self) -> None:
        if not self.root.is_dir():
            raise CollectorError(
                f"no powercap tree at {self.root}",
                hint="RAPL needs Linux on an Intel or AMD CPU with the intel_rapl_msr module loaded "
                "('sudo modprobe intel_rapl_msr'); virtual machines and containers usually hide it",
            )
        zones = find_zones(self.root)
        if not zones:
            raise CollectorError(f"{self.root} holds no intel-rapl zone", hint="load it with 'sudo modprobe intel_rapl_msr'")
        packages = {z.package: z for z in zones if z.sub is None}
        for zone in zones:
            domain = self._domain(zone, packages)
            if domain is not None:
                self._domains.append(domain)
        if not self._domains:
            raise CollectorError(f"{self.root} holds no package or DRAM zone", hint="; ".join(self.notes) or None)
        for domain in self._domains:  # the first read both checks access and sets each counter's origin
            domain.last_t_ns = self._monotonic_ns()  # stamped before the read, as read() does
            try:
                domain.counter.update(_read_int(domain.energy_path))
            except PermissionError:
                raise _permission_error(self.root, domain.energy_path) from None
            except (OSError, ValueError) as exc:
                raise CollectorError(f"cannot read {domain.energy_path}: {exc}") from exc

    def _domain(self, zone: RaplZone, packages: dict[int, RaplZone]) -> _Domain | None:
        parent = packages.get(zone.package)
        parent_index = _package_index(parent) if parent is not None else zone.package
        metadata = {"zone": zone.key, "path": str(zone.path)}
        if zone.sub is None and zone.name.startswith("package"):
            device, device_type = f"rapl:{zone.name}", "cpu"
        elif zone.name == "dram":
            device, device_type = f"rapl:dram-{parent_index}", "dram"
        elif zone.name == "psys":
            self.notes.append(f"rapl: {zone.key} (psys) skipped: it is the whole platform and already includes the packages")
            return None
        elif zone.sub is not None and self.include_subzones:
            device, device_type = f"rapl:{zone.name}-{parent_index}", "cpu"
            metadata["nested_in"] = f"rapl:package-{parent_index}"
        else:
            return None  # core and uncore are part of their package's energy
        max_path = zone.path / "max_energy_range_uj"
        try:
            range_max = _read_int(max_path)
        except PermissionError:
            raise _permission_error(self.root, max_path) from None
        except (OSError, ValueError) as exc:
            raise CollectorError(f"cannot read {max_path}: {exc}") from exc
        metadata["max_energy_range_uj"] = str(range_max)
        info = DeviceInfo(
            device=device,
            device_type=device_type,
            name=f"RAPL {zone.name}",
            vendor="rapl",
            capabilities=Capabilities(energy_counter=True, power=True),
            collector=self.name,
            metadata=metadata,
        )
        return _Domain(info, zone.path / "energy_uj", CounterTotal(range_max))

    def devices(self) -> list[DeviceInfo]:
        return [d.info for d in self._domains]

    def read(self) -> list[Reading]:
        out: list[Reading] = []
        for domain in self._domains:
            t_ns = self._monotonic_ns()
            try:
                raw = _read_int(domain.energy_path)
            except (OSError, ValueError) as exc:
                if not domain.failed:
                    domain.failed = True
                    error = _permission_error(self.root, domain.energy_path) if isinstance(exc, PermissionError) else exc
                    message = error.one_line() if isinstance(error, CollectorError) else f"cannot read {domain.energy_path}: {error}"
                    self._report(domain.info.device, t_ns, "error", message)
                continue
            if domain.failed:
                domain.failed = False
                self._report(domain.info.device, t_ns, "ok", "readings resumed")
            energy_j = domain.counter.update(raw) / 1e6
            power_w = None
            if domain.last_t_ns is not None and t_ns > domain.last_t_ns:
                power_w = (energy_j - domain.last_energy_j) * 1e9 / (t_ns - domain.last_t_ns)
            domain.last_t_ns, domain.last_energy_j = t_ns, energy_j
            out.append(Reading(domain.info.device, t_ns, power_w, energy_j, "measured"))
        return out


def _package_index(zone: RaplZone) -> int:
    # "package-1" -> 1; the zone number otherwise.
    digits = zone.name.rpartition("-")[2]
    return int(digits) if digits.isdigit() else zone.package
