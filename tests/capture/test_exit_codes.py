"""``ipw record`` and ``ipw profile`` say in their exit status whether every query was answered.

0: every query answered; 11 (``SomeQueriesFailedError``): some failed; 5
(``AllQueriesFailedError``): all failed. In each case the run folder is
printed and its ledger is whole. The server is ``_endless_server``'s loopback
stand-in for an inference server that answers, or refuses (HTTP 400, not
retried), the queries we choose.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.errors import AllQueriesFailedError, SomeQueriesFailedError
from ipw.events import QueryFailed, QueryFinished, RunFinished
from ipw.ledger import read_events
from tests.capture._endless_server import endless_server
from tests.conftest import assert_one_clean_line, run_cli

# (server mode, every-n override) -> (exit status, queries failed of 4)
CASES = {
    "all answered": (("ok", None), 0, 0),
    "some failed": (("ok", {2: "error"}), SomeQueriesFailedError.exit_code, 2),
    "all failed": (("error", None), AllQueriesFailedError.exit_code, 4),
}


def _capture(command: str, url: str, out: Path, *extra: str) -> object:
    more = ("--no-eval",) if command == "profile" else ()
    return run_cli(command, "--client", "openai", "--client-base-url", url, "--model", "m",
                   "--client-param", "api=completions", "--client-param", "usage_fallback=count",
                   "--output-dir", str(out), "--run-name", "r", "--max-queries", "4", "--max-retries", "0",
                   "--energy", "none", *more, *extra)


def _check_run(run: Path, failed: int) -> None:
    assert run_cli("ledger", "verify", str(run)).exit_code == 0
    events = read_events(run)
    [finished] = [e for e in events if isinstance(e, RunFinished)]
    assert (finished.status, finished.queries_completed, finished.queries_failed) == ("completed", 4 - failed, failed)
    assert sum(isinstance(e, QueryFailed) for e in events) == failed
    assert sum(isinstance(e, QueryFinished) for e in events) == 4 - failed


def _check_stderr(stderr: str, code: int, failed: int) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("ipw: error: ")]
    assert "Traceback" not in stderr
    if code == 0:
        assert errors == []
    else:
        assert len(errors) == 1, stderr
        words = "every query failed (4 of 4)" if failed == 4 else f"{failed} of 4 queries failed"
        assert words in errors[0] and "--kind query_failed" in errors[0]


@pytest.mark.parametrize("case", list(CASES))
def test_record_exit_status(tmp_path: Path, case: str) -> None:
    (mode, every), code, failed = CASES[case]
    with endless_server(mode, every) as (url, _state):
        result = _capture("record", url, tmp_path)
    assert result.exit_code == code, result
    assert result.stdout.strip() == str(tmp_path / "r")  # the run is printed whatever happened to its queries
    _check_stderr(result.stderr, code, failed)
    _check_run(tmp_path / "r", failed)


@pytest.mark.parametrize("case", list(CASES))
def test_record_json_exit_status(tmp_path: Path, case: str) -> None:
    (mode, every), code, failed = CASES[case]
    with endless_server(mode, every) as (url, _state):
        result = _capture("record", url, tmp_path, "--json")
    assert result.exit_code == code, result
    out = json.loads(result.stdout)
    assert (out["run_dir"], out["queries_failed"]) == (str(tmp_path / "r"), failed)
    if code:
        assert_one_clean_line(result.stderr)


@pytest.mark.parametrize("case", list(CASES))
def test_profile_exit_status(tmp_path: Path, case: str) -> None:
    (mode, every), code, failed = CASES[case]
    with endless_server(mode, every) as (url, _state):
        result = _capture("profile", url, tmp_path)
    assert result.exit_code == code, result
    assert f"run directory: {tmp_path / 'r'}" in result.stdout  # the summary and the run, as always
    assert (tmp_path / "r" / "analysis" / "summary.json").is_file()
    _check_stderr(result.stderr, code, failed)
    _check_run(tmp_path / "r", failed)
