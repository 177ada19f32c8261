"""A judge endpoint that answers HTTP 400 to every request: the CLI exits 6 with one line, verdicts kept."""

from __future__ import annotations

import http.server
import json
from pathlib import Path
from typing import Iterator

import pytest

from ._judging_support import RECORDS, write_run
from ipw.replay import load_run
from tests._servers import loopback_http
from tests.conftest import assert_one_clean_line


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A loopback OpenAI-compatible judge that refuses every chat request, as a provider does for a bad parameter."""

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": {"message": "Unsupported value: 'temperature' does not support 0",
                                     "type": "invalid_request_error"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def refusing_judge() -> Iterator[str]:
    with loopback_http(_Refusing) as url:
        yield url


def test_replay_with_a_judge_that_refuses_everything_exits_6(tmp_path: Path, cli, refusing_judge: str) -> None:
    run = write_run(tmp_path / "run", [r for r in RECORDS if r["scorer"] is None] * 1)
    result = cli("replay", str(run), "--analysis", "accuracy", "--eval-client", "openai",
                 "--eval-base-url", refusing_judge, "--eval-model", "judge-model")
    assert result.exit_code == 6, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert "refused every request (1 of 1)" in result.stderr
    assert "does not support 0" in result.stderr
    verdicts = load_run(run).verdicts
    assert len(verdicts) == 1 and verdicts[0].is_correct is None
