"""The LLM judge against a stand-in endpoint: answers, retries, failures, nonsense.

The endpoint (``FakeJudgeEndpoint``) stands in for OpenAI's hosted API behind an
``httpx.MockTransport``; the judge's ``openai`` SDK client talks to it through an
``httpx.Client``, so its retries and their waits (``no_sleep``) are the SDK's own.
"""

from __future__ import annotations

import base64
import email.utils
import time
from typing import Any, Callable

import httpx
import pytest

from ._judging_support import FakeJudgeEndpoint, chat_response, free_port
from ipw import secrets
from ipw.errors import ConfigError, JudgeError
from ipw.judging.llm import LLMJudge
from ipw.judging.prompts import JudgeItem

HISTORY = JudgeItem(query_id=1, answer_text="Homer wrote it.", problem="Who wrote the Odyssey?",
                    reference="Homer", subject="history")


def make(endpoint: FakeJudgeEndpoint, sleep: Callable[[float], None], **kw: Any) -> LLMJudge:
    """A judge whose SDK client sends to ``endpoint``; ``sleep`` (``no_sleep``) records the SDK's waits."""
    kw.setdefault("max_retries", 3)
    return LLMJudge("https://judge.example/v1", "judge-model", api_key="sk-test",
                    http_client=endpoint.http_client(), **kw)


