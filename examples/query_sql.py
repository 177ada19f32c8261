"""SQL over two ledgers with ``ipw query`` (DuckDB).

What it shows: the recorded facts of several runs as the views ``runs``,
``queries``, ``tokens``, ``power`` and ``verdicts``, each with a ``run_id``
column, so one statement can compare runs: tokens per run, latency per run,
inter-token gaps with a window function, and the two runs' answers to the
same dataset record side by side. Every result is also saved in
``query.json`` in the output folder.

How to run it (with any OpenAI-compatible server on this machine, e.g.
``python -m llama_cpp.server`` serving the packaged gemma-3-270m on port 8000):

    IPW_EXAMPLE_BASE_URL=http://127.0.0.1:8000/v1 python examples/query_sql.py out/

Settings (environment): ``IPW_EXAMPLE_BASE_URL`` (default
http://127.0.0.1:8000/v1), ``IPW_EXAMPLE_MODEL`` (default ``gemma``). The
output folder (first argument, default ``runs/examples``) must not already
hold the runs ``sql-4-tokens`` and ``sql-8-tokens``.
"""

from __future__ import annotations

import json
from pathlib import Path

from _local import ipw, output_dir, run, server_config
from ipw import api

QUERIES = {
    "tokens_per_run": """
        SELECT run_id, count(*) AS token_events, sum(n_tokens) AS tokens
        FROM tokens GROUP BY run_id ORDER BY run_id""",
    "latency_per_run": """
        SELECT r.run_dir, count(*) AS queries, sum(q.completion_tokens) AS completion_tokens,
               round(avg(q.ttft_ns) / 1e6, 1) AS ttft_ms, round(avg(q.end_ns - q.start_ns) / 1e6, 1) AS e2e_ms
        FROM queries q JOIN runs r USING (run_id)
        WHERE q.status = 'completed' AND NOT q.warmup
        GROUP BY r.run_dir ORDER BY r.run_dir""",
    "inter_token_gap_per_run": """
        SELECT run_id, count(*) AS gaps, round(quantile_cont(gap_ns, 0.5) / 1e6, 2) AS itl_p50_ms
        FROM (SELECT run_id, t_ns - lag(t_ns) OVER (PARTITION BY run_id, query_id ORDER BY t_ns) AS gap_ns
              FROM tokens)
        WHERE gap_ns IS NOT NULL GROUP BY run_id ORDER BY run_id""",
}
SIDE_BY_SIDE = """
    SELECT a.record_id, a.completion_tokens AS tokens_a, b.completion_tokens AS tokens_b,
           a.answer AS answer_a, b.answer AS answer_b
    FROM queries a JOIN queries b USING (record_id)
    WHERE a.run_id = '{a}' AND b.run_id = '{b}' ORDER BY a.record_id"""


def main() -> None:
    out = output_dir()
    runs = []
    for max_tokens in (4, 8):
        runs.append(str(api.record(server_config(out, f"sql-{max_tokens}-tokens", client_params={"api": "completions"},
                                                 max_queries=3, gen_params={"max_tokens": max_tokens},
                                                 energy="none")).run_dir))
    run_ids = [json.loads((Path(run) / "manifest.json").read_text())["run_id"] for run in runs]

    results = {}
    for name, sql in QUERIES.items():
        rows = json.loads(ipw("query", *runs, sql, "--json"))  # rows for programs
        results[name] = rows
        print(f"-- {name}")
        for row in rows:
            print("   " + ", ".join(f"{key}={value}" for key, value in row.items()))
    side_by_side = SIDE_BY_SIDE.format(a=run_ids[0], b=run_ids[1])
    print("-- side_by_side")
    print(ipw("query", *runs, side_by_side), end="")  # without --json: a table for people
    results["side_by_side"] = json.loads(ipw("query", *runs, side_by_side, "--json"))
    saved = {"runs": dict(zip(run_ids, runs)), "results": results}
    (out / "query.json").write_text(json.dumps(saved, indent=2) + "\n")
    print(f"wrote {out / 'query.json'}")


if __name__ == "__main__":
    run(main)
