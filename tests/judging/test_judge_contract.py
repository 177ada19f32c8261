"""The contract every judge keeps, run over each registered one: the built-ins and a plugin judge alike.

The plugin is ``myjudge`` of the throwaway distribution in :mod:`tests._plugins`,
installed in this process for each test. A judge is chosen by its registry id
(``make_judge``, ``--eval-client``); its spec keys its verdicts and rebuilds it.
The LLM judge (``openai``) is built here without being asked anything: asking it
is ``test_llm_judge_e2e``'s job, against the real llama server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ipw.errors import UsageError
from ipw.judging import SCORERS, ScoreResult, get_scorer
from ipw.judging.apply import ScorerJudge
from ipw.judging.llm import LLMJudge
from ipw.judging.prompts import JudgeItem
from ipw.judging.select import make_judge
from ipw.registry import REGISTRY

from .._plugins import PLUGIN_IDS, installed, write_contract_plugin

PLUGIN = PLUGIN_IDS["judges"]
LOCAL = "http://127.0.0.1:9/v1"  # loopback: no key is needed to build it, and nothing here sends a request
JUDGE_IDS = [*REGISTRY.ids("judges"), PLUGIN]
ITEM = JudgeItem(query_id=1, answer_text="The answer is 4", problem="What is 2 + 2?", reference="4",
                 subject="arithmetic", scorer="numeric")


@pytest.fixture(autouse=True)
def plugin_installed(tmp_path: Path) -> Iterator[None]:
    with installed(write_contract_plugin(tmp_path / "site")):
        yield


@pytest.mark.parametrize("judge_id", JUDGE_IDS)
def test_every_registered_judge_is_found_by_its_id(judge_id: str) -> None:
    assert judge_id in REGISTRY.ids("judges")  # listed, so it must be usable: never listed and then refused
    judge = make_judge(judge_id, LOCAL, "local")
    assert isinstance(judge.spec, str) and judge.spec
    assert isinstance(judge, LLMJudge if judge_id == "openai" else ScorerJudge)
    assert judge.describe()["spec"] == judge.spec
    assert REGISTRY.get("judges", judge_id).is_plugin is (judge_id == PLUGIN)
    judge.close()


@pytest.mark.parametrize("judge_id", [j for j in JUDGE_IDS if j != "openai"])
def test_every_scorer_judges_alike_twice_and_is_rebuilt_from_its_spec(judge_id: str) -> None:
    judge = make_judge(judge_id)
    assert judge.unjudgeable(ITEM) is None
    first, second = judge.judge(ITEM), judge.judge(ITEM)
    assert isinstance(first, ScoreResult) and first == second
    assert first.is_correct in (True, False, None)
    assert first.score is None or 0.0 <= first.score <= 1.0
    assert isinstance(first.metadata, dict)
    assert get_scorer(judge.spec).spec == judge.spec  # re-judging is keyed by the spec
    assert judge_id == "auto" or judge_id in SCORERS


def test_the_plugin_judge_decides_and_the_auto_scorer_runs_it_for_records_that_name_it() -> None:
    judge = make_judge(PLUGIN)
    assert judge.spec == "scorer:myjudge/v1"
    assert judge.judge(ITEM).metadata == {"judged_by": "myjudge"}
    assert judge.judge(JudgeItem(1, "five", reference="4")).is_correct is False
    auto = make_judge("auto")
    named = JudgeItem(1, "it is 4", reference="4", scorer=PLUGIN)
    assert auto.unjudgeable(named) is None
    verdict = auto.judge(named)
    assert verdict.is_correct is True and verdict.metadata["scorer"] == "scorer:myjudge/v1"


def test_an_id_no_one_registered_is_refused_with_every_judge_named() -> None:
    with pytest.raises(UsageError, match="unknown judge client") as info:
        make_judge("nobody")
    assert info.value.hint is not None and PLUGIN in info.value.hint and "openai" in info.value.hint
