"""What ``ipw proxy`` costs a call: added latency and the tokens per second it passes on.

Both against ``loopback_server.py`` (the "infinitely fast" OpenAI server, its
own process) with the proxy as users run it (``python -m ipw.cli proxy``, its
own process, ``--energy none`` so that only the proxy is measured):

- ``proxy_added_latency_ms_p50``: the median time of a whole 16-token stream
  through the proxy, less the median straight to the server (target <= 1 ms),
  with the default durable acknowledgement (a call ends once its record is
  fsynced), and ``proxy_added_latency_ms_p50_ack_early`` with ``--ack-early``
  (the fsync left off the call's path). Direct and proxied calls alternate.
  The proxy forwards one HTTP chunk per socket read where the server sends one
  per event, so a client can parse a proxied stream faster than the direct
  one: a figure at or below zero means the hop costs less than that saves;
- ``proxy_ttft_added_ms_p50``: the same for the first byte of the answer;
- ``proxy_tokens_per_s``: tokens of one long stream through the proxy, per
  second of the client's wall time (target >= 50,000).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_proxy(upstream: str, out: Path, name: str, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ipw.cli", "proxy", "--upstream", upstream, "--port", str(port),
                             "--output-dir", str(out), "--run-name", name, "--energy", "none", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            httpx.get(url + "/models", timeout=1)
            return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("ipw proxy did not start")


def _timed_calls(client: httpx.Client, url: str, tokens: int, n: int) -> tuple[list[float], list[float]]:
    """(whole-call seconds, first-byte seconds) of ``n`` streamed completions."""
    body = json.dumps({"model": "m", "prompt": "x", "max_tokens": tokens, "stream": True}).encode()
    whole, first = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        with client.stream("POST", url + "/completions", content=body,
                           headers={"content-type": "application/json", "x-ipw-task": "bench"}) as r:
            t1 = None
            for _piece in r.iter_raw():
                if t1 is None:
                    t1 = time.perf_counter()
        whole.append(time.perf_counter() - t0)
        first.append((t1 or time.perf_counter()) - t0)
    return whole, first


def run_proxy_benchmark(calls: int = 200, long_tokens: int = 200_000) -> dict[str, Any]:
    server = subprocess.Popen([sys.executable, str(HERE / "loopback_server.py"), "--port", "0"], stdout=subprocess.PIPE)
    tmp = Path(tempfile.mkdtemp(prefix="ipw-bench-proxy-"))
    try:
        port = int(server.stdout.readline().split()[1])  # type: ignore[union-attr]
        upstream = f"http://127.0.0.1:{port}/v1"
        result: dict[str, Any] = {}
        with httpx.Client(timeout=60) as client:
            for mode, extra in (("", ()), ("_ack_early", ("--ack-early",))):
                url, proxy = _start_proxy(upstream, tmp, "latency" + mode, *extra)
                try:
                    _timed_calls(client, url, 16, 10)  # warm: connections open on both sides
                    direct, direct_first, through, through_first = [], [], [], []
                    for _ in range(calls):  # interleaved, so the machine's other load falls on both alike
                        for target, whole, first in ((upstream, direct, direct_first), (url, through, through_first)):
                            (w,), (f,) = _timed_calls(client, target, 16, 1)
                            whole.append(w)
                            first.append(f)
                finally:
                    proxy.send_signal(signal.SIGINT)
                    proxy.wait(30)
                added = statistics.median(through) - statistics.median(direct)
                result[f"proxy_added_latency_ms_p50{mode}"] = round(added * 1e3, 3)
                if not mode:
                    ttft = statistics.median(through_first) - statistics.median(direct_first)
                    result["proxy_ttft_added_ms_p50"] = round(ttft * 1e3, 3)
            url, proxy = _start_proxy(upstream, tmp, "throughput")
            try:
                rates = []
                for _ in range(3):
                    (whole,), _ = _timed_calls(client, url, long_tokens, 1)
                    rates.append(long_tokens / whole)
            finally:
                proxy.send_signal(signal.SIGINT)
                proxy.wait(30)
            result["proxy_tokens_per_s"] = round(statistics.median(rates))
        return result
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run_proxy_benchmark(), indent=2))
