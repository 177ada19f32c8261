"""The contracts of the analyses, visualizations and datasets, run over each registered one and a plugin of each kind.

The plugins (``mycount``, ``mydraw``, ``mydata``) come from the throwaway
distribution of :mod:`tests._plugins`, installed in this process; every
component is built the one way ipw builds it, ``REGISTRY.create``. The other
kinds have their own suites: clients ``tests/capture/clients/test_contract.py``,
judges ``tests/judging/test_judge_contract.py``, collectors
``tests/energy_monitor/collectors/test_contract.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from ipw.capture.datasets import DatasetProvider, DatasetRecord
from ipw.registry import REGISTRY
from ipw.replay import RunView, load_run

from ._plugins import PLUGIN_IDS, installed, write_contract_plugin
from .reports.conftest import plan_queries
from .reports.ledgers import write_run


@pytest.fixture(autouse=True)
def plugin_installed(tmp_path: Path) -> Iterator[None]:
    with installed(write_contract_plugin(tmp_path / "site")):
        yield


@pytest.fixture()
def view(tmp_path: Path) -> RunView:
    return load_run(write_run(tmp_path / "run", plan_queries(0.0, side="a"), devices={"nvidia:0": 100.0}))


def _with_plugin(kind: str) -> list[str]:
    return [*REGISTRY.ids(kind), PLUGIN_IDS[kind]]


@pytest.mark.parametrize("analysis_id", _with_plugin("analyses"))
def test_every_analysis_is_a_pure_json_function_of_the_run(analysis_id: str, view: RunView) -> None:
    analysis = REGISTRY.create("analyses", analysis_id)
    assert analysis.analysis_id == analysis_id
    result = analysis.compute(view, {})
    assert isinstance(result, dict) and result == analysis.compute(view, {})  # a projection: same run, same result
    json.dumps(result)


@pytest.mark.parametrize("visualization_id", _with_plugin("visualizations"))
def test_every_visualization_draws_files_it_names_into_the_folder(visualization_id: str, view: RunView,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "drawn"
    paths = REGISTRY.create("visualizations", visualization_id, [view], out, {})
    assert paths and all(Path(p).parent == out and Path(p).stat().st_size > 0 for p in paths)


@pytest.mark.parametrize("dataset_id", _with_plugin("datasets"))
def test_every_dataset_is_found_as_a_provider_or_a_factory_of_one(dataset_id: str) -> None:
    component = REGISTRY.get("datasets", dataset_id)
    found = component.load()
    assert callable(found)
    if isinstance(found, type):
        assert issubclass(found, DatasetProvider)


def _jsonl(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"problem": "What is 2 + 2?", "answer": "4", "subject": "arithmetic", "scorer": "numeric"}\n')
    return {"path": str(path)}


# the datasets read here need nothing but this machine; the benchmarks of the Hub are read in
# tests/capture/datasets against a loopback fake of the Hub
@pytest.mark.parametrize(("dataset_id", "params"), [("builtin", None), ("file", _jsonl), (PLUGIN_IDS["datasets"], None)])
def test_a_dataset_yields_records_with_ids_a_description_and_a_limit(dataset_id: str, params, tmp_path: Path) -> None:
    given = params(tmp_path) if params else {}
    records = list(REGISTRY.create("datasets", dataset_id, **given).iter_records())
    assert records and all(isinstance(r, DatasetRecord) for r in records)
    assert len({r.record_id for r in records}) == len(records)
    provider = REGISTRY.create("datasets", dataset_id, **given, limit=1)
    assert len(list(provider.iter_records())) == 1
    json.dumps(provider.describe())
