"""The HTML report: one self-contained file for a run, a pair of runs (the diff), or a study.

Three or more runs are laid out like the cells of a study.

:func:`report_html` decides which from its arguments: one run folder, two run
folders, or one study folder (``study.json`` + ``runs/<cell>/``). Every number
comes from a projection (the summary, the query rows of the reports, the
diff); this module only lays them out. See :mod:`ipw.reports.html_page` for
how numbers are marked up so that a test can read them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..replay.engine import RunView
from . import html_page as h
from ._metrics import QueryRow, load_views, query_rows, run_label, run_labels
from .html_figures import latency_overlay_png, latency_png, pareto_png, power_overlay_png, visualization_png
from .html_benchmarks import run_benchmarks
from .html_study import study_body
from .html_tasks import task_diff_section, tasks_section
from .html_validity import validity_section
from .labels import label
from .study_file import is_study
from .study_table import runs_table, study_table

__all__ = ["report_html", "SUMMARY_ROWS"]

# the summary metrics shown for a run, in this order (others in the summary follow)
SUMMARY_ROWS = (
    "accuracy", "correct", "incorrect", "unevaluated", "queries_measured", "intelligence_per_watt",
    "intelligence_per_joule", "mean_power_w", "mean_energy_per_query_j", "total_energy_j", "joules_per_output_token",
    "output_tokens_per_joule", "co2_g", "co2_g_per_query", "ttft_p50_s", "ttft_p90_s", "e2e_mean_s", "e2e_p90_s",
    "throughput_tokens_per_s", "completion_tokens_total",
)
_ANSWER_CHARS = 400


def _summary(view: RunView, options: dict[str, Any]) -> dict[str, Any]:
    from ..analyses.summary import SummaryProjection

    return SummaryProjection().compute(view, options)


def _energy_options(options: dict[str, Any]) -> dict[str, Any]:
    from ._metrics import ENERGY_OPTIONS

    return {k: v for k, v in options.items() if k in ENERGY_OPTIONS}


def _summary_table(summary: dict[str, Any], scope: str = "") -> str:
    metrics = summary["metrics"]
    names = [n for n in SUMMARY_ROWS if n in metrics] + [n for n in metrics if n not in SUMMARY_ROWS]
    rows = [h.label_cell(n, label(n)) + h.metric_cell(n, metrics[n], scope=scope) for n in names]
    return h.table(["Metric", "Value"], rows, table_id=f"summary{'-' + scope if scope else ''}")


def _verdict_cell(value: bool | None) -> str:
    if value is None:
        return '<td class="na" data-field="verdict" data-value="" data-sort="">unjudged</td>'
    css, text = ("ok", "correct") if value else ("bad", "incorrect")
    return f'<td class="{css}" data-field="verdict" data-value="{text}" data-sort="{int(value)}">{text}</td>'


def _query_table(view: RunView, rows: list[QueryRow]) -> str:
    body = []
    for r in rows:
        answer = view.queries[r.query_id].text
        shown = answer if len(answer) <= _ANSWER_CHARS else answer[:_ANSWER_CHARS] + "…"
        body.append(
            f'<td class="num" data-field="query_id" data-value="{r.query_id}" data-sort="{r.query_id}">{r.query_id}</td>'
            + h.value_cell(r.record_id, field="record_id", css="")
            + f'<td class="answer" data-field="answer" title="{h.esc(answer)}">{h.esc(shown)}</td>'
            + _verdict_cell(r.is_correct)
            + h.value_cell(r.energy_j, field="energy_j", unit="J")
            + h.value_cell(r.ttft_s, field="ttft_s", unit="s")
            + h.value_cell(r.e2e_s, field="e2e_s", unit="s")
            + h.value_cell(r.completion_tokens, field="completion_tokens")
        )
    headers = ["Query", "Record", "Answer", "Verdict", (label("energy_j"), "energy_j"), (label("ttft_s"), "ttft_s"),
               (label("e2e_s"), "e2e_s"), (label("completion_tokens"), "completion_tokens")]
    return h.table(headers, body, sortable=True, table_id="queries")


def _run_body(view: RunView, options: dict[str, Any]) -> tuple[str, str]:
    from .plots import power_timeline

    summary = _summary(view, options)
    rows = query_rows(view, judge=options.get("judge"), energy_options=_energy_options(options))
    header = (f"model {summary.get('model')} · client {summary.get('client')} · dataset {summary.get('dataset')} · "
              f"judge {summary.get('judge') or 'none'} · run {summary.get('run_id')}")
    parts = [
        h.section("Summary", h.notes(summary.get("notes", [])) + _summary_table(summary), section_id="summary-section"),
        validity_section(summary.get("validity")),
        run_benchmarks(summary.get("by_benchmark") or {}),
        tasks_section(view, _energy_options(options), run_label(view)),
        h.section("Power", "".join(
            h.figure(png, "power per device over time; queries in flight shaded", figure_id="power-timeline")
            for png in visualization_png(power_timeline, [view], _energy_options(options))
        )),
        h.section("Latency", h.figure(latency_png(rows), "TTFT and end-to-end latency per query",
                                      figure_id="latency")),
        h.section(f"Queries ({len(rows)} measured)", "<p class=\"sub\">click a column to sort</p>"
                  + _query_table(view, rows)),
    ]
    return header, "".join(parts)


def _side_by_side(a: dict[str, Any], b: dict[str, Any]) -> str:
    names = [n for n in SUMMARY_ROWS if n in a["metrics"] or n in b["metrics"]]
    names += [n for n in {**a["metrics"], **b["metrics"]} if n not in names]
    missing = {"value": None, "unit": None, "provenance": None}
    rows = [h.label_cell(n, label(n)) + h.metric_cell(n, a["metrics"].get(n, missing), scope="a")
            + h.metric_cell(n, b["metrics"].get(n, missing), scope="b") for n in names]
    return h.table(["Metric", "A", "B"], rows, table_id="summaries")


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4g}"


def _diff_body(view_a: RunView, view_b: RunView, options: dict[str, Any]) -> str:
    from .diff import diff_runs
    from .plots import accuracy_energy

    result = diff_runs(view_a, view_b, judge=options.get("judge"), energy_options=_energy_options(options) or None)
    labels = (f"A: {run_label(view_a)}", f"B: {run_label(view_b)}")
    rows_a, rows_b = (query_rows(v, judge=options.get("judge"), energy_options=_energy_options(options))
                      for v in (view_a, view_b))
    rows = []
    for key, d in result["deltas"].items():
        ci = f"[{_signed(d['ci_low'])}, {_signed(d['ci_high'])}]" if d["ci_low"] is not None else "—"
        rows.append(
            h.label_cell(key, label(key))
            + h.value_cell(d["a"], field=f"{key}.a") + h.value_cell(d["b"], field=f"{key}.b")
            + f'<td class="num" data-delta="{h.esc(key)}" data-value="{h.esc(h.data_value(d["delta"]))}" '
              f'data-ci-low="{h.esc(h.data_value(d["ci_low"]))}" data-ci-high="{h.esc(h.data_value(d["ci_high"]))}">'
              f"{h.esc(_signed(d['delta']))}</td>"
            + f"<td class=\"num\">{h.esc(ci)}</td><td>{h.esc(d['method'] or '')}</td><td>{h.esc(d['note'] or '')}</td>"
        )
    flips = result["accuracy_flips"]
    flip_text = (f"{flips['shared_records']} shared records, {flips['compared']} judged in both: "
                 f'<span class="bad" data-field="n_right_to_wrong">{flips["n_right_to_wrong"]}</span> right→wrong, '
                 f'<span class="ok" data-field="n_wrong_to_right">{flips["n_wrong_to_right"]}</span> wrong→right, '
                 f"{flips['unchanged']} unchanged")
    changed = [f"<td>{h.esc(c['key'])}</td><td>{h.esc(c['a'])}</td><td>{h.esc(c['b'])}</td>"
               for block in ("config", "hardware", "devices") for c in result[block]]
    return "".join([
        h.section("Deltas (B − A, bootstrap 95% intervals)", h.notes(result.get("notes", [])) + h.table(
            ["Metric", "A", "B", "Delta (B − A)", "95% CI", "Method", "Note"], rows, table_id="deltas")),
        h.section("Accuracy flips", f"<p>{flip_text}</p>"),
        task_diff_section(result.get("tasks")),
        h.section("Summaries", _side_by_side(_summary(view_a, options), _summary(view_b, options))),
        h.section("Latency, A and B overlaid", h.figure(
            latency_overlay_png(labels, (rows_a, rows_b)), "TTFT and end-to-end latency per query, both runs on "
            "shared bins", figure_id="latency-overlay")),
        h.section("Power, A and B overlaid", h.figure(
            power_overlay_png(labels, (view_a, view_b)), "power per device over time, both runs from their first "
            "sample", figure_id="power-overlay")),
        h.section("Accuracy vs energy", "".join(h.figure(png, "accuracy against energy per query, both runs")
                                               for png in visualization_png(accuracy_energy, [view_a, view_b],
                                                                            options))),
        h.section("What differs", h.table(["Key", "A", "B"], changed) if changed else "<p>config, hardware and devices are identical</p>"),
    ])


def _routing(study_dir: Path, options: dict[str, Any]) -> str:
    """The study's routing section, or the one line saying why it has none (fewer than two comparable cells)."""
    from .html_routing import routing_section
    from .routing_outputs import study_routing

    try:
        return routing_section(study_routing(study_dir, options))
    except UsageError as exc:
        return routing_section(exc.one_line())


