"""diff_runs: config/hardware differences, accuracy flips and bootstrap deltas with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ipw.errors import UsageError
from ipw.replay.engine import load_run
from ipw.reports.deltas import bootstrap_delta
from ipw.reports.diff import diff_runs, dict_differences, flatten, format_diff

from .conftest import EXTRA_S, POWER_W


def _diff(runs: dict[str, Path], a: str, b: str, **kwargs):  # type: ignore[no-untyped-def]
    return diff_runs(load_run(runs[a]), load_run(runs[b]), **kwargs)


def test_flatten_and_differences() -> None:
    assert flatten({"a": {"b": [1, {"c": 2}]}, "d": {}}) == {"a.b[0]": 1, "a.b[1].c": 2, "d": {}}
    diffs = dict_differences({"x": 1, "y": {"z": 2}, "only": "a"}, {"x": 1, "y": {"z": 3}, "new": [1]})
    assert diffs == [
        {"key": "new[0]", "a": None, "b": 1, "status": "only_b"},
        {"key": "only", "a": "a", "b": None, "status": "only_a"},
        {"key": "y.z", "a": 2, "b": 3, "status": "changed"},
    ]


def test_config_and_hardware_differences(runs: dict[str, Path]) -> None:
    result = _diff(runs, "a", "b")
    config = {d["key"]: (d["a"], d["b"]) for d in result["config"]}
    assert config == {"model": ("gemma-3-270m", "gemma-3-1b"), "gen.temperature": (0, 0.7)}
    hardware = {d["key"]: (d["a"], d["b"], d["status"]) for d in result["hardware"]}
    assert hardware["cpu_count"] == (2, 4, "changed")
    assert hardware["accelerators[0].name"] == (None, "Fake GPU", "only_b")
    assert hardware["accelerators"] == ([], None, "only_a")
    assert result["devices"] == [] and result["packages"] == []


def test_accuracy_flips_on_shared_records(runs: dict[str, Path]) -> None:
    flips = _diff(runs, "a", "b")["accuracy_flips"]
    assert flips["shared_records"] == 6
    assert flips["unevaluated"] == 1  # r6 has no verdict in run A
    assert flips["compared"] == 5
    assert flips["right_to_wrong"] == ["r2"] and flips["n_right_to_wrong"] == 1
    assert flips["wrong_to_right"] == ["r3"] and flips["n_wrong_to_right"] == 1
    assert flips["unchanged"] == 3


def test_paired_deltas_are_exact_when_every_pair_moves_alike(runs: dict[str, Path]) -> None:
    deltas = _diff(runs, "a", "b")["deltas"]
    energy = deltas["energy_per_query_j"]
    assert energy["method"] == "paired" and energy["n_pairs"] == 6
    assert energy["delta"] == pytest.approx(POWER_W * EXTRA_S, rel=1e-6)
    assert energy["ci_low"] == pytest.approx(POWER_W * EXTRA_S, rel=1e-6)
    assert energy["ci_high"] == pytest.approx(POWER_W * EXTRA_S, rel=1e-6)
    mean_a = POWER_W * np.mean([0.4, 0.6, 0.5, 0.8, 0.7, 0.3])
    assert energy["a"] == pytest.approx(mean_a, rel=1e-6)
    assert energy["delta_percent"] == pytest.approx(100 * POWER_W * EXTRA_S / mean_a, rel=1e-6)
    latency = deltas["latency_e2e_s"]
    assert latency["delta"] == pytest.approx(EXTRA_S) and latency["ci_low"] == pytest.approx(EXTRA_S)
    assert deltas["ttft_s"]["delta"] == pytest.approx(0.1 * EXTRA_S)
    accuracy = deltas["accuracy"]
    assert accuracy["method"] == "paired" and accuracy["n_pairs"] == 5
    assert accuracy["a"] == pytest.approx(0.6) and accuracy["b"] == pytest.approx(0.6)
    assert accuracy["delta"] == pytest.approx(0.0)
    assert accuracy["ci_low"] < 0 < accuracy["ci_high"]


def test_bootstrap_is_deterministic_with_the_seed(runs: dict[str, Path]) -> None:
    one = _diff(runs, "a", "b", seed=7)["deltas"]["accuracy"]
    two = _diff(runs, "a", "b", seed=7)["deltas"]["accuracy"]
    assert one == two
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 2, 40), rng.normal(12, 2, 40)
    ci1 = bootstrap_delta(a, b, paired=False, n_boot=500, rng=np.random.default_rng(3))
    ci2 = bootstrap_delta(a, b, paired=False, n_boot=500, rng=np.random.default_rng(3))
    ci3 = bootstrap_delta(a, b, paired=False, n_boot=500, rng=np.random.default_rng(4))
    assert ci1 == ci2 and ci1 != ci3
    assert ci1 is not None and ci1[0] < 2.0 < ci1[1]


def test_unpaired_when_records_differ(runs: dict[str, Path]) -> None:
    result = _diff(runs, "a", "c")
    assert result["accuracy_flips"]["shared_records"] == 0
    energy = result["deltas"]["energy_per_query_j"]
    assert energy["method"] == "unpaired" and energy["n_a"] == 6 and energy["n_b"] == 6
    assert energy["delta"] == pytest.approx(POWER_W * EXTRA_S, rel=1e-6)
    assert energy["ci_low"] < POWER_W * EXTRA_S < energy["ci_high"]


def test_missing_energy_is_said_not_zeroed(runs: dict[str, Path]) -> None:
    result = _diff(runs, "a", "noenergy")
    energy = result["deltas"]["energy_per_query_j"]
    assert energy["delta"] is None and energy["a"] is None
    assert "run B" in energy["note"] and "no power samples" in energy["note"]
    assert result["b"]["has_energy"] is False and result["a"]["has_energy"] is True
    assert "no energy comparison" in format_diff(result)
    assert result["deltas"]["latency_e2e_s"]["delta"] == pytest.approx(0.0)


def test_judge_selection(runs: dict[str, Path]) -> None:
    assert _diff(runs, "a", "b", judge="auto")["a"]["judge"] == "auto"
    with pytest.raises(UsageError, match="judge 'nope'"):
        _diff(runs, "a", "b", judge="nope")


def test_result_is_json_and_text(runs: dict[str, Path]) -> None:
    result = _diff(runs, "a", "b", n_boot=200)
    json.dumps(result, allow_nan=False)
    text = format_diff(result)
    assert "gen.temperature" in text and "gemma-3-1b" in text
    assert "1 right→wrong, 1 wrong→right" in text
    assert "right→wrong: r2" in text and "wrong→right: r3" in text
    assert "energy per query (J)" in text and "+50" in text
    assert "paired, n=6" in text


def test_energy_options_are_checked(runs: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="colour"):
        _diff(runs, "a", "b", energy_options={"colour": "red"})
    with pytest.raises(UsageError, match="policy"):
        _diff(runs, "a", "noenergy", energy_options={"policy": "guess"})
    tokens = _diff(runs, "a", "b", energy_options={"policy": "tokens"})["deltas"]["energy_per_query_j"]
    assert tokens["delta"] == pytest.approx(POWER_W * EXTRA_S, rel=1e-6)  # sequential queries: every policy agrees


def test_energy_per_output_token_delta_is_a_ratio_of_sums(runs: dict[str, Path]) -> None:
    # A: 100 W × 3.3 s over 66 tokens = 5 J/token; B: every query 0.5 s longer, 100 W × 6.3 s over 66 tokens
    deltas = _diff(runs, "a", "b")["deltas"]
    per_token = deltas["joules_per_output_token"]
    assert per_token["a"] == pytest.approx(330 / 66, rel=1e-3)
    assert per_token["b"] == pytest.approx(630 / 66, rel=1e-3)
    assert per_token["delta"] == pytest.approx(300 / 66, rel=1e-3)
    assert per_token["method"] == "paired" and per_token["n_pairs"] == 6
    assert per_token["ci_low"] <= per_token["delta"] <= per_token["ci_high"]
    assert per_token["ci_low"] > 0  # B costs more per token in every resample
    inverse = deltas["output_tokens_per_joule"]
    assert inverse["a"] == pytest.approx(66 / 330, rel=1e-3) and inverse["delta"] < 0
    none = _diff(runs, "a", "noenergy")["deltas"]["joules_per_output_token"]
    assert none["delta"] is None and "no energy comparison" in none["note"]
