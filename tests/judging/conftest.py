"""Fixtures for the judging tests: recorded runs, a stand-in judge endpoint, a real llama.cpp server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest

from ._judging_support import RECORDS, FakeJudgeEndpoint, write_run


@pytest.fixture
def mixed_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run-mixed", RECORDS)


@pytest.fixture
def endpoint() -> FakeJudgeEndpoint:
    return FakeJudgeEndpoint()


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Records the delays the judge's SDK waits between retries instead of waiting.

    The ``openai`` SDK waits with ``time.sleep``; this stands in for it for the test's duration.
    """
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    sleep.slept = slept  # type: ignore[attr-defined]
    monkeypatch.setattr(time, "sleep", sleep)
    return sleep


@pytest.fixture(scope="session")
def llama_server(llama_server_url: str) -> str:
    """The session's real ``python -m llama_cpp.server`` (packaged gemma-3-270m) on loopback."""
    return llama_server_url
