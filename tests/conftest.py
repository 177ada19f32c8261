"""Shared fixtures: a scratch run directory and helpers to call the CLI's error boundary."""

from __future__ import annotations

import io
import os
import shutil
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

import pytest

# A suite started as a background job without job control (`pytest &` in a script, `(cmd &)`, nohup in a
# subshell) inherits SIGINT ignored, as POSIX asks of such jobs, and so does every child it starts: the
# tests that stop an `ipw record` or `ipw proxy` child with Ctrl-C would find it ignoring the signal (as it
# should: ipw leaves an ignored SIGINT ignored) and wait for nothing. Children here get a live SIGINT.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class CliResult(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run ``ipw`` in process through ``ipw.cli.main`` (the real error boundary)."""
    from ipw.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


def assert_one_clean_line(text: str) -> None:
    """An error reaches the user as one line and never as a traceback."""
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("ipw: error: "), text




BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER_MISSING = "chromium not on PATH: apt-get install chromium (Debian) to run the HTML report tests"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser the HTML report tests open their pages in.

    Missing on a developer's machine, the test is skipped with one line that
    says how to get it; missing on CI (``CI=true``, where ``.ci/run`` installs
    it) it fails, so a broken install cannot pass as a green run.
    """
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if _on_ci():
        pytest.fail(f"{BROWSER_MISSING} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(BROWSER_MISSING)


@pytest.fixture(scope="session")
def llama_server_url():
    """One real ``python -m llama_cpp.server`` (packaged gemma-3-270m) shared by the whole session."""
    from tests._servers import llama_server

    with llama_server() as url:
        yield url


# one real captured run, shared by the pack and power-trace tests (tests/_shared_run.py); registered here so the
# session captures it once for every folder, and imported last because that module uses run_cli above
from tests._shared_run import run_copy, shared_run  # noqa: E402,F401
