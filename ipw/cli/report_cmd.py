"""``ipw report``: one self-contained HTML file for a run, two runs, or a study."""

from __future__ import annotations

from pathlib import Path

import click

from .._atomic import write_atomic
from ._options import parse_kv


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write.")
@click.option("--option", "options", multiple=True, metavar="K=V",
              help="Summary options: judge, policy, idle_baseline, devices, carbon_intensity_g_per_kwh.")
def report(paths: tuple[Path, ...], output: Path, options: tuple[str, ...]) -> None:
    """Write one self-contained HTML report (no network needed to open it).

    One RUN: the summary with a provenance badge on every number, the power
    timeline with query spans, latency distributions and a sortable
    per-query table. Two RUNs: their diff with bootstrap intervals. A STUDY
    folder (or three or more runs): the leaderboard and the Pareto figure of
    accuracy against joules per query.

    Example:

    \b
        ipw report runs/gemma -o report.html
        ipw report runs/gemma-temp0 runs/gemma-temp07 -o diff.html
        ipw report studies/gemma-settings -o study.html
    """
    from ..reports.html import report_html

    document = report_html(list(paths), parse_kv(options, "--option"))
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, document)  # a reader never sees half a report; not durable: it is rendered again
    click.echo(str(output))
