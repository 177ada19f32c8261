"""``ipw record --server-cmd``: the real llama_cpp.server started for one run and stopped after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.events import RunStarted, ServerStarted, ServerStopped
from ipw.ledger import read_events, verify
from tests.capture.test_server_process import _alive
from tests.conftest import run_cli
from tests.studies.test_study_server import server_processes

pytestmark = pytest.mark.e2e

SERVER = ("{python} -m llama_cpp.server --model {model_path} --host 127.0.0.1 --port {port} --n_ctx 512 "
          "--n_threads 1 --interrupt_requests False")
ARGS = ("--client", "openai", "--model", "gemma-3-270m", "--max-queries", "2", "--gen-param", "max_tokens=8",
        "--client-param", "api=completions", "--energy", "none", "--json")


def test_record_starts_the_server_talks_to_it_and_stops_it(tmp_path: Path) -> None:
    result = run_cli("record", *ARGS, "--output-dir", str(tmp_path), "--run-name", "r", "--server-cmd", SERVER)
    assert result.exit_code == 0, result.stderr
    run = Path(json.loads(result.stdout)["run_dir"])
    assert verify(run).ok
    events = read_events(run)
    started = next(e for e in events if isinstance(e, ServerStarted))
    stopped = next(e for e in events if isinstance(e, ServerStopped))
    assert events.index(started) == 1 and isinstance(events[0], RunStarted)
    assert events[0].config["client_base_url"] is None  # the port is the server's, recorded in its own event
    assert started.command[started.command.index("--port") + 1] == str(started.port)
    assert stopped.exit_code is not None and "127.0.0.1" in stopped.log_tail
    assert not _alive(started.pid) and server_processes(started.port) == []


def test_record_with_a_server_that_cannot_start_records_nothing_and_quotes_its_log(tmp_path: Path) -> None:
    bad = SERVER.replace("--n_ctx 512", "--n_ctx lots")
    result = run_cli("record", *ARGS, "--output-dir", str(tmp_path), "--run-name", "r", "--server-cmd", bad)
    assert result.exit_code == 5, result.stderr
    assert result.stderr.count("\n") == 1 and "exited with code" in result.stderr and "lots" in result.stderr
    assert not (tmp_path / "r" / "events").exists()
