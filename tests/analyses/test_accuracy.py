"""The accuracy projection over replayed views: counting, choosing the judge, options, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from ipw.analyses import AccuracyProjection, accuracy_counts
from ipw.errors import UsageError
from ipw.events import Event, QueryFailed, QueryFinished, QueryStarted, RunStarted, Token, Verdict
from ipw.replay import RunView, build_view, select_judge
from ipw.reports.analysis_files import dumps_result


def run_events(subjects: list[str], config: dict[str, Any] | None = None) -> list[Event]:
    events: list[Event] = [RunStarted(run_id="acc", t_ns=0, wall_time_ns=1, config=config or {"model": "m-1"})]
    for qid, subject in enumerate(subjects, start=1):
        events += [
            QueryStarted(query_id=qid, t_ns=qid * 10, record_id=f"r{qid}", subject=subject, reference="x"),
            Token(query_id=qid, t_ns=qid * 10 + 1, text="x"),
            QueryFinished(query_id=qid, t_ns=qid * 10 + 2),
        ]
    return events


def verdicts(judge: str, decisions: dict[int, bool | None], t_ns: int = 1000) -> list[Event]:
    return [Verdict(query_id=q, t_ns=t_ns + q, judge=judge, is_correct=d) for q, d in decisions.items()]


def view_of(events: list[Event]) -> RunView:
    return build_view([events])


SUBJECTS = ["math", "math", "math", "history", "history", ""]


def test_counts_over_measured_queries() -> None:
    events = run_events(SUBJECTS)
    # a warm-up and an unfinished query never count, even with verdicts
    events += [
        QueryStarted(query_id=90, t_ns=900, warmup=True, reference="x"),
        QueryFinished(query_id=90, t_ns=901),
        QueryStarted(query_id=91, t_ns=910, reference="x"),
        QueryFailed(query_id=91, t_ns=911, error_type="ServerTimeoutError", message="slow"),
    ]
    events += verdicts("j", {1: True, 2: True, 3: False, 4: None, 90: True, 91: False})
    out = accuracy_counts(view_of(events))
    assert out["judge"] == "j"
    assert (out["correct"], out["incorrect"], out["unevaluated"], out["total"]) == (2, 1, 3, 6)
    assert out["unevaluated_detail"] == {"no_verdict": 2, "no_decision": 1}
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["accuracy_over_total"] == pytest.approx(2 / 6)
    assert out["by_subject"]["math"]["accuracy"] == pytest.approx(2 / 3)
    assert out["by_subject"]["history"] == {
        "correct": 0, "incorrect": 0, "unevaluated": 2, "total": 2,
        "unevaluated_detail": {"no_verdict": 1, "no_decision": 1},
        "accuracy": None, "accuracy_over_total": 0.0,
    }
    assert out["by_subject"]["(none)"]["total"] == 1


def test_without_verdicts_everything_is_unevaluated() -> None:
    out = AccuracyProjection().compute(view_of(run_events(SUBJECTS)), {})
    assert out["judge"] is None and out["judges_present"] == []
    assert (out["correct"], out["incorrect"], out["unevaluated"], out["accuracy"]) == (0, 0, 6, None)


def test_the_latest_verdict_of_a_judge_counts() -> None:
    events = run_events(["a"]) + verdicts("j", {1: None}) + verdicts("j", {1: True}, t_ns=2000)
    assert accuracy_counts(view_of(events))["correct"] == 1


def test_judge_choice_explicit_then_configured_then_most_verdicts() -> None:
    base = verdicts("b-judge", {1: True, 2: True}) + verdicts("a-judge", {1: False, 2: False})
    many = verdicts("c-judge", {1: True, 2: True, 3: True})
    view = view_of(run_events(SUBJECTS) + base + many)
    assert select_judge(view) == "c-judge"
    assert select_judge(view, "a-judge") == "a-judge"
    tied = view_of(run_events(SUBJECTS) + base)
    assert select_judge(tied) == "a-judge"  # a tie goes to the first name
    configured = view_of(run_events(SUBJECTS, {"model": "m-1", "eval": {"judge": "b-judge"}}) + base + many)
    assert select_judge(configured) == "b-judge"
    absent = view_of(run_events(SUBJECTS, {"model": "m-1", "eval": {"judge": "gone"}}) + base)
    assert select_judge(absent) == "a-judge"


def test_an_unknown_judge_lists_the_present_ones() -> None:
    view = view_of(run_events(SUBJECTS) + verdicts("scorer:auto/v1", {1: True}))
    with pytest.raises(UsageError) as info:
        AccuracyProjection().compute(view, {"judge": "llm:openai:x:ipw-judge/v1"})
    assert "scorer:auto/v1" in (info.value.hint or "")


def test_model_option_must_name_the_runs_model() -> None:
    view = view_of(run_events(SUBJECTS) + verdicts("j", {1: True}))
    assert AccuracyProjection().compute(view, {"model": "m-1"})["model"] == "m-1"
    with pytest.raises(UsageError) as info:
        AccuracyProjection().compute(view, {"model": "other"})
    assert "'m-1'" in info.value.message and "model=m-1" in (info.value.hint or "")


def test_unknown_options_are_refused() -> None:
    with pytest.raises(UsageError, match="no option"):
        AccuracyProjection().compute(view_of(run_events(SUBJECTS)), {"modle": "m-1"})


def test_result_holds_the_upstream_keys_and_no_replay_timestamps() -> None:
    early = view_of(run_events(SUBJECTS) + verdicts("j", {1: True, 2: False}, t_ns=10_000))
    late = view_of(run_events(SUBJECTS) + verdicts("j", {1: True, 2: False}, t_ns=99_000_000))
    a = AccuracyProjection().compute(early, {})
    b = AccuracyProjection().compute(late, {})
    assert {"correct", "incorrect", "unevaluated", "accuracy", "judge"} <= set(a)
    assert dumps_result(a) == dumps_result(b)
    assert AccuracyProjection.analysis_id == "accuracy" and AccuracyProjection.needs_judging is True
