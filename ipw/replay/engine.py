"""The replay engine: one pass over a ledger builds a :class:`RunView`.

Projections (``ipw.analyses``) are pure functions of a RunView and their
options. They never write to the ledger; the only things appended after
capture (verdicts, imported traces, annotations) are appended by the steps
that obtain them, before the view is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

import numpy as np

from ..errors import LedgerCorruptError
from ..events import (
    Annotation,
    DeviceSeen,
    Event,
    HarnessCpu,
    PowerSample,
    QueryFailed,
    QueryFinished,
    QueryStarted,
    RunFinished,
    RunStarted,
    TaskFinished,
    TaskStarted,
    TelemetryStatus,
    Token,
    ToolCallFinished,
    ToolCallStarted,
    Verdict,
)
from ..ledger import Columns, LedgerReader

__all__ = ["QueryRecord", "PowerTrace", "RunView", "Projection", "load_run", "build_view"]


class QueryRecord:
    """Everything the ledger says about one query.

    Token columns are kept as the numpy slices replay cut from each frame and
    joined on first use: ``t_ns_array`` / ``counts_array`` for numeric work,
    ``token_t_ns`` / ``token_counts`` / ``token_texts`` as plain lists.
    """

    __slots__ = ("query_id", "started", "finished", "failures", "_t_parts", "_n_parts", "_x_parts", "_cache")

    def __init__(self, query_id: int) -> None:
        self.query_id = query_id
        self.started: QueryStarted | None = None
        self.finished: QueryFinished | None = None
        self.failures: list[QueryFailed] = []
        self._t_parts: list[np.ndarray] = []
        self._n_parts: list[np.ndarray] = []
        self._x_parts: list[np.ndarray] = []
        self._cache: dict[str, Any] = {}

    def _add_tokens(self, t_ns: np.ndarray, counts: np.ndarray, texts: np.ndarray) -> None:
        self._t_parts.append(t_ns)
        self._n_parts.append(counts)
        self._x_parts.append(texts)
        self._cache.clear()

    def _joined(self, name: str, parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        arr = self._cache.get(name)
        if arr is None:
            if len(parts) == 1:
                arr = parts[0]
            elif parts:
                arr = np.concatenate(parts)
            else:
                arr = np.empty(0, dtype=dtype)
            self._cache[name] = arr
        return arr

    @property
    def t_ns_array(self) -> np.ndarray:
        """Token timestamps (int64 ns), in arrival order."""
        return self._joined("t", self._t_parts, np.int64)

    @property
    def counts_array(self) -> np.ndarray:
        """Model tokens per token event (int64)."""
        return self._joined("n", self._n_parts, np.int64)

    @property
    def token_t_ns(self) -> list[int]:
        return self.t_ns_array.tolist()

    @property
    def token_counts(self) -> list[int]:
        return self.counts_array.tolist()

    @property
    def token_texts(self) -> list[str]:
        return self._joined("x", self._x_parts, object).tolist()

    def _keep_tokens_from(self, t_ns: int) -> None:
        keep = self.t_ns_array >= t_ns
        t, n, x = self.t_ns_array[keep], self.counts_array[keep], self._joined("x", self._x_parts, object)[keep]
        self._t_parts, self._n_parts, self._x_parts = [t], [n], [x]
        self._cache.clear()

    @property
    def n_token_events(self) -> int:
        return int(sum(len(p) for p in self._t_parts))

    @property
    def completed(self) -> bool:
        return self.finished is not None

    @property
    def warmup(self) -> bool:
        return bool(self.started and self.started.warmup)

    @property
    def record_id(self) -> str:
        return self.started.record_id if self.started else ""

    @property
    def subject(self) -> str:
        return self.started.subject if self.started else ""

    @property
    def text(self) -> str:
        """The answer: every streamed piece, joined."""
        return "".join(self.token_texts)

    @property
    def start_ns(self) -> int | None:
        return self.started.t_ns if self.started else None

    @property
    def end_ns(self) -> int | None:
        return self.finished.t_ns if self.finished else None

    @property
    def completion_tokens(self) -> int:
        if self.finished is not None and self.finished.completion_tokens is not None:
            return self.finished.completion_tokens
        return int(self.counts_array.sum())

    @property
    def prompt_tokens(self) -> int | None:
        return self.finished.prompt_tokens if self.finished else None

    @property
    def ttft_ns(self) -> int | None:
        if self.finished is not None and self.finished.ttft_ns is not None:
            return self.finished.ttft_ns
        if self.started is not None and self._t_parts and len(self.t_ns_array):
            return int(self.t_ns_array[0]) - self.started.t_ns
        return None


@dataclass
class PowerTrace:
    """The samples of one device as columns (sorted by ``t_ns``)."""

    device: str
    t_ns: np.ndarray
    power_w: np.ndarray  # NaN where the sample had no power
    energy_j: np.ndarray  # NaN where the sample had no counter
    sources: list[str]

    @property
    def source(self) -> str:
        """The weakest provenance among the samples: estimated < imported < derived < measured."""
        order = ["estimated", "imported", "derived", "measured"]
        present = set(self.sources)
        for name in order:
            if name in present:
                return name
        return "measured" if not present else sorted(present)[0]


@dataclass
class RunView:
    """An index over one run's events, built by a single replay.

    Its fields are plain mutable containers (``load_run`` sets ``problem``
    after the fold); projections only read it, and a view is rebuilt, never
    updated, when events are appended.
    """

    run_dir: Path | None
    runs_started: list[RunStarted] = field(default_factory=list)
    runs_finished: list[RunFinished] = field(default_factory=list)
    queries: dict[int, QueryRecord] = field(default_factory=dict)
    devices: dict[str, DeviceSeen] = field(default_factory=dict)
    power: dict[str, PowerTrace] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    telemetry: list[TelemetryStatus] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    harness_cpu: list[HarnessCpu] = field(default_factory=list)  # ipw's own CPU time, see ipw.analyses.overhead
    brackets: list[PowerSample] = field(default_factory=list)  # on-demand reads at the window's edges (also in power)
    # an agent's task_started, tool_call_started/finished and task_finished, in ledger order (ipw.analyses.tasks)
    agent_events: list[Event] = field(default_factory=list)
    events_total: int = 0
    problem: LedgerCorruptError | None = None

    @property
    def run_id(self) -> str:
        return self.runs_started[0].run_id if self.runs_started else (self.run_dir.name if self.run_dir else "")

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.runs_started[0].config) if self.runs_started else {}

    @property
    def host(self) -> dict[str, Any]:
        return dict(self.runs_started[0].host) if self.runs_started else {}

    def measured_queries(self) -> list[QueryRecord]:
        """Completed, non-warmup queries (with a start on record), in query-id order: what results are computed over."""
        return [q for _, q in sorted(self.queries.items()) if q.completed and q.started is not None and not q.warmup]

    def verdicts_by_judge(self) -> dict[str, dict[int, Verdict]]:
        """The latest verdict of each judge for each query."""
        out: dict[str, dict[int, Verdict]] = {}
        for v in self.verdicts:
            out.setdefault(v.judge, {})[v.query_id] = v
        return out


class Projection(Protocol):
    """A pure function of a RunView: what every analysis implements."""

    analysis_id: str

    def compute(self, view: RunView, options: dict[str, Any]) -> dict[str, Any]: ...


def build_view(frames: Iterable[Columns | list[Event]], run_dir: Path | None = None) -> RunView:
    """Fold decoded frames (or plain event lists) into a RunView in one pass.

    Token columns are grouped per query with numpy; other events are few and
    go through a small type dispatch.
    """
    view = RunView(run_dir=run_dir)
    queries = view.queries
    power_cols: dict[str, tuple[list[int], list[float], list[float], list[str]]] = {}
    retried: set[int] = set()
    nan = float("nan")
    total = 0
    for frame in frames:
        if isinstance(frame, Columns):
            total += len(frame)
            _fold_tokens(queries, frame)
            others: list[Event] = frame.others
        else:
            total += len(frame)
            others = [e for e in frame if type(e) is not Token]
            toks = [e for e in frame if type(e) is Token]
            if toks:
                _fold_tokens(
                    queries,
                    Columns(
                        [],
                        [],
                        np.fromiter((e.query_id for e in toks), np.int64, len(toks)),  # type: ignore[attr-defined]
                        np.fromiter((e.t_ns for e in toks), np.int64, len(toks)),  # type: ignore[attr-defined]
                        [e.text for e in toks],  # type: ignore[attr-defined]
                        np.fromiter((e.n_tokens for e in toks), np.int64, len(toks)),  # type: ignore[attr-defined]
                    ),
                )
        for e in others:
            cls = type(e)
            if cls is PowerSample:
                cols = power_cols.get(e.device)  # type: ignore[attr-defined]
                if cols is None:
                    cols = power_cols[e.device] = ([], [], [], [])  # type: ignore[attr-defined]
                cols[0].append(e.t_ns)  # type: ignore[attr-defined]
                cols[1].append(nan if e.power_w is None else e.power_w)  # type: ignore[attr-defined]
                cols[2].append(nan if e.energy_j is None else e.energy_j)  # type: ignore[attr-defined]
                cols[3].append(e.source)  # type: ignore[attr-defined]
                if e.bracket is not None:  # type: ignore[attr-defined]
                    view.brackets.append(e)  # type: ignore[arg-type]
            elif cls is QueryStarted:
                q = queries.get(e.query_id)  # type: ignore[attr-defined]
                if q is None:
                    q = queries[e.query_id] = QueryRecord(e.query_id)  # type: ignore[attr-defined]
                elif q.started is not None:
                    retried.add(q.query_id)
                q.started = e  # type: ignore[assignment]
            elif cls is QueryFinished:
                _query(queries, e.query_id).finished = e  # type: ignore[attr-defined,assignment]
            elif cls is QueryFailed:
                _query(queries, e.query_id).failures.append(e)  # type: ignore[attr-defined,arg-type]
            elif cls is Verdict:
                view.verdicts.append(e)  # type: ignore[arg-type]
            elif cls is DeviceSeen:
                view.devices[e.device] = e  # type: ignore[attr-defined,assignment]
            elif cls is RunStarted:
                view.runs_started.append(e)  # type: ignore[arg-type]
            elif cls is RunFinished:
                view.runs_finished.append(e)  # type: ignore[arg-type]
            elif cls is TelemetryStatus:
                view.telemetry.append(e)  # type: ignore[arg-type]
            elif cls is Annotation:
                view.annotations.append(e)  # type: ignore[arg-type]
            elif cls is HarnessCpu:
                view.harness_cpu.append(e)  # type: ignore[arg-type]
            elif cls in _AGENT_EVENTS:
                view.agent_events.append(e)
    view.events_total = total
    for qid in retried:
        # a retried query started over: output streamed before its last start is not the answer
        q = queries[qid]
        assert q.started is not None
        q._keep_tokens_from(q.started.t_ns)
    for device, (ts, pw, ej, src) in power_cols.items():
        t = np.asarray(ts, dtype=np.int64)
        order = np.argsort(t, kind="stable")
        view.power[device] = PowerTrace(
            device=device,
            t_ns=t[order],
            power_w=np.asarray(pw, dtype=np.float64)[order],
            energy_j=np.asarray(ej, dtype=np.float64)[order],
            sources=[src[i] for i in order] if len(set(src)) > 1 else src,
        )
    return view


_AGENT_EVENTS = frozenset({TaskStarted, ToolCallStarted, ToolCallFinished, TaskFinished})


def _query(queries: dict[int, QueryRecord], qid: int) -> QueryRecord:
    q = queries.get(qid)
    if q is None:
        q = queries[qid] = QueryRecord(qid)
    return q


def _fold_tokens(queries: dict[int, QueryRecord], cols: Columns) -> None:
    tq = cols.tok_query_id
    n = len(tq)
    if not n:
        return
    tt = cols.tok_t_ns
    tx = np.array(cols.tok_text, dtype=object)
    tn = cols.tok_n if cols.tok_n is not None else np.ones(n, dtype=np.int64)
    first = int(tq[0])
    if tq[-1] == first and bool((tq == first).all()):
        _query(queries, first)._add_tokens(tt, tn, tx)
        return
    order = np.argsort(tq, kind="stable")
    sorted_q = tq[order]
    bounds = (np.flatnonzero(sorted_q[1:] != sorted_q[:-1]) + 1).tolist()
    t_sorted, n_sorted, x_sorted = tt[order], tn[order], tx[order]
    for s, e in zip([0, *bounds], [*bounds, n]):
        _query(queries, int(sorted_q[s]))._add_tokens(t_sorted[s:e], n_sorted[s:e], x_sorted[s:e])


def load_run(run_dir: Path) -> RunView:
    """Replay a run's ledger into a RunView (the valid prefix, if damaged)."""
    reader = LedgerReader(run_dir)
    view = build_view(reader.columns(), Path(run_dir))
    view.problem = reader.problem
    return view
