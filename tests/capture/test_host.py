"""What a run records about its machine and software: the fast readings agree with the standard ones."""

from __future__ import annotations

import os
from importlib.metadata import version

from ipw.capture import host


def test_package_versions_are_the_ones_importlib_metadata_reports() -> None:
    found = host.package_versions()
    assert found["ipw"] and found["msgspec"] and found["numpy"]  # always installed with ipw
    for name, value in found.items():
        assert value == version(name), name
    found["ipw"] = "changed"
    assert host.package_versions()["ipw"] == version("ipw")  # each call gets its own copy


def test_memory_is_the_machines_physical_memory() -> None:
    info = host.host_info(accelerators=[])
    assert info["memory_bytes"] == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with open("/proc/meminfo") as fh:  # the kernel's own figure, in kB
        total_kb = int(next(line for line in fh if line.startswith("MemTotal:")).split()[1])
    assert abs(info["memory_bytes"] - total_kb * 1024) < 0.05 * total_kb * 1024
