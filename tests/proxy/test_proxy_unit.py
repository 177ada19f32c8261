"""``ipw proxy`` in-process against small loopback upstreams (stand-ins for a model server that misbehaves).

The upstream here is a stdlib HTTP server that echoes the request's
credentials back in an error, as a careless server does; the gap grouping
runs on a clock the test steps (the router's ``clock``), so a pause is exactly
as long as the test says however loaded the machine is.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import ipw.proxy.run as proxy_run
from ipw.ledger import export_jsonl
from ipw.proxy import ProxyConfig, ProxyRun
from ipw.proxy.tasks import TaskRouter
from tests._servers import loopback_http
from tests.proxy._helpers import events_of

SECRET = "sk-echoed-credential-98765"


class EchoingUpstream(http.server.BaseHTTPRequestHandler):
    """Answers 401 quoting the Authorization header for /v1/chat/completions; a plain answer otherwise."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.endswith("/chat/completions"):
            body = json.dumps({"error": {"message": f"bad key: {self.headers.get('authorization')}"}}).encode()
            self.send_response(401)
        else:
            body = json.dumps({"choices": [{"text": "four", "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode()
            self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _proxy(upstream: str, tmp_path: Path, **kw: object) -> ProxyRun:
    run = ProxyRun(ProxyConfig(upstream=upstream, port=0, output_dir=str(tmp_path), run_name="r", energy="none",
                               **kw))  # type: ignore[arg-type]
    run.start()
    run.serve_in_thread()
    return run


def test_an_echoed_credential_reaches_the_agent_but_never_the_ledger(tmp_path: Path) -> None:
    with loopback_http(EchoingUpstream) as upstream:
        run = _proxy(upstream, tmp_path)
        try:
            r = httpx.post(run.url + "/chat/completions", headers={"Authorization": f"Bearer {SECRET}"},
                           json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        finally:
            run.close()
    assert r.status_code == 401 and SECRET in r.text  # passed through unchanged to whoever sent it
    (failed,) = events_of(run.run_dir, "QueryFailed")
    assert failed.error_type == "HTTP 401" and "bad key" in failed.message and SECRET not in failed.message
    with open(tmp_path / "out.jsonl", "wb") as out:
        export_jsonl(run.run_dir, out)
    assert SECRET not in (tmp_path / "out.jsonl").read_text()


def test_calls_without_a_task_name_are_grouped_by_pauses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the router's clock moves only when the test pauses: a slow call on a loaded machine is no pause
    paused_ns = [0]
    origin_ns = time.monotonic_ns()
    monkeypatch.setattr(proxy_run, "TaskRouter",
                        functools.partial(TaskRouter, clock=lambda: origin_ns + paused_ns[0]))
    with loopback_http(EchoingUpstream) as upstream:
        run = _proxy(upstream, tmp_path, task_gap_s=0.3)
        try:
            ask = {"model": "m", "prompt": "2+2="}
            for pause_s in (0, 0, 0.6, 0):
                paused_ns[0] += int(pause_s * 1e9)
                assert httpx.post(run.url + "/completions", json=ask).json()["choices"][0]["text"] == "four"
            done = httpx.post(run.url.replace("/v1", "/ipw/task/gap-2/finish"), json={"outcome": "solved"})
            missing = httpx.post(run.url.replace("/v1", "/ipw/task/nope/finish"), json={"outcome": "solved"})
        finally:
            run.close()
    assert done.status_code == 200 and missing.status_code == 404
    started = events_of(run.run_dir, "QueryStarted")
    assert [(q.task_id, q.turn) for q in started] == [("gap-1", 1), ("gap-1", 2), ("gap-2", 1), ("gap-2", 2)]
    ends = {e.task_id: e.outcome for e in events_of(run.run_dir, "TaskFinished")}
    assert ends == {"gap-1": "unknown", "gap-2": "solved"}
    finished = events_of(run.run_dir, "QueryFinished")
    assert [(f.prompt_tokens, f.completion_tokens, f.usage_source) for f in finished] == [(3, 1, "server")] * 4
    assert [t.text for t in events_of(run.run_dir, "Token")] == ["four"] * 4


def test_listening_beyond_loopback_is_warned_about_and_a_bad_upstream_refused(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ipw.cli", "proxy", "--upstream", "ftp://x", "--host", "0.0.0.0",
                             "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("ipw: warning: listening on 0.0.0.0, not loopback")
    assert lines[1].startswith("ipw: error: --upstream 'ftp://x' is not an http(s) URL") and len(lines) == 2
    assert result.returncode == 2 and not list(tmp_path.iterdir())
