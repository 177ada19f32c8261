"""Apple silicon through ``powermetrics`` (macOS only; it must run as root).

The collector runs ``powermetrics --samplers cpu_power,gpu_power -i N -f plist``
and parses its output: one property list per interval, separated by NUL
bytes. Each list's ``processor`` dictionary holds ``cpu_power``, ``gpu_power``
and ``ane_power`` in milliwatts (and, on recent macOS, ``cpu_energy`` …
in millijoules over the interval); ``elapsed_ns`` is the interval's length.
CPU, GPU and Neural Engine become ``apple:cpu``, ``apple:gpu`` and
``apple:ane``; ``combined_power`` is their sum and is not reported again.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from typing import Any, Iterator

from ipw.errors import CollectorError

from .base import Capabilities, Collector, CollectorOptions, DeviceInfo, DevicePermissionError, Reading

__all__ = ["PowermetricsCollector", "parse_plists", "unavailable_reason", "SUDO_HINT"]

# powermetrics' own name for each part -> (device id, device type)
_PARTS = {"cpu": ("apple:cpu", "cpu"), "gpu": ("apple:gpu", "gpu"), "ane": ("apple:ane", "soc")}
SUDO_HINT = (
    "powermetrics reads the SoC's energy counters and only runs as root: start the monitor with sudo "
    "('sudo ipw-energy-monitor --port 50151') and point ipw at it with IPW_ENERGY_MONITOR=127.0.0.1:50151"
)
_FIRST_SAMPLE_TIMEOUT_S = 5.0


def unavailable_reason() -> str | None:
    """Why powermetrics cannot run here (not macOS, or no binary), or None; starts nothing (``ipw list``)."""
    if sys.platform != "darwin":
        return "powermetrics exists only on macOS"
    if shutil.which("powermetrics") is None and not os.path.exists("/usr/bin/powermetrics"):
        return "no powermetrics binary on PATH or at /usr/bin/powermetrics"
    return None


def parse_plists(buffer: bytearray) -> Iterator[dict[str, Any]]:
    """Take every complete NUL-terminated property list out of ``buffer``."""
    while True:
        end = buffer.find(b"\0")
        if end < 0:
            return
        chunk = bytes(buffer[:end]).strip()
        del buffer[: end + 1]
        if chunk:
            yield plistlib.loads(chunk)


def energy_increments_j(sample: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Per part: (joules over the interval, mean watts) from one powermetrics sample."""
    processor = sample.get("processor") or {}
    gpu = sample.get("gpu") or {}
    elapsed_s = float(sample.get("elapsed_ns", 0)) / 1e9
    out: dict[str, tuple[float, float]] = {}
    for part in _PARTS:
        power_mw = processor.get(f"{part}_power", gpu.get(f"{part}_power") if part == "gpu" else None)
        energy_mj = processor.get(f"{part}_energy", gpu.get(f"{part}_energy") if part == "gpu" else None)
        if power_mw is None and energy_mj is None:
            continue
        if energy_mj is not None:
            energy_j = float(energy_mj) / 1000.0
            power_w = energy_j / elapsed_s if elapsed_s > 0 else float(power_mw or 0) / 1000.0
        else:
            power_w = float(power_mw) / 1000.0
            energy_j = power_w * elapsed_s
        out[part] = (energy_j, power_w)
    return out


class PowermetricsCollector(Collector):
    """CPU, GPU and Neural Engine energy of a Mac, from a powermetrics subprocess."""

    name = "powermetrics"
    platforms = frozenset({"darwin"})

    @classmethod
    def from_options(cls, options: CollectorOptions) -> PowermetricsCollector:
        return cls(options.interval_ms)

    def __init__(self, interval_ms: int = 100, *, executable: str | None = None) -> None:
        """``executable`` replaces the ``powermetrics`` found on PATH (and the macOS check)."""
        super().__init__()
        self.interval_ms = max(int(interval_ms), 10)
        self._executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: deque[Reading] = deque()
        self._totals_j: dict[str, float] = {}
        self._first = threading.Event()
        self._exited = False
        self._stderr_file: Any = None

    def _open(self) -> None:
        executable = self._executable
        if executable is None:
            if sys.platform != "darwin":
                raise CollectorError("powermetrics exists only on macOS")
            executable = shutil.which("powermetrics") or "/usr/bin/powermetrics"
        if not os.path.exists(executable):
            raise CollectorError(f"powermetrics not found at {executable}")
        command = [executable, "--samplers", "cpu_power,gpu_power", "-i", str(self.interval_ms), "-f", "plist"]
        # stderr goes to a file so that a chatty process can never block on a full pipe.
        self._stderr_file = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr_file, stdin=subprocess.DEVNULL
        )
        self._thread = threading.Thread(target=self._pump, name="powermetrics-reader", daemon=True)
        self._thread.start()
        if not self._first.wait(max(_FIRST_SAMPLE_TIMEOUT_S, 3 * self.interval_ms / 1000)):
            self.close()
            raise CollectorError(f"powermetrics gave no sample within {_FIRST_SAMPLE_TIMEOUT_S:.0f} s")
        if not self._totals_j:
            message = self._stderr_text()
            self.close()
            if "superuser" in message or "root" in message or os.geteuid() != 0:
                raise DevicePermissionError(f"powermetrics refused to run: {message or 'not root'}", hint=SUDO_HINT)
            raise CollectorError(f"powermetrics exited without a sample: {message or 'no output'}")

    def _pump(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        buffer = bytearray()
        stream = self._process.stdout
        while True:
            chunk = stream.read1(65536)
            if not chunk:
                break
            buffer.extend(chunk)
            try:
                samples = list(parse_plists(buffer))
            except (plistlib.InvalidFileException, ValueError) as exc:
                self._report("apple:cpu", time.monotonic_ns(), "error", f"powermetrics printed an unreadable plist: {exc}")
                continue
            for sample in samples:
                self._add(sample)
        self._first.set()  # the process ended: whoever waits for a first sample stops waiting

    def _stderr_text(self) -> str:
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=3)
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode(errors="replace").strip()

    def _add(self, sample: dict[str, Any]) -> None:
        t_ns = time.monotonic_ns()
        with self._lock:
            for part, (energy_j, power_w) in energy_increments_j(sample).items():
                device = _PARTS[part][0]
                total = self._totals_j.get(device, 0.0) + energy_j
                self._totals_j[device] = total
                self._pending.append(Reading(device, t_ns, power_w, total, "measured"))
        self._first.set()

    def devices(self) -> list[DeviceInfo]:
        with self._lock:
            seen = set(self._totals_j)
        return [
            DeviceInfo(
                device=device,
                device_type=device_type,
                name=f"Apple {part.upper()}",
                vendor="Apple",
                capabilities=Capabilities(power=True),
                collector=self.name,
                metadata={"interval_ms": str(self.interval_ms)},
            )
            for part, (device, device_type) in _PARTS.items()
            if device in seen
        ]

    def read(self) -> list[Reading]:
        with self._lock:
            out = list(self._pending)
            self._pending.clear()
        process = self._process
        if not out and not self._exited and process is not None and process.poll() is not None:
            self._exited = True
            t_ns = time.monotonic_ns()
            for device in list(self._totals_j):
                self._report(device, t_ns, "lost", f"powermetrics exited with code {process.returncode}")
        return out

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
