"""The headline of a run: intelligence per watt and per joule, with where every number comes from.

intelligence per watt  = accuracy ÷ mean power (W), mean power = total energy of
                         the devices in the total ÷ wall span of the measured queries
intelligence per joule = accuracy ÷ mean energy per query (J)

Every number in ``metrics`` has the same shape,
``{"value": …, "unit": …, "provenance": …}``, where provenance is one of

    measured   read from a sensor or clock (power meters, energy counters, timestamps)
    derived    computed from measured and counted numbers (ratios, throughput)
    estimated  rests on an estimate (e.g. a CPU power model), however it was combined
    imported   rests on an external trace imported after capture
    counted    a count (queries, tokens, verdicts)

The ``measurement_overhead_*`` lines are ipw's own footprint (its CPU seconds,
its share of the host's CPU time, and its estimated share of the CPU energy,
see :mod:`ipw.analyses.overhead`), shown where the run recorded it.

A value of ``None`` has provenance ``None``: no number, nothing to vouch
for. Energy figures carry the weakest provenance of the devices summed; a
ratio is ``derived`` unless the energy it divides by is weaker. When energy
was not measured the summary says so (``energy_measured: false`` and a note)
and reports no energy and no ratio, never 0 J; a run that fell between two
readings says "not measured: shorter than one sample" (``not_measured`` beside
each energy metric). Energy figures carry ``bound``, the sensor model's bound
in the metric's unit (see :mod:`ipw.analyses.energy`); one over 5 % of its
value has ``uncertain: true`` and a note.

``by_benchmark``: each benchmark's accuracy with its Wilson interval, energy
per query, IPW and IPJ (see :mod:`ipw.analyses.benchmarks`).

Options: ``judge`` (for accuracy), ``model`` (must name the run's model, as
for ``accuracy``), ``policy``, ``idle_baseline`` and ``devices`` (for energy,
see :mod:`ipw.analyses.energy`), ``carbon_intensity_g_per_kwh`` (adds
``co2_g`` and ``co2_g_per_query``, see :mod:`ipw.analyses.intensity`), ``slo``
(adds ``slo_attainment``, ``goodput_*``, ``correct_within_slo`` and
``joules_per_correct_within_slo``, see :mod:`ipw.analyses.slo`) and
``min_steady_s`` (the steady-state check of ``validity``).

``validity``: the run's checks (steady state long enough, batch used, power
between idle and TDP, monitor coverage), each with its measured value, its
threshold and pass/fail/unknown; failures are also a note (see
:mod:`ipw.analyses.validity`).
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..replay.engine import RunView
from ._numbers import finite, weakest
from ._options import applied_options, check_options, energy_options_applied
from .benchmarks import with_intelligence
from .energy import ENERGY_OPTIONS, NOT_MEASURED_NOTE, WINDOW_NOTE, per_query_energy
from .intensity import CARBON_OPTION, carbon_intensity, co2_g, output_token_energy
from .latency import LatencyProjection
from .overhead import overhead_of
from .sensor_model import uncertain
from .slo import SLO_OPTION, meets_slo, parse_slo, slo_block
from .steady_state import steady_state
from .validity import MIN_STEADY_OPTION, min_steady_s, validity_block

__all__ = ["SummaryProjection", "PROVENANCES", "METRIC_ORDER"]

PROVENANCES: tuple[str, ...] = ("measured", "derived", "estimated", "imported", "counted")
_OPTIONS: tuple[str, ...] = ("judge", "model", *ENERGY_OPTIONS, CARBON_OPTION, SLO_OPTION, MIN_STEADY_OPTION)


def _metric(value: Any, unit: str | None, provenance: str | None) -> dict[str, Any]:
    if isinstance(value, float) or value is None:
        value = finite(value)
    return {"value": value, "unit": unit, "provenance": provenance if value is not None else None}


def _ratio_provenance(energy_provenance: str | None) -> str:
    """A ratio over energy is derived, unless the energy is weaker than derived."""
    return weakest([energy_provenance, "derived"]) or "derived"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return finite(numerator / denominator)


class SummaryProjection:
    """Accuracy, energy, intelligence per watt and per joule, latency, tokens, with provenance."""

    analysis_id = "summary"
    needs_judging = True  # like accuracy: verdicts must exist before the ratios mean anything

    def compute(self, view: RunView, options: dict[str, Any], *, latency: dict[str, Any] | None = None) -> dict[str, Any]:
        """The summary; ``latency`` is the latency analysis of the same view when the caller already has it."""
        from .accuracy import accuracy_counts

        check_options(self.analysis_id, options, _OPTIONS)
        g_per_kwh = carbon_intensity(options)
        slo = parse_slo(options.get(SLO_OPTION))
        min_steady = min_steady_s(options.get(MIN_STEADY_OPTION))
        model = options.get("model")
        if model is not None and str(model) != str(view.config.get("model")):
            raise UsageError(
                f"this run measured the model {view.config.get('model')!r}, not {model!r}",
                hint="leave the model option out, or name the run's model",
            )
        judge = options.get("judge")
        accuracy = accuracy_counts(view, None if judge is None else str(judge))
        energy = per_query_energy(
            view,
            policy=options.get("policy", "active"),
            idle_baseline=options.get("idle_baseline", "none"),
            devices=options.get("devices"),
        )
        latency = latency if latency is not None else LatencyProjection().compute(view, {})
        acc = finite(accuracy.get("accuracy"))
        per_token = output_token_energy(
            (energy.energy_j.get(q.query_id), q.completion_tokens) for q in view.measured_queries()
        ) if energy.measured else output_token_energy(())
        e_prov = energy.provenance
        mean_energy = energy.mean_energy_per_query_j
        mean_power = energy.mean_power_w
        notes: list[str] = []
        if not energy.measured:
            notes.append((energy.not_measured_reason or NOT_MEASURED_NOTE)
                         + "; intelligence per watt and per joule are not reported")
        elif energy.policy == "window":
            notes.append(WINDOW_NOTE)
        if energy.measured and mean_energy is not None and mean_energy <= 0:
            notes.append("mean energy per query is not positive (idle baseline subtracted): no per-joule ratio")
        incomplete = sum(1 for ok in energy.energy_complete.values() if not ok)
        if energy.measured and incomplete:
            notes.append(f"{incomplete} queries overlap a gap in the power trace: their energy is partly interpolated")
        if acc is None:
            notes.append("no decided verdicts: accuracy and its ratios are not reported")
        if latency["queries_truncated"]:
            notes.append(
                f"{latency['queries_truncated']} of {latency['queries']} streams ended without a finish reason "
                "(truncated by the service): their answers may be cut short, and TPOT, inter-token and "
                "end-to-end latency leave them out"
            )
        metrics = {
            "accuracy": _metric(acc, None, "counted"),
            "correct": _metric(accuracy.get("correct"), "queries", "counted"),
            "incorrect": _metric(accuracy.get("incorrect"), "queries", "counted"),
            "unevaluated": _metric(accuracy.get("unevaluated"), "queries", "counted"),
            "queries_measured": _metric(latency["queries"], "queries", "counted"),
            "queries_truncated": _metric(latency["queries_truncated"], "queries", "counted"),
            "total_energy_j": _metric(energy.total_energy_j, "J", e_prov),
            "idle_energy_j": _metric(energy.idle_energy_j, "J", e_prov),
            "mean_energy_per_query_j": _metric(mean_energy, "J", e_prov),
            "mean_power_w": _metric(mean_power, "W", e_prov),
            "intelligence_per_watt": _metric(_ratio(acc, mean_power), "1/W", _ratio_provenance(e_prov)),
            "intelligence_per_joule": _metric(_ratio(acc, mean_energy), "1/J", _ratio_provenance(e_prov)),
            "joules_per_output_token": _metric(per_token["joules_per_output_token"], "J/token", e_prov),
            "output_tokens_per_joule": _metric(per_token["output_tokens_per_joule"], "tokens/J",
                                               _ratio_provenance(e_prov)),
            "ttft_mean_s": _metric(latency["ttft_s"]["mean"], "s", "measured"),
            "ttft_p50_s": _metric(latency["ttft_s"]["p50"], "s", "measured"),
            "ttft_p90_s": _metric(latency["ttft_s"]["p90"], "s", "measured"),
            "tpot_mean_s": _metric(latency["tpot_s"]["mean"], "s", "derived"),
            "itl_p50_s": _metric(latency["itl_s"]["p50"], "s", "measured"),
            "e2e_mean_s": _metric(latency["e2e_s"]["mean"], "s", "measured"),
            "e2e_p90_s": _metric(latency["e2e_s"]["p90"], "s", "measured"),
            "throughput_tokens_per_s": _metric(latency["throughput_tokens_per_s"], "tokens/s", "derived"),
            "completion_tokens_total": _metric(latency["completion_tokens_total"], "tokens", "counted"),
            "prompt_tokens_total": _metric(latency["prompt_tokens_total"], "tokens", "counted"),
        }
        _bound_energy(metrics, notes, energy)
        overhead = overhead_of(view, energy)
        if overhead["measured"]:  # runs recorded before harness_cpu existed get the note only
            metrics["measurement_overhead_cpu_s"] = _metric(overhead["harness_cpu_s"], "s", "measured")
            metrics["measurement_overhead_cpu_share"] = _metric(overhead["share_of_cpu"], None, "derived")
        if overhead["harness_energy_j"] is not None:
            metrics["measurement_overhead_energy_j"] = _metric(overhead["harness_energy_j"], "J", overhead["provenance"])
        if overhead["note"]:
            notes.append(f"measurement overhead: {overhead['note']}")
        if g_per_kwh is not None:
            # derived from energy and a number the user gave: never stronger than the energy itself
            co2_prov = _ratio_provenance(e_prov)
            metrics["co2_g"] = _metric(co2_g(energy.total_energy_j, g_per_kwh), "g", co2_prov)
            metrics["co2_g_per_query"] = _metric(co2_g(mean_energy, g_per_kwh), "g", co2_prov)
        validity = validity_block(view, energy, steady_state(view), min_steady)
        if validity["failures"]:
            notes.append(f"validity: failed {', '.join(validity['failures'])} (see validity.checks)")
        if slo is not None:
            _slo_metrics(metrics, view, latency, slo, accuracy.get("judge"), energy)
        tasks = None
        if view.agent_events:  # an agent's run: its tasks, overall (per task: the tasks analysis)
            from .tasks import task_rows, tasks_overall

            tasks = {**tasks_overall(task_rows(view, energy)), "energy_provenance": e_prov}
        config = view.config
        return {
            "run_id": view.run_id,
            "model": config.get("model"),
            "client": config.get("client"),
            "dataset": config.get("dataset"),
            "hardware": view.host,
            "judge": accuracy.get("judge"),
            "energy_measured": energy.measured,
            "energy_policy": energy.policy,
            "idle_baseline": energy.idle_baseline,
            "energy_devices": {
                d.device: {"device_type": d.device_type, "source": d.source}
                for d in sorted(energy.devices.values(), key=lambda d: d.device)
                if d.in_total
            },
            "metrics": metrics,
            "by_benchmark": with_intelligence(view, accuracy["by_benchmark"],
                                              energy.energy_j if energy.measured else None, mean_power),
            "notes": notes,
            "validity": validity,
            **({"carbon_intensity_g_per_kwh": g_per_kwh} if g_per_kwh is not None else {}),
            **({"tasks": tasks} if tasks is not None else {}),
            "options": applied_options(self.analysis_id, _OPTIONS, {
                "judge": accuracy.get("judge"), "model": None if model is None else str(model),
                **energy_options_applied(energy, options), CARBON_OPTION: g_per_kwh,
                SLO_OPTION: slo, MIN_STEADY_OPTION: min_steady,
            }),
        }


def _slo_metrics(metrics: dict[str, Any], view: RunView, latency: dict[str, Any], slo: dict[str, float],
                 judge: str | None, energy: Any) -> None:
    """Attainment, goodput and joules per correct answer within the SLO (see :mod:`ipw.analyses.slo`)."""
    block = slo_block(latency["per_query"], latency["wall_span_s"], slo)
    met = {r["query_id"] for r in latency["per_query"] if meets_slo(r, slo)}
    correct = {q for q, v in view.verdicts_by_judge().get(judge, {}).items() if v.is_correct is True} if judge else set()
    n = len(met & correct)
    e_prov = energy.provenance
    metrics["slo_attainment"] = _metric(block["attainment"], None, "derived")
    metrics["goodput_queries_per_s"] = _metric(block["goodput_queries_per_s"], "queries/s", "derived")
    metrics["goodput_tokens_per_s"] = _metric(block["goodput_tokens_per_s"], "tokens/s", "derived")
    metrics["correct_within_slo"] = _metric(n if judge else None, "queries", "counted")
    per_correct = _metric(_ratio(energy.total_energy_j, n), "J", e_prov)
    if per_correct["value"] is not None:
        per_correct["bound"] = _ratio(energy.total_energy_j_bound, n)
    metrics["joules_per_correct_within_slo"] = per_correct


def _bound_energy(metrics: dict[str, Any], notes: list[str], energy: Any) -> None:
    """Put the sensor model's bound (or why there is no number) beside each energy figure."""
    bounds = {"total_energy_j": ("total energy", energy.total_energy_j_bound),
              "mean_power_w": ("mean power", energy.mean_power_w_bound),
              "mean_energy_per_query_j": ("mean energy per query", energy.mean_energy_per_query_j_bound)}
    for name, (label, bound) in bounds.items():
        metric = metrics[name]
        if metric["value"] is None:
            if energy.not_measured_reason:
                metric["not_measured"] = energy.not_measured_reason
            continue
        metric["bound"] = finite(bound)
        if uncertain(metric["value"], bound):
            metric["uncertain"] = True
            notes.append(f"{label}: its bound ±{bound:.3g} {metric['unit']} is over 5 % of the value "
                         "(a short window or few readings; see the energy analysis)")


METRIC_ORDER: tuple[str, ...] = (
    "accuracy", "correct", "incorrect", "unevaluated", "queries_measured", "queries_truncated",
    "intelligence_per_watt", "intelligence_per_joule",
    "mean_power_w", "mean_energy_per_query_j", "total_energy_j", "idle_energy_j",
    "joules_per_output_token", "output_tokens_per_joule", "co2_g", "co2_g_per_query",
    "ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "tpot_mean_s", "itl_p50_s", "e2e_mean_s", "e2e_p90_s",
    "throughput_tokens_per_s", "completion_tokens_total", "prompt_tokens_total",
    "slo_attainment", "goodput_queries_per_s", "goodput_tokens_per_s", "correct_within_slo",
    "joules_per_correct_within_slo",
    "measurement_overhead_cpu_s", "measurement_overhead_cpu_share", "measurement_overhead_energy_j",
)
