"""A report page as headless chromium shows it: one call takes the screenshot and dumps the DOM after scripts ran.

``open_in_chromium(chromium, html_file, shot)`` (``chromium`` being the fixture
of tests/conftest.py) returns a ``Dom``: every element's tag, attributes and
text, in document order. The screenshot is kept under pytest's tmp dir, copied
to ``$IPW_TEST_ARTIFACTS`` when that is set, and its path printed (``pytest -s``
shows it), so a person can look at what the test saw.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

_VOID_TAGS = ("img", "meta", "br", "input", "link")


class Dom(HTMLParser):
    """Every element's attributes and text, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in _VOID_TAGS:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1]["tag"] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element["text"] += data

    def with_attr(self, name: str, value: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.elements if name in e["attrs"] and (value is None or e["attrs"][name] == value)]


def open_in_chromium(
    chromium: str,
    html_file: Path,
    shot: Path,
    *,
    fragment: str = "",
    window_px: tuple[int, int] = (1280, 2200),
    hide_scrollbars: bool = True,
) -> Dom:
    """Open ``html_file`` (+ ``fragment``) in a ``window_px`` window: screenshot to ``shot``, return the DOM.

    ``hide_scrollbars=False`` keeps the scrollbars, for a test that measures
    how wide the page's content is against the window.
    """
    profile = shot.parent / f"{shot.stem}-profile"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           *(["--hide-scrollbars"] if hide_scrollbars else []), f"--window-size={window_px[0]},{window_px[1]}",
           f"--screenshot={shot}", "--dump-dom", html_file.resolve().as_uri() + fragment]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=shot.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000, "chromium wrote no screenshot"
    keep = os.environ.get("IPW_TEST_ARTIFACTS")
    if keep:  # pytest's tmp dirs rotate away; this folder does not
        Path(keep).mkdir(parents=True, exist_ok=True)
        shot = Path(shutil.copy2(shot, Path(keep) / shot.name))
    print(f"screenshot: {shot}")
    dom = Dom()
    dom.feed(done.stdout)
    return dom
