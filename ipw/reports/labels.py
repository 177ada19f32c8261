"""What a metric is called where people read it: words and a unit, never the snake_case key.

``LABELS`` holds every metric name ipw shows (the summary's, the diff's deltas,
the study table's columns) once; :func:`label` falls back to words made from
the key, with the unit its suffix names (``_j`` → J, ``_s`` → s, ``_w`` → W).
Every label ends in a unit in parentheses, so a reader never guesses whether
a number is joules or kilojoules, a share or a percentage.
"""

from __future__ import annotations

import re

__all__ = ["LABELS", "label", "param_label"]

LABELS: dict[str, str] = {
    # accuracy and counts
    "accuracy": "Accuracy (fraction)",
    "accuracy_ci_low": "Accuracy 95% low (fraction)",
    "accuracy_ci_high": "Accuracy 95% high (fraction)",
    "correct": "Correct (queries)",
    "incorrect": "Incorrect (queries)",
    "unevaluated": "Unevaluated (queries)",
    "decided": "Decided (queries)",
    "queries": "Queries measured (queries)",
    "queries_measured": "Queries measured (queries)",
    "queries_truncated": "Queries truncated (queries)",
    # energy and power
    "intelligence_per_watt": "Intelligence per watt (1/W)",
    "intelligence_per_joule": "Intelligence per joule (1/J)",
    "mean_power_w": "Mean power (W)",
    "mean_energy_per_query_j": "Energy per query (J)",
    "joules_per_correct": "Energy per correct answer (J)",
    "joules_per_correct_within_slo": "Energy per correct answer within the SLO (J)",
    "slo_attainment": "SLO attainment (fraction of queries)",
    "goodput_queries_per_s": "Goodput (queries within the SLO/s)",
    "goodput_level": "Goodput level (highest concurrency or request rate meeting the SLO target)",
    "energy_per_query_j": "Energy per query (J)",
    "total_energy_j": "Total energy (J)",
    "idle_energy_j": "Idle energy (J)",
    "joules_per_output_token": "Energy per output token (J/token)",
    "output_tokens_per_joule": "Output tokens per joule (tokens/J)",
    "energy_provenance": "Energy source (provenance)",
    "valid": "Valid (every validity check passed: yes, no, unknown)",
    "validity_failures": "Failed validity checks (names)",
    "co2_g": "CO₂ (g)",
    "co2_g_per_query": "CO₂ per query (g)",
    "measurement_overhead_cpu_s": "ipw's own CPU time (s)",
    "measurement_overhead_cpu_share": "ipw's share of CPU time (fraction)",
    "measurement_overhead_energy_j": "ipw's own energy (J)",
    # latency and tokens
    "ttft_mean_s": "TTFT mean (s)",
    "ttft_p50_s": "TTFT p50 (s)",
    "ttft_p90_s": "TTFT p90 (s)",
    "ttft_p99_s": "TTFT p99 (s)",
    "ttft_s": "Time to first token (s)",
    "tpot_mean_s": "Time per output token, mean (s)",
    "itl_p50_s": "Inter-token latency p50 (s)",
    "e2e_mean_s": "End-to-end mean (s)",
    "e2e_p50_s": "End-to-end p50 (s)",
    "e2e_p90_s": "End-to-end p90 (s)",
    "e2e_p99_s": "End-to-end p99 (s)",
    "e2e_s": "End-to-end latency (s)",
    "latency_e2e_s": "End-to-end latency (s)",
    "throughput_tokens_per_s": "Throughput (tokens/s)",
    "completion_tokens_total": "Output tokens (tokens)",
    "completion_tokens": "Output tokens (tokens)",
    "prompt_tokens_total": "Prompt tokens (tokens)",
    "energy_j": "Energy (J)",
    # routing across the cells of a study (ipw.reports.routing)
    "records": "Records (records)",
    "total_energy_j_bound": "Total energy bound (± J)",
    "intelligence_per_joule_ci_low": "Intelligence per joule 95% low (1/J)",
    "intelligence_per_joule_ci_high": "Intelligence per joule 95% high (1/J)",
    "energy_saved_vs_best_j": "Energy saved vs the best single cell (J)",
    "energy_saved_vs_best_fraction": "Energy saved vs the best single cell (fraction)",
    "coverage": "Coverage (fraction)",
    # an agent's tasks (ipw.analyses.tasks)
    "n_tasks": "Tasks (tasks)",
    "n_solved": "Tasks solved (tasks)",
    "success_rate": "Task success rate (fraction of tasks)",
    "joules_per_task": "Energy per task (J)",
    "joules_per_solved_task": "Energy per solved task (J)",
    "tasks_mean_power_w": "Mean power over the tasks' wall time (W)",
    "tasks_intelligence_per_watt": "Intelligence per watt, tasks as the unit (1/W)",
    "turns": "Turns (turns)",
    "turns_per_task": "Turns per task (turns)",
    "calls": "Model calls (calls)",
    "tool_calls": "Tool calls (calls)",
    "prompt_tokens": "Prompt tokens (tokens)",
    "wall_s": "Wall time (s)",
    "model_s": "Model time (s)",
    "tool_s": "Tool time (s)",
    "overhead_s": "Overhead time (s)",
    "tool_cpu_s": "Tools' CPU time (s)",
    "model_energy_j": "Model energy (J)",
    "tools_energy_j": "Tools' energy (J)",
}

_SUFFIX_UNITS = (("_per_s", "1/s"), ("_j", "J"), ("_s", "s"), ("_w", "W"), ("_ns", "ns"), ("_g", "g"),
                 ("_bytes", "bytes"), ("_tokens", "tokens"))


def label(name: str) -> str:
    """``name``'s label with its unit: the declared one, else words from the key and the unit of its suffix."""
    if name in LABELS:
        return LABELS[name]
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{_words(name[: -len(suffix)])} ({unit})"
    return f"{_words(name)} (value)"


def param_label(key: str) -> str:
    """A study axis (``gen_param.max_tokens``) as words: ``Max tokens (gen param)``."""
    head, _, leaf = key.rpartition(".")
    return f"{_words(leaf)} ({_words(head).lower()})" if head else _words(leaf)


def _words(key: str) -> str:
    text = re.sub(r"[_.\s]+", " ", key).strip()
    return text[:1].upper() + text[1:] if text else key
