"""The names of the deterministic scorers: the auto scorer runs each, and every spec rebuilds its scorer."""

from __future__ import annotations

import json

import pytest

from ipw.errors import UsageError
from ipw.judging import SCORERS, AutoScorer, CodeScorer, FinalNumberScorer, MathScorer, get_scorer
from ipw.judging.select import make_judge
from ipw.registry import REGISTRY


def test_every_benchmark_grader_has_a_versioned_spec_that_rebuilds_it() -> None:
    for name, cls, spec in [("gsm8k", FinalNumberScorer, "scorer:gsm8k/v1"), ("math", MathScorer, "scorer:math/v1"),
                            ("code", CodeScorer, "scorer:code/v1")]:
        assert SCORERS[name] is cls
        scorer = get_scorer(name)
        assert scorer.spec == spec and isinstance(get_scorer(spec), cls)
        assert make_judge(name).spec == spec


def test_options_are_refused_where_a_scorer_takes_none() -> None:
    with pytest.raises(UsageError):
        get_scorer("scorer:math/v1?wall_s=3")
    with pytest.raises(UsageError):
        get_scorer("scorer:code/v1?rel_tol=0.1")
    with pytest.raises(UsageError):
        get_scorer("scorer:code/v1?wall_s=0")


def test_the_auto_scorer_runs_the_grader_a_record_names() -> None:
    auto = AutoScorer()
    math = auto.score(r"\boxed{\frac{1}{2}}", "0.5", scorer="math")
    assert math.is_correct is True and math.metadata["scorer"] == "scorer:math/v1"
    gsm = auto.score("so 18", "... #### 18", scorer="gsm8k")
    assert gsm.is_correct is True and gsm.metadata["scorer"] == "scorer:gsm8k/v1"
    tests = json.dumps({"tests": [{"input": "", "output": "hi"}]})
    code = auto.score("```python\nprint('hi')\n```", tests, scorer="code")
    assert code.is_correct is True and code.metadata["scorer"] == "scorer:code/v1"


def test_the_registry_lists_each_grader_where_dispatch_finds_it() -> None:
    for name in ("gsm8k", "math", "code", "auto"):
        component = REGISTRY.get("judges", name)
        assert component.load().__name__ == (AutoScorer if name == "auto" else SCORERS[name]).__name__
