"""``ipw energy`` end to end: a real monitor process, the estimated collector on this machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ipw.cli import cli

IPW = [sys.executable, "-c", "from ipw.cli import main; main()"]


def test_json_lists_the_estimated_cpu(monkeypatch):
    monkeypatch.delenv("IPW_ENERGY_MONITOR", raising=False)
    proc = subprocess.run([*IPW, "energy", "--duration", "2", "--json", "--collectors", "estimate"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    (device,) = result["devices"]
    assert device["device"] == "cpu:estimate" and device["device_type"] == "cpu"
    assert device["source"] == "estimated"
    assert device["samples"] >= 10 and device["energy_j"] >= 0.0 and device["mean_power_w"] >= 0.0
    assert result["collectors"] == ["estimate"] and result["reused"] is False


def test_auto_on_this_machine_falls_back_to_the_estimate(monkeypatch):
    # this machine has no GPU and no RAPL; the vendor libraries are not installed in the test environment
    monkeypatch.delenv("IPW_ENERGY_MONITOR", raising=False)
    monkeypatch.setenv("IPW_RAPL_ROOT", "/nonexistent-powercap")
    proc = subprocess.run([*IPW, "energy", "--duration", "1", "--json", "--cpu-tdp-w", "35"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [d["device"] for d in result["devices"]] == ["cpu:estimate"]
    assert any(n.startswith("rapl:") for n in result["notes"])


def test_table_output_names_the_provenance(monkeypatch):
    monkeypatch.delenv("IPW_ENERGY_MONITOR", raising=False)
    result = CliRunner().invoke(cli, ["energy", "--duration", "1", "--collectors", "estimate", "--interval-ms", "50"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1].split() == ["device", "type", "source", "mean", "W", "J", "samples"]
    assert lines[2].split()[:3] == ["cpu:estimate", "cpu", "estimated"]
    assert "not a measurement" in result.output


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--collectors", "rapl"], 7, "the energy monitor could not start"),
        (["--duration", "0"], 2, "--duration must be positive"),
        (["--collectors", "nope"], 2, "unknown collector 'nope'"),
    ],
)
def test_errors_are_one_line_with_the_documented_code(monkeypatch, args, code, says):
    monkeypatch.delenv("IPW_ENERGY_MONITOR", raising=False)
    monkeypatch.setenv("IPW_RAPL_ROOT", "/nonexistent-powercap")
    proc = subprocess.run([*IPW, "energy", "--duration", "1", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == code
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("ipw: error: ") and says in line
