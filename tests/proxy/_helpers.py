"""Starting ``ipw proxy`` as a real subprocess for the proxy tests, and reading what it recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ipw.ledger import read_events
from tests._servers import free_port


def start_proxy(upstream: str, out: Path, name: str, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    """``python -m ipw.cli proxy`` in front of ``upstream``; waits until it forwards; (base URL, process)."""
    port = free_port()
    cmd = [sys.executable, "-m", "ipw.cli", "proxy", "--upstream", upstream, "--port", str(port),
           "--output-dir", str(out), "--run-name", name, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "IPW_DEBUG": ""})
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ipw proxy exited {proc.returncode}: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("ipw proxy did not answer within 60 s")


def events_of(run_dir: Path, kind: str) -> list:
    return [e for e in read_events(run_dir) if type(e).__name__ == kind]
