"""Comparing two runs: what changed, which answers flipped, and by how much.

:func:`diff_runs` is a pure function of two RunViews. Deltas are B − A with a
percentile bootstrap 95 % interval: paired over the dataset records both runs
answered (``record_id``) when those cover at least half of the smaller run,
otherwise the two runs are resampled independently. The same seed gives the
same intervals. When both runs have agent tasks, ``tasks`` compares them
(:mod:`ipw.reports.task_diff`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..replay.engine import RunView
from ._metrics import ENERGY_OPTIONS, QueryRow, energy_note, judged, query_rows, run_label
from .deltas import bootstrap_delta, natural_key, outcome_flips, ratio_interval
from .tables import format_cell, format_table

__all__ = ["diff_runs", "format_diff", "flatten", "dict_differences", "mean_delta", "signed_text"]

_METRICS = (
    ("accuracy", "accuracy", lambda r: None if r.is_correct is None else float(r.is_correct)),
    ("energy_per_query_j", "energy per query (J)", lambda r: r.energy_j),
    ("latency_e2e_s", "end-to-end latency (s)", lambda r: r.e2e_s),
    ("ttft_s", "time to first token (s)", lambda r: r.ttft_s),
)
# ratios of sums over queries (ipw.analyses.intensity): key, title, numerator/denominator of each row
_RATIOS = (
    ("joules_per_output_token", "energy per output token (J)", lambda r: r.energy_j, lambda r: r.completion_tokens),
    ("output_tokens_per_joule", "output tokens per joule", lambda r: r.completion_tokens, lambda r: r.energy_j),
)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as ``{"a.b[0].c": leaf}``; empty containers are leaves."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict) and obj:
        for key in obj:
            out.update(flatten(obj[key], f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(obj, (list, tuple)) and obj:
        for i, item in enumerate(obj):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = list(obj) if isinstance(obj, tuple) else obj
    return out


def dict_differences(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Key paths whose values differ: ``{"key", "a", "b", "status"}`` with status changed/only_a/only_b."""
    fa, fb = flatten(a), flatten(b)
    out = []
    for key in sorted(set(fa) | set(fb)):
        if key in fa and key in fb:
            if fa[key] != fb[key]:
                out.append({"key": key, "a": fa[key], "b": fb[key], "status": "changed"})
        elif key in fa:
            out.append({"key": key, "a": fa[key], "b": None, "status": "only_a"})
        else:
            out.append({"key": key, "a": None, "b": fb[key], "status": "only_b"})
    return out


_DATA_KEYS = (".hub.revision", ".hub.files.", ".package.sha256")  # where a dataset's description pins its data


def data_differs(config_diffs: list[dict[str, Any]]) -> bool:
    """Whether two runs read different data: a Hub revision, a file's hash or a packaged file differ."""
    return any(d["key"].startswith("dataset_info.") and any(k in d["key"] + "." for k in _DATA_KEYS)
               for d in config_diffs)


def _by_record(rows: list[QueryRow]) -> dict[str, QueryRow]:
    # the latest query of each record stands for it (a record asked twice keeps its last answer)
    return {r.record_id: r for r in rows if r.record_id}