def report_html(paths: list[Path], options: dict[str, Any] | None = None) -> str:
    """The report for one run, two runs (their diff) or one study folder, as one HTML document."""
    options = dict(options or {})
    paths = [Path(p) for p in paths]
    generator = f"ipw {__version__}"
    if len(paths) == 1 and is_study(paths[0]):
        table = study_table(paths[0], options)
        return h.page(f"Study {paths[0].name}", f"{len(table.rows)} cells · {paths[0]}",
                      study_body(table, pareto_png(table), _routing(paths[0], options)), kind="study",
                      generator=generator)
    if any(is_study(p) for p in paths):
        raise UsageError("a study folder is reported on its own", hint="pass the study folder alone: ipw report STUDY")
    views = load_views(paths)
    if len(views) == 1:
        subtitle, body = _run_body(views[0], options)
        return h.page(f"Run {run_label(views[0])}", subtitle, body, kind="run", generator=generator)
    if len(views) == 2:
        a, b = (run_label(v) for v in views)
        return h.page(f"{b} vs {a}", f"A = {a} · B = {b}", _diff_body(views[0], views[1], options),
                      kind="diff", generator=generator)
    # three or more runs: a leaderboard, as for the cells of a study
    table = runs_table(views, run_labels(views), options)
    return h.page(f"{len(views)} runs", " · ".join(r.cell for r in table.rows), study_body(table, pareto_png(table)),
                  kind="study", generator=generator)
