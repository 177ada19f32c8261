"""Per-query energy under every policy against truths worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from _energy_runs import by_query, counter_of, make_run, power_samples, query
from ipw.analyses.energy import EnergyProjection, per_query_energy

REL = 1e-3  # 0.1 %


def _close(got: dict[int, float], want: dict[int, float]) -> None:
    assert set(got) == set(want)
    for qid, value in want.items():
        assert got[qid] == pytest.approx(value, rel=REL, abs=1e-6), (qid, got[qid], value)


# -- a counter device ------------------------------------------------------------
# Power is 100 W before t=2 s, 200 W on [2, 4) and 100 W after; the counter is
# sampled every 0.5 s, so linear interpolation between its samples is exact.
#   Q1 on [1, 3]: tokens at 1.5 (first), 2.0, 2.5, 3.0
#   Q2 on [2, 4]: tokens at 2.5 (first), 3.0 (two tokens), 3.5, 4.0
#   Q3 on [5, 6]: alone; [4, 5] is idle
# Each 0.5 s interval on [1, 2] holds 50 J and on [2, 4] holds 100 J.


def _step_power(t: float) -> float:
    return 200.0 if 2.0 <= t < 4.0 else 100.0


@pytest.fixture
def counter_run(tmp_path: Path):
    times = [i * 0.5 for i in range(15)]  # 0 … 7 s
    return make_run(
        tmp_path,
        power_samples("nvidia:0", times, energy_j=counter_of(_step_power, times))
        + query(1, 1.0, 3.0, [1.5, 2.0, 2.5, 3.0])
        + query(2, 2.0, 4.0, [2.5, (3.0, 2), 3.5, 4.0])
        + query(3, 5.0, 6.0, [5.5, 6.0]),
    )


def test_active_policy_splits_each_interval_equally(counter_run) -> None:
    result = EnergyProjection().compute(counter_run, {"policy": "active"})
    # Q1: [1,2] alone 100 J + [2,3] shared with Q2 200/2; Q2: 200/2 + [3,4] alone 200 J
    _close(by_query(result), {1: 100 + 200 / 2, 2: 200 / 2 + 200, 3: 100})
    _close(by_query(result, "prefill_energy_j"), {1: 50, 2: 100 / 2, 3: 50})
    _close(by_query(result, "decode_energy_j"), {1: 150, 2: 250, 3: 50})
    assert result["total_energy_j"] == pytest.approx(100 + 400 + 200)  # window [1, 6]
    assert result["idle_energy_j"] == pytest.approx(100)  # [4, 5], charged to nobody
    assert result["attributed_energy_j"] == pytest.approx(600)
    assert result["excluded_energy_j"] == pytest.approx(0, abs=1e-9)
    assert result["mean_energy_per_query_j"] == pytest.approx(200)
    assert result["mean_power_w"] == pytest.approx(700 / 5)
    assert result["devices"]["nvidia:0"]["method"] == "counter"
    assert result["provenance"] == "measured" and result["measured"] is True
    assert all(row["energy_complete"] for row in result["per_query"])


def test_tokens_policy_weights_by_tokens_emitted(counter_run) -> None:
    result = EnergyProjection().compute(counter_run, {"policy": "tokens"})
    # (1,1.5] Q1's token → 50; (1.5,2] Q1 → 50; (2,2.5] one token each → 50/50;
    # (2.5,3] Q1 one, Q2 two → 100/3 vs 200/3; (3,3.5], (3.5,4] Q2 → 100 each
    _close(by_query(result), {1: 50 + 50 + 50 + 100 / 3, 2: 50 + 200 / 3 + 100 + 100, 3: 100})
    _close(by_query(result, "prefill_energy_j"), {1: 50, 2: 50, 3: 50})
    assert result["attributed_energy_j"] == pytest.approx(600)


def test_window_policy_is_the_legacy_double_count(counter_run) -> None:
    result = EnergyProjection().compute(counter_run, {"policy": "window"})
    _close(by_query(result), {1: 100 + 200, 2: 400, 3: 100})
    assert result["double_counted"] is True
    assert "double counted" in result["note"]
    assert result["attributed_energy_j"] > result["total_energy_j"]
    assert result["excluded_energy_j"] is None


@pytest.mark.parametrize(
    ("policy", "want"),
    [
        # baseline 100 W (the idle counter intervals): only the extra 100 W on [2, 4) is left
        ("active", {1: 100 / 2, 2: 100 / 2 + 100, 3: 0}),
        ("tokens", {1: 25 + 50 / 3, 2: 25 + 100 / 3 + 50 + 50, 3: 0}),
        ("window", {1: 300 - 200, 2: 400 - 200, 3: 100 - 100}),
    ],
)
def test_idle_baseline_subtracted(counter_run, policy: str, want: dict[int, float]) -> None:
    result = EnergyProjection().compute(counter_run, {"policy": policy, "idle_baseline": "subtract"})
    _close(by_query(result), want)
    assert result["devices"]["nvidia:0"]["baseline_power_w"] == pytest.approx(100)
    assert result["baseline_energy_j"] == pytest.approx(100 * 4)  # busy [1,4] and [5,6]
    assert result["idle_energy_j"] == pytest.approx(100)


# -- a power-only device ----------------------------------------------------------
# Samples each second: 40 40 80 120 120 60 40 40 40 W at t = 0 … 8, linear in
# between, so [1,1.5] holds 25 J, [1.5,2] 35, [2,2.5] 45, [2.5,3] 55, [3,3.5] 60,
# [3.5,4] 60, [4,4.5] 52.5, [4.5,5] 37.5, [5,6] 50.
#   A on [1.5, 4.5]: tokens 2.5 (first), 4.5;  B on [2, 6]: 3.5 (first, 2 tokens), 6.0;  C on [3, 4]: 4.0


@pytest.fixture
def power_run(tmp_path: Path):
    return make_run(
        tmp_path,
        power_samples("nvidia:0", range(9), power_w=[40, 40, 80, 120, 120, 60, 40, 40, 40])
        + query(1, 1.5, 4.5, [2.5, 4.5])
        + query(2, 2.0, 6.0, [(3.5, 2), 6.0])
        + query(3, 3.0, 4.0, [4.0]),
    )


@pytest.mark.parametrize(
    ("policy", "want"),
    [
        ("active", {1: 35 + 100 / 2 + 120 / 3 + 52.5 / 2, 2: 100 / 2 + 120 / 3 + 52.5 / 2 + 37.5 + 50, 3: 120 / 3}),
        ("tokens", {1: 35 + 45 + 55 / 2 + 52.5, 2: 55 / 2 + 60 + 37.5 + 50, 3: 60}),
        ("window", {1: 35 + 100 + 120 + 52.5, 2: 100 + 120 + 90 + 50, 3: 120}),
    ],
)
def test_power_only_device_is_integrated_by_trapezoid(power_run, policy: str, want: dict[int, float]) -> None:
    result = EnergyProjection().compute(power_run, {"policy": policy})
    _close(by_query(result), want)
    assert result["devices"]["nvidia:0"]["method"] == "power"
    assert result["total_energy_j"] == pytest.approx(395)  # window [1.5, 6]


def test_active_prefill_on_power_device(power_run) -> None:
    result = per_query_energy(power_run, policy="active")
    assert result.prefill_energy_j[1] == pytest.approx(35 + 45 / 2, rel=REL)  # [1.5, 2.5]
    assert result.decode_energy_j[1] == pytest.approx(result.energy_j[1] - (35 + 45 / 2), rel=REL)


def test_warmup_share_is_excluded_not_charged(tmp_path: Path) -> None:
    view = make_run(
        tmp_path,
        power_samples("nvidia:0", [i * 0.25 for i in range(17)], power_w=[100.0] * 17)
        + query(1, 0.0, 2.0, [1.0], warmup=True)
        + query(2, 1.0, 3.0, [2.0]),
    )
    result = per_query_energy(view, policy="active")
    assert list(result.energy_j) == [2]
    assert result.energy_j[2] == pytest.approx(100 / 2 + 100, rel=REL)
    assert result.excluded_energy_j == pytest.approx(50, rel=REL)
    assert result.total_energy_j == pytest.approx(200, rel=REL)


def test_subtract_without_an_idle_period_says_so(tmp_path: Path) -> None:
    view = make_run(
        tmp_path,
        power_samples("nvidia:0", [1.0, 2.0, 3.0], power_w=[100.0] * 3) + query(1, 1.0, 3.0, [2.0]),
    )
    result = per_query_energy(view, idle_baseline="subtract")
    assert result.devices["nvidia:0"].baseline_power_w is None
    assert any("could not be estimated" in note for note in result.notes)
    assert result.energy_j[1] == pytest.approx(200, rel=REL)
