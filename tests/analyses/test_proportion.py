"""The one Wilson interval: statsmodels' numbers, with exact endpoints, and no statsmodels needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ipw.analyses.proportion import accuracy_interval, wilson_interval


def test_the_closed_form_is_statsmodels_wilson_interval() -> None:
    from statsmodels.stats.proportion import proportion_confint  # the reference the study table used to call

    for n in (1, 2, 3, 5, 10, 37, 100, 263, 1000):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
            got = wilson_interval(k, n)
            assert got[0] == pytest.approx(0.0 if k == 0 else low, abs=1e-12), (k, n)
            assert got[1] == pytest.approx(1.0 if k == n else high, abs=1e-12), (k, n)


def test_accuracy_interval_is_over_the_decided_answers() -> None:
    assert accuracy_interval(81, 182) == dict(zip(("accuracy_ci_low", "accuracy_ci_high"), wilson_interval(81, 263)))
    assert accuracy_interval(0, 0) == {"accuracy_ci_low": None, "accuracy_ci_high": None}


def test_the_interval_needs_no_statsmodels() -> None:
    code = ("import sys; sys.modules['statsmodels'] = None\n"
            "from ipw.analyses.proportion import wilson_interval\n"
            "print(round(wilson_interval(81, 263)[0], 4), 'statsmodels.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0.2553", "False"]
