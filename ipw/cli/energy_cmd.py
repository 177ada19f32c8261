"""``ipw energy``: live readings from the energy monitor."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import UsageError
from ..reports.tables import format_table

__all__ = ["energy"]


def _fmt(value: float | None, digits: int) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def _table(result: dict[str, Any]) -> str:
    header = ("device", "type", "source", "mean W", "J", "samples")
    rows = [
        (d["device"], d["device_type"], d["source"] or None, _fmt(d["mean_power_w"], 2), _fmt(d["energy_j"], 3), str(d["samples"]))
        for d in result["devices"]
    ]
    lines = format_table(header, rows, align="<<<>>>", rule=False).splitlines()
    where = result["endpoint"] + (" (reused)" if result.get("reused") else "")
    collectors = ", ".join(result.get("collectors") or []) or "none"
    intro = f"energy monitor {where}, collectors: {collectors}; {result['duration_s']:g} s at {result['interval_ms']} ms"
    out = [intro, *lines]
    if not rows:
        out.append("no devices: nothing on this machine can be read")
    if any(d["source"] == "estimated" for d in result["devices"]):
        out.append("estimated: a model (CPU utilisation x TDP), not a measurement; see --cpu-tdp-w")
    out.extend(f"note: {e['status']}: {e['message']}" for e in result.get("events", []))
    return "\n".join(out)


@click.command("energy")
@click.option("--duration", type=float, default=5.0, show_default=True, help="Seconds to read.")
@click.option("--interval-ms", type=int, default=100, show_default=True, help="Sampling interval in ms.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--collectors", default="auto", show_default=True,
              help="auto, or a comma-separated list of collector ids (see 'ipw list collectors').")
@click.option("--cpu-tdp-w", type=float, default=None, help="CPU TDP in watts for the estimated collector.")
def energy(duration: float, interval_ms: int, as_json: bool, collectors: str, cpu_tdp_w: float | None) -> None:
    """Show live power readings from the energy monitor: devices, watts, joules.

    Starts the energy monitor (or reuses the one at $IPW_ENERGY_MONITOR),
    reads it for --duration seconds and prints, per device, where its numbers
    come from (measured, derived or estimated), the mean power and the energy
    over the window.

    Example:

        ipw energy --duration 2 --json
    """
    from ..capture.telemetry import launch_monitor, read_live

    if duration <= 0:
        raise UsageError(f"--duration must be positive, got {duration:g}", hint="pass a number of seconds, e.g. --duration 5")
    if interval_ms < 1:
        raise UsageError(f"--interval-ms must be at least 1, got {interval_ms}", hint="e.g. --interval-ms 100")
    with launch_monitor(interval_ms=interval_ms, collectors=collectors, cpu_tdp_w=cpu_tdp_w) as launcher:
        assert launcher.endpoint is not None
        result = read_live(launcher.endpoint, duration, interval_ms)
        health = launcher.health or {}
        result["reused"] = launcher.reused
        result["collectors"] = health.get("collectors", [])
        result["notes"] = health.get("notes", [])
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(_table(result))

