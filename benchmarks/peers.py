"""guidellm and aiperf, offline, against harness.py's loopback server: their tokens/s and CPU per token.

A peer is found in ``--peers-venv PATH`` (its ``bin/``), else in the folder
``IPW_PEERS_BIN`` names, else on ``PATH``; one that is not there is skipped.
Both run with ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1``; aiperf
needs a tokenizer even with ``--use-server-token-count``, and offline it only
loads one from the Hugging Face cache, so a tiny word-level tokenizer is
written into a private cache folder (``HF_HUB_CACHE``) at run time.

What is measured, so the comparison is fair to the peers:

- tokens: the loopback server sends one token per SSE chunk and reports the
  same count in ``usage``; guidellm and aiperf (``--use-server-token-count``)
  count ``usage.completion_tokens``, ipw records one ``Token`` per chunk, and
  the httpx baseline counts chunks with content: all count the same tokens.
  A peer's token count is the server's (requests it served × tokens each).
- time: the peer's own benchmark window (its reported start and end), so its
  start-up (imports, tokenizer, dataset) and its report writing are left out.
  ipw's and httpx's figures are timed around the whole run in their process.
- CPU: user + system time of the peer's whole process tree (psutil, every
  live process plus what they reaped), sampled every ``_SAMPLE_S`` and
  interpolated at the ends of that same window.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

PEERS = ("guidellm", "aiperf")
_SAMPLE_S = 0.1
_TOKENIZER_REPO = "ipw/tiny-tokenizer"
_SNAPSHOT = "0" * 40


def find_peer(name: str, venv: str | None = None) -> str | None:
    """The path of a peer's executable, or None when it is not installed."""
    if venv:
        exe = Path(venv) / "bin" / name
        return str(exe) if exe.exists() else None
    folder = os.environ.get("IPW_PEERS_BIN")
    if folder and (Path(folder) / name).exists():
        return str(Path(folder) / name)
    return shutil.which(name)


def _tokenizer_cache(workdir: Path) -> Path:
    """A Hugging Face cache folder holding a tiny word-level tokenizer as ``ipw/tiny-tokenizer``."""
    hub = workdir / "hub"
    repo = hub / ("models--" + _TOKENIZER_REPO.replace("/", "--"))
    snapshot = repo / "snapshots" / _SNAPSHOT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(_SNAPSHOT)
    vocab = {"[UNK]": 0, **{f"tok{i}": i + 1 for i in range(97)}, **{f"w{i}": 98 + i for i in range(400)}}
    tokenizer = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
                 "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
                 "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}}
    (snapshot / "tokenizer.json").write_text(json.dumps(tokenizer))
    (snapshot / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "model_max_length": 1_000_000}))
    return hub


def _command(name: str, exe: str, host: str, queries: int, tokens: int, concurrency: int,
             workdir: Path) -> tuple[list[str], dict[str, str]]:
    """The offline command line of a peer and the environment it adds."""
    if name == "guidellm":
        data = workdir / "prompts.json"
        data.write_text(json.dumps([{"prompt": f"q{i}", "output_tokens_count": tokens} for i in range(queries)]))
        return [exe, "run", "--backend", f"kind=openai_http,target={host},model=bench",
                "--profile", f"kind=concurrent,streams={concurrency}",
                "--data", f"kind=json_file,path={data}",
                "--constraint", f"kind=max_requests,count={queries}",
                "--disable-console-interactive"], {}
    if name == "aiperf":
        hub = _tokenizer_cache(workdir)
        return [exe, "profile", "--model", "bench", "--url", host, "--endpoint-type", "chat", "--streaming",
                "--tokenizer", _TOKENIZER_REPO, "--use-server-token-count", "--isl", "4",
                "--concurrency", str(concurrency), "--request-count", str(queries),
                "--output-tokens-mean", str(tokens), "--artifact-dir", str(workdir / "aiperf"),
                "--ui-type", "none"], {"HF_HUB_CACHE": str(hub)}
    raise ValueError(f"unknown peer {name!r}")


def _window(name: str, workdir: Path) -> tuple[float, float]:
    """The peer's own benchmark window, as Unix times, from its report."""
    if name == "guidellm":
        bench = json.loads((workdir / "benchmarks.json").read_text())["benchmarks"][0]
        return float(bench["start_time"]), float(bench["end_time"])
    report = json.loads((workdir / "aiperf" / "profile_export_aiperf.json").read_text())
    # aiperf writes local wall-clock times without a zone; this machine's zone reads them back
    return (datetime.datetime.fromisoformat(report["start_time"]).timestamp(),
            datetime.datetime.fromisoformat(report["end_time"]).timestamp())


def _tree_cpu_s(root: psutil.Process) -> float:
    """CPU seconds of a process tree: every live process's own time and what it reaped of its children."""
    total = 0.0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _at(samples: list[tuple[float, float]], when: float) -> float:
    """The CPU reading at ``when``, linear between the two samples around it."""
    before = max((s for s in samples if s[0] <= when), default=samples[0])
    after = min((s for s in samples if s[0] >= when), default=samples[-1])
    if after[0] == before[0]:
        return before[1]
    return before[1] + (after[1] - before[1]) * (when - before[0]) / (after[0] - before[0])


def run_peer(name: str, exe: str, server: Any, queries: int, tokens: int, concurrency: int) -> dict[str, Any]:
    """One run of a peer: ``tokens_per_s`` and ``cpu_us_per_token`` over its window, or ``error``."""
    workdir = Path(tempfile.mkdtemp(prefix=f"ipw-peer-{name}-"))
    try:
        cmd, extra_env = _command(name, exe, server.base_url[: -len("/v1")], queries, tokens, concurrency, workdir)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra_env}
        env.pop("PYTHONPATH", None)  # the peer's own venv, not ipw's checkout
        server.reset()
        log = workdir / "log.txt"
        samples: list[tuple[float, float]] = []
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
            root = psutil.Process(proc.pid)
            while proc.poll() is None:
                samples.append((time.time(), _tree_cpu_s(root)))
                time.sleep(_SAMPLE_S)
        served = server.stats()["requests"]
        tail = log.read_text(errors="replace")[-400:]
        if proc.returncode != 0 or served < queries:
            return {"error": f"exit {proc.returncode}, {served} of {queries} requests served: {tail}"}
        start, end = _window(name, workdir)
        if not samples or end <= start:
            return {"error": f"no usable benchmark window ({start}..{end})"}
        n_tokens = queries * tokens
        cpu_s = _at(samples, end) - _at(samples, start)
        return {"tokens_per_s": n_tokens / (end - start), "cpu_us_per_token": cpu_s / n_tokens * 1e6,
                "tokens": n_tokens, "served": served}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
