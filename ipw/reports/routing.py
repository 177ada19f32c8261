"""Coverage and routing across the cells of a study: what sending each record to the right cell would give.

The paper's analysis (SPEC §13). Each cell is one run; a record is one
(benchmark, record id) (:mod:`ipw.analyses.benchmarks`).

Records compared
    Only records that every compared cell answered (a completed, measured
    query), judged (a decided verdict: correct or incorrect, under the judge
    accuracy uses, :func:`ipw.replay.select_judge`) and charged an
    attributed energy (the energy analysis per query, under the given
    ``policy``/``idle_baseline``/``devices``). Every other record is counted in
    ``records_dropped``, by the first reason that applies: not answered by
    every cell, not judged by every cell, no attributed energy in every cell.
    A cell that answered a record twice counts its last answer (highest query id).

Cells compared
    Every cell with a recorded run whose energy was measured; the others are
    listed in ``cells_left_out`` with the reason. At least two are needed.

coverage
    The share of compared records that at least one cell answers correctly.
oracle
    Each record goes to the cell with the least energy for that record among
    those that answered it correctly (ties: the earlier cell in study order).
    A record no cell answered correctly goes to the cell with the least
    energy for it and counts as wrong, so the oracle's accuracy is the
    coverage and its energy is the least any router over these cells can pay
    for that accuracy.
cascade
    The cells are tried in order: by default by mean energy per query over the
    compared records, ascending (ties: study order), or an order given by
    name (a subset of the cells is allowed). A record goes to the first cell
    and escalates to the next when that answer was wrong; it pays the energy
    and the time of every cell it tried, and when no cell was right the last
    answer stands (wrong). "Wrong" is the judge's verdict, so this is a
    cascade with a perfect verifier: a bound on one that must guess.

Per strategy (every cell on its own, the oracle, the cascade)
    records, correct, accuracy with its 95 % Wilson interval
    (:func:`ipw.reports.study_stats.wilson_interval`); total energy (J) over
    the answers paid for, with its bound: the sum of their per-query sensor
    model bounds (None when one is missing); mean energy per query; busy time:
    the sum of the end-to-end latencies of the answers paid for; mean power =
    energy ÷ busy time; IPW = accuracy ÷ that power; IPJ = accuracy ÷ mean
    energy per query, with the accuracy's Wilson bounds over the same energy.
    IPW here divides by the power drawn while answering, not the summary's
    power over the run's wall span, so compare it within this analysis only.
    The best single cell is the most accurate on the compared records (ties:
    the least energy); each strategy has the energy it saves against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import UsageError
from ..replay import select_judge
from .study_stats import wilson_interval

if TYPE_CHECKING:
    from ..replay.engine import RunView

__all__ = ["Answer", "CellOutcomes", "Strategy", "Routing", "cell_outcomes", "route", "ROUTING_OPTIONS"]

ROUTING_OPTIONS = ("judge", "policy", "idle_baseline", "devices")
NOT_ANSWERED, NOT_JUDGED, NO_ENERGY = "not answered by every cell", "not judged by every cell", \
    "no attributed energy in every cell"


class Answer(msgspec.Struct, frozen=True):
    """One cell's answer to one record: right or wrong, its joules (and their bound), its end-to-end seconds."""

    correct: bool
    energy_j: float
    energy_j_bound: float | None
    e2e_s: float


@dataclass
class CellOutcomes:
    """What one cell did with each record: an :class:`Answer`, or why it cannot be compared."""

    cell: str
    answers: dict[tuple[str, str], Answer | str] = field(default_factory=dict)
    judge: str | None = None
    left_out: str | None = None  # why the whole cell is not compared (no run, energy not measured)


class Strategy(msgspec.Struct, frozen=True, kw_only=True):
    """One way of answering the compared records: a cell alone, the oracle router or the cascade."""

    name: str
    kind: str  # cell, oracle or cascade
    records: int
    correct: int
    accuracy: float | None
    accuracy_ci_low: float | None
    accuracy_ci_high: float | None
    total_energy_j: float
    total_energy_j_bound: float | None
    mean_energy_per_query_j: float | None
    busy_s: float
    mean_power_w: float | None
    intelligence_per_watt: float | None
    intelligence_per_joule: float | None
    intelligence_per_joule_ci_low: float | None
    intelligence_per_joule_ci_high: float | None
    energy_saved_vs_best_j: float | None = None
    energy_saved_vs_best_fraction: float | None = None


