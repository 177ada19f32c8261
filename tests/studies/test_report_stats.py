"""The report's statistics: the Wilson score interval and the Pareto front."""

from __future__ import annotations

import pytest

from ipw.reports.study_stats import pareto_front, wilson_interval


def test_wilson_interval_matches_the_textbook_values() -> None:
    # Wilson (1927) / Newcombe (1998) table: 81 of 263 -> 0.2553 to 0.3662
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)
    # the endpoints are exact for every n: 0/3 once came out as 1e-17 above zero, and a
    # lower bound above the accuracy made a negative error bar (exit 70 in study report)
    for n in range(1, 200):
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0


def test_pareto_front_keeps_only_the_undominated_cells() -> None:
    points = [(1.0, 0.5), (2.0, 0.4), (2.0, 0.7), (3.0, 0.7), (0.5, 0.1), (4.0, 0.9)]
    assert pareto_front(points) == [0, 2, 4, 5]
