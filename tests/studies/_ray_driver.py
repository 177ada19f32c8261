"""Run inside a network namespace of its own: a llama.cpp server and ``ipw study run --executor ray``.

    unshare -n sh -c 'ip link set lo up && python -m tests.studies._ray_driver MODE WORKDIR'

There 127.0.0.1 is the only address, so the local Ray cluster that
``ipw study run`` starts reports ``node:127.0.0.1``. Modes:

    grid   run the 2×2 study twice; record each run's exit code, output and query_started counts
    kill   start the study, SIGKILL the Ray worker in the middle of its cell, then run the study again

Everything the test checks is written to WORKDIR/result.json; the test reads
the ledgers itself (the file system is shared, only the network is not).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ipw.ledger import read_events
from tests._servers import packaged_model, start_llama_server, stop_server
from tests.studies._study_files import queries_started, write_study

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def study_run(spec: Path, timeout_s: float = 600) -> dict:
    proc = subprocess.run([sys.executable, "-m", "ipw.cli", "study", "run", str(spec), "--executor", "ray", "--json"],
                          capture_output=True, text=True, timeout=timeout_s, env=ENV)
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-4000:]}


def node_address() -> str:
    import ray

    ray.init(include_dashboard=False, num_cpus=1)
    try:
        return next(k for k in ray.cluster_resources() if k.startswith("node:") and k != "node:__internal_head__")
    finally:
        ray.shutdown()


def grid(work: Path, base_url: str) -> dict:
    spec = write_study(work / "grid.toml", base_url=base_url, output_dir=work / "studies",
                       extra=f"staging_dir = {json.dumps(str(work / 'staging'))}")
    first = study_run(spec)
    first["queries_started"] = queries_started(work / "studies" / "grid")
    second = study_run(spec)
    second["queries_started"] = queries_started(work / "studies" / "grid")
    return {"first": first, "second": second, "node": node_address()}


def _wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def kill(work: Path, base_url: str) -> dict:
    staging = work / "staging"
    spec = write_study(work / "grid.toml", base_url=base_url, output_dir=work / "studies", max_queries=6,
                       matrix='"gen_param.max_tokens" = [24]\n', energy="none",
                       extra=f"staging_dir = {json.dumps(str(staging))}")
    proc = subprocess.Popen([sys.executable, "-m", "ipw.cli", "study", "run", str(spec), "--executor", "ray", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    task_file = _wait_for(lambda: next(staging.glob("*/max_tokens24.task.json"), None), 300, "the task's pid file")
    task = json.loads(task_file.read_text())
    run_dir = Path(task["run_dir"])

    def one_query_done() -> bool:
        try:
            return bool(read_events(run_dir, kinds=("query_finished",)))
        except Exception:
            return False

    _wait_for(one_query_done, 300, "the first query of the cell to finish")
    os.kill(task["pid"], signal.SIGKILL)  # the worker dies in the middle of its cell
    stdout, stderr = proc.communicate(timeout=300)
    killed = {"rc": proc.returncode, "stdout": stdout, "stderr": stderr[-4000:], "task": task,
              "partial_query_finished": len(read_events(run_dir, kinds=("query_finished",)))}
    resumed = study_run(spec)
    return {"killed": killed, "resumed": resumed}


def main() -> None:
    mode, work = sys.argv[1], Path(sys.argv[2])
    base_url, server = start_llama_server(packaged_model())
    try:
        result = {"grid": grid, "kill": kill}[mode](work, base_url)
    finally:
        stop_server(server)
    (work / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
