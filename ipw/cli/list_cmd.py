"""``ipw list``: the registry, with what is unavailable and the extra that enables it."""

from __future__ import annotations

import json

import click

from ..registry import KINDS, REGISTRY


def _benchmark(dataset_id: str) -> dict[str, object] | None:
    """A catalogue entry's grader and size, and a summary that shows them; None for other datasets."""
    from ..capture.datasets.catalogue import CATALOGUE

    entry = CATALOGUE.get(dataset_id)
    if entry is None:
        return None
    summary = f"{entry.title}, {entry.kind}: grader {entry.grader}, {entry.size:,} rows ({entry.repo})"
    return {"summary": summary, "grader": entry.grader, "size": entry.size, "hub_id": entry.repo}


@click.command("list")
@click.argument("what", type=click.Choice(["all", *KINDS]), default="all")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_components(what: str, as_json: bool) -> None:
    """List clients, datasets, judges, analyses, visualizations and collectors.

    Components whose optional backend is missing, or whose hardware this host
    lacks (RAPL counters, powermetrics), are listed as unavailable with the
    reason and the extra that installs what is missing. Plugins (entry points
    in the ipw.clients, ipw.datasets, … groups) are listed with the
    distribution they come from; one that fails to load is shown with its error.

    Example:

        ipw list clients
    """
    kinds = KINDS if what == "all" else (what,)
    out: dict[str, list[dict[str, object]]] = {}
    for kind in kinds:
        out[kind] = []
        for c in [*REGISTRY.components(kind), *REGISTRY.conflicts(kind)]:
            reason = c.error or c.unavailable_reason()
            out[kind].append({"id": c.id, "summary": c.summary, "available": reason is None, "extra": c.extra,
                              "missing": c.missing_modules(), "reason": reason, "origin": c.origin,
                              "error": c.error})
            if kind == "datasets" and not c.is_plugin:
                out[kind][-1].update(_benchmark(c.id) or {})
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for kind, items in out.items():
        ready = [i for i in items if i["available"]]
        missing = [i for i in items if not i["available"] and not i["error"]]
        broken = [i for i in items if i["error"]]
        click.echo(f"Available {kind}:")
        for item in ready:
            where = "" if item["origin"] == "builtin" else f"  [plugin: {item['origin']}]"
            click.echo(f"  {item['id']:<16} {item['summary']}{where}")
        if broken:
            click.echo(f"Plugins that failed to load ({kind}):")
            for item in broken:
                click.echo(f"  {item['id']:<16} [plugin: {item['origin']}] {item['error']}")
        if missing:
            click.echo(f"Unavailable {kind}:")
            for item in missing:
                fix = f"install: pip install 'ipw[{item['extra']}]'" if item["missing"] else item["reason"]
                click.echo(f"  {item['id']:<16} {item['summary']}  ({fix})")
        click.echo("")
