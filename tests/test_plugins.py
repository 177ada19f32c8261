"""Plugins through entry points: a throwaway distribution registers a client; ipw lists it and records with it.

The distribution is real as far as ``importlib.metadata`` is concerned (see
:mod:`tests._plugins`): on the subprocess's PYTHONPATH, exactly what ``pip
install`` leaves in site-packages, without touching the shared virtual environment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.events import QueryFinished, RunStarted, Token
from ipw.ledger import read_events

from ._plugins import run_ipw, site_env, write_distribution

_ECHO = '''
from ipw.plugins import InferenceClient
from ipw.capture.clients.openai import OpenAIClient


class EchoClient(OpenAIClient):
    """The OpenAI client under another name, shipped by a plugin."""

    client_id = "echo"
    client_name = "Echo (plugin)"


assert issubclass(EchoClient, InferenceClient)
'''


@pytest.fixture()
def plugin_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "ipw-echo-plugin", "ipw_echo_plugin", _ECHO,
                  "[ipw.clients]\necho = ipw_echo_plugin:EchoClient\nopenai = ipw_echo_plugin:EchoClient\n")
    write_distribution(site, "ipw-broken-plugin", "ipw_broken_plugin", "import a_module_that_is_not_there\n",
                  "[ipw.clients]\nbroken = ipw_broken_plugin:Client\n")
    return site_env(site)


def test_ipw_list_shows_plugins_with_their_distribution_and_errors(plugin_env: dict[str, str]) -> None:
    done = run_ipw(plugin_env, "list", "clients")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    echo = next(line for line in lines if line.strip().startswith("echo "))
    assert "[plugin: ipw-echo-plugin]" in echo and "another name, shipped by a plugin" in echo
    broken = next(line for line in lines if line.strip().startswith("broken "))
    assert "[plugin: ipw-broken-plugin]" in broken and "ModuleNotFoundError" in broken
    assert "a_module_that_is_not_there" in broken
    assert lines.index(broken) > next(i for i, line in enumerate(lines) if line.startswith("Plugins that failed"))
    listed = {c["id"] + "@" + c["origin"]: c for c in json.loads(run_ipw(plugin_env, "list", "--json").stdout)["clients"]}
    assert listed["openai@builtin"]["available"] is True  # a plugin cannot take a built-in's id
    assert "already taken by builtin" in listed["openai@ipw-echo-plugin"]["error"]
    assert listed["echo@ipw-echo-plugin"]["available"] is True
    assert listed["broken@ipw-broken-plugin"]["available"] is False


def test_a_broken_plugin_is_one_line_when_used(plugin_env: dict[str, str], tmp_path: Path) -> None:
    done = run_ipw(plugin_env, "record", "--client", "broken", "--model", "m", "--energy", "none",
                "--output-dir", str(tmp_path / "runs"))
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (10, 1), done.stderr  # 10: an installed plugin failed
    assert "plugin client 'broken' (from distribution ipw-broken-plugin 0.1) failed to load" in lines[0]
    assert "ModuleNotFoundError" in lines[0]


@pytest.mark.e2e
def test_record_with_a_plugin_client_against_the_real_server(plugin_env: dict[str, str], tmp_path: Path,
                                                             llama_server_url: str) -> None:
    done = run_ipw(plugin_env, "record", "--client", "echo", "--client-base-url", llama_server_url,
                "--client-param", "api=completions", "--model", "gemma", "--gen-param", "max_tokens=6",
                "--max-queries", "2", "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "plugged")
    assert done.returncode == 0, done.stderr
    events = read_events(tmp_path / "plugged")
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.config["client"] == "echo"
    assert sum(isinstance(e, QueryFinished) for e in events) == 2
    assert any(isinstance(e, Token) and e.text for e in events)
