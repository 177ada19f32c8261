"""One proxied model call as ledger events: ``query_started``, its tokens, then finished or failed.

A call is acknowledged to the agent only once its ``query_finished`` is
durable (``durable_ack``, the default): the proxy holds back the last bytes of
the answer until the group commit that covers the call is fsynced, so a
``kill -9`` loses no call the agent saw complete. Without it the answer ends
as soon as the upstream's does and the commit follows (the writer flushes at
least every second), which saves the fsync on the call's path.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable

from ..events import QueryFailed, QueryFinished, QueryStarted, Token
from ..secrets import scrub
from .observe import AnswerObserver, prompt_of
from .tasks import TaskRouter

__all__ = ["CallRecorder", "RecordedCall"]

DURABLE_WAIT_S = 10.0  # a disk slower than this is reported by the writer, not waited on forever
EXCERPT_CHARS = 300


class CallRecorder:
    """Opens a :class:`RecordedCall` per model call; keeps the run's counts for ``run_finished``."""

    def __init__(self, writer: object, router: TaskRouter, *, first_query_id: int = 0, durable_ack: bool = True,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.writer = writer
        self.router = router
        self.durable_ack = durable_ack
        self.clock = clock
        self._ids = itertools.count(first_query_id)
        self._lock = threading.Lock()
        self.completed = 0
        self.failed = 0
        self.in_flight: set[int] = set()

    def start(self, body: bytes, *, header_task: str | None, path_task: str | None) -> "RecordedCall":
        problem, prompt_text, streaming = prompt_of(body)
        task_id, turn = self.router.begin_call(header_task, path_task, problem)
        with self._lock:
            qid = next(self._ids)
            self.in_flight.add(qid)
        call = RecordedCall(self, qid, task_id, turn, streaming)
        self.writer.append(QueryStarted(query_id=qid, t_ns=call.start_ns, record_id=f"{task_id}#{turn}",  # type: ignore[attr-defined]
                                        problem=problem, prompt_text=prompt_text, task_id=task_id, turn=turn))
        return call

    def _ended(self, qid: int, ok: bool) -> None:
        with self._lock:
            self.in_flight.discard(qid)
            if ok:
                self.completed += 1
            else:
                self.failed += 1


class RecordedCall:
    """The events of one call; the server calls :meth:`piece` per socket read and one of the endings."""

    __slots__ = ("recorder", "query_id", "task_id", "turn", "observer", "start_ns", "first_ns", "n_texts", "ended")

    def __init__(self, recorder: CallRecorder, query_id: int, task_id: str, turn: int, streaming: bool) -> None:
        self.recorder = recorder
        self.query_id = query_id
        self.task_id = task_id
        self.turn = turn
        self.observer = AnswerObserver(streaming=streaming)
        self.start_ns = recorder.clock()
        self.first_ns: int | None = None
        self.n_texts = 0
        self.ended = False

    def piece(self, data: bytes) -> None:
        """A piece of the answer's body went by: its tokens, stamped now."""
        texts = self.observer.feed(data)
        if texts:
            now = self.recorder.clock()
            if self.first_ns is None:
                self.first_ns = now
            self.recorder.writer.append_tokens(self.query_id, now, texts)  # type: ignore[attr-defined]
            self.n_texts += len(texts)

    def finished(self, status: int, outcome: str | None = None) -> None:
        """The upstream's answer ended; the call is recorded (and durable, with ``durable_ack``) on return."""
        if self.ended:
            return
        self.ended = True
        rec, obs = self.recorder, self.observer
        now = rec.clock()
        if status >= 400:
            body = b"".join(obs._whole).decode("utf-8", "replace") if not obs.streaming else ""
            self._fail(f"HTTP {status}", f"the upstream answered HTTP {status}: {body[:EXCERPT_CHARS]}", now, outcome)
            return
        texts = obs.finish()
        completion = obs.tokens("completion_tokens")
        if texts:
            if self.first_ns is None:
                self.first_ns = now
            rec.writer.append(Token(query_id=self.query_id, t_ns=now, text=texts[0],  # type: ignore[attr-defined]
                                    n_tokens=max(1, completion or 1)))
        counted = self.n_texts if obs.streaming else (1 if texts else 0)
        rec.writer.append(QueryFinished(  # type: ignore[attr-defined]
            query_id=self.query_id, t_ns=now, prompt_tokens=obs.tokens("prompt_tokens"),
            completion_tokens=completion if completion is not None else counted,
            finish_reason=obs.finish_reason,
            ttft_ns=None if self.first_ns is None else self.first_ns - self.start_ns,
            usage_source="server" if obs.usage else "counted", truncated=obs.finish_reason is None))
        self._commit(True, outcome)

    def failed(self, error_type: str, message: str, outcome: str | None = None) -> None:
        """The call did not get a whole answer (upstream unreachable, agent gone, run stopping)."""
        if not self.ended:
            self.ended = True
            self._fail(error_type, message, self.recorder.clock(), outcome)

    def _fail(self, error_type: str, message: str, now: int, outcome: str | None) -> None:
        self.recorder.writer.append(QueryFailed(query_id=self.query_id, t_ns=now, error_type=error_type,  # type: ignore[attr-defined]
                                                message=scrub(message), will_retry=False))
        self._commit(False, outcome)

    def _commit(self, ok: bool, outcome: str | None) -> None:
        rec = self.recorder
        rec.router.end_call(self.task_id, outcome)
        rec._ended(self.query_id, ok)
        if rec.durable_ack:
            durable = threading.Event()
            rec.writer.commit(durable.set)  # type: ignore[attr-defined]
            durable.wait(DURABLE_WAIT_S)
        else:
            rec.writer.commit()  # type: ignore[attr-defined]
