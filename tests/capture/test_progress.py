"""The progress the runner keeps: its power line sums devices the way the energy analysis does."""

from __future__ import annotations

import pytest

from ipw.capture.config import Progress


def test_power_w_counts_a_rapl_package_once_not_again_through_its_cores() -> None:
    progress = Progress(total=4)
    assert progress.power_w is None  # nothing read yet: no number, not 0 W
    progress.last_power_w.update({"rapl:package-0": 40.0, "rapl:core-0": 25.0, "rapl:uncore-0": 5.0,
                                  "rapl:dram-0": 3.0, "nvidia:0": 150.0})
    assert progress.power_w == pytest.approx(40.0 + 3.0 + 150.0)


def test_a_subdomain_without_its_package_still_counts() -> None:
    progress = Progress(total=1)
    progress.last_power_w["rapl:core-1"] = 12.0
    assert progress.power_w == pytest.approx(12.0)
