"""``--metrics-port``: Prometheus text served while a real capture runs (real llama.cpp server, real estimate collector)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ipw.capture.config import Progress
from ipw.capture.metrics import CaptureMetrics, MetricsServer
from ipw.events import PowerSample

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _value(text: str, name: str, labels: str = "") -> float | None:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_metrics_grow_during_a_real_capture(tmp_path: Path, llama_server_url: str) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipw.cli", "record", "--client", "openai", "--client-base-url", llama_server_url,
         "--client-param", "api=completions", "--model", "gemma", "--gen-param", "max_tokens=24",
         "--max-queries", "12", "--energy", "estimate", "--sample-interval-ms", "50", "--output-dir", str(tmp_path),
         "--run-name", "scraped", "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[float] = []
    last = ""
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                last = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            tokens = _value(last, "ipw_tokens_total")
            if tokens is not None and (not seen or tokens != seen[-1]):
                seen.append(tokens)
            if len(seen) >= 3 and _value(last, "ipw_energy_joules_total", '{device="cpu:estimate"}'):
                break
            time.sleep(0.1)
        assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] > seen[0] >= 0, (seen, last)
        assert _value(last, "ipw_queries_completed_total") is not None
        assert _value(last, "ipw_queries_failed_total") == 0
        assert (_value(last, "ipw_power_watts", '{device="cpu:estimate"}') or 0) > 0, last
        assert (_value(last, "ipw_energy_joules_total", '{device="cpu:estimate"}') or 0) > 0, last
    finally:
        out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert f"metrics: http://127.0.0.1:{port}/metrics" in err
    with pytest.raises(httpx.HTTPError):  # the server is gone with the capture
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_energy_integrates_power_or_reads_the_counter() -> None:
    # a power-only device at a constant 10 W for 2 s, and a counter device that went from 100 J to 130 J
    metrics = CaptureMetrics()
    progress = Progress(total=4)
    metrics.attach(progress)
    for i in range(5):
        metrics.observe(PowerSample(device="cpu:estimate", t_ns=i * 500_000_000, power_w=10.0, source="estimated"))
        metrics.observe(PowerSample(device="nvidia:0", t_ns=i * 500_000_000, power_w=None, energy_j=100.0 + 7.5 * i))
    progress.tokens, progress.done, progress.failed = 42, 3, 1
    with MetricsServer(metrics, 0) as server:
        assert server.host == "127.0.0.1"
        text = httpx.get(server.url, timeout=5).text
        assert httpx.get(server.url.replace("/metrics", "/other"), timeout=5).status_code == 404
    assert _value(text, "ipw_tokens_total") == 42
    assert _value(text, "ipw_queries_completed_total") == 3 and _value(text, "ipw_queries_failed_total") == 1
    assert _value(text, "ipw_energy_joules_total", '{device="cpu:estimate"}') == pytest.approx(20.0)
    assert _value(text, "ipw_energy_joules_total", '{device="nvidia:0"}') == pytest.approx(30.0)
    assert _value(text, "ipw_power_watts", '{device="cpu:estimate"}') == 10.0
    assert _value(text, "ipw_power_watts", '{device="nvidia:0"}') is None  # no power reading, no made-up value


def test_without_the_extra_metrics_port_is_one_line_and_exit_8(tmp_path: Path) -> None:
    # stands in for an install without the 'metrics' extra: prometheus_client fails to import
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "prometheus_client.py").write_text("raise ImportError('not installed')\n")
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "ipw.cli", "record", "--client", "openai", "--client-base-url", "http://127.0.0.1:9/v1",
         "--model", "m", "--energy", "none", "--output-dir", str(tmp_path / "runs"), "--metrics-port", "0"],
        capture_output=True, text=True, timeout=120, env=env)
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (8, 1), done.stderr
    assert lines[0].startswith("ipw: error:") and "ipw[metrics]" in lines[0]
    assert not (tmp_path / "runs").exists()  # refused before anything was recorded
