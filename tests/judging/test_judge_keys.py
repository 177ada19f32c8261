"""Where the judge's API key comes from, and failing fast when there is none."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from ipw.errors import ConfigError
from ipw.judging.select import make_judge
from ipw.judging.keys import eval_key_source, require_eval_key, resolve_eval_key


@pytest.fixture
def no_dotenv(tmp_path: Path) -> Path:
    return tmp_path / "absent.env"


def test_ipw_key_wins_when_both_are_set_and_differ(no_dotenv: Path) -> None:
    env = {"IPW_EVAL_API_KEY": "sk-ipw", "OPENAI_API_KEY": "sk-openai"}
    assert resolve_eval_key(env, no_dotenv) == "sk-ipw"
    assert eval_key_source(env, no_dotenv) == "IPW_EVAL_API_KEY"


def test_openai_key_is_the_fallback(no_dotenv: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-openai", "IPW_EVAL_API_KEY": "  "}
    assert resolve_eval_key(env, no_dotenv) == "sk-openai"
    assert eval_key_source(env, no_dotenv) == "OPENAI_API_KEY"


def test_no_key_gives_none_and_require_raises_the_upstream_hint(no_dotenv: Path) -> None:
    assert resolve_eval_key({}, no_dotenv) is None
    with pytest.raises(ConfigError) as info:
        require_eval_key({}, no_dotenv)
    assert "IPW_EVAL_API_KEY or OPENAI_API_KEY" in info.value.one_line()
    assert ".env" in info.value.one_line()


def test_dotenv_in_the_current_directory_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-file\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_eval_key({}) == "sk-from-file"
    assert eval_key_source({}) == "OPENAI_API_KEY (.env)"


def test_dotenv_never_overrides_a_real_variable(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('OPENAI_API_KEY="sk-file"\n')
    assert resolve_eval_key({"OPENAI_API_KEY": "sk-real"}, dotenv) == "sk-real"


def test_ipw_key_from_dotenv_beats_a_real_openai_key(tmp_path: Path) -> None:
    # loading .env without override sets IPW_EVAL_API_KEY; then both are set and IPW wins
    dotenv = tmp_path / ".env"
    dotenv.write_text("IPW_EVAL_API_KEY=sk-ipw-file\n")
    assert resolve_eval_key({"OPENAI_API_KEY": "sk-real"}, dotenv) == "sk-ipw-file"


def test_resolving_does_not_touch_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPW_EVAL_API_KEY", raising=False)
    dotenv = tmp_path / ".env"
    dotenv.write_text("IPW_EVAL_API_KEY=sk-file-only\n")
    resolve_eval_key(None, dotenv)
    assert "IPW_EVAL_API_KEY" not in os.environ


def test_missing_key_fails_before_any_http_call(no_dotenv: Path) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    with pytest.raises(ConfigError) as info:
        make_judge("openai", None, None, env={}, dotenv_path=no_dotenv, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert calls == []
    assert "https://api.openai.com/v1" in info.value.message


def test_a_loopback_judge_needs_no_key(no_dotenv: Path) -> None:
    judge = make_judge("openai", "http://127.0.0.1:8080/v1", "local", env={}, dotenv_path=no_dotenv)
    assert judge.describe()["auth"] is None
    assert judge.spec == "llm:openai:local:ipw-judge/v1"


def test_the_resolved_key_is_sent_as_a_bearer_header(no_dotenv: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(
            200, json={"choices": [{"message": {"role": "assistant", "content": "VERDICT: CORRECT"}}]}
        )

    env = {"IPW_EVAL_API_KEY": "sk-ipw", "OPENAI_API_KEY": "sk-openai"}
    judge = make_judge("openai", None, None, env=env, dotenv_path=no_dotenv, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    from ipw.judging.prompts import JudgeItem

    judge.judge(JudgeItem(query_id=1, answer_text="Paris", problem="Capital of France?", reference="Paris"))
    assert seen == ["Bearer sk-ipw"]
