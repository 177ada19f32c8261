"""An answer that never ends is cut off, recorded as a failed query, and the run goes on.

Through ``ipw record`` against the loopback servers of ``_endless_server``
(the real llama_cpp.server always ends its answer). pytest-timeout is the
guard: before the deadline and the caps these runs went on for as long as the
server did, so a regression hangs here instead of passing. Nothing measures time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipw.events import QueryFailed, QueryFinished, RunFinished, Token
from ipw.ledger import read_events, verify
from tests.capture._endless_server import endless_server
from tests.conftest import assert_one_clean_line, run_cli


def _record(url: str, out: Path, *extra: str, queries: int = 1) -> object:
    return run_cli("record", "--client", "openai", "--client-base-url", url, "--model", "m",
                   "--client-param", "api=completions", "--client-param", "usage_fallback=count",
                   "--output-dir", str(out), "--run-name", "r", "--max-queries", str(queries),
                   "--energy", "none", "--json", *extra)


def _failures(run: Path) -> list[QueryFailed]:
    return [e for e in read_events(run) if isinstance(e, QueryFailed)]


@pytest.mark.timeout(90)
def test_keep_alive_comments_forever_meet_the_deadline_derived_from_timeout_s(tmp_path: Path) -> None:
    # a comment every 0.2 s keeps every read under timeout_s=0.5; only the whole-answer deadline
    # (10 x timeout_s by default) ends the query
    with endless_server("comments") as (url, _state):
        result = _record(url, tmp_path, "--client-param", "timeout_s=0.5")
    assert result.exit_code == 5, result
    assert_one_clean_line(result.stderr)
    assert "every query failed (1 of 1)" in result.stderr
    run = tmp_path / "r"
    assert verify(run).ok
    [failure] = _failures(run)
    assert failure.error_type == "ServerTimeoutError" and not failure.will_retry
    assert "deadline_s=5 s" in failure.message, failure.message
    [finished] = [e for e in read_events(run) if isinstance(e, RunFinished)]
    assert finished.status == "completed" and finished.queries_failed == 1


@pytest.mark.timeout(90)
def test_an_explicit_deadline_cuts_each_query_and_the_run_goes_on(tmp_path: Path) -> None:
    # every second answer never ends: those fail at deadline_s, the others are recorded whole
    with endless_server("ok", every={2: "comments"}) as (url, state):
        result = _record(url, tmp_path, "--client-param", "timeout_s=5", "--client-param", "deadline_s=1",
                         queries=4)
    assert result.exit_code == 11, result
    assert_one_clean_line(result.stderr)
    assert "2 of 4 queries failed" in result.stderr
    run = tmp_path / "r"
    assert verify(run).ok
    events = read_events(run)
    failures = [e for e in events if isinstance(e, QueryFailed)]
    assert [f.error_type for f in failures] == ["ServerTimeoutError"] * 2
    assert all("deadline_s=1 s" in f.message for f in failures)
    assert sum(isinstance(e, QueryFinished) for e in events) == 2
    assert state["posts"] == 4  # a query past its deadline is not asked again


@pytest.mark.timeout(90)
def test_endless_tokens_stop_at_four_times_max_tokens_plus_64(tmp_path: Path) -> None:
    with endless_server("tokens") as (url, _state):
        result = _record(url, tmp_path, "--client-param", "timeout_s=5", "--gen-param", "max_tokens=16",
                         queries=2)
    assert result.exit_code == 5, result
    assert_one_clean_line(result.stderr)
    run = tmp_path / "r"
    assert verify(run).ok
    events = read_events(run)
    failures = [e for e in events if isinstance(e, QueryFailed)]
    assert [f.error_type for f in failures] == ["AnswerTooLongError"] * 2
    assert all("past 128 tokens" in f.message and not f.will_retry for f in failures)
    for qid in (0, 1):  # the ledger holds each answer up to its cap, and no further
        assert sum(e.n_tokens for e in events if isinstance(e, Token) and e.query_id == qid) == 128


@pytest.mark.timeout(120)
def test_endless_bytes_without_tokens_stop_at_the_byte_cap(tmp_path: Path) -> None:
    # 64 KiB comments as fast as they are read: no token and no quiet read, only bytes
    with endless_server("padding") as (url, state):
        result = _record(url, tmp_path, "--client-param", "timeout_s=30", "--gen-param", "max_tokens=1")
    assert result.exit_code == 5, result
    assert_one_clean_line(result.stderr)
    [failure] = _failures(tmp_path / "r")
    assert failure.error_type == "AnswerTooLongError" and "byte cap" in failure.message, failure.message
    # the cap for max_tokens=1 is 68 x 16 KiB + 32 MiB; what the server got out is that plus socket buffers
    assert state["bytes"] < 64 * 1024**2, state["bytes"]
