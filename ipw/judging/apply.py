"""Judging a recorded run: ask a judge about each answer and append its verdicts.

A verdict is keyed by its judge's spec. :func:`judge_run` replays the run,
takes the completed, non-warmup queries that this judge has no verdict for,
judges them and appends one ``verdict`` event each; a second pass with the
same judge therefore makes no calls, and a different judge appends its own
verdicts beside the first's. The single exception: a verdict recorded as
``outcome="error"`` (the judge could not be asked about that query) is asked
again by the next pass, whose verdict then supersedes it.

Verdicts are flushed in small batches, so interrupting a pass keeps every
verdict already flushed and the next pass picks up the rest.

The deterministic auto scorer (``scorer:auto/v1``) judges the records that
name a scorer (the built-in dataset) and leaves the others unjudged; the LLM
judge judges every record its prompt set has a prompt for (one with a
reference, as the upstream flow does, or a WildChat turn; see
:mod:`ipw.judging.family_prompts`).
Which judge a command uses is decided in :mod:`ipw.judging.select`.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from .. import secrets
from ..errors import JudgeError, LedgerCorruptError
from ..events import Verdict
from ..ledger import LedgerWriter, scan
from ..ledger.lock import RunLock
from ..replay import QueryRecord, RunView, load_run
from .prompts import JudgeItem
from .dispatch import SCORERS, AutoScorer
from .scorers import ScoreResult

__all__ = [
    "Judge",
    "JudgeReport",
    "ScorerJudge",
    "judge_run",
    "item_from_record",
]

FLUSH_EVERY = 16
MAX_CONSECUTIVE_ERRORS = 10


class Judge(Protocol):
    """What :func:`judge_run` needs of a judge."""

    spec: str
    concurrency: int

    def unjudgeable(self, item: JudgeItem) -> str | None: ...

    def judge(self, item: JudgeItem) -> ScoreResult: ...


@dataclass(frozen=True)
class JudgeReport:
    """What one judging pass did.

    ``considered``: measured queries; ``already_judged``: those this judge had
    judged before; ``skipped``: those it cannot judge (no reference, no
    scorer for the auto scorer, a code record for the LLM judge); ``calls``:
    answers handed to the judge (an LLM judge counts its HTTP requests,
    retries included, in ``requests_sent``);
    ``appended``: verdicts written; ``errors``: of those, the ones recorded
    with ``outcome="error"``; ``unevaluated``: appended verdicts with no
    decision (errors and unparseable answers).
    """

    judge_spec: str
    considered: int
    already_judged: int
    calls: int
    appended: int
    errors: int
    skipped: int = 0
    unevaluated: int = 0

    def one_line(self) -> str:
        """A summary for the terminal."""
        return (
            f"{self.judge_spec}: {self.appended} verdicts appended ({self.unevaluated} undecided, "
            f"{self.errors} errors), {self.already_judged} already judged, {self.skipped} not judgeable, "
            f"of {self.considered} answers"
        )


class ScorerJudge:
    """A deterministic scorer from :mod:`ipw.judging.scorers`, as a judge."""

    kind = "scorer"
    concurrency = 1

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self.auto = isinstance(scorer, AutoScorer)

    @property
    def spec(self) -> str:
        return str(self.scorer.spec)

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def unjudgeable(self, item: JudgeItem) -> str | None:
        if item.reference is None:
            return "the record has no reference answer"
        if self.auto and (item.scorer is None or item.scorer.startswith("llm:")):
            return "the record names no deterministic scorer (it needs an LLM judge)"
        if self.auto and item.scorer not in SCORERS:
            return f"the record names the unknown scorer {item.scorer!r}"
        return None

    def judge(self, item: JudgeItem) -> ScoreResult:
        choices = list(item.choices) if item.choices else None
        assert item.reference is not None  # unjudgeable() keeps these away
        if self.auto:
            return self.scorer.score(item.answer_text, item.reference, scorer=item.scorer, choices=choices)
        return self.scorer.score(item.answer_text, item.reference, choices=choices)

    def close(self) -> None:
        return None


def item_from_record(q: QueryRecord) -> JudgeItem:
    """What the judge is shown about one replayed query."""
    s = q.started
    return JudgeItem(
        query_id=q.query_id,
        answer_text=q.text,
        problem=s.problem if s else "",
        reference=s.reference if s else None,
        subject=s.subject if s else "",
        scorer=s.scorer if s else None,
        choices=tuple(s.choices) if s and s.choices else None,
        record_id=s.record_id if s else "",
    )


def _is_error(verdict: Verdict) -> bool:
    if verdict.is_correct is not None:
        return False
    try:
        meta = json.loads(verdict.metadata)
    except ValueError:
        return False
    return isinstance(meta, dict) and meta.get("outcome") == "error"


def judge_run(
    run_dir: Path,
    judge: Judge,
    *,
    concurrency: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_consecutive_errors: int | None = MAX_CONSECUTIVE_ERRORS,
    view: RunView | None = None,
) -> JudgeReport:
    """Judge what ``judge`` has not judged yet in the run at ``run_dir`` and append the verdicts.

    ``view`` is the run already replayed by the caller: it is planned from, and
    replayed again under the lock only when the ledger has grown since.

    ``progress(done, total)`` is called after each verdict. When
    ``max_consecutive_errors`` queries in a row fail with errors the pass stops
    with a :class:`JudgeError` (the verdicts so far are kept). A judge that
    refused (HTTP 4xx) every request of the pass is a :class:`JudgeError` too,
    naming its reason, after its error verdicts are written: nothing was judged,
    and a rerun asked the same way would be refused again.
    """
    run_dir = Path(run_dir)
    measured, already, skipped, todo = _plan(run_dir, judge, view)
    counts = {"calls": 0, "appended": 0, "errors": 0, "unevaluated": 0}
    last_error: dict[str, Any] = {}
    if todo:
        # the lock only when there is something to write, so a no-op pass leaves the run untouched
        # and can run beside a capture; planned again under it, so two passes never judge one answer twice
        with RunLock(run_dir) as lock:
            if view is None or scan(run_dir).events != view.events_total:
                measured, already, skipped, todo = _plan(run_dir, judge)
            if todo:
                writer = LedgerWriter.open_append(run_dir, lock=lock)
                try:
                    _judge_all(todo, judge, writer, concurrency or judge.concurrency, progress,
                               max_consecutive_errors, counts, last_error)
                finally:
                    writer.close()
    if counts["appended"] and counts["errors"] == counts["appended"] and _refused(last_error):
        # a judge that refused every request (HTTP 4xx) will refuse a rerun too: say so, with its own reason
        raise _every_request_failed(judge.spec, counts["errors"], last_error)
    return JudgeReport(
        judge_spec=judge.spec,
        considered=len(measured),
        already_judged=already,
        skipped=skipped,
        **counts,
    )


def _plan(run_dir: Path, judge: Judge, view: RunView | None = None) -> tuple[list[Any], int, int, list[JudgeItem]]:
    """The measured queries, how many ``judge`` has judged or cannot judge, and what it has left to judge."""
    view = load_run(run_dir) if view is None else view
    if view.problem is not None:
        raise LedgerCorruptError(
            f"cannot judge a damaged ledger: {view.problem.message}",
            segment=view.problem.segment,
            offset=view.problem.offset,
            hint=f"run 'ipw ledger repair {run_dir}' first (it keeps the valid prefix)",
        )
    spec = judge.spec
    mine = view.verdicts_by_judge().get(spec, {})
    measured = view.measured_queries()
    already = skipped = 0
    todo: list[JudgeItem] = []
    for q in measured:
        previous = mine.get(q.query_id)
        if previous is not None and not _is_error(previous):
            already += 1
            continue
        item = item_from_record(q)
        if judge.unjudgeable(item) is not None:
            skipped += 1
            continue
        todo.append(item)
    return measured, already, skipped, todo


def _judge_all(
    todo: list[JudgeItem],
    judge: Judge,
    writer: LedgerWriter,
    concurrency: int,
    progress: Callable[[int, int], None] | None,
    max_consecutive_errors: int | None,
    counts: dict[str, int],
    last_error: dict[str, Any],
) -> None:
    total = len(todo)
    unflushed = 0
    streak = 0

    def record(item: JudgeItem, result: ScoreResult) -> None:
        nonlocal unflushed, streak
        meta = dict(result.metadata)
        writer.append(
            Verdict(
                query_id=item.query_id,
                t_ns=time.monotonic_ns(),
                judge=judge.spec,
                is_correct=result.is_correct,
                score=result.score,
                # a judge endpoint may quote a credential back in anything it answers
                metadata=secrets.scrub(json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)),
            )
        )
        counts["appended"] += 1
        unflushed += 1
        if result.is_correct is None:
            counts["unevaluated"] += 1
        if meta.get("outcome") == "error":
            counts["errors"] += 1
            streak += 1
            last_error.update(error=meta.get("error"), status=meta.get("status"))
        else:
            streak = 0
        if unflushed >= FLUSH_EVERY:
            writer.flush()
            unflushed = 0
        if progress is not None:
            progress(counts["appended"], total)
        if max_consecutive_errors is not None and streak >= max_consecutive_errors:
            if streak == counts["appended"] and _refused(last_error):
                raise _every_request_failed(judge.spec, streak, last_error)
            raise JudgeError(
                f"the judge {judge.spec} failed on {streak} queries in a row; last error: {meta.get('error')}",
                hint="check the judge endpoint and rerun; the verdicts so far are kept and only the rest is asked",
            )

    if concurrency <= 1:
        for item in todo:
            counts["calls"] += 1
            record(item, judge.judge(item))
        return
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ipw-judge")
    pending: dict[Future[ScoreResult], JudgeItem] = {}
    queue = iter(todo)
    try:
        for item in queue:
            counts["calls"] += 1
            pending[pool.submit(judge.judge, item)] = item
            if len(pending) >= concurrency:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                record(item, future.result())
                nxt = next(queue, None)
                if nxt is not None:
                    counts["calls"] += 1
                    pending[pool.submit(judge.judge, nxt)] = nxt
    finally:
        # on an error or Ctrl-C, drop what was not started; answers in flight are discarded
        pool.shutdown(wait=False, cancel_futures=True)


def _refused(last_error: dict[str, Any]) -> bool:
    status = last_error.get("status")
    return isinstance(status, int) and 400 <= status < 500


def _every_request_failed(spec: str, n: int, last_error: dict[str, Any]) -> JudgeError:
    """The error for a pass in which the judge refused (HTTP 4xx) every request it was sent."""
    from ..secrets import scrub

    why = scrub(str(last_error.get("error") or "no reason given"))
    return JudgeError(
        f"the judge {spec} refused every request ({n} of {n}): {why}",
        hint="fix what the judge's message names (its model, --eval-model, --eval-param) and rerun; "
        "the error verdicts are kept and only they are asked again",
    )

