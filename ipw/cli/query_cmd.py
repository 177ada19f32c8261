"""``ipw query``: SQL (DuckDB) over the events of one or more runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@click.command("query")
@click.argument("args", nargs=-1, required=True, metavar="RUN... SQL")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as a JSON list of objects.")
def query(args: tuple[str, ...], as_json: bool) -> None:
    """Run one SQL statement over the views runs, queries, tokens, power and
    verdicts of the given runs; the last argument is the SQL. Every view has a
    run_id column, so several runs can be compared in one statement. A study
    folder stands for all its cells' runs, and adds the view cells: each
    run's cell name and its parameters as columns.

    Example:

    \b
        ipw query runs/a runs/b "SELECT run_id, count(*) AS tokens FROM tokens GROUP BY 1"
    """
    from ..reports import damage_notes, format_table, load_views
    from ..reports.duckdb_views import VIEW_NAMES, run_sql, study_cells

    if len(args) < 2:
        raise UsageError(
            "ipw query needs one or more run directories and then the SQL statement",
            hint=f'e.g. ipw query runs/my-run "SELECT * FROM queries LIMIT 5" (views: {", ".join(VIEW_NAMES)})',
        )
    *run_dirs, sql = args
    cells = [c for d in run_dirs for c in (study_cells(Path(d)) or [])]
    paths = [c["run_dir"] for d in run_dirs for c in (study_cells(Path(d)) or [{"run_dir": Path(d)}])]
    views = load_views(paths)
    for note in damage_notes(views):
        click.echo(f"ipw: warning: {note}", err=True)
    columns, rows = run_sql(views, sql, cells=cells if cells else None)
    if as_json:
        records = [{c: _jsonable(v) for c, v in zip(columns, row)} for row in rows]
        click.echo(json.dumps(records, indent=2, default=str, allow_nan=False))
        return
    if columns:
        click.echo(format_table(columns, rows))
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
