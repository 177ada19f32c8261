"""Reports: text tables, plots, run diffs and SQL views, all derived by replay.

Nothing here is a source of truth: every output can be deleted and rebuilt
from the ledger. Plotting (matplotlib) and SQL (DuckDB, pyarrow) are optional
backends from the ``analysis`` extra, imported only when used.

    tables        format_table: aligned terminal tables
    summary_table format_summary: the run summary for the terminal
    analysis_files  write_analysis / dumps_result: RUN/analysis/<id>.json, byte-identical on every replay
    diff          diff_runs / format_diff: config, hardware, accuracy flips, bootstrap deltas
    duckdb_views  query_runs: SQL over the runs, queries, tokens, power, verdicts views
    plots         the registered visualizations (regression, output-kde, power-timeline, accuracy-energy)
    labels        what a metric is called where people read it: words and a unit
    study_table   the one table of a study's cells; study_outputs renders it (JSON, CSV, Parquet, Arrow, text)
    study_file    study.json read back with its type
    routing       coverage, the oracle router and a cascade across a study's cells; routing_outputs
                  writes report/routing.json and the terminal text, html_routing the HTML section
    html_benchmarks  the per-benchmark leaderboards of the HTML report (a run's, a study's cells × benchmarks)
"""

from __future__ import annotations

from ._metrics import QueryRow, damage_notes, load_views, query_rows, run_label
from .analysis_files import dumps_result, write_analysis
from .diff import diff_runs, format_diff
from .duckdb_views import VIEW_NAMES, query_runs
from .tables import format_table

__all__ = [
    "QueryRow",
    "VIEW_NAMES",
    "damage_notes",
    "diff_runs",
    "dumps_result",
    "format_diff",
    "format_table",
    "load_views",
    "query_rows",
    "query_runs",
    "run_label",
    "write_analysis",
]
