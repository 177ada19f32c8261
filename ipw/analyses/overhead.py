"""Measurement overhead: what the measuring harness itself cost, from its ``harness_cpu`` events.

harness CPU seconds
    The capture process's CPU time (user + system, every thread) between its
    first and last ``harness_cpu`` event, summed over the capture sessions of
    a run (a resumed run is a new process: its counter starts again, and the
    step across is not counted). Provenance ``measured``.
host busy CPU seconds
    The busy time of every CPU of the host over the same intervals (Linux
    ``/proc/stat``), where the events carry it.
share of CPU
    harness CPU s ÷ host busy CPU s; without host figures, harness CPU s ÷
    (wall s × CPUs), the share of the host's capacity. Provenance ``derived``.
harness energy
    share × the energy of the CPU devices in the run's total (see
    :mod:`ipw.analyses.energy`): the CPU's joules apportioned by CPU time, an
    ``estimated`` figure (CPU power does not split exactly by busy time), and
    never weaker than the CPU energy it rests on. ``None`` where no CPU power
    was measured or estimated.

The harness's CPU energy is already inside a measured CPU total: this is
how much of it was the measuring, not an addition.

A client that runs the model inside ipw's own process (``llamacpp``,
``vllm``) puts the inference in the same CPU counter: the figures are then an
upper bound on the measuring, and say so (``includes_inference``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..events import HarnessCpu
from ..replay.engine import RunView
from ._numbers import finite, weakest

if TYPE_CHECKING:
    from .energy import EnergyAttribution

__all__ = ["measurement_overhead", "overhead_of", "NOT_RECORDED_NOTE"]

NOT_RECORDED_NOTE = "the run has no harness_cpu events (recorded by ipw 1.1 and later): overhead not measured"
# clients whose model runs inside ipw's process, so its CPU time is in the harness's counter
IN_PROCESS_CLIENTS = frozenset({"llamacpp", "vllm"})


def _sessions(events: list[HarnessCpu]) -> list[list[HarnessCpu]]:
    """The events of each capture process, in time order."""
    runs: dict[Any, list[HarnessCpu]] = {}
    for e in sorted(events, key=lambda e: e.t_ns):
        runs.setdefault(e.pid, []).append(e)
    out: list[list[HarnessCpu]] = []
    for seq in runs.values():
        current = [seq[0]]
        for e in seq[1:]:
            if e.cpu_s < current[-1].cpu_s:  # the same pid reused by a later process: its counter restarted
                out.append(current)
                current = []
            current.append(e)
        out.append(current)
    return [s for s in out if len(s) >= 2]


def measurement_overhead(view: RunView, cpu_energy_j: float | None, cpu_provenance: str | None) -> dict[str, Any]:
    """The harness's CPU seconds, its share of the host's CPU, and its estimated share of CPU energy."""
    sessions = _sessions(view.harness_cpu)
    if not sessions:
        return {"measured": False, "harness_cpu_s": None, "wall_s": None, "share_of_cpu": None,
                "share_basis": None, "harness_energy_j": None, "provenance": None, "note": NOT_RECORDED_NOTE}
    # math.fsum: exactly rounded, so the same last bit on every Python (3.12's sum() compensates, 3.11's does not)
    cpu_s = math.fsum(s[-1].cpu_s - s[0].cpu_s for s in sessions)
    wall_s = math.fsum((s[-1].t_ns - s[0].t_ns) / 1e9 for s in sessions)
    host_known = all(e.host_busy_cpu_s is not None for s in sessions for e in (s[0], s[-1]))
    share: float | None
    if host_known:
        host_s = math.fsum(s[-1].host_busy_cpu_s - s[0].host_busy_cpu_s for s in sessions)  # type: ignore[operator]
        share = min(1.0, cpu_s / host_s) if host_s > 0 else None
        basis = "host busy CPU time (/proc/stat)"
    else:
        capacity_s = math.fsum((s[-1].t_ns - s[0].t_ns) / 1e9 * (s[0].host_cpus or 1) for s in sessions)
        share = min(1.0, cpu_s / capacity_s) if capacity_s > 0 else None
        basis = "host CPU capacity (wall time × CPUs)"
        host_s = None
    energy_j = None
    notes = []
    client = str(view.config.get("client") or "")
    in_process = client in IN_PROCESS_CLIENTS
    if in_process:
        notes.append(f"the {client} client runs the model inside ipw's process, so this CPU time includes the "
                     "inference itself: an upper bound on the measuring")
    if cpu_energy_j is None:
        notes.append("no CPU power was measured or estimated: the harness's energy is not reported")
    elif share is not None:
        energy_j = share * cpu_energy_j
    note = "; ".join(notes) or None
    return {
        "measured": True,
        "includes_inference": in_process,
        "harness_cpu_s": finite(cpu_s),
        "harness_cpu_provenance": "measured",
        "wall_s": finite(wall_s),
        "harness_cpu_percent_of_one_core": finite(100.0 * cpu_s / wall_s) if wall_s > 0 else None,
        "host_busy_cpu_s": finite(host_s),
        "share_of_cpu": finite(share),
        "share_basis": basis,
        "cpu_energy_j": finite(cpu_energy_j),
        "harness_energy_j": finite(energy_j),
        "provenance": None if energy_j is None else weakest([cpu_provenance, "estimated"]),
        "method": "the CPU devices' energy apportioned by the harness's share of CPU time",
        "note": note,
    }


def overhead_of(view: RunView, attribution: EnergyAttribution) -> dict[str, Any]:
    """:func:`measurement_overhead` against the CPU devices in an energy attribution's total."""
    cpu = [d for d in attribution.devices.values() if d.in_total and d.device_type == "cpu" and d.energy_j is not None]
    if not cpu:
        return measurement_overhead(view, None, None)
    return measurement_overhead(view, math.fsum(d.energy_j for d in cpu), weakest(d.source for d in cpu))  # type: ignore[misc]
