"""``ipw query``: SQL (DuckDB) over the events of one or more runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

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


TABLE_ROWS = 10_000  # rows the terminal table shows unless --limit says otherwise (it is laid out in memory)
_BATCH_ROWS = 10_000  # rows read from DuckDB at a time: the most held in Python while streaming


@click.command("query")
@click.argument("args", nargs=-1, required=True, metavar="RUN... SQL")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table: aligned columns, at most --limit rows; csv and json: every row, written as it comes.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as a JSON list of objects (--format json).")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help=f"Print at most this many rows (default for the table: {TABLE_ROWS:,}; csv and json: no limit).")
def query(args: tuple[str, ...], fmt: str, as_json: bool, limit: int | None) -> None:
    """Run one SQL statement over the views runs, queries, tokens, power and
    verdicts of the given runs; the last argument is the SQL. Every view has a
    run_id column, so several runs can be compared in one statement. A study
    folder stands for all its cells' runs, and adds the view cells: each
    run's cell name and its parameters as columns.

    The rows are read as they come, so a result of any size takes little
    memory: csv and json print every row; the table shows the first 10,000
    (--limit) and says when there were more.

    Example:

    \b
        ipw query runs/a runs/b "SELECT run_id, count(*) AS tokens FROM tokens GROUP BY 1"
        ipw query runs/a --format csv "SELECT * FROM tokens" > tokens.csv
    """
    from ..reports import damage_notes, load_views
    from ..reports.duckdb_views import VIEW_NAMES, open_sql, study_cells

    if len(args) < 2:
        raise UsageError(
            "ipw query needs one or more run directories and then the SQL statement",
            hint=f'e.g. ipw query runs/my-run "SELECT * FROM queries LIMIT 5" (views: {", ".join(VIEW_NAMES)})',
        )
    if as_json:
        fmt = "json"
    *run_dirs, sql = args
    cells = [c for d in run_dirs for c in (study_cells(Path(d)) or [])]
    paths = [c["run_dir"] for d in run_dirs for c in (study_cells(Path(d)) or [{"run_dir": Path(d)}])]
    views = load_views(paths)
    for note in damage_notes(views):
        click.echo(f"ipw: warning: {note}", err=True)
    with open_sql(views, sql, cells=cells if cells else None) as result:
        if fmt == "table":
            _print_table(result.columns, _Capped(result.batches(_BATCH_ROWS), TABLE_ROWS if limit is None else limit))
            return
        batches = _Capped(result.batches(_BATCH_ROWS), limit)
        (_print_json if fmt == "json" else _print_csv)(result.columns, batches)
    if batches.more:
        click.echo(f"ipw: note: the first {limit:,} rows printed; more rows not printed (--limit)", err=True)


class _Capped:
    """Batches of rows, cut after ``limit`` rows; ``more`` says whether the result went on past them."""

    def __init__(self, batches: Iterator[list[tuple[Any, ...]]], limit: int | None) -> None:
        self._batches = batches
        self._limit = limit
        self.more = False

    def __iter__(self) -> Iterator[list[tuple[Any, ...]]]:
        left = self._limit
        for batch in self._batches:
            if left is not None and len(batch) >= left:
                self.more = len(batch) > left or next(self._batches, None) is not None
                if left:
                    yield batch[:left]
                return
            if left is not None:
                left -= len(batch)
            yield batch


def _print_table(columns: list[str], batches: _Capped) -> None:
    from ..reports import format_table

    rows = [row for batch in batches for row in batch]  # at most the limit: a table is laid out as a whole
    if columns:
        click.echo(format_table(columns, rows))
    if batches.more:
        click.echo(f"({len(rows):,} rows shown; more rows not shown: use --limit N, or --format csv or json for every row)")
        return
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _print_csv(columns: list[str], batches: _Capped) -> None:
    import csv
    import io

    if not columns:
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for batch in batches:
        writer.writerows(batch)
        click.echo(buffer.getvalue(), nl=False)
        buffer.seek(0)
        buffer.truncate()
    click.echo(buffer.getvalue(), nl=False)  # the header of an empty result


def _print_json(columns: list[str], batches: _Capped) -> None:
    """A JSON list of objects, one per row, written a batch at a time."""
    first = True
    click.echo("[", nl=False)
    for batch in batches:
        text = ",\n  ".join(
            json.dumps({c: _jsonable(v) for c, v in zip(columns, row)}, default=str, allow_nan=False) for row in batch)
        click.echo(("\n  " if first else ",\n  ") + text, nl=False)
        first = False
    click.echo("]" if first else "\n]")
