"""Property tests for the replay engine: a RunView holds exactly what the ledger's acknowledged events say."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipw import events as ev
from ipw.ledger import LedgerWriter, parse_jsonl
from ipw.registry import REGISTRY
from ipw.replay import RunView, build_view, load_run
from ipw.reports.analysis_files import dumps_result

from tests.ledger.strategies import maybe_float, t_ns, text
from tests.reports.ledgers import sequential, write_run

GOLDEN_V1 = Path(__file__).resolve().parents[1] / "golden" / "v1"
PROJECTIONS = ("accuracy", "energy", "latency")
DEVICES = ("nvidia:0", "cpu:0")
JUDGES = ("auto", "llm:judge", "")
OUTCOMES = ("finished", "failed", "failed_then_finished", "open")

replay_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Expected:
    """What a generated stream says about each query, written down as it was generated."""

    tokens: dict[int, list[tuple[int, int, str]]]  # query id -> (t_ns, n_tokens, text) in order
    outcome: dict[int, str]
    warmup: dict[int, bool]
    verdicts: list[ev.Verdict]
    power: list[ev.PowerSample]


@dataclass
class Stream:
    frames: list[list[ev.Event]]
    expected: Expected

    @property
    def events(self) -> list[ev.Event]:
        return [e for frame in self.frames for e in frame]


def _interleave(draw: st.DrawFn, lists: list[list[ev.Event]]) -> list[ev.Event]:
    """Merge lists in a drawn order, keeping the order within each."""
    queues = [list(reversed(x)) for x in lists if x]
    out: list[ev.Event] = []
    while queues:
        i = draw(st.integers(0, len(queues) - 1))
        out.append(queues[i].pop())
        if not queues[i]:
            queues.pop(i)
    return out


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    """A run: queries that finish, fail, fail then finish, or never end, interleaved with samples and verdicts."""
    qids = draw(st.lists(st.integers(0, 2**31), unique=True, max_size=6))
    per_query: list[list[ev.Event]] = []
    tokens: dict[int, list[tuple[int, int, str]]] = {}
    outcome: dict[int, str] = {}
    warmup: dict[int, bool] = {}
    for qid in qids:
        t = draw(st.integers(0, 2**40))
        warmup[qid] = draw(st.booleans())
        outcome[qid] = draw(st.sampled_from(OUTCOMES))
        events: list[ev.Event] = [ev.QueryStarted(query_id=qid, t_ns=t, record_id=f"r{qid}", warmup=warmup[qid])]
        tokens[qid] = []
        for step, n_tokens, piece in draw(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 1000), text), max_size=8)):
            t += step  # never before the start: a single start keeps every token
            tokens[qid].append((t, n_tokens, piece))
            events.append(ev.Token(query_id=qid, t_ns=t, text=piece, n_tokens=n_tokens))
        if outcome[qid] in ("failed", "failed_then_finished"):
            events.append(ev.QueryFailed(query_id=qid, t_ns=t + 1, error_type="Timeout", message="timed out"))
        if outcome[qid] in ("finished", "failed_then_finished"):
            events.append(ev.QueryFinished(query_id=qid, t_ns=t + 2, completion_tokens=draw(st.none() | st.integers(0, 10**6))))
        per_query.append(events)
    power = draw(st.lists(
        st.builds(ev.PowerSample, device=st.sampled_from(DEVICES), t_ns=t_ns, power_w=maybe_float, energy_j=maybe_float,
                  source=st.sampled_from(["measured", "derived", "estimated", "imported"])),
        max_size=8,
    ))
    verdicts = draw(st.lists(
        st.builds(ev.Verdict, query_id=st.sampled_from(qids) if qids else st.just(0), t_ns=t_ns,
                  judge=st.sampled_from(JUDGES), is_correct=st.none() | st.booleans(), score=maybe_float),
        max_size=8,
    ))
    body = _interleave(draw, [*per_query, list(power), list(verdicts)])
    cuts = draw(st.lists(st.booleans(), min_size=len(body), max_size=len(body)))
    frames: list[list[ev.Event]] = [[ev.RunStarted(run_id="prop", t_ns=0, wall_time_ns=0)]]
    for event, cut in zip(body, cuts):
        frames[-1].append(event)
        if cut:
            frames.append([])
    frames = [f for f in frames if f]
    return Stream(frames, Expected(tokens, outcome, warmup, verdicts, power))


def _write(run_dir: Path, frames: list[list[ev.Event]]) -> Path:
    with LedgerWriter.create(run_dir, run_id="prop", flush_interval_s=0) as writer:
        for frame in frames:
            writer.extend(frame)
            writer.flush()
    return run_dir


def _no_nan(values: Any) -> list[Any]:
    return [None if isinstance(x, float) and math.isnan(x) else x for x in values.tolist()]


def _facts(view: RunView) -> dict[str, Any]:
    """Everything a view holds, as plain comparable values."""
    return {
        "queries": {
            qid: (q.started, q.finished, q.failures, q.token_t_ns, q.token_counts, q.token_texts)
            for qid, q in view.queries.items()
        },
        "power": {
            d: (tr.t_ns.tolist(), _no_nan(tr.power_w), _no_nan(tr.energy_j), list(tr.sources)) for d, tr in view.power.items()
        },
        "verdicts": view.verdicts,
        "runs_started": view.runs_started,
        "runs_finished": view.runs_finished,
        "devices": view.devices,
        "telemetry": view.telemetry,
        "annotations": view.annotations,
        "harness_cpu": view.harness_cpu,
        "events_total": view.events_total,
    }


def _check_matches(view: RunView, stream: Stream) -> None:
    exp = stream.expected
    assert view.events_total == len(stream.events)
    assert set(view.queries) == set(exp.tokens)
    for qid, toks in exp.tokens.items():
        q = view.queries[qid]
        assert q.token_t_ns == [t for t, _, _ in toks]
        assert q.token_counts == [n for _, n, _ in toks]
        assert q.token_texts == [x for _, _, x in toks]
        assert q.text == "".join(x for _, _, x in toks)
        assert q.completed == (exp.outcome[qid] in ("finished", "failed_then_finished"))
        assert len(q.failures) == (exp.outcome[qid] in ("failed", "failed_then_finished"))
        assert q.warmup == exp.warmup[qid]
    measured = [qid for qid in sorted(exp.tokens) if not exp.warmup[qid] and exp.outcome[qid] in ("finished", "failed_then_finished")]
    assert [q.query_id for q in view.measured_queries()] == measured
    latest: dict[str, dict[int, ev.Verdict]] = {}
    for v in exp.verdicts:
        latest.setdefault(v.judge, {})[v.query_id] = v
    assert view.verdicts_by_judge() == latest
    assert view.verdicts == exp.verdicts
    for device in DEVICES:
        samples = sorted((s for s in exp.power if s.device == device), key=lambda s: s.t_ns)  # stable, like replay
        if not samples:
            assert device not in view.power
            continue
        trace = view.power[device]
        assert trace.t_ns.tolist() == [s.t_ns for s in samples]
        assert _no_nan(trace.power_w) == [s.power_w for s in samples]
        assert _no_nan(trace.energy_j) == [s.energy_j for s in samples]


@replay_settings
@given(streams())
def test_view_from_a_ledger_matches_the_events(stream: Stream) -> None:
    """Tokens in order, completion, warm-up and verdicts per judge come back as written, from disk and from lists."""
    with tempfile.TemporaryDirectory() as tmp:
        view = load_run(_write(Path(tmp) / "run", stream.frames))
        assert view.problem is None
        _check_matches(view, stream)
        assert _facts(build_view(stream.frames)) == _facts(view)  # the list path and the columns path agree
    _check_matches(build_view(stream.frames), stream)


@st.composite
def report_runs(draw: st.DrawFn) -> dict[str, Any]:
    specs = draw(st.lists(
        st.tuples(st.sampled_from("abcdefgh"), st.floats(0.05, 3.0), st.integers(0, 40), st.none() | st.booleans()),
        min_size=1, max_size=6,
    ))
    queries = sequential(specs)
    for q in queries:
        q.warmup = draw(st.booleans())
        q.failed = draw(st.booleans())
    devices = draw(st.dictionaries(st.sampled_from(DEVICES), st.floats(1.0, 400.0), max_size=2))
    return {"queries": queries, "devices": devices, "counter_only": draw(st.booleans())}


def _project(view: RunView) -> dict[str, dict[str, Any]]:
    return {aid: REGISTRY.load("analyses", aid)().compute(view, {}) for aid in PROJECTIONS}


@replay_settings
@given(report_runs())
def test_replay_is_deterministic(run: dict[str, Any]) -> None:
    """The same ledger replays to the same accuracy, energy and latency results, down to the JSON bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_run(Path(tmp) / "run", run["queries"], devices=run["devices"], counter_only=run["counter_only"])
        first, second = _project(load_run(run_dir)), _project(load_run(run_dir))
    assert first == second
    for aid in PROJECTIONS:
        assert dumps_result(first[aid]).encode() == dumps_result(second[aid]).encode(), aid


