"""The harness against its peers: who limits the measurement, and at what CPU cost per token.

Each client streams from ``loopback_server.py`` (its own process, so its CPU
is never the client's), ``--queries`` queries of ``--tokens`` tokens, and each
client runs in a child process whose CPU time (user + system, every thread)
is read with ``os.wait4``. Figures are medians of ``--repeats`` runs, and
every ratio is between numbers of the same run.

- ``ipw``: the real capture path, ``Runner`` + the openai client + the ledger
  (fsync and all) into a temporary folder, ``--energy none``.
- ``httpx``: the plain baseline, an ``httpx.AsyncClient`` with default
  settings, ``aiter_lines`` + ``json.loads``, an ``asyncio.Semaphore`` for
  concurrency: the 30-line loop anyone would write.
- ``--peers``: guidellm and aiperf where installed, offline, against the
  same server; see ``peers.py`` for how they are found and measured.
  ``--peers`` prints a table of every client at every concurrency, with
  ratios to ipw from the same run, before the JSON.

Keys (SPEC §10): ``harness_tokens_per_s_c1``, ``harness_tokens_per_s_c256``,
``harness_cpu_us_per_token`` (ipw at concurrency 1),
``harness_connections_per_query``, plus the baseline's and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class LoopbackServer:
    """``loopback_server.py`` in a child process; ``stats()`` reads its counters."""

    def __init__(self, tokens: int = 256, hold_s: float = 0.0, hold_until: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "loopback_server.py"), "--port", "0", "--tokens", str(tokens),
             "--hold-s", str(hold_s), "--hold-until", str(hold_until)],
            stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the loopback server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def _call(self, method: str, path: str) -> dict[str, Any]:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self) -> dict[str, Any]:
        stats = self._call("GET", "/stats")
        stats["connections"] -= 1  # the connection that asked
        return stats

    def reset(self) -> None:
        self._call("POST", "/stats/reset")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "LoopbackServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the clients, each run in a child process ------------------------------------

def _child_ipw(base_url: str, queries: int, tokens: int, concurrency: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from ipw.capture.runner import CaptureConfig, Runner

    tmp = Path(tempfile.mkdtemp(prefix="ipw-harness-"))
    try:
        data = tmp / "prompts.jsonl"
        data.write_text("".join(json.dumps({"problem": f"q{i}", "answer": "x"}) + "\n" for i in range(queries)))
        config = CaptureConfig(client="openai", model="bench", dataset="file", dataset_params={"path": str(data)},
                               output_dir=str(tmp), run_name="run", max_concurrency=concurrency, energy="none",
                               client_base_url=base_url, gen_params={"max_tokens": tokens},
                               client_params={"api": "chat"})
        t0, c0 = time.perf_counter(), time.process_time()
        result = Runner(config).run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if result.completed != queries:
            raise RuntimeError(f"ipw completed {result.completed} of {queries} queries")
        return {"tokens": queries * tokens, "wall_s": wall, "cpu_s": cpu}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _child_httpx(base_url: str, queries: int, tokens: int, concurrency: int) -> dict[str, Any]:
    import asyncio

    import httpx

    async def main() -> int:
        sem = asyncio.Semaphore(concurrency)
        counted = 0
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            async def one(i: int) -> None:
                nonlocal counted
                async with sem:
                    body = {"model": "bench", "messages": [{"role": "user", "content": f"q{i}"}],
                            "max_tokens": tokens, "stream": True}
                    async with client.stream("POST", "/chat/completions", json=body) as response:
                        async for line in response.aiter_lines():
                            if not line.startswith("data: "):
                                continue
                            if line == "data: [DONE]":
                                break
                            obj = json.loads(line[6:])
                            if obj["choices"] and obj["choices"][0]["delta"].get("content"):
                                counted += 1

            await asyncio.gather(*(one(i) for i in range(queries)))
        return counted

    t0, c0 = time.perf_counter(), time.process_time()
    counted = asyncio.run(main())
    return {"tokens": counted, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


_CHILDREN = {"ipw": _child_ipw, "httpx": _child_httpx}


def measure(kind: str, base_url: str, queries: int, tokens: int, concurrency: int) -> dict[str, Any]:
    """One run of one client in a child process: tokens/s and CPU µs per token.

    Both are timed inside the child around the run itself (process CPU time,
    every thread), so interpreter start-up and imports count for neither.
    """
    cmd = [sys.executable, __file__, "--child", kind, "--base-url", base_url, "--queries", str(queries),
           "--tokens", str(tokens), "--concurrency", str(concurrency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()})
    out = proc.stdout.read() if proc.stdout else ""
    if proc.wait() != 0:
        raise RuntimeError(f"{kind} child failed ({proc.returncode}): {out[-500:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return {"tokens_per_s": result["tokens"] / result["wall_s"],
            "cpu_us_per_token": result["cpu_s"] / result["tokens"] * 1e6,
            "tokens": result["tokens"]}


def _pythonpath() -> str:
    parts = [str(ROOT), str(ROOT / "energy-monitor"), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in parts if p)


def _median_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in ("tokens_per_s", "cpu_us_per_token")}


# -- the benchmark ----------------------------------------------------------------

def run_harness_benchmark(queries: int = 256, tokens: int = 256, repeats: int = 3,
                          concurrencies: tuple[int, ...] = (1, 64, 256), peers: bool = False,
                          peers_venv: str | None = None, peer_repeats: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {}
    table: dict[str, dict[int, dict[str, float]]] = {"ipw": {}, "httpx": {}}
    with LoopbackServer(tokens) as server:
        for c in concurrencies:
            runs: dict[str, list[dict[str, Any]]] = {"ipw": [], "httpx": []}
            for _ in range(repeats):  # interleaved, so drift in the machine's load hits both alike
                for kind in ("ipw", "httpx"):
                    server.reset()
                    runs[kind].append(measure(kind, server.base_url, queries, tokens, c))
                    if kind == "ipw" and c == max(concurrencies):
                        out["harness_connections_per_query"] = round(server.stats()["connections"] / queries, 4)
            for kind in runs:
                table[kind][c] = _median_of(runs[kind])
        if peers:
            out["peers"] = _run_peers(server, queries, tokens, concurrencies, peers_venv, peer_repeats, table)
            out["peer_repeats"] = peer_repeats
            out["clients"] = {name: {str(c): {k: round(v, 2) for k, v in row.items()} for c, row in rows.items()}
                              for name, rows in table.items()}
    for c in concurrencies:
        ipw, base = table["ipw"][c], table["httpx"][c]
        out[f"harness_tokens_per_s_c{c}"] = round(ipw["tokens_per_s"])
        out[f"harness_cpu_us_per_token_c{c}"] = round(ipw["cpu_us_per_token"], 2)
        out[f"baseline_httpx_tokens_per_s_c{c}"] = round(base["tokens_per_s"])
        out[f"baseline_httpx_cpu_us_per_token_c{c}"] = round(base["cpu_us_per_token"], 2)
        out[f"harness_vs_httpx_tokens_per_s_c{c}"] = round(ipw["tokens_per_s"] / base["tokens_per_s"], 2)
        out[f"harness_vs_httpx_cpu_per_token_c{c}"] = round(ipw["cpu_us_per_token"] / base["cpu_us_per_token"], 2)
    first = min(concurrencies)
    out["harness_cpu_us_per_token"] = out[f"harness_cpu_us_per_token_c{first}"]
    out["harness_queries"], out["harness_tokens_per_query"], out["harness_repeats"] = queries, tokens, repeats
    return out


def _run_peers(server: LoopbackServer, queries: int, tokens: int, concurrencies: tuple[int, ...],
               venv: str | None, repeats: int, table: dict[str, dict[int, dict[str, float]]]) -> dict[str, Any]:
    """Each installed peer at each concurrency (median of ``repeats``); a missing one is reported, not run."""
    from peers import PEERS, find_peer, run_peer

    found: dict[str, Any] = {}
    for name in PEERS:
        exe = find_peer(name, venv)
        if exe is None:
            found[name] = {"installed": False}
            continue
        found[name] = {"installed": True, "exe": exe}
        table[name] = {}
        for c in concurrencies:
            runs = [run_peer(name, exe, server, queries, tokens, c) for _ in range(repeats)]
            errors = [r["error"] for r in runs if "error" in r]
            if errors:
                found[name][f"error_c{c}"] = errors[0]
            else:
                table[name][c] = _median_of(runs)
    return found


def peer_table(result: dict[str, Any]) -> str:
    """The comparison table: every client at every concurrency, with ratios to ipw from the same run."""
    table = {name: {int(c): row for c, row in rows.items()} for name, rows in result["clients"].items()}
    lines = [f"{'client':<10}{'conc':>6}{'tokens/s':>12}{'CPU us/token':>14}{'ipw/it tokens/s':>17}{'it/ipw CPU':>12}"]
    for c in sorted(table["ipw"]):
        for name in table:
            if c not in table[name]:
                continue
            row, ipw = table[name][c], table["ipw"][c]
            lines.append(f"{name:<10}{c:>6}{row['tokens_per_s']:>12,.0f}{row['cpu_us_per_token']:>14.2f}"
                         f"{ipw['tokens_per_s'] / row['tokens_per_s']:>17.2f}"
                         f"{row['cpu_us_per_token'] / ipw['cpu_us_per_token']:>12.2f}")
    for name, info in result.get("peers", {}).items():
        if not info.get("installed"):
            lines.append(f"{name}: not installed (give --peers-venv PATH or put it on PATH); skipped")
        for key, error in info.items():
            if key.startswith("error_"):
                lines.append(f"{name} {key[6:]}: failed: {error}")
    return "\n".join(lines)


def run_concurrency_check(concurrency: int = 256, queries: int = 512, tokens: int = 16, hold_s: float = 5.0) -> dict[str, Any]:
    """Streams ipw keeps open at ``--max-concurrency`` and TCP connections it opens, counted by the server.

    The server holds each stream until ``concurrency`` are open at once (or
    ``hold_s`` passed), so the count does not depend on the machine's speed.
    """
    with LoopbackServer(tokens, hold_s=hold_s, hold_until=concurrency) as server:
        measure("ipw", server.base_url, queries, tokens, concurrency)
        stats = server.stats()
    return {f"harness_streams_in_flight_max_c{concurrency}": stats["streams_max_open"],
            f"harness_connections_for_{queries}_queries_c{concurrency}": stats["connections"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=str, default="1,64,256")
    parser.add_argument("--peers", action="store_true", help="also run guidellm and aiperf where installed")
    parser.add_argument("--peers-venv", help="a virtual environment holding guidellm and aiperf (else PATH)")
    parser.add_argument("--peer-repeats", type=int, default=1, help="runs per peer and concurrency (they start slowly)")
    parser.add_argument("--child", choices=sorted(_CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = _CHILDREN[args.child](args.base_url, args.queries, args.tokens, int(args.concurrency))
        print(json.dumps(result))
        return
    concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    result = run_harness_benchmark(args.queries, args.tokens, args.repeats, concurrencies, args.peers,
                                   args.peers_venv, args.peer_repeats)
    result.update(run_concurrency_check())
    result.update(run_concurrency_check(concurrency=1024, queries=2048))  # SPEC §10: up to at least 1,024
    if args.peers:
        print(f"{args.queries} queries x {args.tokens} tokens per client and concurrency; ipw and httpx: median of "
              f"{args.repeats}, peers: median of {args.peer_repeats}; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs at the end")
        print(peer_table(result))
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
