"""The LLM judge against a real ``llama_cpp.server`` (gemma-3-270m) over its OpenAI API.

A 270M base model does not follow the verdict format reliably, so these tests
check the mechanics, not the model's judgement: every answer is sent, every
verdict is appended under the judge's spec, each verdict is a decision or an
unparsed answer whose raw text is kept, and a rerun asks nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ipw.analyses.accuracy import AccuracyProjection
from ipw.judging.apply import judge_run
from ipw.judging.select import make_judge
from ipw.judging.llm import LLMJudge
from ipw.replay import load_run

from ._judging_support import RECORDS, write_run

# one record per kind of template: multiple choice, numeric, open question
E2E_RECORDS = [RECORDS[0], RECORDS[2], RECORDS[-1]]

pytestmark = pytest.mark.e2e


def served_model(base_url: str) -> str:
    response = httpx.get(f"{base_url.rstrip('/')}/models", timeout=10)
    response.raise_for_status()
    return str(response.json()["data"][0]["id"])


def test_judging_a_run_through_a_real_server(llama_server: str, tmp_path: Path) -> None:
    run = write_run(tmp_path / "e2e-run", E2E_RECORDS)
    model = served_model(llama_server)
    judge = make_judge(
        "openai", llama_server, model, env={}, dotenv_path=tmp_path / "none.env",
        params={"max_tokens": 16, "temperature": 0}, timeout_s=120, max_retries=1,
    )
    assert isinstance(judge, LLMJudge)
    report = judge_run(run, judge, concurrency=1)
    assert report.calls == len(E2E_RECORDS) and report.appended == len(E2E_RECORDS)
    assert report.errors == 0, "the local server should answer every request"
    assert judge.requests_sent == len(E2E_RECORDS)

    view = load_run(run)
    mine = view.verdicts_by_judge()[judge.spec]
    assert judge.spec == f"llm:openai:{model}:ipw-judge/v1"
    assert sorted(mine) == sorted(q.query_id for q in view.measured_queries())
    assert {json.loads(v.metadata)["template"] for v in mine.values()} == {"mcq/v1", "math/v1", "chat/v1"}
    for verdict in mine.values():
        meta = json.loads(verdict.metadata)
        assert meta["template"] in ("mcq/v1", "math/v1", "chat/v1", "reasoning/v1")
        assert meta["judge_base_url"].startswith("http://127.0.0.1")
        if verdict.is_correct is None:
            assert meta["outcome"] == "unparsed" and "raw" in meta and meta["reason"]
        else:
            assert meta["outcome"] == "parsed" and verdict.score == float(verdict.is_correct)

    again = judge_run(run, judge, concurrency=1)
    assert (again.calls, again.appended, again.already_judged) == (0, 0, len(E2E_RECORDS))
    assert judge.requests_sent == len(E2E_RECORDS)
    accuracy = AccuracyProjection().compute(load_run(run), {})
    assert accuracy["judge"] == judge.spec and accuracy["total"] == len(E2E_RECORDS)
    assert accuracy["correct"] + accuracy["incorrect"] + accuracy["unevaluated"] == len(E2E_RECORDS)
    judge.close()