def mean_delta(
    rows_a: list[QueryRow], rows_b: list[QueryRow], getter: Any, *, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """mean(B) − mean(A) of ``getter`` over rows with a ``record_id``, its interval paired when pairs cover half."""
    rec_a, rec_b = _by_record(rows_a), _by_record(rows_b)
    pairs = [
        (getter(rec_a[k]), getter(rec_b[k]))
        for k in sorted(set(rec_a) & set(rec_b), key=natural_key)
        if getter(rec_a[k]) is not None and getter(rec_b[k]) is not None
    ]
    va = np.array([v for v in map(getter, rows_a) if v is not None], dtype=np.float64)
    vb = np.array([v for v in map(getter, rows_b) if v is not None], dtype=np.float64)
    paired = len(pairs) >= max(2, 0.5 * min(len(va), len(vb)))
    if paired:
        va = np.array([p[0] for p in pairs], dtype=np.float64)
        vb = np.array([p[1] for p in pairs], dtype=np.float64)
    out: dict[str, Any] = {
        "a": None, "b": None, "delta": None, "delta_percent": None, "ci_low": None, "ci_high": None,
        "method": "paired" if paired else "unpaired", "n_a": int(len(va)), "n_b": int(len(vb)),
        "n_pairs": len(pairs) if paired else 0, "note": None,
    }
    if len(va) == 0 or len(vb) == 0:
        out["note"] = "no values in " + ("either run" if len(va) == len(vb) else ("run A" if len(va) == 0 else "run B"))
        return out
    mean_a, mean_b = float(va.mean()), float(vb.mean())
    out.update(a=mean_a, b=mean_b, delta=mean_b - mean_a)
    if mean_a != 0:
        out["delta_percent"] = 100.0 * (mean_b - mean_a) / abs(mean_a)
    ci = bootstrap_delta(va, vb, paired=paired, n_boot=n_boot, rng=rng)
    if ci is None:
        out["note"] = "too few values for a confidence interval (need two per run)"
    else:
        out["ci_low"], out["ci_high"] = ci
    return out


def _ratio_of_sums(num: np.ndarray, den: np.ndarray) -> float | None:
    total = float(den.sum())
    return float(num.sum()) / total if total > 0 else None


def _ratio_delta(rows_a: list[QueryRow], rows_b: list[QueryRow], num: Any, den: Any, *, n_boot: int,
                 rng: np.random.Generator) -> dict[str, Any]:
    """Like :func:`mean_delta`, for a ratio of sums (Σ num ÷ Σ den) resampled over queries."""
    from ..analyses.intensity import output_token_energy

    def usable(r: QueryRow) -> bool:  # the same queries output_token_energy keeps
        return bool(output_token_energy([(r.energy_j, r.completion_tokens)])["output_tokens"])

    rec_a, rec_b = _by_record(rows_a), _by_record(rows_b)
    keys = [k for k in sorted(set(rec_a) & set(rec_b), key=natural_key) if usable(rec_a[k]) and usable(rec_b[k])]
    side_a, side_b = [r for r in rows_a if usable(r)], [r for r in rows_b if usable(r)]
    paired = len(keys) >= max(2, 0.5 * min(len(side_a), len(side_b)))
    if paired:
        side_a, side_b = [rec_a[k] for k in keys], [rec_b[k] for k in keys]
    arrays = [(np.array([num(r) for r in side], dtype=np.float64), np.array([den(r) for r in side], dtype=np.float64))
              for side in (side_a, side_b)]
    out: dict[str, Any] = {
        "a": None, "b": None, "delta": None, "delta_percent": None, "ci_low": None, "ci_high": None,
        "method": "paired" if paired else "unpaired", "n_a": len(side_a), "n_b": len(side_b),
        "n_pairs": len(keys) if paired else 0, "note": None,
    }
    ra, rb = (_ratio_of_sums(*arrays[0]) if side_a else None), (_ratio_of_sums(*arrays[1]) if side_b else None)
    if ra is None or rb is None:
        out["note"] = "no queries with both energy and output tokens in " + ("run A" if ra is None else "run B")
        return out
    out.update(a=ra, b=rb, delta=rb - ra, delta_percent=100.0 * (rb - ra) / abs(ra) if ra else None)
    if min(len(side_a), len(side_b)) < 2 or n_boot < 1:
        out["note"] = "too few values for a confidence interval (need two per run)"
        return out
    ci = ratio_interval(arrays[0], arrays[1], paired=paired, n_boot=n_boot, rng=rng)
    if ci is not None:
        out["ci_low"], out["ci_high"] = ci
    return out


def _flips(rows_a: list[QueryRow], rows_b: list[QueryRow]) -> dict[str, Any]:
    f = outcome_flips({k: r.is_correct for k, r in _by_record(rows_a).items()},
                      {k: r.is_correct for k, r in _by_record(rows_b).items()})
    return {
        "shared_records": len(f.shared),
        "compared": len(f.shared) - f.unevaluated,
        "unevaluated": f.unevaluated,
        "unchanged": f.unchanged,
        "n_right_to_wrong": len(f.true_to_false),
        "n_wrong_to_right": len(f.false_to_true),
        "right_to_wrong": f.true_to_false,
        "wrong_to_right": f.false_to_true,
    }


def _side(view: RunView, judge: str | None, rows: list[QueryRow], energy_ok: bool) -> dict[str, Any]:
    return {
        "run_dir": str(view.run_dir) if view.run_dir is not None else None,
        "run_id": view.run_id,
        "label": run_label(view),
        "judge": judge,
        "measured_queries": len(rows),
        "has_energy": energy_ok,
        "damaged": view.problem.one_line() if view.problem is not None else None,
    }


def diff_runs(
    view_a: RunView,
    view_b: RunView,
    *,
    judge: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    energy_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare run B against run A (every delta is B − A).

    ``judge`` picks whose verdicts count in both runs; by default run A's
    accuracy judge, used for B too when B has verdicts from it.
    """
    unknown = sorted(set(energy_options or {}) - set(ENERGY_OPTIONS))
    if unknown:
        raise UsageError(
            f"unknown energy option(s) {', '.join(unknown)}",
            hint=f"the energy attribution accepts: {', '.join(ENERGY_OPTIONS)}",
        )
    if n_boot < 0:
        raise UsageError(f"n_boot must be zero or more, got {n_boot}", hint="pass e.g. --n-boot 2000")
    judge_a, _, _ = judged(view_a, judge)
    judge_b_pick = judge if judge is not None else (judge_a if judge_a in view_b.verdicts_by_judge() else None)
    judge_b, _, _ = judged(view_b, judge_b_pick)
    rows_a = query_rows(view_a, judge=judge_a, energy_options=energy_options)
    rows_b = query_rows(view_b, judge=judge_b, energy_options=energy_options)
    energy_a = any(r.energy_j is not None for r in rows_a)
    energy_b = any(r.energy_j is not None for r in rows_b)
    notes = []
    if judge_a != judge_b:
        notes.append(
            f"the runs were judged differently (A: {judge_a or 'no verdicts'}, B: {judge_b or 'no verdicts'}); "
            "accuracy compares unlike verdicts"
        )

    deltas: dict[str, Any] = {}
    for index, (key, _title, getter) in enumerate(_METRICS):
        rng = np.random.default_rng([seed, index])
        if key == "energy_per_query_j" and not (energy_a and energy_b):
            reasons = {side: energy_note(v) for side, v, ok in (("A", view_a, energy_a), ("B", view_b, energy_b)) if not ok}
            if len(reasons) == 2 and reasons["A"] == reasons["B"]:
                missing = [f"neither run has energy per query: {reasons['A']}"]
            else:
                missing = [f"run {side}: {why}" for side, why in reasons.items()]
            deltas[key] = {
                "a": None, "b": None, "delta": None, "delta_percent": None, "ci_low": None, "ci_high": None,
                "method": None, "n_a": 0, "n_b": 0, "n_pairs": 0,
                "note": "no energy comparison; " + "; ".join(missing),
            }
            continue
        deltas[key] = mean_delta(rows_a, rows_b, getter, n_boot=n_boot, rng=rng)

    for index, (key, _title, num, den) in enumerate(_RATIOS, start=len(_METRICS)):
        if energy_a and energy_b:
            deltas[key] = _ratio_delta(rows_a, rows_b, num, den, n_boot=n_boot, rng=np.random.default_rng([seed, index]))
        else:
            deltas[key] = {**deltas["energy_per_query_j"]}

    from .task_diff import task_diff  # it builds on this module's deltas

    if bool(view_a.agent_events) != bool(view_b.agent_events):
        notes.append(f"only run {'A' if view_a.agent_events else 'B'} has agent tasks: no task comparison")

    def devices(view: RunView) -> dict[str, Any]:
        return {d: f"{s.name or s.vendor or d} [{s.device_type}]" for d, s in sorted(view.devices.items())}

    return {
        "a": _side(view_a, judge_a, rows_a, energy_a),
        "b": _side(view_b, judge_b, rows_b, energy_b),
        "config": (config_diffs := dict_differences(view_a.config, view_b.config)),
        "dataset_data_differs": data_differs(config_diffs),
        "hardware": dict_differences(view_a.host, view_b.host),
        "devices": dict_differences(devices(view_a), devices(view_b)),
        "packages": dict_differences(_packages(view_a), _packages(view_b)),
        "accuracy_flips": _flips(rows_a, rows_b),
        "deltas": deltas,
        "tasks": task_diff(view_a, view_b, energy_options=energy_options, n_boot=n_boot, seed=seed),
        "bootstrap": {"n_boot": n_boot, "seed": seed, "confidence": 0.95},
        "notes": notes,
    }


def _packages(view: RunView) -> dict[str, Any]:
    return dict(view.runs_started[0].packages) if view.runs_started else {}


def signed_text(value: float | None) -> str:
    """A delta for the terminal, with its sign; empty for None."""
    if value is None:
        return ""
    text = format_cell(float(value))
    return text if text.startswith("-") else "+" + text


def _differences_block(title: str, diffs: list[dict[str, Any]], limit: int = 40) -> list[str]:
    if not diffs:
        return [f"{title}: identical"]
    rows = [[d["key"], "(absent)" if d["status"] == "only_b" else d["a"], "(absent)" if d["status"] == "only_a" else d["b"]]
            for d in diffs[:limit]]
    lines = [f"{title}: {len(diffs)} difference{'s' if len(diffs) != 1 else ''}"]
    lines += ["  " + line for line in format_table(["key", "A", "B"], rows, max_width=48).splitlines()]
    if len(diffs) > limit:
        lines.append(f"  … and {len(diffs) - limit} more (see --json)")
    return lines


def _id_list(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


def format_diff(result: dict[str, Any]) -> str:
    """The result of :func:`diff_runs` as text for a terminal."""
    a, b = result["a"], result["b"]
    lines = [
        f"A  {a['label']}  ({a['measured_queries']} measured queries, judge {a['judge'] or 'none'})",
        f"B  {b['label']}  ({b['measured_queries']} measured queries, judge {b['judge'] or 'none'})",
        "",
    ]
    for side, name in ((a, "A"), (b, "B")):
        if side.get("damaged"):
            lines.append(f"note: run {name}'s ledger is damaged; using its valid prefix ({side['damaged']})")
    lines += _differences_block("config", result["config"])
    if result.get("dataset_data_differs"):
        lines.append("dataset revision/files differ: the runs asked questions from different data")
    lines += _differences_block("hardware", result["hardware"])
    lines += _differences_block("devices", result["devices"])
    lines += _differences_block("packages", result["packages"], limit=15)
    lines.append("")

    flips = result["accuracy_flips"]
    lines.append(
        f"accuracy flips over {flips['shared_records']} shared records ({flips['compared']} judged in both): "
        f"{flips['n_right_to_wrong']} right→wrong, {flips['n_wrong_to_right']} wrong→right, {flips['unchanged']} unchanged"
    )
    if flips["right_to_wrong"]:
        lines.append(f"  right→wrong: {_id_list(flips['right_to_wrong'])}")
    if flips["wrong_to_right"]:
        lines.append(f"  wrong→right: {_id_list(flips['wrong_to_right'])}")
    lines.append("")
    from .task_diff import format_task_diff

    if result.get("tasks"):  # both runs are agent runs
        lines += format_task_diff(result["tasks"]) + [""]

    rows, notes = [], list(result.get("notes", []))
    for key, title in [(m[0], m[1]) for m in _METRICS] + [(m[0], m[1]) for m in _RATIOS]:
        d = result["deltas"].get(key)
        if d is None:  # a diff written before this metric existed
            continue
        ci = f"[{signed_text(d['ci_low'])}, {signed_text(d['ci_high'])}]" if d["ci_low"] is not None else ""
        method = d["method"] or ""
        if method == "paired":
            method = f"paired, n={d['n_pairs']}"
        elif method == "unpaired":
            method = f"unpaired, n={d['n_a']}/{d['n_b']}"
        pct = f"{d['delta_percent']:+.1f}%" if d["delta_percent"] is not None else ""
        rows.append([title, d["a"], d["b"], signed_text(d["delta"]), pct, ci, method])
        if d["note"]:
            notes.append(f"{title}: {d['note']}")
    boot = result["bootstrap"]
    lines.append(f"deltas (B − A) with bootstrap 95% intervals ({boot['n_boot']} resamples, seed {boot['seed']})")
    lines += ["  " + line for line in format_table(["metric", "A", "B", "delta", "%", "95% CI", "method"], rows).splitlines()]
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)
