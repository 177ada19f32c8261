"""``ipw list``: every component, and the extra that enables each unavailable one."""

from __future__ import annotations

import json
import sys
import types

import pytest

from ipw.registry import KINDS, REGISTRY


def test_list_all_names_every_kind(cli) -> None:
    result = cli("list")
    assert result.exit_code == 0, result.stderr
    for kind in KINDS:
        assert f"{kind}:" in result.stdout
        for comp in REGISTRY.components(kind):
            assert comp.id in result.stdout


def test_missing_backends_show_the_extra_that_brings_them(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # stands in for a machine where neither the ollama package nor vLLM is installed
    monkeypatch.setitem(sys.modules, "ollama", None)
    monkeypatch.setitem(sys.modules, "vllm", None)
    result = cli("list", "clients")
    assert result.exit_code == 0, result.stderr
    available, _, unavailable = result.stdout.partition("Unavailable clients:")
    assert "openai" in available and "llamacpp" in available
    assert "ollama" in unavailable and "pip install 'ipw[ollama]'" in unavailable
    assert "vllm" in unavailable and "pip install 'ipw[vllm]'" in unavailable
    data = json.loads(cli("list", "clients", "--json").stdout)
    by_id = {c["id"]: c for c in data["clients"]}
    assert by_id["ollama"]["available"] is False and by_id["ollama"]["extra"] == "ollama"
    assert by_id["openai"]["available"] is True


def test_installed_backends_are_available(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # a module object in sys.modules (as a fake vLLM engine is) counts as installed
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    data = json.loads(cli("list", "clients", "--json").stdout)
    assert {c["id"]: c["available"] for c in data["clients"]}["vllm"] is True


def test_using_a_missing_backend_is_one_line_naming_the_extra(cli, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from tests.conftest import assert_one_clean_line

    monkeypatch.setitem(sys.modules, "vllm", None)
    result = cli("record", "--client", "vllm", "--model", "m", "--output-dir", str(tmp_path), "--energy", "none")
    assert result.exit_code == 8
    assert_one_clean_line(result.stderr)
    assert "pip install 'ipw[vllm]'" in result.stderr


def _collectors(cli) -> dict[str, dict]:
    result = cli("list", "collectors", "--json")
    assert result.exit_code == 0, result.stderr
    return {c["id"]: c for c in json.loads(result.stdout)["collectors"]}


def test_rapl_is_unavailable_without_a_readable_powercap_tree(cli, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # IPW_RAPL_ROOT points the probe at a directory standing in for /sys/class/powercap
    monkeypatch.setenv("IPW_RAPL_ROOT", str(tmp_path / "absent"))
    rapl = _collectors(cli)["rapl"]
    assert rapl["available"] is False and "no powercap tree" in rapl["reason"]
    zone = tmp_path / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    monkeypatch.setenv("IPW_RAPL_ROOT", str(tmp_path / "powercap"))
    rapl = _collectors(cli)["rapl"]  # a zone without an energy counter measures nothing
    assert rapl["available"] is False and "energy_uj" in rapl["reason"]
    text = cli("list", "collectors").stdout
    assert "rapl" in text.partition("Unavailable collectors:")[2]
    assert "ipw[None]" not in text


def test_rapl_is_available_when_a_counter_reads(cli, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    zone = tmp_path / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("123456\n")
    monkeypatch.setenv("IPW_RAPL_ROOT", str(tmp_path / "powercap"))
    rapl = _collectors(cli)["rapl"]
    assert rapl["available"] is True and rapl["reason"] is None


def test_powermetrics_needs_macos_and_its_binary(cli, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    pm = _collectors(cli)["powermetrics"]
    assert pm["available"] is False and "macOS" in pm["reason"]
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setenv("PATH", str(tmp_path))
    import os.path

    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: False if p == "/usr/bin/powermetrics" else real_exists(p))
    pm = _collectors(cli)["powermetrics"]
    assert pm["available"] is False and "no powermetrics binary" in pm["reason"]
    binary = tmp_path / "powermetrics"  # stands in for macOS's /usr/bin/powermetrics
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert _collectors(cli)["powermetrics"]["available"] is True

