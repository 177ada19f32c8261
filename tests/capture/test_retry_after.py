"""The runner's retry backoff honours a server's ``Retry-After`` (seconds or HTTP-date), capped."""

from __future__ import annotations

import email.utils
from pathlib import Path

import httpx

from ipw.capture.backoff import RETRY_AFTER_CAP_S, retry_delay_s
from ipw.capture.clients import OpenAIClient
from ipw.capture.clients.base import client_error, retry_after_s
from ipw.capture.runner import CaptureConfig, Runner
from ipw.errors import ServerResponseError
from ipw.events import QueryFailed, QueryFinished, QueryStarted
from ipw.ledger import read_events


def _err(after: float | None) -> ServerResponseError:
    return client_error(ServerResponseError, "429", retryable=True, retry_after_s=after)


def test_the_delay_is_the_servers_retry_after_capped() -> None:
    assert retry_delay_s(_err(3.0), attempt=1, backoff_s=0.5) == 3.0
    assert retry_delay_s(_err(0.0), attempt=4, backoff_s=0.5) == 0.0
    assert retry_delay_s(_err(10_000.0), attempt=1, backoff_s=0.5) == RETRY_AFTER_CAP_S
    # an HTTP-date is turned into seconds by the client before it reaches here, against the client's clock
    now_s = 1_700_000_000.0
    date = email.utils.formatdate(now_s + 20, usegmt=True)
    assert retry_delay_s(_err(retry_after_s(date, now_s=now_s)), attempt=1, backoff_s=0.5) == 20.0
    past = email.utils.formatdate(now_s - 5, usegmt=True)
    assert retry_delay_s(_err(retry_after_s(past, now_s=now_s)), attempt=1, backoff_s=0.5) == 0.0


def test_without_retry_after_the_backoff_is_exponential_with_jitter() -> None:
    for attempt in (1, 2, 3):
        step = 0.5 * 2 ** (attempt - 1)
        delays = [retry_delay_s(_err(None), attempt=attempt, backoff_s=0.5) for _ in range(50)]
        assert all(step * 0.5 <= d <= step * 1.5 for d in delays)
        assert len(set(delays)) > 1


def test_the_runner_waits_as_long_as_the_server_asks(tmp_path: Path) -> None:
    answers = iter([httpx.Response(429, headers={"retry-after": "1"}, json={"error": {"message": "slow down"}})])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})
        scripted = next(answers, None)
        if scripted is not None:
            return scripted
        body = b'data: {"choices": [{"text": " 4", "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = OpenAIClient("http://stub/v1", transport=httpx.MockTransport(handler), api="completions",
                          usage_fallback="count")
    # the runner's own backoff would retry after ~1 ms; the server asked for a second
    config = CaptureConfig(client="openai", model="m", output_dir=str(tmp_path), run_name="r", max_queries=1,
                           energy="none", retry_backoff_s=0.001)
    result = Runner(config, client=client).run()
    assert (result.completed, result.failed) == (1, 0)
    events = read_events(tmp_path / "r")
    (failed,) = [e for e in events if isinstance(e, QueryFailed)]
    assert failed.will_retry and "HTTP 429" in failed.message
    retry_start = [e for e in events if isinstance(e, QueryStarted)][1]
    assert retry_start.t_ns - failed.t_ns >= 0.95e9
    assert len([e for e in events if isinstance(e, QueryFinished)]) == 1
