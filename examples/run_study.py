"""Run a small study — two concurrencies × two answer lengths — and compare its four cells.

What it shows: ``examples/study.toml`` expanded into four cells, each an
ordinary run named after its parameters (``mc1-max_tokens4`` …) under
``<out>/example-study/runs/``; ``ipw study run`` (run twice: the second run
finds every cell complete and does no work), ``ipw study status``,
``ipw study report`` with its CSV (one row per cell: accuracy with its 95 %
Wilson interval, IPW, IPJ, joules per query and per token, latency
percentiles) and ``ipw query`` over the whole study with the view ``cells``,
whose columns are each cell's parameters.

How to run it (with any OpenAI-compatible server on this machine, e.g.
``python -m llama_cpp.server`` serving the packaged gemma-3-270m on port 8000):

    IPW_EXAMPLE_BASE_URL=http://127.0.0.1:8000/v1 python examples/run_study.py out/

Settings (environment): ``IPW_EXAMPLE_BASE_URL`` (default
http://127.0.0.1:8000/v1). The output folder is the first argument (default
``studies``); the study file used is saved there as ``study.toml``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQL = ("SELECT c.cell, c.max_concurrency, c.gen_param_max_tokens, sum(q.completion_tokens) AS tokens "
       "FROM queries q JOIN cells c USING (run_id) WHERE q.status = 'completed' GROUP BY ALL ORDER BY c.cell")


def ipw(*args: str) -> str:
    """Run one ``ipw`` command and return its stdout; on failure, exit with its code (it printed why)."""
    proc = subprocess.run([sys.executable, "-m", "ipw.cli", *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    return proc.stdout


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "studies")
    base_url = os.environ.get("IPW_EXAMPLE_BASE_URL", "http://127.0.0.1:8000/v1")
    out.mkdir(parents=True, exist_ok=True)
    text = (HERE / "study.toml").read_text()
    text = re.sub(r'(?m)^client_base_url = ".*"$', f"client_base_url = {json.dumps(base_url)}", text)
    text = re.sub(r'(?m)^output_dir = ".*"$', f"output_dir = {json.dumps(str(out))}", text)
    spec = out / "study.toml"
    spec.write_text(text)

    first = json.loads(ipw("study", "run", str(spec), "--json"))
    print(f"first run: {first['ran']} cells run, {first['skipped']} already complete")
    again = json.loads(ipw("study", "run", str(spec), "--json"))
    print(f"second run: {again['ran']} cells run, {again['skipped']} already complete")
    study_dir = first["study_dir"]
    print(ipw("study", "status", study_dir), end="")
    print(ipw("study", "report", study_dir, "--csv", str(out / "cells.csv")), end="")
    print("-- tokens per cell (ipw query over the study)")
    print(ipw("query", study_dir, SQL), end="")


if __name__ == "__main__":
    main()