def test_a_well_formed_answer_becomes_a_verdict(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    judge = make(endpoint, no_sleep)
    result = judge.judge(HISTORY)
    assert result.is_correct is True and result.score == 1.0
    meta = result.metadata
    assert meta["template"] == "chat/v1" and meta["outcome"] == "parsed" and meta["extracted"] == "CORRECT"
    assert meta["raw"].endswith("VERDICT: CORRECT") and meta["attempts"] == 1
    assert meta["judge_base_url"] == "https://judge.example/v1"
    wrong = judge.judge(JudgeItem(query_id=2, answer_text="Virgil.", problem="Who wrote the Odyssey?",
                                  reference="Homer", subject="history"))
    assert wrong.is_correct is False and wrong.score == 0.0
    request = endpoint.requests[0]
    assert request.url == "https://judge.example/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert no_sleep.slept == []


def test_spec_names_client_model_and_template_family_only() -> None:
    judge = LLMJudge("http://user:pw@127.0.0.1:9/v1", "m-1", api_key="sk-very-secret")
    assert judge.spec == "llm:openai:m-1:ipw-judge/v1"
    for text in (judge.spec, repr(judge), str(judge.describe())):
        assert "sk-very-secret" not in text and "pw@" not in text


def test_429_is_retried_after_the_retry_after_delay(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.script = [httpx.Response(429, headers={"Retry-After": "0.01"}, json={"error": {"message": "slow down"}})]
    result = make(endpoint, no_sleep).judge(HISTORY)
    assert result.is_correct is True and result.metadata["attempts"] == 2
    assert endpoint.calls == 2 and no_sleep.slept == [0.01]


def test_retry_after_as_an_http_date_is_obeyed(endpoint: FakeJudgeEndpoint, no_sleep: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # the SDK turns the date into seconds against time.time(): pinned here, so the wait is exact on any machine
    now_s = 1_700_000_000.0
    monkeypatch.setattr(time, "time", lambda: now_s)
    when = email.utils.formatdate(now_s + 30, usegmt=True)
    endpoint.script = [httpx.Response(429, headers={"Retry-After": when})]
    make(endpoint, no_sleep).judge(HISTORY)
    assert no_sleep.slept == [30.0]
    assert endpoint.calls == 2


def test_5xx_is_retried_with_jittered_exponential_backoff(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.script = [httpx.Response(503, text="overloaded"), httpx.Response(502), httpx.Response(500)]
    result = make(endpoint, no_sleep).judge(HISTORY)
    assert result.is_correct is True and result.metadata["attempts"] == 4
    assert endpoint.calls == 4
    # the SDK's backoff: 0.5 s doubling each time, less up to a quarter of jitter
    first, second, third = no_sleep.slept
    assert 0.375 <= first <= 0.5 and 0.75 <= second <= 1.0 and 1.5 <= third <= 2.0


def test_persistent_5xx_gives_no_decision_with_the_error_kept(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.Response(500, json={"error": {"message": "internal failure"}})
    result = make(endpoint, no_sleep, max_retries=2).judge(HISTORY)
    assert result.is_correct is None and result.score is None
    assert result.metadata["outcome"] == "error" and result.metadata["status"] == 500
    assert "HTTP 500" in result.metadata["error"] and "internal failure" in result.metadata["error"]
    assert endpoint.calls == 3


def test_timeout_then_success(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.script = [httpx.ReadTimeout("timed out")]
    assert make(endpoint, no_sleep).judge(HISTORY).is_correct is True
    assert endpoint.calls == 2


def test_persistent_timeout_gives_no_decision(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.ConnectTimeout("timed out")
    result = make(endpoint, no_sleep, max_retries=1, timeout_s=7).judge(HISTORY)
    assert result.is_correct is None and result.metadata["outcome"] == "error"
    assert "did not answer within 7 s" in result.metadata["error"]


def test_a_200_that_is_not_json_is_recorded_as_an_error(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    # the SDK does not retry a 200; the error verdict is asked again by the next judging pass
    endpoint.always = httpx.Response(200, text="<html>proxy error</html>")
    result = make(endpoint, no_sleep, max_retries=1).judge(HISTORY)
    assert result.is_correct is None and "not JSON" in result.metadata["error"]
    assert result.metadata["outcome"] == "error" and "proxy error" in result.metadata["error"]
    assert endpoint.calls == 1


def test_400_is_not_retried(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.Response(400, json={"error": {"message": "context length exceeded"}})
    result = make(endpoint, no_sleep).judge(HISTORY)
    assert result.is_correct is None and result.metadata["status"] == 400
    assert "context length exceeded" in result.metadata["error"]
    assert endpoint.calls == 1


@pytest.mark.parametrize(
    "content",
    ["I would say this is probably right.", "VERDICT: MAYBE", "VERDICT: CORRECT\nVERDICT: INCORRECT", "", None],
)
def test_nonsense_answers_are_unevaluated_with_the_raw_answer_kept(
    endpoint: FakeJudgeEndpoint, no_sleep: Any, content: str | None
) -> None:
    endpoint.always = httpx.Response(200, json=chat_response(content))
    result = make(endpoint, no_sleep).judge(HISTORY)
    assert result.is_correct is None and result.score is None
    assert result.metadata["outcome"] == "unparsed" and result.metadata["reason"]
    assert result.metadata["raw"] == (content or "")
    assert endpoint.calls == 1  # an answer, however bad, is not retried


def test_401_is_an_unrecoverable_judge_error_without_the_key(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.Response(401, json={"error": {"message": "Incorrect API key provided: sk-test"}})
    with pytest.raises(JudgeError) as info:
        make(endpoint, no_sleep).judge(HISTORY)
    line = info.value.one_line()
    assert "HTTP 401" in line and "IPW_EVAL_API_KEY" in line and "sk-test" not in line
    assert endpoint.calls == 1


def test_404_names_the_model(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.Response(404, json={"error": {"message": "model not found"}})
    with pytest.raises(JudgeError, match="404") as info:
        make(endpoint, no_sleep).judge(HISTORY)
    assert "judge-model" in (info.value.hint or "")


def test_a_refused_connection_is_a_judge_error_with_a_hint(no_sleep: Any) -> None:
    # a real socket: nothing listens on this loopback port
    judge = LLMJudge(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=1)
    with pytest.raises(JudgeError) as info:
        judge.judge(HISTORY)
    assert "cannot reach the judge" in info.value.message and "--eval-base-url" in (info.value.hint or "")
    assert "refused" in info.value.message.lower()
    assert len(no_sleep.slept) == 1


def test_an_empty_answer_is_incorrect_without_asking(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    result = make(endpoint, no_sleep).judge(JudgeItem(query_id=3, answer_text="  \n", reference="Homer"))
    assert result.is_correct is False and result.metadata["outcome"] == "empty_answer"
    assert endpoint.calls == 0


def test_multiple_choice_goes_through_letter_extraction(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    item = JudgeItem(query_id=4, answer_text="B, Paris", problem="Capital of France?", reference="B",
                     choices=("Rome", "Paris"), scorer="letter", subject="geography")
    result = make(endpoint, no_sleep).judge(item)
    assert result.is_correct is True
    assert result.metadata["template"] == "mcq/v1" and result.metadata["extracted"] == "B"


def test_params_are_sent_and_reserved_ones_refused(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    make(endpoint, no_sleep, params={"max_tokens": 16, "temperature": 0}).judge(HISTORY)
    import json

    body = json.loads(endpoint.requests[0].content)
    assert body["max_tokens"] == 16 and body["temperature"] == 0 and body["model"] == "judge-model"
    with pytest.raises(ConfigError):
        make(endpoint, no_sleep, params={"model": "other"})


def test_unknown_client_is_refused() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        LLMJudge(client="anthropic")


def test_a_200_carrying_an_error_object_is_recorded_as_an_error(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.Response(200, json={"error": {"message": "upstream overloaded"}})
    result = make(endpoint, no_sleep).judge(HISTORY)
    assert result.is_correct is None and result.metadata["outcome"] == "error"
    assert "upstream overloaded" in result.metadata["error"]
    assert endpoint.calls == 1


def test_a_judge_that_400s_every_time_asks_each_query_once(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.Response(400, json={"error": {"message": "unsupported parameter: temperature"}})
    judge = make(endpoint, no_sleep)
    items = [JudgeItem(query_id=i, answer_text="Homer.", problem="Who?", reference="Homer") for i in range(3)]
    results = [judge.judge(item) for item in items]
    assert [r.is_correct for r in results] == [None, None, None]
    assert all(r.metadata["status"] == 400 and r.metadata["outcome"] == "error" for r in results)
    assert all("unsupported parameter" in r.metadata["error"] for r in results)
    assert endpoint.calls == 3 and judge.requests_sent == 3 and no_sleep.slept == []


def test_a_dropped_connection_is_retried_then_recorded(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.always = httpx.RemoteProtocolError("peer closed connection without sending a response")
    result = make(endpoint, no_sleep, max_retries=2).judge(HISTORY)
    assert result.is_correct is None and result.metadata["outcome"] == "error"
    assert "peer closed connection" in result.metadata["error"]
    assert endpoint.calls == 3 and len(no_sleep.slept) == 2


def test_requests_sent_counts_every_retry(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    endpoint.script = [httpx.Response(503), httpx.ReadTimeout("slow")]
    judge = make(endpoint, no_sleep)
    assert judge.judge(HISTORY).metadata["attempts"] == 3
    assert judge.requests_sent == endpoint.calls == 3


def test_an_error_body_quoting_the_key_is_scrubbed(endpoint: FakeJudgeEndpoint, no_sleep: Any) -> None:
    key = "sk-quoted-back-0123456789"
    endpoint.always = httpx.Response(500, json={"error": {"message": f"bad request from {key}"}})
    judge = LLMJudge("https://judge.example/v1", "judge-model", api_key=key, max_retries=0,
                     http_client=endpoint.http_client())
    result = judge.judge(HISTORY)
    assert result.metadata["status"] == 500 and "bad request from" in result.metadata["error"]
    assert key not in result.metadata["error"]
    assert endpoint.requests[0].headers["authorization"] == f"Bearer {key}"


def test_userinfo_in_the_base_url_is_sent_as_basic_auth_and_never_written(
    endpoint: FakeJudgeEndpoint, no_sleep: Any
) -> None:
    judge = LLMJudge("https://judge-user:judge-pass-123@judge.example/v1", "judge-model",
                     http_client=endpoint.http_client())
    result = judge.judge(HISTORY)
    sent = endpoint.requests[0]
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"judge-user:judge-pass-123").decode()
    assert result.metadata["judge_base_url"] == "https://judge.example/v1"
    for text in (str(result.metadata), repr(judge), str(judge.describe())):
        assert "judge-pass-123" not in text
    assert secrets.scrub("echo judge-pass-123") == "echo <redacted>"


def test_a_keyless_judge_sends_no_authorization_header(endpoint: FakeJudgeEndpoint, no_sleep: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the SDK would otherwise fall back to OPENAI_API_KEY itself; the judge chose no key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    judge = LLMJudge("http://127.0.0.1:9/v1", "local", http_client=endpoint.http_client())
    assert judge.judge(HISTORY).is_correct is True
    assert "authorization" not in endpoint.requests[0].headers
    assert judge.describe()["auth"] is None