class Routing(msgspec.Struct, frozen=True, kw_only=True):
    """The routing analysis of a set of cells (see the module docstring)."""

    cells: list[str]
    cells_left_out: dict[str, str]
    records_compared: int
    records_dropped: int
    dropped_by_reason: dict[str, int]
    covered: int
    coverage: float | None
    coverage_ci_low: float | None
    coverage_ci_high: float | None
    best_cell: str | None
    oracle_records_by_cell: dict[str, int]
    cascade_order: list[str]
    cascade_order_rule: str
    cascade_settled_by_step: list[int]  # records answered right at each step of the cascade, in order
    strategies: list[Strategy]
    options: dict[str, Any] = {}
    notes: list[str] = []

    def strategy(self, name: str) -> Strategy:
        return next(s for s in self.strategies if s.name == name)


def cell_outcomes(cell: str, view: RunView, options: dict[str, Any] | None = None) -> CellOutcomes:
    """Each record of one cell's replayed run, as an :class:`Answer` or the reason it has none."""
    from ..analyses.benchmarks import record_key, run_benchmark
    from ..analyses.energy import per_query_energy
    from ..analyses.latency import per_query_latency

    options = dict(options or {})
    judge = select_judge(view, None if options.get("judge") is None else str(options["judge"]))
    verdicts = view.verdicts_by_judge().get(judge, {}) if judge is not None else {}
    energy = per_query_energy(view, policy=options.get("policy", "active"),
                              idle_baseline=options.get("idle_baseline", "none"), devices=options.get("devices"))
    out = CellOutcomes(cell, judge=judge)
    if not energy.measured:
        out.left_out = energy.not_measured_reason or "energy not measured"
        return out
    latency = per_query_latency(view)
    default = run_benchmark(view)
    for q in view.measured_queries():  # query-id order: a later answer to the same record replaces an earlier one
        verdict = verdicts.get(q.query_id)
        joules = energy.energy_j.get(q.query_id)
        e2e_s = latency[q.query_id]["e2e_s"]
        if verdict is None or verdict.is_correct is None:
            out.answers[record_key(q, default)] = NOT_JUDGED
        elif joules is None or e2e_s is None or not math.isfinite(joules):
            out.answers[record_key(q, default)] = NO_ENERGY
        else:
            out.answers[record_key(q, default)] = Answer(bool(verdict.is_correct), float(joules),
                                                         energy.energy_j_bound.get(q.query_id), float(e2e_s))
    return out


def route(cells: list[CellOutcomes], *, cascade: list[str] | None = None,
          options: dict[str, Any] | None = None) -> Routing:
    """Coverage, the oracle router and the cascade over ``cells`` (in study order)."""
    left_out = {c.cell: c.left_out for c in cells if c.left_out is not None}
    used = [c for c in cells if c.left_out is None]
    names = [c.cell for c in used]
    if len(used) < 2:
        why = "; ".join(f"{k}: {v}" for k, v in left_out.items())
        raise UsageError(f"routing compares two or more cells with measured energy; this study has {len(used)}"
                         + (f" ({why})" if why else ""), hint="run a study of two or more cells with --energy on")
    everything = sorted({k for c in used for k in c.answers})
    shared, dropped = [], {NOT_ANSWERED: 0, NOT_JUDGED: 0, NO_ENERGY: 0}
    for key in everything:
        found = [c.answers.get(key) for c in used]
        if any(a is None for a in found):
            dropped[NOT_ANSWERED] += 1
        elif any(a == NOT_JUDGED for a in found):
            dropped[NOT_JUDGED] += 1
        elif any(not isinstance(a, Answer) for a in found):
            dropped[NO_ENERGY] += 1
        else:
            shared.append([a for a in found if isinstance(a, Answer)])
    if not shared:
        raise UsageError(f"the cells {', '.join(names)} share no record that every one answered, judged and "
                         f"charged energy ({len(everything)} records seen)",
                         hint="run the cells on the same dataset, with the same --max-queries, and judge them")
    order, rule = _cascade_order(names, shared, cascade)
    cell_runs = [(name, [([row[i]], row[i].correct) for row in shared]) for i, name in enumerate(names)]
    oracle_runs, oracle_counts = _oracle(names, shared)
    cascade_runs, settled = _cascade([names.index(n) for n in order], shared)
    strategies = [_strategy(name, "cell", paid) for name, paid in cell_runs]
    best = max(strategies, key=lambda s: (s.correct, -s.total_energy_j))
    strategies += [_strategy("oracle", "oracle", oracle_runs), _strategy("cascade", "cascade", cascade_runs)]
    strategies = [_against(s, best) for s in strategies]
    covered = sum(1 for row in shared if any(a.correct for a in row))
    low, high = wilson_interval(covered, len(shared))
    notes = []
    if any(dropped.values()):
        notes.append(f"{sum(dropped.values())} of {len(everything)} records are left out: "
                     + ", ".join(f"{n} {why}" for why, n in dropped.items() if n))
    notes += [f"cell {k} is left out: {v}" for k, v in left_out.items()]
    return Routing(
        cells=names, cells_left_out=left_out, records_compared=len(shared), records_dropped=sum(dropped.values()),
        dropped_by_reason=dropped, covered=covered, coverage=covered / len(shared), coverage_ci_low=low,
        coverage_ci_high=high, best_cell=best.name, oracle_records_by_cell=oracle_counts, cascade_order=order,
        cascade_order_rule=rule, cascade_settled_by_step=settled, strategies=strategies,
        options={**{k: (options or {}).get(k) for k in ROUTING_OPTIONS},
                 "judges": {c.cell: c.judge for c in used}},
        notes=notes,
    )


