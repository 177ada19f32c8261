"""Energy during a real capture: the monitor dying mid-run, and runs with energy switched off."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ipw.events import PowerSample, QueryFinished, TelemetryStatus
from ipw.ledger import read_events, verify

pytestmark = pytest.mark.e2e


def _monitors_of(pid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if any("ipw_energy_monitor" in part for part in cmd) and str(pid) in cmd:
            found.append(proc)
    return found


def test_killing_the_monitor_mid_run(tmp_path: Path, llama_server_url: str) -> None:
    run = tmp_path / "monitor-dies"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipw.cli", "record", "--client", "openai", "--client-base-url", llama_server_url,
         "--client-param", "api=completions", "--model", "gemma", "--max-queries", "8",
         "--gen-param", "max_tokens=8", "--output-dir", str(tmp_path), "--run-name", run.name,
         "--sample-interval-ms", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    monitors: list[psutil.Process] = []
    while time.monotonic() < deadline and proc.poll() is None:
        monitors = _monitors_of(proc.pid)
        try:
            done = sum(isinstance(e, QueryFinished) for e in read_events(run))
        except Exception:  # the ledger is not there yet
            done = 0
        if monitors and done >= 2:
            break
        time.sleep(0.05)
    assert monitors, "the capture did not start an energy monitor"
    for m in monitors:
        m.kill()  # the monitor dies; the run must go on
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert verify(run).ok
    events = read_events(run)
    assert sum(isinstance(e, QueryFinished) for e in events) == 8  # every query completed
    statuses = [e.status for e in events if isinstance(e, TelemetryStatus)]
    assert "connected" in statuses and "lost" in statuses
    assert any(isinstance(e, PowerSample) for e in events)
    assert not _monitors_of(proc.pid)  # nothing left behind
    energy = subprocess.run([sys.executable, "-m", "ipw.cli", "replay", str(run), "--analysis", "energy", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert energy.returncode == 0, energy.stderr
    assert json.loads(energy.stdout)["gaps"], "the outage must show as a gap in the energy analysis"


def test_energy_none_says_not_measured(tmp_path: Path, cli, llama_server_url: str) -> None:
    result = cli("profile", "--client", "openai", "--client-base-url", llama_server_url, "--client-param",
                 "api=completions", "--model", "gemma", "--max-queries", "3", "--gen-param", "max_tokens=4",
                 "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "noenergy")
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "noenergy"
    assert not any(isinstance(e, PowerSample) for e in read_events(run))
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert summary["energy_measured"] is False
    metrics = summary["metrics"]
    for name in ("intelligence_per_watt", "intelligence_per_joule", "mean_energy_per_query_j", "mean_power_w"):
        assert metrics[name]["value"] is None, name
    assert "not measured" in result.stdout.lower() or "not measured" in result.stderr.lower()
    assert " 0 J" not in result.stdout
