"""``ipw diff``: what changed between two runs and what it did to accuracy, energy and latency."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._options import parse_kv


@click.command("diff")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--judge", default=None, metavar="SPEC", help="Compare the verdicts of this judge (it must have judged both runs).")
@click.option("--n-boot", default=2000, show_default=True, type=click.IntRange(min=0), help="Bootstrap resamples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap (same seed, same intervals).")
@click.option("--option", "options", multiple=True, metavar="K=V",
              help="Energy attribution options: policy, idle_baseline, devices.")
def diff(run_a: Path, run_b: Path, as_json: bool, judge: str | None, n_boot: int, seed: int, options: tuple[str, ...]) -> None:
    """Compare RUN_B against RUN_A: config and hardware differences, answers
    that flipped between right and wrong, and the change (B − A) in accuracy,
    energy per query, end-to-end latency and time to first token, each with a
    bootstrap 95% confidence interval (paired over shared dataset records).
    Two agent runs also compare their tasks: success rate, joules per task
    and per solved task, turns, and the tasks solved in one run only.

    Example:

    \b
        ipw diff runs/gemma-temp0 runs/gemma-temp07 --judge auto
    """
    from ..reports import damage_notes, diff_runs, format_diff, load_views

    view_a, view_b = load_views([run_a, run_b])
    if not as_json:
        for note in damage_notes([view_a, view_b]):
            click.echo(f"ipw: warning: {note}", err=True)
    result = diff_runs(view_a, view_b, judge=judge, n_boot=n_boot, seed=seed,
                       energy_options=parse_kv(options, "--option") or None)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        click.echo(format_diff(result))
