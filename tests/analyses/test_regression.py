"""OLS fits against tokens, and warnings (never crashes) on input that cannot be fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _energy_runs import make_run, power_samples, query
from ipw.analyses.regression import RegressionProjection, fit_ols



def _sequential_run(tmp_path: Path, completions: list[int], *, prompt: int | None = None, power: bool = True):
    """Queries one after another at 100 W; query i lasts 0.1 s per completion token."""
    events, t = [], 1.0
    for i, n in enumerate(completions, start=1):
        duration = 0.1 * n
        tokens = [t + 0.05 + 0.1 * k for k in range(n)]
        events += query(i, t, t + duration, tokens, prompt_tokens=prompt if prompt is not None else 5 + 3 * i)
        t += duration + 0.5
    if power:
        times = [k * 0.05 for k in range(int((t + 1) / 0.05))]
        events += power_samples("nvidia:0", times, power_w=[100.0] * len(times))
    return make_run(tmp_path, events)


def test_exact_linear_relation_is_recovered(tmp_path: Path) -> None:
    view = _sequential_run(tmp_path, [2, 4, 5, 7, 10])
    result = RegressionProjection().compute(view, {})
    energy = result["fits"]["energy_j"]["completion_tokens"]
    # energy = 100 W × 0.1 s per token
    assert energy["slope"] == pytest.approx(10.0, rel=1e-6)
    assert energy["intercept"] == pytest.approx(0.0, abs=1e-6)
    assert energy["r2"] == pytest.approx(1.0)
    assert energy["n"] == 5 and energy["warning"] is None
    lo, hi = energy["slope_ci95"]
    assert lo <= 10.0 <= hi
    latency = result["fits"]["latency_s"]["completion_tokens"]
    assert latency["slope"] == pytest.approx(0.1, rel=1e-6)
    power = result["fits"]["power_w"]["completion_tokens"]
    assert power["intercept"] == pytest.approx(100.0, rel=1e-6)
    assert power["slope"] == pytest.approx(0.0, abs=1e-6)
    assert result["energy_measured"] is True and result["policy"] == "active"


def test_noisy_fit_has_confidence_intervals_and_p_values() -> None:
    rng = np.random.default_rng(3)
    x = np.arange(40, dtype=float)
    y = 2.0 + 0.5 * x + rng.normal(0, 1.0, size=40)
    fit = fit_ols(x, y)
    assert fit["slope"] == pytest.approx(0.5, abs=0.05)
    assert fit["slope_ci95"][0] < fit["slope"] < fit["slope_ci95"][1]
    assert fit["intercept_ci95"][0] < fit["intercept"] < fit["intercept_ci95"][1]
    assert 0 <= fit["p_value"] < 1e-6 and 0.8 < fit["r2"] <= 1


def test_degenerate_inputs_give_warnings(tmp_path: Path) -> None:
    assert fit_ols(np.array([1.0]), np.array([2.0]))["warning"].startswith("needs at least two")
    assert fit_ols(np.array([]), np.array([]))["n"] == 0
    constant = fit_ols(np.array([3.0, 3.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert "x is constant" in constant["warning"] and constant["slope"] is None
    two = fit_ols(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    assert two["slope"] == pytest.approx(2.0) and two["slope_ci95"] is None and "two points" in two["warning"]
    nan_dropped = fit_ols(np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, np.nan]))
    assert nan_dropped["n"] == 1 and nan_dropped["slope"] is None

    view = _sequential_run(tmp_path, [3, 3, 3], prompt=7)
    fits = RegressionProjection().compute(view, {})["fits"]
    assert "x is constant" in fits["energy_j"]["prompt_tokens"]["warning"]
    assert "x is constant" in fits["ttft_s"]["completion_tokens"]["warning"]


def test_missing_energy_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    view = _sequential_run(tmp_path, [2, 4, 6], power=False)
    result = RegressionProjection().compute(view, {})
    assert result["energy_measured"] is False
    for y in ("energy_j", "power_w"):
        for fit in result["fits"][y].values():
            assert fit["warning"] == "energy was not measured" and fit["slope"] is None
    assert result["fits"]["latency_s"]["completion_tokens"]["slope"] == pytest.approx(0.1, rel=1e-6)


def test_single_query_run(tmp_path: Path) -> None:
    view = _sequential_run(tmp_path, [4])
    fits = RegressionProjection().compute(view, {})["fits"]
    assert all(fit["warning"] and fit["slope"] is None for per_x in fits.values() for fit in per_x.values())


def test_the_band_comes_from_the_same_fit_and_recovers_a_known_line() -> None:
    rng = np.random.default_rng(0)
    x = np.linspace(0, 100, 200)
    y = 2.0 + 0.5 * x + rng.normal(0, 1.0, len(x))
    grid = np.array([0.0, 50.0, 100.0])
    fit = fit_ols(x, y, grid)
    assert fit == {**fit_ols(x, y), "band": fit["band"]}  # the band adds to the fit, it does not refit
    band = fit["band"]
    assert fit["slope"] == pytest.approx(0.5, abs=0.02)
    assert fit["intercept"] == pytest.approx(2.0, abs=0.5)
    assert fit["r2"] > 0.98
    assert band["mean"] == pytest.approx(fit["intercept"] + fit["slope"] * grid)
    assert np.all(band["low"] < band["mean"]) and np.all(band["mean"] < band["high"])
    # the band is narrowest at the centre of the data
    widths = band["high"] - band["low"]
    assert widths[1] < widths[0] and widths[1] < widths[2]


def test_a_band_needs_three_points_and_a_slope() -> None:
    grid = np.array([0.0, 1.0])
    assert "band" not in fit_ols(np.array([1.0, 2.0]), np.array([1.0, 3.0]), grid)
    assert "band" not in fit_ols(np.array([3.0, 3.0, 3.0]), np.array([1.0, 2.0, 3.0]), grid)
    assert "band" in fit_ols(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]), grid)
