"""Ordinary least squares of per-query energy, latency, TTFT and power against tokens.

For every response y in (energy_j, latency_s, ttft_s, power_w) and every
predictor x in (prompt_tokens, completion_tokens, total_tokens) the fit is
y = intercept + slope · x over the measured queries that have both values,
with statsmodels OLS: slope, intercept, r2, their 95 % confidence intervals,
the slope's two-sided p-value and n. ``latency_s`` is end-to-end;
``power_w`` is a query's attributed energy over its end-to-end time; energy
comes from :func:`ipw.analyses.energy.per_query_energy` with the ``policy``
and ``idle_baseline`` options. A fit that cannot be made (fewer than two
points, constant x, energy not measured) is an entry with a ``warning`` and
null numbers, never an error.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import BackendMissingError
from ..replay.engine import RunView
from ._numbers import finite
from ._options import applied_options, check_options, energy_options_applied
from .energy import ENERGY_OPTIONS, EnergyAttribution, per_query_energy
from .latency import per_query_latency

__all__ = ["RegressionProjection", "RESPONSES", "PREDICTORS", "fit_ols"]

RESPONSES: tuple[str, ...] = ("energy_j", "latency_s", "ttft_s", "power_w")
PREDICTORS: tuple[str, ...] = ("prompt_tokens", "completion_tokens", "total_tokens")
CONFIDENCE = 0.95


def _empty(n: int, warning: str) -> dict[str, Any]:
    return {
        "n": n,
        "slope": None,
        "intercept": None,
        "r2": None,
        "slope_ci95": None,
        "intercept_ci95": None,
        "p_value": None,
        "warning": warning,
    }


def fit_ols(x: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None) -> dict[str, Any]:
    """Fit y = intercept + slope·x by OLS over the pairs where both are finite.

    With ``grid``, a fit of three or more points also carries ``band``: the
    fitted line and its 95 % confidence band at those x values, from the same
    fit (numpy arrays, for plotting; the regression analysis passes no grid).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(len(x))
    if n < 2:
        return _empty(n, f"needs at least two queries with both values, has {n}")
    if np.ptp(x) == 0:
        return _empty(n, "x is constant: no slope can be fitted")
    try:
        import statsmodels.api as sm  # optional: the 'analysis' extra
    except ImportError as exc:
        raise BackendMissingError("regression fits", "analysis", module="statsmodels") from exc

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
        ci = np.asarray(fit.conf_int(alpha=1 - CONFIDENCE))
        r2 = float(fit.rsquared)
        p_value = float(np.asarray(fit.pvalues)[1])
        band = None
        if grid is not None and n > 2:  # two points fit exactly and leave no error to draw a band from
            frame = fit.get_prediction(sm.add_constant(np.asarray(grid, dtype=np.float64), has_constant="add"))
            frame = frame.summary_frame(alpha=1 - CONFIDENCE)
            band = {"x": np.asarray(grid, dtype=np.float64), "mean": np.asarray(frame["mean"]),
                    "low": np.asarray(frame["mean_ci_lower"]), "high": np.asarray(frame["mean_ci_upper"])}
    out = {
        "n": n,
        "intercept": finite(fit.params[0]),
        "slope": finite(fit.params[1]),
        "r2": finite(r2),
        "intercept_ci95": _interval(ci[0]),
        "slope_ci95": _interval(ci[1]),
        "p_value": finite(p_value),
        "warning": None,
    }
    notes = []
    if n == 2:
        notes.append("only two points: the line fits exactly and has no confidence intervals")
    if np.ptp(y) == 0:
        notes.append("y is constant: r2 is undefined")
    if notes:
        out["warning"] = "; ".join(notes)
    if band is not None:
        out["band"] = band
    return out


def _interval(pair: np.ndarray) -> list[float] | None:
    lo, hi = finite(pair[0]), finite(pair[1])
    return None if lo is None or hi is None else [lo, hi]


def _columns(view: RunView, options: dict[str, Any]) -> tuple[dict[str, np.ndarray], EnergyAttribution]:
    latency = per_query_latency(view)
    energy = per_query_energy(
        view,
        policy=options.get("policy", "active"),
        idle_baseline=options.get("idle_baseline", "none"),
        devices=options.get("devices"),
    )
    qids = list(latency)

    def col(values: list[Any]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    prompt = col([latency[q]["prompt_tokens"] for q in qids])
    completion = col([latency[q]["completion_tokens"] for q in qids])
    energy_j = col([energy.energy_j.get(q) for q in qids])
    latency_s = col([latency[q]["e2e_s"] for q in qids])
    with np.errstate(divide="ignore", invalid="ignore"):
        power_w = np.where(latency_s > 0, energy_j / latency_s, np.nan)
    columns = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "energy_j": energy_j,
        "latency_s": latency_s,
        "ttft_s": col([latency[q]["ttft_s"] for q in qids]),
        "power_w": power_w,
    }
    return columns, energy


class RegressionProjection:
    """OLS fits of energy, latency, TTFT and power per query against token counts."""

    analysis_id = "regression"

    def compute(self, view: RunView, options: dict[str, Any]) -> dict[str, Any]:
        check_options(self.analysis_id, options, ENERGY_OPTIONS)
        columns, energy = _columns(view, options)
        fits: dict[str, dict[str, Any]] = {}
        for y_name in RESPONSES:
            fits[y_name] = {}
            for x_name in PREDICTORS:
                if y_name in ("energy_j", "power_w") and not energy.measured:
                    fits[y_name][x_name] = _empty(0, "energy was not measured")
                    continue
                fits[y_name][x_name] = fit_ols(columns[x_name], columns[y_name])
        return {
            "policy": energy.policy,
            "idle_baseline": energy.idle_baseline,
            "confidence": CONFIDENCE,
            "energy_measured": energy.measured,
            "queries": int(len(columns["latency_s"])),
            "fits": fits,
            "options": applied_options(self.analysis_id, ENERGY_OPTIONS, energy_options_applied(energy, options)),
        }
