"""``ipw study run|status|report``: many runs as one experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from ._progress import ProgressLine

# a study that finished with one or more cells not completed — failed, or partial (some of their
# queries failed) — documented in the README's exit-code table
EXIT_CELLS_FAILED = 9


@click.group("study")
def study() -> None:
    """Run a matrix of settings as one study, see its state, compare its cells.

    Example:

        ipw study run examples/study.toml
    """


class _Observer:
    """Cells done/total on stderr, and the usual query progress line inside a cell."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._progress: ProgressLine | None = None

    def cell_started(self, index: int, total: int, cell: Any, resumed: bool, *, queued: bool = False) -> None:
        if not self.quiet:
            what = "queued on Ray" if queued else "resuming" if resumed else "starting"
            click.echo(f"cell {index}/{total} {cell.name}: {what}", err=True)

    def cell_finished(self, index: int, total: int, entry: dict[str, Any]) -> None:
        if self.quiet:
            return
        if entry["status"] == "completed":
            head = (entry.get("head_hash") or "")[:16]
            click.echo(f"cells {index}/{total} done: {entry['name']} completed "
                       f"({entry.get('queries_completed')} queries, head {head})", err=True)
        else:
            what = "PARTIAL" if entry["status"] == "partial" else "FAILED"
            click.echo(f"cells {index}/{total} done: {entry['name']} {what}: {entry.get('message')}", err=True)

    def repeats_decided(self, params: dict[str, Any], outcome: Any, message: str) -> None:
        if not self.quiet:
            where = ", ".join(f"{k}={v}" for k, v in params.items()) or "base"
            click.echo(f"repeats of {where}: {message}", err=True)

    def search_decided(self, cell: Any, result: Any, message: str) -> None:
        if not self.quiet:
            click.echo(f"search of {cell.name}: {message}", err=True)

    def query_progress(self) -> Callable[[Any], None] | None:
        self._progress = ProgressLine(enabled=False if self.quiet else None)
        return self._progress

    def close_query_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


@study.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: cells one after another here; ray: each cell a Ray task.")
@click.option("--ray-address", default=None, help="Address of a running Ray cluster (default: start a local one).")
@click.option("--json", "as_json", is_flag=True, help="Print study.json's cells as JSON; no progress lines.")
def run(file: Path, executor: str, ray_address: str | None, as_json: bool) -> None:
    """Run every cell of a study file that is not complete yet.

    A cell is complete when its ledger verifies and its run finished with
    no failed query, so a rerun does no work twice, resumes a cell cut
    short, and asks a partial cell's failed queries again (only those). A
    cell that fails is recorded with its message and the others go on; the
    exit code is 0 when every cell completed and 9 when one or more failed
    or are partial. Refused before anything is created, with exit 2: a study
    file that is not a regular file of at most 1 MiB, not valid TOML, a
    value of the wrong type, a matrix of more than 10,000 cells, and a
    --ray-address that is malformed or does not accept a connection within
    5 seconds.

    Example:

        ipw study run examples/study.toml --executor local
    """
    from ..studies import load_spec, run_study

    if ray_address and executor != "ray":
        from ..errors import UsageError

        raise UsageError("--ray-address needs --executor ray", hint="add --executor ray")
    spec = load_spec(file)
    outcome = run_study(spec, executor=executor, ray_address=ray_address, observer=_Observer(as_json))
    if as_json:
        click.echo(json.dumps({"study_dir": str(outcome.study_dir), "ran": outcome.ran, "skipped": outcome.skipped,
                               "cells": outcome.cells}, indent=2, sort_keys=True))
    else:
        partial = f", {len(outcome.partial)} partial" if outcome.partial else ""
        click.echo(f"study {spec.name}: {len(outcome.cells) - len(outcome.failed)}/{len(outcome.cells)} cells "
                   f"completed{partial} ({outcome.ran} run now, {outcome.skipped} already complete) in "
                   f"{outcome.study_dir}", err=True)
        click.echo(str(outcome.study_dir))
    if not outcome.ok:
        raise click.exceptions.Exit(EXIT_CELLS_FAILED)


@study.command("status")
@click.argument("study_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the cells as JSON.")
def status(study_dir: Path, as_json: bool) -> None:
    """Show each cell's state, checked against its ledger.

    Example:

        ipw study status studies/gemma-settings
    """
    from ..reports.tables import format_table
    from ..studies import study_status

    cells = study_status(study_dir)
    if as_json:
        click.echo(json.dumps(cells, indent=2, sort_keys=True))
        return
    rows = [[c["name"], c["status"], c["on_disk"], (c["head_hash"] or "")[:16], c["message"] or ""] for c in cells]
    click.echo(format_table(["cell", "status", "on disk", "head", "message"], rows))
    done = sum(1 for c in cells if c["on_disk"] == "completed")
    click.echo(f"{done}/{len(cells)} cells complete")


@study.command("report")
@click.argument("study_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write one CSV row per cell to this file.")
@click.option("--parquet", "parquet_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write one Parquet row per cell to this file.")
@click.option("--routing", is_flag=True, help="Also route records across the cells: coverage, the oracle router "
              "and a cascade (writes report/routing.json).")
@click.option("--cascade", default=None, metavar="CELL,CELL…",
              help="The cascade's order for --routing (default: least mean energy per query first).")
def report(study_dir: Path, as_json: bool, csv_file: Path | None, parquet_file: Path | None, routing: bool,
           cascade: str | None) -> None:
    """Compare the cells: accuracy (95 % Wilson interval), IPW, IPJ, J/query, J/token, latency.

    Writes STUDY_DIR/report/report.json and the figures (accuracy vs joules
    per query with the Pareto front, IPW against each matrix axis). With
    --routing, over the records every cell answered and judged: coverage,
    the oracle router and a cascade against the best single cell.

    Example:

        ipw study report studies/gemma-settings --csv cells.csv
    """
    from ..studies import build_report, format_report, write_csv, write_parquet

    if cascade is not None and not routing:
        from ..errors import UsageError

        raise UsageError("--cascade needs --routing", hint="add --routing")
    built = build_report(study_dir)
    routed = _routing(study_dir, cascade) if routing else None
    if csv_file is not None:
        write_csv(built, csv_file)
    if parquet_file is not None:
        write_parquet(built, parquet_file)
    if as_json:
        click.echo(json.dumps({k: v for k, v in built.items() if k != "figures"} | _routing_json(routed), indent=2,
                              sort_keys=True))
        return
    click.echo(format_report(built))
    if routed is not None:
        from ..reports.routing_outputs import routing_text

        click.echo("\n" + routing_text(routed))
    click.echo(f"wrote {Path(study_dir) / 'report'}", err=True)


def _routing(study_dir: Path, cascade: str | None) -> Any:
    """The routing analysis of the study, written to report/routing.json."""
    from ..reports.routing_outputs import study_routing, write_routing

    order = [c.strip() for c in cascade.split(",") if c.strip()] if cascade is not None else None
    routed = study_routing(study_dir, cascade=order)
    write_routing(study_dir, routed)
    return routed


def _routing_json(routed: Any) -> dict[str, Any]:
    from ..reports.routing_outputs import routing_document

    return {} if routed is None else {"routing": routing_document(routed)}
