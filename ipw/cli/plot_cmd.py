"""``ipw plot``: draw the registered visualizations of one or more runs as PNGs."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ._options import parse_kv


def _resolve(requested: tuple[str, ...], known: list[str]) -> list[str]:
    wanted: list[str] = []
    for item in requested:
        for raw in item.split(","):
            name = raw.strip().replace("_", "-")
            if not name:
                continue
            if name == "all":
                wanted.extend(known)
            elif name in known:
                wanted.append(name)
            else:
                raise UsageError(
                    f"unknown visualization '{raw.strip()}'",
                    hint=f"choose one of: all, {', '.join(known)} (see 'ipw list visualizations')",
                )
    return list(dict.fromkeys(wanted)) or list(known)


@click.command("plot")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--visualization", "visualizations", multiple=True, default=("all",), show_default=True, metavar="ID|all",
    help="Which plot to draw (repeat, or separate with commas); 'ipw list visualizations' shows the ids.",
)
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the PNGs (default: <first RUN>/plots).")
@click.option("--option", "options", multiple=True, metavar="K=V",
              help="Passed to the visualizations: policy, idle_baseline, devices, judge, bandwidth.")
def plot(runs: tuple[Path, ...], visualizations: tuple[str, ...], output_dir: Path | None, options: tuple[str, ...]) -> None:
    """Draw plots of one or more runs and print the paths of the PNGs written.

    The visualizations are: regression (energy and latency against tokens,
    with the OLS fit and its 95% band), output-kde (output tokens per query),
    power-timeline (watts per device with the queries in flight) and
    accuracy-energy (one point per run). Several runs are overlaid, or drawn
    one file per run where their clocks cannot share an axis.

    Example:

    \b
        ipw plot runs/gemma-q4 runs/gemma-q8 --visualization accuracy-energy -o plots/
    """
    from ..registry import REGISTRY
    from ..reports import damage_notes, load_views
    from ..reports.plots import OPTIONS

    ids = _resolve(visualizations, REGISTRY.ids("visualizations"))
    opts = parse_kv(options, "--option")
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise UsageError(
            f"no visualization reads the option(s) {', '.join(unknown)}",
            hint=f"options: {', '.join(OPTIONS)}",
        )
    for vid in ids:
        REGISTRY.load("visualizations", vid)  # every one found (or refused) before any draws
    views = load_views(list(runs))
    for note in damage_notes(views):
        click.echo(f"ipw: warning: {note}", err=True)
    target = output_dir if output_dir is not None else Path(runs[0]) / "plots"
    for vid in ids:
        for path in REGISTRY.create("visualizations", vid, views, target, opts):
            click.echo(str(path))
