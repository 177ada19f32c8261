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
