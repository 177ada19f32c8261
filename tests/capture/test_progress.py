"""The capture's progress display: rich on a terminal, one plain line per second elsewhere."""

from __future__ import annotations

import io
import time

import pytest

from ipw.capture.config import Progress
from ipw.cli._progress import ProgressLine, status_text
from ipw.events import PowerSample


class _Tty(io.StringIO):
    def isatty(self) -> bool:  # stands in for a terminal
        return True


def _progress() -> Progress:
    progress = Progress(total=10)
    progress.tokens, progress.done, progress.failed = 120, 3, 1
    progress.last_power_w = {"nvidia:0": 150.0, "rapl:package-0": 30.5}
    return progress


def test_status_text_has_queries_tokens_watts_joules_eta() -> None:
    text = status_text(_progress(), {"nvidia:0": 300.0, "rapl:package-0": 61.0})
    assert text.startswith("queries 4/10 (1 failed) | ")
    assert "tok/s" in text and "nvidia:0 150.0 W, rapl:package-0 30.5 W" in text and "| 361 J |" in text
    assert "ETA " in text and "ETA –" not in text
    assert status_text(Progress(total=3), {}) == "queries 0/3 | 0.0 tok/s | – W | – J | ETA –"


def test_not_a_terminal_one_plain_line_per_interval_when_something_changed() -> None:
    out = io.StringIO()
    display = ProgressLine(stream=out, interval_s=0.05)
    progress = _progress()
    display.attach(progress)
    display.observe(PowerSample(device="nvidia:0", t_ns=0, power_w=100.0))
    display.observe(PowerSample(device="nvidia:0", t_ns=2_000_000_000, power_w=100.0))
    time.sleep(0.3)
    progress.done = 4
    time.sleep(0.3)
    display.close()
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 3, lines  # unchanged state is not repeated
    assert all(line.startswith("progress: queries ") for line in lines)
    assert "\x1b" not in out.getvalue()  # no terminal escapes in a log file
    assert "200 J" in lines[-1] and "queries 5/10" in lines[-1]


def test_a_terminal_gets_the_rich_display_and_json_gets_nothing() -> None:
    tty = _Tty()
    display = ProgressLine(stream=tty)
    display.attach(_progress())
    time.sleep(0.4)
    display.close()
    assert "queries 4/10" in tty.getvalue() and "━" in tty.getvalue()  # rich's bar
    quiet = io.StringIO()
    off = ProgressLine(enabled=False, stream=quiet)
    off.attach(_progress())
    off.close()
    assert quiet.getvalue() == ""


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


def test_joules_so_far_count_a_rapl_package_once() -> None:
    text = status_text(Progress(total=1), {"rapl:package-0": 100.0, "rapl:core-0": 60.0, "nvidia:0": 10.0})
    assert "| 110 J |" in text