def _cascade_order(names: list[str], shared: list[list[Answer]], given: list[str] | None) -> tuple[list[str], str]:
    if given:
        unknown = [n for n in given if n not in names]
        if unknown or len(set(given)) != len(given):
            what = f"names no compared cell: {', '.join(unknown)}" if unknown else "names a cell twice"
            raise UsageError(f"the cascade {','.join(given)} {what}", hint=f"the compared cells: {', '.join(names)}")
        return list(given), "as given"
    mean_j = [math.fsum(row[i].energy_j for row in shared) / len(shared) for i in range(len(names))]
    order = sorted(range(len(names)), key=lambda i: (mean_j[i], i))
    return [names[i] for i in order], "mean energy per query over the compared records, ascending"


def _oracle(names: list[str], shared: list[list[Answer]]) -> tuple[list[tuple[list[Answer], bool]], dict[str, int]]:
    runs, counts = [], dict.fromkeys(names, 0)
    for row in shared:
        right = [i for i, a in enumerate(row) if a.correct]
        pool = right or list(range(len(row)))
        pick = min(pool, key=lambda i: (row[i].energy_j, i))
        counts[names[pick]] += 1
        runs.append(([row[pick]], row[pick].correct))
    return runs, counts


def _cascade(order: list[int], shared: list[list[Answer]]) -> tuple[list[tuple[list[Answer], bool]], list[int]]:
    runs, settled = [], [0] * len(order)
    for row in shared:
        paid: list[Answer] = []
        for step, i in enumerate(order):
            paid.append(row[i])
            if row[i].correct:
                settled[step] += 1
                break
        runs.append((paid, paid[-1].correct))
    return runs, settled


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def _strategy(name: str, kind: str, runs: list[tuple[list[Answer], bool]]) -> Strategy:
    paid = [a for answers, _ in runs for a in answers]
    correct = sum(1 for _, ok in runs if ok)
    energy_j = math.fsum(a.energy_j for a in paid)
    bounds = [a.energy_j_bound for a in paid]
    busy_s = math.fsum(a.e2e_s for a in paid)
    accuracy = correct / len(runs) if runs else None
    low, high = wilson_interval(correct, len(runs))
    mean_j = energy_j / len(runs) if runs else None
    power_w = _ratio(energy_j, busy_s)
    return Strategy(
        name=name, kind=kind, records=len(runs), correct=correct, accuracy=accuracy, accuracy_ci_low=low,
        accuracy_ci_high=high, total_energy_j=energy_j,
        total_energy_j_bound=None if any(b is None for b in bounds) else math.fsum(b for b in bounds if b is not None),
        mean_energy_per_query_j=mean_j, busy_s=busy_s, mean_power_w=power_w,
        intelligence_per_watt=_ratio(accuracy, power_w), intelligence_per_joule=_ratio(accuracy, mean_j),
        intelligence_per_joule_ci_low=_ratio(low, mean_j), intelligence_per_joule_ci_high=_ratio(high, mean_j),
    )


def _against(s: Strategy, best: Strategy) -> Strategy:
    saved = best.total_energy_j - s.total_energy_j
    return msgspec.structs.replace(s, energy_saved_vs_best_j=saved,
                                   energy_saved_vs_best_fraction=_ratio(saved, best.total_energy_j))
