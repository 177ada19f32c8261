"""Hostile plugins: one broken installed plugin never breaks the built-ins, and its failure is one line naming it.

Each case is one throwaway distribution (a module and a ``*.dist-info`` folder on
the subprocess's PYTHONPATH: what ``pip install`` leaves in site-packages), and
each is driven through the real ``ipw`` command line:

* ``ipw list`` exits 0 and shows the plugin beside the built-ins (a broken one with its error);
* a built-in keeps working in the same environment (``ipw replay RUN --analysis accuracy``);
* using the plugin (``ipw record --client broken``, ``ipw replay RUN --analysis broken``)
  exits 10 with one ``ipw: error:`` line naming the plugin and its distribution, and leaves nothing behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .reports.conftest import plan_queries
from .reports.ledgers import write_run
from ._plugins import run_ipw as _ipw, site_env, write_distribution

DIST = "ipw-hostile-plugin"
NAMED = f"(from distribution {DIST} 0.1)"

_DOC_NOT_A_STRING = '''
class Analysis:
    __doc__ = 42
    analysis_id = "broken"

    def compute(self, view, options):
        return {"queries": len(view.queries)}
'''

_DOC_RAISES = '''
class _Meta(type):
    @property
    def __doc__(cls):
        raise RuntimeError("this docstring cannot be read")


class Analysis(metaclass=_Meta):
    analysis_id = "broken"

    def compute(self, view, options):
        return {"queries": len(view.queries)}
'''

_EXIT_AT_IMPORT = "import sys\nsys.exit(42)\n"

_CLIENT_CONSTRUCTOR_RAISES = '''
from ipw.plugins import InferenceClient


class Client(InferenceClient):
    """A client whose constructor fails."""

    def __init__(self, base_url=None, **params):
        raise RuntimeError("the plugin's device is not there")

    def stream(self, model, prompt, gen):
        yield from ()
'''

_CLIENT_ABSTRACT = '''
from ipw.plugins import InferenceClient


class Client(InferenceClient):
    """A client that forgot to implement stream()."""
'''

_CLIENT_WRONG_SIGNATURE = '''
class Client:
    """A client that cannot take a base URL."""

    def __init__(self):
        pass
'''

_ANALYSIS_RAISES = '''
class Analysis:
    """An analysis that fails on every run."""

    analysis_id = "broken"

    def compute(self, view, options):
        return 1 / 0
'''

_ANALYSIS_EXITS = '''
import sys


class Analysis:
    """An analysis that calls sys.exit() instead of raising."""

    analysis_id = "broken"

    def compute(self, view, options):
        sys.exit(42)
'''


def _env(tmp_path: Path, source: str, group: str) -> dict[str, str]:
    site = tmp_path / "site"
    attribute = {"ipw.clients": "Client", "ipw.analyses": "Analysis"}[group]
    write_distribution(site, DIST, "ipw_hostile_plugin", source, f"[{group}]\nbroken = ipw_hostile_plugin:{attribute}\n")
    return site_env(site)


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", plan_queries(0.0, side="a"), devices={"nvidia:0": 100.0})


def _one_error_line(done, code: int) -> str:  # type: ignore[no-untyped-def]
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (code, 1), (done.returncode, done.stderr)
    assert lines[0].startswith("ipw: error: ") and "Traceback" not in done.stderr
    return lines[0]


def _listed(env: dict[str, str], kind: str) -> dict[str, dict[str, object]]:
    done = _ipw(env, "list", kind, "--json")
    assert done.returncode == 0, done.stderr
    return {c["id"]: c for c in json.loads(done.stdout)[kind]}


def _builtins_still_work(env: dict[str, str], run: Path) -> None:
    done = _ipw(env, "replay", str(run), "--analysis", "accuracy")
    assert done.returncode == 0, done.stderr
    assert (run / "analysis" / "accuracy.json").is_file()


@pytest.mark.parametrize("source", [_DOC_NOT_A_STRING, _DOC_RAISES], ids=["doc-not-a-string", "doc-raises"])
def test_a_plugin_with_an_unreadable_docstring_is_listed_and_works(tmp_path: Path, run: Path, source: str) -> None:
    env = _env(tmp_path, source, "ipw.analyses")
    listed = _listed(env, "analyses")
    assert listed["broken"]["available"] is True and listed["broken"]["summary"] == f"plugin from {DIST}"
    assert listed["accuracy"]["available"] is True
    text = _ipw(env, "list", "analyses")
    assert text.returncode == 0 and f"[plugin: {DIST}]" in text.stdout and "accuracy" in text.stdout
    _builtins_still_work(env, run)
    done = _ipw(env, "replay", str(run), "--analysis", "broken", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "analysis" / "broken.json").read_text())["queries"] == 6


def test_sys_exit_at_import_is_a_broken_plugin_not_the_exit_status(tmp_path: Path, run: Path) -> None:
    env = _env(tmp_path, _EXIT_AT_IMPORT, "ipw.analyses")
    text = _ipw(env, "list")
    assert text.returncode == 0, text.stderr
    broken = next(line for line in text.stdout.splitlines() if line.strip().startswith("broken "))
    assert f"[plugin: {DIST}]" in broken and "SystemExit: sys.exit(42) was called" in broken
    assert "accuracy" in text.stdout and "openai" in text.stdout
    _builtins_still_work(env, run)
    line = _one_error_line(_ipw(env, "replay", str(run), "--analysis", "broken"), 10)
    assert f"plugin analysis 'broken' {NAMED} failed to load: SystemExit" in line
    assert not (run / "analysis" / "broken.json").exists()


def test_ctrl_c_during_a_plugin_import_still_interrupts(tmp_path: Path) -> None:
    env = _env(tmp_path, "raise KeyboardInterrupt\n", "ipw.analyses")
    done = _ipw(env, "list")
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("source, why", [
    (_CLIENT_CONSTRUCTOR_RAISES, "RuntimeError: the plugin's device is not there"),
    (_CLIENT_WRONG_SIGNATURE, "TypeError: "),
    (_CLIENT_ABSTRACT, "TypeError: Can't instantiate abstract class Client"),
], ids=["constructor-raises", "wrong-signature", "abstract"])
def test_a_client_plugin_that_cannot_be_built_is_one_line(tmp_path: Path, run: Path, source: str, why: str) -> None:
    env = _env(tmp_path, source, "ipw.clients")
    listed = _listed(env, "clients")
    assert listed["broken"]["available"] is True and listed["openai"]["available"] is True
    out = tmp_path / "runs"
    line = _one_error_line(_ipw(env, "record", "--client", "broken", "--model", "m", "--energy", "none",
                                "--max-queries", "1", "--output-dir", str(out)), 10)
    assert f"plugin client 'broken' {NAMED} failed to start: {why}" in line
    assert f"fix or uninstall the {DIST} distribution" in line
    assert not out.exists() or not any(out.iterdir())  # nothing was recorded
    _builtins_still_work(env, run)


@pytest.mark.parametrize("source, why", [
    (_ANALYSIS_RAISES, "ZeroDivisionError: division by zero"),
    (_ANALYSIS_EXITS, "SystemExit: sys.exit(42) was called"),
], ids=["raises", "sys-exit"])
def test_an_analysis_plugin_that_fails_when_used_is_one_line(tmp_path: Path, run: Path, source: str, why: str) -> None:
    env = _env(tmp_path, source, "ipw.analyses")
    _builtins_still_work(env, run)
    line = _one_error_line(_ipw(env, "replay", str(run), "--analysis", "broken"), 10)
    assert line == (f"ipw: error: plugin analysis 'broken' {NAMED} failed: {why}; "
                    f"fix or uninstall the {DIST} distribution (see 'ipw list analyses')")
    assert not (run / "analysis" / "broken.json").exists()
