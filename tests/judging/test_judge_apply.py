"""Judging a recorded run: verdicts appended once per judge, reruns free, nothing secret written."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._judging_support import RECORDS, FakeJudgeEndpoint, write_run
from ipw.analyses.accuracy import AccuracyProjection
from ipw.analyses.judges import JudgesProjection
from ipw.errors import JudgeError, LedgerCorruptError
from ipw.judging.apply import ScorerJudge, judge_run
from ipw.judging.llm import LLMJudge
from ipw.judging.select import make_judge
from ipw.judging.dispatch import AutoScorer
from ipw.ledger import export_jsonl
from ipw.replay import load_run
from ipw.reports.analysis_files import write_analysis

N_MEASURED = len(RECORDS)


def llm(endpoint: FakeJudgeEndpoint, model: str = "judge-model", **kw: Any) -> LLMJudge:
    return LLMJudge("https://judge.example/v1", model, api_key="sk-test", http_client=endpoint.http_client(), **kw)


def ledger_bytes(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_llm_judging_appends_one_verdict_per_measured_query(mixed_run: Path, endpoint: FakeJudgeEndpoint) -> None:
    judge = llm(endpoint)
    report = judge_run(mixed_run, judge)
    assert (report.considered, report.already_judged, report.calls, report.appended) == (N_MEASURED, 0, N_MEASURED, N_MEASURED)
    assert report.errors == 0 and report.judge_spec == "llm:openai:judge-model:ipw-judge/v1"
    view = load_run(mixed_run)
    verdicts = view.verdicts_by_judge()[judge.spec]
    by_record = {view.queries[qid].record_id: v for qid, v in verdicts.items()}
    assert set(by_record) == {r["record_id"] for r in RECORDS}  # no warm-up, no failed query
    assert by_record["mc-1"].is_correct is True and by_record["mc-2"].is_correct is False
    assert by_record["open-1"].is_correct is True and by_record["num-2"].is_correct is False
    meta = json.loads(by_record["mc-1"].metadata)
    assert meta["template"] == "mcq/v1" and meta["outcome"] == "parsed"


def test_rejudging_makes_no_calls_and_accuracy_is_byte_identical(mixed_run: Path, endpoint: FakeJudgeEndpoint) -> None:
    judge = llm(endpoint)
    judge_run(mixed_run, judge)
    first = write_analysis(mixed_run, "accuracy", AccuracyProjection().compute(load_run(mixed_run), {})).read_bytes()
    before = ledger_bytes(mixed_run)
    calls = endpoint.calls

    again = judge_run(mixed_run, llm(endpoint))
    assert endpoint.calls == calls
    assert (again.calls, again.appended, again.already_judged) == (0, 0, N_MEASURED)
    assert again.one_line().startswith(f"{judge.spec}: 0 verdicts appended") and "6 already judged" in again.one_line()
    assert ledger_bytes(mixed_run) == before  # a pass with nothing to do does not even open the ledger
    second = write_analysis(mixed_run, "accuracy", AccuracyProjection().compute(load_run(mixed_run), {})).read_bytes()
    assert first == second
    result = json.loads(second)
    assert (result["correct"], result["incorrect"], result["unevaluated"]) == (4, 2, 0)
    assert result["judge"] == judge.spec and result["accuracy"] == pytest.approx(4 / 6)


def test_a_second_judge_appends_its_own_verdicts_and_agreement_is_reported(
    mixed_run: Path, endpoint: FakeJudgeEndpoint
) -> None:
    first = llm(endpoint)
    judge_run(mixed_run, first)
    auto = ScorerJudge(AutoScorer())
    report = judge_run(mixed_run, auto)
    # the open question names no scorer: the auto scorer leaves it unjudged
    assert (report.appended, report.skipped, report.judge_spec) == (N_MEASURED - 1, 1, "scorer:auto/v1")
    view = load_run(mixed_run)
    by_judge = view.verdicts_by_judge()
    assert len(by_judge[first.spec]) == N_MEASURED and len(by_judge["scorer:auto/v1"]) == N_MEASURED - 1

    result = JudgesProjection().compute(view, {})
    assert result["judges"] == sorted([first.spec, "scorer:auto/v1"])
    (pair,) = result["pairs"]
    assert pair["n"] == N_MEASURED - 1 and pair["n_decided"] == N_MEASURED - 1
    assert pair["agreement"] == 1.0 and pair["kappa"] == pytest.approx(1.0)
    assert pair["outcomes"]["true/true"] == 3 and pair["outcomes"]["false/false"] == 2
    assert result["per_judge"]["scorer:auto/v1"]["unevaluated"] == 1

    chosen = AccuracyProjection().compute(view, {"judge": "scorer:auto/v1"})
    assert (chosen["judge"], chosen["correct"], chosen["unevaluated"]) == ("scorer:auto/v1", 3, 1)


def test_error_verdicts_are_asked_again_on_the_next_pass(
    mixed_run: Path, endpoint: FakeJudgeEndpoint, no_sleep: Any
) -> None:
    broken = FakeJudgeEndpoint()
    broken.always = httpx.Response(503)
    report = judge_run(mixed_run, llm(broken, max_retries=1), concurrency=1, max_consecutive_errors=None)
    assert report.errors == N_MEASURED and report.unevaluated == N_MEASURED
    accuracy = AccuracyProjection().compute(load_run(mixed_run), {})
    assert accuracy["unevaluated"] == N_MEASURED and accuracy["accuracy"] is None
    assert accuracy["unevaluated_detail"] == {"no_verdict": 0, "no_decision": N_MEASURED}

    healed = judge_run(mixed_run, llm(endpoint))
    assert healed.calls == N_MEASURED and healed.already_judged == 0 and healed.errors == 0
    accuracy = AccuracyProjection().compute(load_run(mixed_run), {})
    assert (accuracy["correct"], accuracy["incorrect"], accuracy["unevaluated"]) == (4, 2, 0)
    assert judge_run(mixed_run, llm(endpoint)).calls == 0


def test_unparseable_verdicts_are_kept_and_not_asked_again(mixed_run: Path, endpoint: FakeJudgeEndpoint) -> None:
    endpoint.always = "Looks plausible to me."
    report = judge_run(mixed_run, llm(endpoint))
    assert report.unevaluated == N_MEASURED and report.errors == 0
    assert judge_run(mixed_run, llm(endpoint)).calls == 0
    accuracy = AccuracyProjection().compute(load_run(mixed_run), {})
    assert accuracy["unevaluated"] == N_MEASURED and accuracy["incorrect"] == 0


def test_many_errors_in_a_row_stop_the_pass_and_keep_what_was_written(mixed_run: Path) -> None:
    broken = FakeJudgeEndpoint()
    broken.always = httpx.Response(500)
    with pytest.raises(JudgeError, match="3 queries in a row"):
        judge_run(mixed_run, llm(broken, max_retries=0), concurrency=1, max_consecutive_errors=3)
    assert len(load_run(mixed_run).verdicts) == 3


def test_a_rejected_key_aborts_with_a_judge_error(mixed_run: Path) -> None:
    broken = FakeJudgeEndpoint()
    broken.always = httpx.Response(401, json={"error": {"message": "bad key"}})
    with pytest.raises(JudgeError, match="rejected the API key"):
        judge_run(mixed_run, llm(broken))
    assert load_run(mixed_run).verdicts == []


def test_an_interrupted_pass_keeps_its_verdicts_and_the_next_pass_finishes(mixed_run: Path) -> None:
    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    auto = ScorerJudge(AutoScorer())
    with pytest.raises(KeyboardInterrupt):
        judge_run(mixed_run, auto, progress=stop_after_three)
    assert len(load_run(mixed_run).verdicts) == 3
    rest = judge_run(mixed_run, auto)
    assert (rest.already_judged, rest.calls) == (3, N_MEASURED - 1 - 3)


def test_concurrent_judging_writes_every_verdict_once(tmp_path: Path, endpoint: FakeJudgeEndpoint) -> None:
    records = [dict(RECORDS[-1], record_id=f"open-{i}", answer="Homer" if i % 3 else "Virgil") for i in range(40)]
    run = write_run(tmp_path / "many", records)
    seen: list[tuple[int, int]] = []
    report = judge_run(run, llm(endpoint, concurrency=4), progress=lambda d, t: seen.append((d, t)))
    assert report.appended == 40 and endpoint.calls == 40
    assert seen[-1] == (40, 40)
    view = load_run(run)
    assert sorted(v.query_id for v in view.verdicts) == list(range(1, 41))
    assert AccuracyProjection().compute(view, {})["incorrect"] == 14


def test_a_damaged_ledger_is_not_judged(mixed_run: Path) -> None:
    segment = next((mixed_run / "events").glob("*.ipwl"))
    data = bytearray(segment.read_bytes())
    data[-5] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(LedgerCorruptError, match="cannot judge") as info:
        judge_run(mixed_run, ScorerJudge(AutoScorer()))
    assert "ipw ledger repair" in (info.value.hint or "")


def test_the_key_is_written_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-proj-SECRETKEY0123456789abcdef"
    monkeypatch.setenv("IPW_EVAL_API_KEY", secret)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    run = write_run(tmp_path / "secret-run", RECORDS)
    endpoint = FakeJudgeEndpoint()
    # one failure echoes the key back, as OpenAI's error messages do (partly masked)
    endpoint.script = [httpx.Response(400, json={"error": {"message": f"Incorrect API key provided: {secret}"}})]
    judge = make_judge("openai", None, "judge-model", http_client=endpoint.http_client())
    report = judge_run(run, judge, concurrency=1)
    assert report.appended == N_MEASURED and report.errors == 1
    assert all(r.headers["authorization"] == f"Bearer {secret}" for r in endpoint.requests)
    write_analysis(run, "accuracy", AccuracyProjection().compute(load_run(run), {}))
    write_analysis(run, "judges", JudgesProjection().compute(load_run(run), {}))

    exported = io.BytesIO()
    assert export_jsonl(run, exported) > 0
    blobs = {"export.jsonl": exported.getvalue(), "report": repr(report).encode(), "judge": repr(judge).encode()}
    blobs.update(ledger_bytes(run))
    assert "verdict" in exported.getvalue().decode()
    for name, blob in blobs.items():
        assert secret.encode() not in blob, name
        assert b"SECRETKEY" not in blob, name


def test_a_fixed_scorer_judges_every_record_with_a_reference(mixed_run: Path) -> None:
    report = judge_run(mixed_run, make_judge("exact"))
    assert report.appended == N_MEASURED and report.skipped == 0
    view = load_run(mixed_run)
    assert AccuracyProjection().compute(view, {"judge": "scorer:exact/v1"})["total"] == N_MEASURED


def test_records_without_a_reference_are_left_unjudged(tmp_path: Path, endpoint: FakeJudgeEndpoint) -> None:
    records = [RECORDS[-1], dict(RECORDS[-1], record_id="open-noref", reference=None)]
    run = write_run(tmp_path / "noref", records)
    report = judge_run(run, llm(endpoint))
    assert (report.appended, report.skipped, endpoint.calls) == (1, 1, 1)
    accuracy = AccuracyProjection().compute(load_run(run), {})
    assert accuracy["unevaluated_detail"] == {"no_verdict": 1, "no_decision": 0}


def test_a_judge_that_refuses_every_request_is_a_judge_error_and_keeps_the_verdicts(mixed_run: Path) -> None:
    refusing = FakeJudgeEndpoint()
    # the body echoes the key, as some providers do; the message must carry the reason but never the key
    refusing.always = httpx.Response(
        400, json={"error": {"message": "Unsupported parameter: 'max_tokens' (key sk-test)"}})
    with pytest.raises(JudgeError, match=r"refused every request \(6 of 6\)") as info:
        judge_run(mixed_run, llm(refusing), concurrency=1)
    message = info.value.one_line()
    assert "Unsupported parameter: 'max_tokens'" in message and "HTTP 400" in message
    assert "sk-test" not in message and "\n" not in message
    verdicts = load_run(mixed_run).verdicts
    assert len(verdicts) == N_MEASURED and all(v.is_correct is None for v in verdicts)
    # a rerun asks the refused ones again (and is refused again)
    with pytest.raises(JudgeError, match="refused every request"):
        judge_run(mixed_run, llm(refusing), concurrency=1)


def test_a_refusing_judge_over_many_queries_says_so_before_the_streak_limit(tmp_path: Path) -> None:
    records = [dict(RECORDS[-1], record_id=f"open-{i}") for i in range(12)]
    run = write_run(tmp_path / "many", records)
    refusing = FakeJudgeEndpoint()
    refusing.always = httpx.Response(400, json={"error": {"message": "model not allowed"}})
    with pytest.raises(JudgeError, match=r"refused every request \(10 of 10\).*model not allowed"):
        judge_run(run, llm(refusing), concurrency=1)
    assert len(load_run(run).verdicts) == 10


def test_some_refusals_among_answers_are_not_an_error(mixed_run: Path, endpoint: FakeJudgeEndpoint) -> None:
    endpoint.script = [httpx.Response(400, json={"error": {"message": "context length exceeded"}})]
    report = judge_run(mixed_run, llm(endpoint), concurrency=1)
    assert (report.appended, report.errors) == (N_MEASURED, 1)