@replay_settings
@given(streams(), st.binary(min_size=1, max_size=64))
def test_replay_reads_only_acknowledged_frames(stream: Stream, garbage: bytes) -> None:
    """Bytes after the last acknowledged frame are reported as a problem and change none of the facts before them."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = _write(Path(tmp) / "run", stream.frames)
        clean = load_run(run_dir)
        segment = sorted((run_dir / "events").glob("*.ipwl"))[-1]
        with segment.open("ab") as f:
            f.write(garbage)
        damaged = load_run(run_dir)
    assert clean.problem is None
    assert damaged.problem is not None
    assert _facts(damaged) == _facts(clean)
    _check_matches(damaged, stream)


def test_golden_v1_ledger_replays_without_a_problem() -> None:
    """The committed v1 ledger replays whole: no problem, and the same view its JSONL export gives."""
    view = load_run(GOLDEN_V1 / "run")
    assert view.problem is None
    expected = list(parse_jsonl((GOLDEN_V1 / "events.jsonl").read_bytes().splitlines()))
    assert view.events_total == len(expected)
    assert _facts(view) == _facts(build_view([expected]))
    assert [q.query_id for q in view.measured_queries()] == [0, 1]  # query 1 failed once, then finished
    for result in _project(view).values():
        dumps_result(result)  # every projection of the golden run serialises
