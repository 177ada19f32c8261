"""Which judge a command gets: ``ipw.judging.select`` from the eval flags and what a run holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._judging_support import RECORDS, FakeJudgeEndpoint, write_run
from ipw.errors import ConfigError, UsageError
from ipw.events import Verdict
from ipw.judging.apply import ScorerJudge, judge_run
from ipw.judging.llm import LLMJudge
from ipw.judging.select import EvalFlags, judge_before_capture, judge_for_run, make_judge
from ipw.ledger import LedgerWriter
from ipw.replay import load_run

LOCAL = "http://127.0.0.1:9/v1"  # loopback: the LLM judge needs no key there


def test_default_judge_is_the_auto_scorer_when_every_record_names_one(tmp_path: Path) -> None:
    run = write_run(tmp_path / "scored", [r for r in RECORDS if r["scorer"]])
    judge = judge_for_run(load_run(run), env={})
    assert isinstance(judge, ScorerJudge) and judge.spec == "scorer:auto/v1"


def test_default_judge_needs_a_key_when_a_record_needs_an_llm(mixed_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        judge_for_run(load_run(mixed_run), env={}, dotenv_path=tmp_path / "none.env")
    assert "1 of 6 answers need an LLM judge" in info.value.message
    judge = judge_for_run(load_run(mixed_run), env={"OPENAI_API_KEY": "sk-x"}, dotenv_path=tmp_path / "n.env")
    assert isinstance(judge, LLMJudge) and judge.spec == "llm:openai:gpt-5-nano-2025-08-07:ipw-judge/v1"


def test_make_judge_by_scorer_name_and_unknown_clients(tmp_path: Path) -> None:
    assert make_judge("letter").spec == "scorer:letter/v1"
    assert make_judge("openai", deterministic=True).spec == "scorer:auto/v1"
    with pytest.raises(UsageError, match="unknown judge client"):
        make_judge("anthropic")


def test_flags_name_the_judge_and_params_go_only_to_an_llm_judge() -> None:
    assert not EvalFlags(params={"max_tokens": 4}).explicit
    llm = EvalFlags("openai", LOCAL, "local", {"max_tokens": 4}).judge()
    assert isinstance(llm, LLMJudge) and llm.params == {"max_tokens": 4}
    assert llm.spec == "llm:openai:local:ipw-judge/v1"
    scorer = EvalFlags("numeric", params={"max_tokens": 4}).judge()
    assert isinstance(scorer, ScorerJudge) and scorer.spec == "scorer:numeric/v1"


def test_before_capture_the_records_decide_unless_the_flags_do(tmp_path: Path) -> None:
    read: list[int] = []

    def scorers(*names: str | None) -> Any:
        def read_records() -> list[str | None]:
            read.append(1)
            return list(names)

        return read_records

    assert judge_before_capture(EvalFlags(), scorers("letter", "exact")).spec == "scorer:auto/v1"
    with pytest.raises(ConfigError, match="API key"):
        judge_before_capture(EvalFlags(), scorers("letter", None), env={}, dotenv_path=tmp_path / "none.env")
    assert read == [1, 1]
    named = judge_before_capture(EvalFlags("exact"), scorers("letter"))
    assert named is not None and named.spec == "scorer:exact/v1"
    assert read == [1, 1]  # the flags named a scorer: the dataset was not read
    # the flags name the LLM judge; the records still decide its prompt set, so they are read
    explicit = judge_before_capture(EvalFlags(base_url=LOCAL, model="local"), scorers("letter"))
    assert explicit is not None and explicit.spec == "llm:openai:local:ipw-judge/v1"
    family = judge_before_capture(EvalFlags(base_url=LOCAL, model="local"), scorers("letter", "llm:simpleqa"))
    assert family is not None and family.spec == "llm:openai:local:ipw-judge/v2"
    assert read == [1, 1, 1, 1]
    assert judge_before_capture(EvalFlags(), None) is None  # a resumed run: chosen after capture
    resumed = judge_before_capture(EvalFlags(base_url=LOCAL, model="local"), None)
    assert resumed is not None and resumed.spec == "llm:openai:local:ipw-judge/v2"  # its records are not read


def _with_verdicts(run: Path, judge: str, query_ids: list[int]) -> None:
    with LedgerWriter.open_append(run) as writer:
        for qid in query_ids:
            writer.append(Verdict(query_id=qid, t_ns=1_000 + qid, judge=judge, is_correct=True, score=1.0,
                                  metadata=json.dumps({"outcome": "parsed"})))


def test_a_rerun_reuses_the_recorded_scorer_for_new_answers_only(tmp_path: Path) -> None:
    run = write_run(tmp_path / "partly", RECORDS)
    _with_verdicts(run, "scorer:exact/v1", [1, 2])
    judge = judge_for_run(load_run(run), EvalFlags(), reuse_recorded=True)
    assert isinstance(judge, ScorerJudge) and judge.spec == "scorer:exact/v1"
    judge_run(run, judge)
    assert judge_for_run(load_run(run), EvalFlags(), reuse_recorded=True) is None  # all judged: a pure replay


def test_a_rerun_rebuilds_the_configured_llm_judge_or_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPW_EVAL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    spec = "llm:openai:judge-model:ipw-judge/v1"
    local = write_run(tmp_path / "local", RECORDS, config={
        "model": "m", "eval": {"judge": spec, "client": None, "base_url": LOCAL, "model": "judge-model"}})
    _with_verdicts(local, spec, [1])
    endpoint = FakeJudgeEndpoint()
    judge = judge_for_run(load_run(local), EvalFlags(params={"max_tokens": 8}), reuse_recorded=True,
                          http_client=endpoint.http_client())
    assert isinstance(judge, LLMJudge) and judge.spec == spec and judge.params == {"max_tokens": 8}
    assert judge_run(local, judge).calls == len(RECORDS) - 1
    assert endpoint.calls == len(RECORDS) - 1

    hosted = write_run(tmp_path / "hosted", RECORDS, config={
        "model": "m", "eval": {"judge": spec, "client": "openai", "base_url": None, "model": "judge-model"}})
    _with_verdicts(hosted, spec, [1])
    warnings: list[str] = []
    assert judge_for_run(load_run(hosted), reuse_recorded=True, warn=warnings.append) is None
    assert len(warnings) == 1 and "stay unevaluated" in warnings[0] and "IPW_EVAL_API_KEY" in warnings[0]


def test_explicit_flags_win_over_the_recorded_judge(tmp_path: Path) -> None:
    run = write_run(tmp_path / "judged", RECORDS)
    _with_verdicts(run, "scorer:exact/v1", [1])
    judge = judge_for_run(load_run(run), EvalFlags("numeric"), reuse_recorded=True)
    assert judge is not None and judge.spec == "scorer:numeric/v1"


def test_the_keyless_loopback_judge_reaches_its_endpoint(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"choices": [{"message": {"content": "VERDICT: CORRECT"}}]})

    judge = make_judge("openai", LOCAL, "local", env={}, dotenv_path=tmp_path / "none.env",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    from ipw.judging.prompts import JudgeItem

    assert judge.judge(JudgeItem(query_id=1, answer_text="Homer", problem="Who?", reference="Homer")).is_correct
    assert len(seen) == 1 and "authorization" not in seen[0].headers
