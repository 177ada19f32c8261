"""Agreement between judges: Cohen's kappa, outcome tables, degenerate cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipw.analyses import JudgesProjection, cohen_kappa, judge_agreement
from ipw.errors import UsageError
from ipw.events import Event, QueryFinished, QueryStarted, RunStarted, Verdict
from ipw.replay import RunView, build_view


def view_with(judges: dict[str, dict[int, bool | None]], n_queries: int = 6) -> RunView:
    events: list[Event] = [RunStarted(run_id="j", t_ns=0, wall_time_ns=1, config={"model": "m"})]
    for q in range(1, n_queries + 1):
        events += [QueryStarted(query_id=q, t_ns=q, record_id=f"r{q}"), QueryFinished(query_id=q, t_ns=q + 1)]
    for name, decisions in judges.items():
        events += [Verdict(query_id=q, t_ns=100 + q, judge=name, is_correct=d) for q, d in decisions.items()]
    return build_view([events])


def test_kappa_by_hand() -> None:
    # p_o = 3/4; p_e = 0.5 * 0.25 + 0.5 * 0.75 = 0.5; kappa = 0.25 / 0.5
    kappa, note = cohen_kappa([(True, True), (True, False), (False, False), (False, False)])
    assert kappa == pytest.approx(0.5) and note is None
    assert cohen_kappa([(True, False), (False, True)])[0] == pytest.approx(-1.0)


def test_kappa_degenerate_cases_are_null_with_a_reason() -> None:
    kappa, note = cohen_kappa([(True, True)] * 5)
    assert kappa is None and "undefined" in (note or "")
    kappa, note = cohen_kappa([])
    assert kappa is None and "no query" in (note or "")
    # one judge constant, the other not: defined (and zero: no agreement beyond chance)
    assert cohen_kappa([(True, True), (True, False)])[0] == pytest.approx(0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40))
def test_kappa_matches_statsmodels(pairs: list[tuple[bool, bool]]) -> None:
    from statsmodels.stats.inter_rater import cohens_kappa

    ours, _ = cohen_kappa(pairs)
    table = np.zeros((2, 2))
    for a, b in pairs:
        table[int(a), int(b)] += 1
    a_true = sum(a for a, _ in pairs) / len(pairs)
    b_true = sum(b for _, b in pairs) / len(pairs)
    if a_true * b_true + (1 - a_true) * (1 - b_true) >= 1.0:
        assert ours is None
    else:
        assert ours == pytest.approx(cohens_kappa(table, return_results=False), abs=1e-9)


def test_pair_outcomes_count_none_and_only_shared_queries() -> None:
    view = view_with({
        "a": {1: True, 2: True, 3: False, 4: None, 5: True},
        "b": {1: True, 2: False, 3: False, 4: True, 6: False},
    })
    pair = judge_agreement(view, "a", "b")
    assert pair["n"] == 4 and pair["n_decided"] == 3
    assert pair["outcomes"]["true/true"] == 1 and pair["outcomes"]["true/false"] == 1
    assert pair["outcomes"]["false/false"] == 1 and pair["outcomes"]["none/true"] == 1
    assert sum(pair["outcomes"].values()) == 4
    assert pair["agreement"] == pytest.approx(2 / 3)
    assert pair["disagreements"] == [{"query_id": 2, "record_id": "r2", "a": True, "b": False}]


def test_projection_covers_every_pair_and_each_judges_accuracy() -> None:
    view = view_with({
        "x": {1: True, 2: True, 3: False},
        "y": {1: True, 2: True, 3: False},
        "z": {1: None, 2: None},
    })
    out = JudgesProjection().compute(view, {})
    assert out["judges"] == ["x", "y", "z"]
    assert [p["judges"] for p in out["pairs"]] == [["x", "y"], ["x", "z"], ["y", "z"]]
    xy = out["pairs"][0]
    assert xy["agreement"] == 1.0 and xy["kappa"] == pytest.approx(1.0)
    xz = out["pairs"][1]
    assert xz["n"] == 2 and xz["n_decided"] == 0 and xz["agreement"] is None and xz["kappa"] is None
    assert out["per_judge"]["x"]["accuracy"] == pytest.approx(2 / 3)
    assert out["per_judge"]["z"]["unevaluated"] == 6


def test_the_judges_option_restricts_and_checks() -> None:
    view = view_with({"x": {1: True}, "y": {1: False}, "z": {1: True}})
    out = JudgesProjection().compute(view, {"judges": "z, x"})
    assert out["judges"] == ["x", "z"] and len(out["pairs"]) == 1
    with pytest.raises(UsageError, match="no verdicts from w"):
        JudgesProjection().compute(view, {"judges": "x,w"})
    with pytest.raises(UsageError, match="no option"):
        JudgesProjection().compute(view, {"judge": "x"})


def test_a_single_judge_has_no_pairs() -> None:
    out = JudgesProjection().compute(view_with({"x": {1: True}}), {})
    assert out["pairs"] == [] and out["per_judge"]["x"]["correct"] == 1
