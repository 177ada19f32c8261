"""The run summary (:mod:`ipw.analyses.summary`) as a small aligned table for the terminal."""

from __future__ import annotations

from typing import Any

from ..analyses.summary import METRIC_ORDER
from .tables import format_table

__all__ = ["format_summary"]


_LABELS = {"measurement_overhead_cpu_s": "measurement overhead (ipw CPU)",
           "measurement_overhead_cpu_share": "measurement overhead (share of CPU)",
           "measurement_overhead_energy_j": "measurement overhead (energy)",
           "ttft_mean_s": "TTFT mean", "ttft_p50_s": "TTFT p50", "ttft_p90_s": "TTFT p90", "tpot_mean_s": "TPOT mean",
           "itl_p50_s": "ITL p50", "e2e_mean_s": "end-to-end mean", "e2e_p90_s": "end-to-end p90"}


def _label(name: str) -> str:
    """``mean_power_w`` → ``mean power``: the unit has its own column."""
    for suffix in ("_per_s", "_j", "_w", "_s"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ")


def _show(value: Any) -> str | None:
    if value is None:
        return None  # format_table's "—"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_summary(result: dict[str, Any]) -> str:
    """The summary as a small aligned table for the terminal."""
    head = [("run", result.get("run_id")), ("model", result.get("model")), ("client", result.get("client")),
            ("dataset", result.get("dataset")), ("judge", result.get("judge"))]
    rows = []
    metrics = result.get("metrics", {})
    names = [n for n in METRIC_ORDER if n in metrics] + sorted(set(metrics) - set(METRIC_ORDER))
    for name in names:
        metric = metrics[name]
        label = _LABELS.get(name) or _label(name)
        shown = _show(metric["value"])
        if shown is not None and metric.get("bound") is not None:
            shown += f" ± {metric['bound']:.2g}" + (" (over 5 %)" if metric.get("uncertain") else "")
        elif shown is None and metric.get("not_measured"):
            shown = metric["not_measured"]
        rows.append((label, shown, metric["unit"] or "", metric["provenance"] or ""))
    label_w = max(len(r[0]) for r in rows + [("metric",)] + [(h[0],) for h in head])
    lines = [f"{k:<{label_w}}  {_show(v)}" for k, v in head if v is not None]
    lines.extend(_validity_lines(result.get("validity")))  # before the figures it vouches for
    lines.append("")
    lines.append(format_table(("metric", "value", "unit", "provenance"), rows, align="<><<", rule=False))
    lines.extend(f"note: {n}" for n in result.get("notes", []))
    return "\n".join(lines)


def _threshold(check: dict[str, Any]) -> str:
    t = check.get("threshold")
    if isinstance(t, dict):  # power_in_range: idle to TDP
        low, high = (_show(t.get("min_w")) or "?"), (_show(t.get("max_w")) or "?")
        return f"{low} to {high} {check.get('unit') or ''}".rstrip()
    return f"at least {_show(t)} {check.get('unit') or ''}".rstrip() if t is not None else ""


def _validity_lines(validity: dict[str, Any] | None) -> list[str]:
    """The validity block (see :mod:`ipw.analyses.validity`): the verdict, then one row per check."""
    if not validity:
        return []
    verdict = {True: "valid: every check passed", False: f"NOT VALID: failed {', '.join(validity['failures'])}",
               None: f"validity unknown: could not evaluate {', '.join(validity['unknown'])}"}[validity["valid"]]
    rows = []
    for c in validity["checks"]:
        name = c["check"] + (f"[{c['device']}]" if c.get("device") else "")
        value = _show(c["value"])
        rows.append((name, c["status"].upper() if c["status"] == "fail" else c["status"],
                     f"{value} {c.get('unit') or ''}".rstrip() if value is not None else None,
                     _threshold(c), c.get("reason") or ""))
    table = format_table(("check", "status", "measured", "threshold", "why"), rows, align="<<><<", rule=False)
    return ["", f"validity: {verdict}", table]
