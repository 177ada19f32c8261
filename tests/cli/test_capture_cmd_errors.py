"""Bad input at the capture CLI: one clear line or a recorded query_failed, never a traceback."""

from __future__ import annotations

import http.server
import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from ipw.ledger import read_events
from ipw.events import QueryFailed, RunFinished

from tests.conftest import assert_one_clean_line
from tests._servers import free_port, loopback_http


class _Handler(http.server.BaseHTTPRequestHandler):
    """A real loopback HTTP server that misbehaves on purpose: 500s, or never answers in time."""

    mode = "500"

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        return

    def do_GET(self) -> None:  # /v1/models answers, so the pre-flight health check passes
        body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        if self.mode == "slow":
            time.sleep(3)
        if self.mode == "hang":  # accepts the request and says nothing, for longer than the test waits
            time.sleep(30)
        body = b'{"error": {"message": "internal failure"}}'
        try:
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout case), as intended


@pytest.fixture
def bad_server(request: pytest.FixtureRequest) -> Iterator[str]:
    with loopback_http(type("H", (_Handler,), {"mode": request.param})) as url:
        yield url


def _record_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["record", "--output-dir", str(tmp_path), "--run-name", "r", "--max-queries", "2", "--energy", "none",
            "--max-retries", "1", *extra]


def test_unreachable_server_is_one_line(tmp_path: Path, cli) -> None:
    port = free_port()  # nothing listens there
    result = cli(*_record_args(tmp_path, "--client", "openai", "--model", "m",
                               "--client-base-url", f"http://127.0.0.1:{port}/v1"))
    assert result.exit_code == 5
    assert_one_clean_line(result.stderr)
    assert f"127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "r").exists()  # nothing half-made


@pytest.mark.parametrize("bad_server", ["500"], indirect=True)
def test_http_500_is_recorded_as_query_failed(tmp_path: Path, cli, bad_server: str) -> None:
    result = cli(*_record_args(tmp_path, "--client", "openai", "--model", "m", "--client-base-url", bad_server))
    assert result.exit_code == 5, result.stderr  # every query failed; the run is still printed and kept
    assert result.stdout.strip() == str(tmp_path / "r")
    assert "Traceback" not in result.stderr
    events = read_events(tmp_path / "r")
    failures = [e for e in events if isinstance(e, QueryFailed)]
    assert len(failures) == 4  # two queries, each tried twice (one retry)
    assert all(f.error_type == "ServerResponseError" and "500" in f.message for f in failures)
    assert [f.will_retry for f in failures if f.query_id == 0] == [True, False]
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert finished[-1].queries_failed == 2 and finished[-1].queries_completed == 0


@pytest.mark.parametrize("bad_server", ["slow"], indirect=True)
def test_timeout_is_recorded_as_query_failed(tmp_path: Path, cli, bad_server: str) -> None:
    result = cli(*_record_args(tmp_path, "--client", "openai", "--model", "m", "--client-base-url", bad_server,
                               "--client-param", "timeout_s=0.5", "--max-queries", "1"))
    assert result.exit_code == 5, result.stderr  # the one query failed
    failures = [e for e in read_events(tmp_path / "r") if isinstance(e, QueryFailed)]
    assert failures and all(f.error_type == "ServerTimeoutError" for f in failures)


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--client", "nosuch", "--model", "m"], 2, "unknown client 'nosuch'"),
        (["--client", "openai", "--model", "m", "--dataset", "nosuch"], 2, "unknown dataset 'nosuch'"),
        (["--client", "openai", "--model", "m", "--gen-param", "temperature"], 2, "--gen-param expects key=value"),
        (["--client", "openai", "--model", "m", "--client-param", "=3"], 2, "--client-param expects key=value"),
        (["--client", "openai", "--model", "m", "--max-concurrency", "0"], 2, "--max-concurrency"),
    ],
)
def test_bad_flags_are_one_line(tmp_path: Path, cli, args: list[str], code: int, words: str) -> None:
    result = cli(*_record_args(tmp_path, *args))
    assert result.exit_code == code, result.stderr
    assert_one_clean_line(result.stderr)
    assert words in result.stderr


def test_malformed_dataset_rows_are_one_line(tmp_path: Path, cli) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"problem": "2+2?", "answer": "4", "subject": "math"}\n{"problem": "no answer here"}\nnot json\n')
    result = cli(*_record_args(tmp_path, "--client", "openai", "--model", "m", "--dataset", "file",
                               "--dataset-param", f"path={data}", "--client-base-url", "http://127.0.0.1:9/v1"))
    assert result.exit_code == 4
    assert_one_clean_line(result.stderr)
    assert "bad.jsonl" in result.stderr


def test_existing_run_name_is_refused_without_resume(tmp_path: Path, cli) -> None:
    (tmp_path / "r" / "events").mkdir(parents=True)
    (tmp_path / "r" / "events" / "000001.ipwl").write_bytes(b"x")
    result = cli(*_record_args(tmp_path, "--client", "openai", "--model", "m", "--client-base-url", "http://127.0.0.1:9/v1"))
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert "--resume" in result.stderr


@pytest.mark.parametrize("bad_server", ["hang"], indirect=True)
def test_sigterm_ends_a_run_stalled_on_a_silent_server(tmp_path: Path, bad_server: str) -> None:
    import signal
    import subprocess
    import sys

    from ipw.events import QueryStarted

    run = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "ipw.cli", *_record_args(tmp_path, "--client", "openai", "--model", "m",
                             "--client-base-url", bad_server, "--client-param", "timeout_s=120")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if any(isinstance(e, QueryStarted) for e in read_events(run)):
                break
        except Exception:  # not written yet
            pass
        time.sleep(0.05)
    time.sleep(0.3)  # the request is in flight, and the server is silent
    proc.send_signal(signal.SIGTERM)
    try:  # the client's own timeout is 120 s: ending well before it means SIGTERM cut the stalled request
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the stalled request held the run after SIGTERM")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    events = read_events(run)
    assert [e.status for e in events if isinstance(e, RunFinished)] == ["interrupted"]
    assert [f.error_type for f in events if isinstance(f, QueryFailed)] == ["Interrupted"]
