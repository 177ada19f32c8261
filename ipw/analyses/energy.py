"""Per-query energy under concurrency: which query used how many joules.

Energy of a device over time
    Each device gets a cumulative energy function E_d(t). With a cumulative
    counter (``energy_j``; unwrapped by the collector) E_d is the counter
    interpolated linearly between samples. Without one, ``power_w`` is
    interpolated linearly between samples and integrated exactly (the
    trapezoid rule, also at interval bounds that fall between samples). A
    counter that steps backwards is treated as a reset: that step counts 0 J
    and is reported as a gap. Before the first and after the last sample the
    nearest sample's power is held (flagged as a gap when longer than the gap
    threshold).

Activity
    A query is active on [query_started.t_ns, query_finished.t_ns]; prefill is
    [start, first token] and decode [first token, end] (first token = start +
    TTFT). Warmup queries and failed attempts are active too, so they take
    their share, but their energy is reported as ``excluded_energy_j``, never
    charged to measured queries. Elementary intervals lie between consecutive
    boundaries: every activity start, first token and end (and, for
    ``tokens``, every sample time of the device). In interval i, n_i queries
    are active and the device used ΔE_i = E_d(b_{i+1}) − E_d(b_i).

Policies (``policy``)
    active  query q gets Σ_{i: q active} ΔE_i / n_i (equal split).
    tokens  query q gets Σ_{i: q active} ΔE_i · k_{q,i} / K_i where k_{q,i} is
            the number of tokens q emitted in interval i (a token at time t
            belongs to the interval (b_i, b_{i+1}] that ends at or after it: it
            is the product of the work before it) and K_i = Σ_q k_{q,i}; an
            interval where no active query emitted a token falls back to
            ΔE_i / n_i. Queries in prefill get nothing from intervals where
            others emit tokens.
    window  the legacy rule: q gets E_d(end) − E_d(start), the whole window,
            whatever else ran. Overlapping queries are double counted; it is
            reported for comparison only (``double_counted: true``).

Idle baseline (``idle_baseline``)
    The baseline power P_d of a device is the median power over its samples
    taken while no query (of any kind) was active (power readings, or counter
    differences over wholly idle sample intervals); at least 3 are needed,
    else it is reported as not estimable and nothing is subtracted. With
    ``subtract`` every ΔE_i becomes ΔE_i − P_d·Δt_i before the split (window:
    E_d(end) − E_d(start) − P_d·(end − start)), so a query is charged only
    what it added over idle; the result may be slightly negative through
    noise and is not clipped. The subtracted part is ``baseline_energy_j``.
    Energy while nothing is active is ``idle_energy_j``: reported, never
    charged to the next query.

Totals (which devices are summed)
    GPU, CPU, DRAM and SoC devices are reported apart (``devices``,
    ``energy_by_type_j``). The total sums only devices that do not nest: a
    device whose ``device_seen.metadata["parent"]`` names another device is
    inside it (so is a RAPL ``core``/``uncore``/``pp0``/``pp1`` domain when a
    ``rapl:package-N`` is present); an ``estimated`` device is left out when a
    non-estimated one of the same type exists; a ``system`` meter (wall power,
    RAPL ``psys``) includes everything, so it is never added to components:
    the total is gpu + cpu + dram (+ soc) when any component is present, and
    the system meter(s) only when nothing else is. ``devices`` (an option)
    selects device ids or device types first.

Gaps
    A device has a gap where it has no samples for more than max(3 × its
    median sample interval, 1 s) inside the activity span, and wherever the
    energy monitor was lost (``telemetry_status`` lost → next status; not for
    imported traces, which never went through the monitor). Energy
    across a gap is interpolated linearly; queries overlapping one are marked
    ``energy_complete: false``.

Measurement overhead (``measurement_overhead``)
    The harness's own CPU seconds and its estimated share of the CPU energy,
    from ``harness_cpu`` events; see :mod:`ipw.analyses.overhead`.

Window edges (brackets)
    The capture asks the monitor to read every device on demand just before
    the first measured query starts and just after the last one ends
    (``power_sample`` events with ``bracket`` "start"/"end"); those reads are
    knots of E_d like any sample, so an edge sits within a millisecond of a
    reading instead of up to one sample interval from one. A device whose
    session window holds no reading and has no bracket read within 50 ms of
    an edge is not measured there ("not measured: shorter than one sample"):
    its figures and the total are ``None`` with that reason, never 0 J.

Uncertainty (the sensor model; :mod:`ipw.analyses.sensor_model`)
    Every energy figure has a bound in joules beside it (``…_bound_j``). Inputs
    per device: u, the counter's update period (a read is up to u stale), or
    for power readings and derived counters a, the window a power reading
    averages over; m, an estimate's relative model error (declared in
    ``device_seen.metadata`` as ``counter_update_s``, ``power_average_s``,
    ``model_error_fraction``; else by collector: nvml u = 0.1 s, a = 1 s;
    rapl u = 1 ms; estimate u = 10 ms, m = 0.5); and the readings themselves.
    P_loc at time x is the largest mean power of the reading interval holding
    x and its two neighbours (the model assumes power inside an interval stays
    below it). E_d at x between readings h apart, a fraction f in, is off by
    at most P_loc·h·f(1−f) (P_loc·distance outside the readings), so a
    bracketed edge costs about P_loc × 1 ms and an unbracketed one up to
    P_loc·h/4; staleness adds P_loc·u (a for power) once per window. For
    power readings a step inside an interval adds |Δp|·h/2. A window's bound
    is the sum of these plus m·|E|; a query's propagates the edge bounds of
    every boundary through the split (Σ_j e_j·|w_{j−1} − w_j|, w its weight);
    devices add. A figure whose bound is over 5 % of its value is listed in
    ``uncertain`` and flagged by the summary.

Steady state (``steady_state``)
    Energy, its bound, mean power and tokens/s over the window where the load was
    what the run asked for, beside the whole-run figures; see :mod:`ipw.analyses.steady_state`.

Provenance is each device's weakest sample source; the result's is the
weakest among the devices in the total. With no usable power samples the
result says ``measured: false`` and every energy number is ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..replay.engine import RunView
from ._devices import DeviceEnergy, choose_total, device_type_of, select_devices
from ._numbers import finite, sorted_unique, weakest
from ._options import applied_options, check_options, choice_option, energy_options_applied, list_option
from ._sessions import session_windows_ns, sessions_span_s
from .sensor_model import NOT_MEASURED_SHORT, DeviceBounds, query_bounds_j, sensor_spec, uncertain
from .attribution import (
    EnergyCurve,
    Gap,
    activity_of,
    baseline_power_w,
    build_curve,
    sample_gaps,
    split_energy,
    telemetry_gaps,
    token_columns,
)

__all__ = ["POLICIES", "IDLE_BASELINES", "ENERGY_OPTIONS", "Gap", "DeviceEnergy", "EnergyAttribution", "per_query_energy", "EnergyProjection"]

POLICIES: tuple[str, ...] = ("active", "tokens", "window")
IDLE_BASELINES: tuple[str, ...] = ("none", "subtract")
ENERGY_OPTIONS: tuple[str, ...] = ("policy", "idle_baseline", "devices")
NOT_MEASURED_NOTE = "energy was not measured: the run has no usable power samples"
WINDOW_NOTE = "legacy window policy: each query is charged its whole window, so overlapping queries are double counted"



@dataclass
class EnergyAttribution:
    """Per-query joules (keyed by query id, in query-id order) and the totals they come from."""

    policy: str
    idle_baseline: str
    measured: bool
    record_ids: dict[int, str]
    energy_j: dict[int, float | None]
    prefill_energy_j: dict[int, float | None]
    decode_energy_j: dict[int, float | None]
    energy_complete: dict[int, bool]
    by_device_j: dict[int, dict[str, float | None]]
    devices: dict[str, DeviceEnergy]
    window_ns: tuple[int, int] | None
    active_s: float | None = None  # the window less the pauses between capture sessions
    total_energy_j: float | None = None
    attributed_energy_j: float | None = None
    idle_energy_j: float | None = None
    excluded_energy_j: float | None = None
    baseline_energy_j: float | None = None
    gaps: list[Gap] = field(default_factory=list)
    provenance: str | None = None
    notes: list[str] = field(default_factory=list)
    energy_j_bound: dict[int, float | None] = field(default_factory=dict)  # the sensor model's bound per query
    total_energy_j_bound: float | None = None
    not_measured_reason: str | None = None  # why the figures are None although samples exist
    curves: dict[str, Any] = field(default_factory=dict, repr=False)  # device -> (EnergyCurve, DeviceBounds)

    @property
    def window_s(self) -> float | None:
        if self.active_s is not None:
            return self.active_s
        return (self.window_ns[1] - self.window_ns[0]) / 1e9 if self.window_ns else None

    @property
    def mean_energy_per_query_j(self) -> float | None:
        values = [v for v in self.energy_j.values() if v is not None]
        return finite(math.fsum(values) / len(values)) if values and self.measured else None  # exact: the same last bit on every Python

    @property
    def mean_power_w(self) -> float | None:
        span = self.window_s
        return finite(self.total_energy_j / span) if self.total_energy_j is not None and span else None

    @property
    def mean_energy_per_query_j_bound(self) -> float | None:
        """The bound on the mean: the mean of the per-query bounds."""
        values = [b for q, b in self.energy_j_bound.items() if b is not None and self.energy_j.get(q) is not None]
        return finite(math.fsum(values) / len(values)) if values and self.measured else None

    @property
    def mean_power_w_bound(self) -> float | None:
        span = self.window_s
        return finite(self.total_energy_j_bound / span) if self.total_energy_j_bound is not None and span else None

    def uncertain(self) -> list[str]:
        """The figures whose bound is over 5 % of their value."""
        pairs = {"total_energy_j": (self.total_energy_j, self.total_energy_j_bound),
                 "mean_energy_per_query_j": (self.mean_energy_per_query_j, self.mean_energy_per_query_j_bound),
                 "mean_power_w": (self.mean_power_w, self.mean_power_w_bound)}
        out = [name for name, (v, b) in pairs.items() if uncertain(v, b)]
        out += [f"per_query.{q}" for q, v in self.energy_j.items() if uncertain(v, self.energy_j_bound.get(q))]
        return out

    def to_dict(self) -> dict[str, Any]:
        window_s = self.window_s
        by_type: dict[str, float] = {}
        for d in self.devices.values():
            if d.in_total and d.energy_j is not None:
                by_type[d.device_type] = by_type.get(d.device_type, 0.0) + d.energy_j
        per_query = [
            {
                "query_id": qid,
                "record_id": self.record_ids[qid],
                "energy_j": finite(self.energy_j[qid]),
                "energy_j_bound": finite(self.energy_j_bound.get(qid)) if self.energy_j[qid] is not None else None,
                "prefill_energy_j": finite(self.prefill_energy_j[qid]),
                "decode_energy_j": finite(self.decode_energy_j[qid]),
                "energy_complete": self.energy_complete[qid],
                "by_device_j": {k: finite(v) for k, v in sorted(self.by_device_j[qid].items())},
            }
            for qid in self.energy_j
        ]
        return {
            "policy": self.policy,
            "double_counted": self.policy == "window",
            "idle_baseline": self.idle_baseline,
            "measured": self.measured,
            "note": (self.not_measured_reason or NOT_MEASURED_NOTE) if not self.measured
            else (WINDOW_NOTE if self.policy == "window" else None),
            "not_measured": self.not_measured_reason,
            "notes": list(self.notes),
            "provenance": self.provenance,
            "devices": {k: v.to_dict(window_s) for k, v in sorted(self.devices.items())},
            "energy_by_type_j": {k: finite(v) for k, v in sorted(by_type.items())},
            "window": None if self.window_ns is None else {
                "start_ns": self.window_ns[0], "end_ns": self.window_ns[1], "span_s": window_s,
            },
            "queries": len(self.energy_j),
            "queries_energy_incomplete": sum(1 for v in self.energy_complete.values() if not v),
            "total_energy_j": finite(self.total_energy_j),
            "total_energy_j_bound": finite(self.total_energy_j_bound),
            "attributed_energy_j": finite(self.attributed_energy_j),
            "idle_energy_j": finite(self.idle_energy_j),
            "excluded_energy_j": finite(self.excluded_energy_j),
            "baseline_energy_j": finite(self.baseline_energy_j),
            "mean_energy_per_query_j": self.mean_energy_per_query_j,
            "mean_energy_per_query_j_bound": self.mean_energy_per_query_j_bound,
            "mean_power_w": self.mean_power_w,
            "mean_power_w_bound": self.mean_power_w_bound,
            "uncertain": self.uncertain(),
            "per_query": per_query,
            "gaps": [g.to_dict() for g in self.gaps],
        }


def per_query_energy(
    view: RunView,
    *,
    policy: str = "active",
    idle_baseline: str = "none",
    devices: list[str] | str | None = None,
) -> EnergyAttribution:
    """Attribute each device's energy to the measured queries under ``policy``."""
    policy = choice_option("policy", policy, POLICIES)
    idle_baseline = choice_option("idle_baseline", idle_baseline, IDLE_BASELINES)
    act = activity_of(view)
    n_meas = act.n_measured
    measured_records = act.records[:n_meas]
    qids = [r.query_id for r in measured_records]
    none_q: dict[int, float | None] = {q: None for q in qids}
    window = act.measured_window()
    span = act.span()
    info: dict[str, DeviceEnergy] = {}
    curves: dict[str, EnergyCurve] = {}
    for d in select_devices(view, list_option(devices)):
        trace = view.power[d]
        curve = build_curve(trace, span)
        t = trace.t_ns
        info[d] = DeviceEnergy(
            device=d,
            device_type=device_type_of(view, d),
            source=trace.source,
            method=curve.method if curve else None,
            samples=len(t),
            span_s=(int(t[-1]) - int(t[0])) / 1e9 if len(t) else None,
            note=None if curve else "fewer than two usable samples: not used",
        )
        if curve is not None:
            curves[d] = curve
    choose_total(view, info)
    total_ids = [d for d in sorted(info) if info[d].in_total]
    result = EnergyAttribution(
        policy=policy,
        idle_baseline=idle_baseline,
        measured=bool(total_ids),
        record_ids={r.query_id: r.record_id for r in measured_records},
        energy_j=dict(none_q),
        prefill_energy_j=dict(none_q),
        decode_energy_j=dict(none_q),
        energy_complete={q: False for q in qids},
        by_device_j={q: {} for q in qids},
        devices=info,
        window_ns=window,
        active_s=sessions_span_s(view, act.start_ns[act.measured], act.end_ns[act.measured]),
        provenance=weakest(info[d].source for d in total_ids),
    )
    if not result.measured:
        result.provenance = None
        return result
    if window is None or span is None:
        result.notes.append("no completed measured queries: nothing to attribute")
        return result
    bounds_q = sorted_unique(act.start_ns, act.first_ns, act.end_ns)
    sessions = session_windows_ns(view, act.start_ns[act.measured], act.end_ns[act.measured])
    tokens = token_columns(act) if policy == "tokens" else None
    totals = dict.fromkeys(("total", "idle", "busy", "baseline", "bound"), 0.0)
    query_j = np.zeros(n_meas)
    query_bound_j = np.zeros(n_meas)
    prefill_j = np.zeros(n_meas)
    short: list[str] = []  # devices in the total with a session window no reading measured
    gaps: list[Gap] = []
    lost = telemetry_gaps(view, span)
    for d, curve in sorted(curves.items()):
        dev = info[d]
        base_w = baseline_power_w(view.power[d], act)
        dev.baseline_power_w = base_w
        if idle_baseline == "subtract" and base_w is None:
            result.notes.append(f"{d}: idle baseline could not be estimated (no idle period); nothing subtracted")
        bounds = bounds_q
        if policy == "tokens":
            inside = curve.sample_t_ns[(curve.sample_t_ns > span[0]) & (curve.sample_t_ns < span[1])]
            bounds = sorted_unique(bounds_q, inside)
        part = split_energy(curve, act, bounds, policy, base_w if idle_baseline == "subtract" else None, tokens, window)
        e_win = curve.energy_at(np.asarray(sessions, dtype=np.int64).ravel())
        dev.energy_j = float((e_win[1::2] - e_win[0::2]).sum())  # within the capture sessions only
        spec = sensor_spec(view, d, dev.source)
        model = DeviceBounds(curve, spec, dev.source, [b.t_ns for b in view.brackets if b.device == d])
        dev.sensor = spec.to_dict()
        result.curves[d] = (curve, model)
        dev.readings_in_window = sum(model.readings_in(a, b) for a, b in sessions)
        dev.edges_bracketed = all(model.bracketed(a) and model.bracketed(b) for a, b in sessions)
        dev.energy_j_bound = sum(model.window_j(a, b, float(e_b - e_a))
                                 for (a, b), e_a, e_b in zip(sessions, e_win[0::2], e_win[1::2]))
        if not all(model.measured(a, b) for a, b in sessions):
            dev.energy_j = dev.energy_j_bound = None
            dev.note = NOT_MEASURED_SHORT
            if dev.in_total:
                short.append(d)
            continue
        q_bound = query_bounds_j(model, act, bounds, policy)[:n_meas] + spec.model_error_fraction * np.abs(
            part.query_j[:n_meas])
        for qi, qid in enumerate(qids):
            result.by_device_j[qid][d] = float(part.query_j[qi])
        gaps.extend(sample_gaps(curve, span))
        if dev.source != "imported":  # an imported trace never went through the energy monitor
            gaps.extend(Gap(d, a, b, "telemetry_lost") for a, b in lost)
        if not dev.in_total:
            continue
        query_j += part.query_j[:n_meas]
        query_bound_j += q_bound
        prefill_j += part.prefill_j[:n_meas]
        totals["total"] += dev.energy_j
        totals["bound"] += dev.energy_j_bound
        totals["idle"] += part.idle_j
        totals["busy"] += part.busy_j
        totals["baseline"] += part.baseline_j
    gaps.sort(key=lambda g: (g.device, g.start_ns, g.end_ns, g.reason))
    result.gaps = gaps
    if short:  # the run fell between two readings of a device it sums: no number, never 0 J
        result.measured, result.provenance, result.not_measured_reason = False, None, NOT_MEASURED_SHORT
        result.notes.append(f"{NOT_MEASURED_SHORT} ({', '.join(short)}: no reading inside the window, no bracket read)")
        return result
    complete = np.ones(n_meas, dtype=bool)
    starts, ends = act.start_ns[:n_meas], act.end_ns[:n_meas]
    for g in gaps:
        if info[g.device].in_total:
            complete &= ~((starts < g.end_ns) & (ends > g.start_ns))
    has_first = act.has_first[:n_meas]
    for qi, qid in enumerate(qids):
        result.energy_j[qid] = float(query_j[qi])
        result.energy_j_bound[qid] = float(query_bound_j[qi])
        result.energy_complete[qid] = bool(complete[qi])
        if has_first[qi]:
            result.prefill_energy_j[qid] = float(prefill_j[qi])
            result.decode_energy_j[qid] = float(query_j[qi] - prefill_j[qi])
    attributed = float(query_j.sum())
    result.total_energy_j = totals["total"]
    result.total_energy_j_bound = totals["bound"]
    result.attributed_energy_j = attributed
    result.idle_energy_j = totals["idle"]
    result.baseline_energy_j = totals["baseline"] if idle_baseline == "subtract" else None
    result.excluded_energy_j = None if policy == "window" else totals["busy"] - attributed
    return result


