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


def test_not_a_terminal_one_plain_line_per_tick_when_something_changed() -> None:
    out = io.StringIO()
    display = ProgressLine(stream=out, timer=False)  # the test ticks in the timer's place
    progress = _progress()
    display.attach(progress)
    display.observe(PowerSample(device="nvidia:0", t_ns=0, power_w=100.0))
    display.observe(PowerSample(device="nvidia:0", t_ns=2_000_000_000, power_w=100.0))
    assert out.getvalue() == ""  # nothing before the first tick
    display.tick()
    display.tick()  # unchanged state is not repeated
    (first,) = out.getvalue().splitlines()
    assert first.startswith("progress: queries 4/10 (1 failed) | ") and "| 200 J |" in first
    progress.done = 4
    display.tick()
    progress.done = 5
    display.close()  # the final state, once, though no tick saw it
    display.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert all(line.startswith("progress: queries ") for line in lines)
    assert "\x1b" not in out.getvalue()  # no terminal escapes in a log file
    assert ["queries 4/10" in lines[0], "queries 5/10" in lines[1], "queries 6/10" in lines[2]] == [True] * 3
    assert all("200 J" in line for line in lines)


def test_off_a_terminal_the_timer_thread_ticks() -> None:
    out = io.StringIO()
    display = ProgressLine(stream=out, interval_s=0.01)
    display.attach(_progress())
    deadline = time.monotonic() + 60  # waits for the thread's first line; how soon is not under test
    while not out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    display.close()
    assert out.getvalue().splitlines()[0].startswith("progress: queries 4/10")


def test_a_terminal_gets_the_rich_display_and_json_gets_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # with the stand-in terminal, a terminal that can redraw
    tty = _Tty()
    progress = _progress()
    display = ProgressLine(stream=tty, timer=False)
    display.attach(progress)
    display.tick()
    assert "queries 4/10" in tty.getvalue() and "━" in tty.getvalue()  # rich's bar, drawn by the tick
    progress.done = 4
    display.tick()
    assert "queries 5/10" in tty.getvalue()
    progress.done = 5
    display.close()
    assert "queries 6/10" in tty.getvalue()  # the final state is left on screen
    quiet = io.StringIO()
    off = ProgressLine(enabled=False, stream=quiet)
    off.attach(_progress())
    off.tick()
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
