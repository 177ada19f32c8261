"""Per-query numbers the reports share: energy, latency, correctness, run labels.

Energy, latency and accuracy come from the analyses (so a plot and
``ipw replay`` never disagree); token counts are read straight off each
:class:`~ipw.replay.engine.QueryRecord`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analyses.energy import ENERGY_OPTIONS
from ..analyses.latency import per_query_latency
from ..errors import UsageError
from ..replay.engine import RunView, load_run

__all__ = [
    "ENERGY_OPTIONS",
    "QueryRow",
    "load_views",
    "damage_notes",
    "run_label",
    "run_labels",
    "config_name",
    "energy_by_query",
    "energy_note",
    "judged",
    "query_rows",
]


@dataclass(frozen=True)
class QueryRow:
    """The numbers of one measured (completed, non-warmup) query."""

    query_id: int
    record_id: str
    completion_tokens: int
    prompt_tokens: int | None
    e2e_s: float | None
    ttft_s: float | None
    energy_j: float | None
    is_correct: bool | None

    @property
    def total_tokens(self) -> int | None:
        return None if self.prompt_tokens is None else self.prompt_tokens + self.completion_tokens


def load_views(run_dirs: list[Path] | tuple[Path, ...]) -> list[RunView]:
    """Replay each run directory (or Parquet export of one); at least one is required."""
    if not run_dirs:
        raise UsageError("no run directory given", hint="pass one or more run directories written by 'ipw record'")
    return [_load(Path(d)) for d in run_dirs]


def _load(path: Path) -> RunView:
    from ..ledger.parquet import is_parquet_export, read_parquet_events

    if is_parquet_export(path):  # 'ipw ledger export --format parquet': the same events, another container
        from ..replay.engine import build_view

        return build_view([read_parquet_events(path)], run_dir=path)
    return load_run(path)


def damage_notes(views: list[RunView]) -> list[str]:
    """One line per view whose ledger is damaged: results cover its valid prefix only."""
    return [
        f"{view.run_dir}: ledger damaged ({view.problem.one_line()}); using the valid prefix"
        for view in views
        if view.problem is not None
    ]


def config_name(view: RunView, key: str) -> str:
    """A config entry as a short string: ``model``, ``client`` or ``dataset``.

    Capture may store a bare id or a mapping with ``id``/``name``/``model``.
    """
    value = view.config.get(key)
    if isinstance(value, dict):
        for field in ("id", "name", key, "model", "path"):
            inner = value.get(field)
            if isinstance(inner, (str, int, float)) and str(inner):
                return str(inner)
        return ""
    return "" if value is None else str(value)


def run_label(view: RunView) -> str:
    """``<run name> (<model>)``: what a legend or a table row calls a run."""
    name = view.run_dir.name if view.run_dir is not None else view.run_id
    model = config_name(view, "model")
    return f"{name} ({model})" if model and model not in name else name or view.run_id or "run"


def run_labels(views: list[RunView]) -> list[str]:
    """Labels for several runs, made unique with a ``#n`` suffix where two coincide."""
    labels = [run_label(v) for v in views]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        n = seen.get(label, 0) + 1
        seen[label] = n
        out.append(label if labels.count(label) == 1 else f"{label} #{n}")
    return out


def file_stem(label: str) -> str:
    """A label made safe to use in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "run"


def energy_by_query(view: RunView, options: dict[str, Any] | None = None) -> dict[int, float] | None:
    """Joules attributed to each measured query, or None when the run has no energy data.

    ``options`` may carry ``policy``, ``idle_baseline`` and ``devices``, passed
    to :func:`ipw.analyses.energy.per_query_energy`.
    """
    from ..analyses.energy import per_query_energy

    opts = options or {}
    kwargs = {k: opts[k] for k in ENERGY_OPTIONS if opts.get(k) is not None}
    result = per_query_energy(view, **kwargs)
    if not result.measured:
        return None
    out = {int(qid): float(j) for qid, j in result.energy_j.items() if j is not None and math.isfinite(j)}
    return out or None


def energy_note(view: RunView) -> str:
    """Why a run has no per-query energy."""
    if not view.power:
        return "no power samples were recorded (captured with --energy none, or no collector could read a device)"
    return "power samples exist but none could be attributed to a measured query"


def judged(view: RunView, judge: str | None) -> tuple[str | None, dict[int, bool | None], dict[str, Any]]:
    """The judge used, each query's latest verdict under it, and the accuracy counts.

    The judge is the one :func:`ipw.analyses.accuracy.accuracy_counts` picks
    when ``judge`` is None, so every report agrees with ``ipw replay``.
    """
    from ..analyses.accuracy import accuracy_counts

    by_judge = view.verdicts_by_judge()
    if judge is not None and judge not in by_judge:
        known = ", ".join(sorted(by_judge)) or "none"
        raise UsageError(
            f"{view.run_dir or view.run_id} has no verdicts from judge '{judge}'",
            hint=f"judges with verdicts in this run: {known}",
        )
    counts = dict(accuracy_counts(view, judge=judge))
    chosen = counts.get("judge") or judge
    verdicts = by_judge.get(chosen, {}) if chosen else {}
    return chosen, {qid: v.is_correct for qid, v in verdicts.items()}, counts


def query_rows(
    view: RunView,
    *,
    judge: str | None = None,
    energy_options: dict[str, Any] | None = None,
    with_energy: bool = True,
    with_verdicts: bool = True,
) -> list[QueryRow]:
    """One :class:`QueryRow` per measured query, in query-id order."""
    energy = energy_by_query(view, energy_options) if with_energy else None
    correct = judged(view, judge)[1] if with_verdicts else {}
    rows = []
    for qid, latency in per_query_latency(view).items():
        rows.append(
            QueryRow(
                query_id=qid,
                record_id=latency["record_id"],
                completion_tokens=latency["completion_tokens"],
                prompt_tokens=latency["prompt_tokens"],
                e2e_s=latency["e2e_s"],
                ttft_s=latency["ttft_s"],
                energy_j=energy.get(qid) if energy else None,
                is_correct=correct.get(qid),
            )
        )
    return rows