class EnergyProjection:
    """Per-query joules; options: ``policy``, ``idle_baseline``, ``devices``."""

    analysis_id = "energy"

    def compute(self, view: RunView, options: dict[str, Any]) -> dict[str, Any]:
        from .intensity import CARBON_OPTION, carbon_intensity, co2_g, output_token_energy

        check_options(self.analysis_id, options, (*ENERGY_OPTIONS, CARBON_OPTION))
        g_per_kwh = carbon_intensity(options)
        attribution = per_query_energy(
            view,
            policy=options.get("policy", "active"),
            idle_baseline=options.get("idle_baseline", "none"),
            devices=options.get("devices"),
        )
        from .overhead import overhead_of
        from .steady_state import steady_energy, steady_state

        result = attribution.to_dict()
        # energy per output token (see ipw.analyses.intensity); co2 only when an intensity is given
        for row in result["per_query"]:
            row["completion_tokens"] = view.queries[row["query_id"]].completion_tokens
            if g_per_kwh is not None:
                row["co2_g"] = co2_g(row["energy_j"], g_per_kwh)
        per_token = output_token_energy((r["energy_j"], r["completion_tokens"]) for r in result["per_query"])
        result["joules_per_output_token"] = finite(per_token["joules_per_output_token"])
        result["output_tokens_per_joule"] = finite(per_token["output_tokens_per_joule"])
        if g_per_kwh is not None:
            result["carbon_intensity_g_per_kwh"] = g_per_kwh
            result["co2_g"] = finite(co2_g(result["total_energy_j"], g_per_kwh))
            result["co2_g_per_query"] = finite(co2_g(result["mean_energy_per_query_j"], g_per_kwh))
        result["measurement_overhead"] = overhead_of(view, attribution)
        result["steady_state"] = steady_energy(view, attribution, steady_state(view))
        result["options"] = applied_options(self.analysis_id, (*ENERGY_OPTIONS, CARBON_OPTION),
                                            {**energy_options_applied(attribution, options), CARBON_OPTION: g_per_kwh})
        return result
