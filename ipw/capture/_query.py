"""One query of a capture: its attempts, each streamed into the ledger as it arrives, with bounded retries.

An attempt is ``query_started``, its ``token`` events as they arrive, then
``query_finished`` — or a ``query_failed``, which says whether another attempt
follows. A query cut short by a stop is recorded as interrupted (see
:func:`interrupted`): neither completed nor failed, so a resume runs it again.
The scheduling of queries (concurrency, request rate, warm-ups) is the
runner's; this module runs one.

An answer that streams more than :func:`~.clients.base.token_cap` tokens
(4 × ``max_tokens`` + 64) is cut off there, whatever the client: its query
fails with an ``AnswerTooLongError`` (not retried), and the run goes on.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import msgspec

from ..errors import AnswerTooLongError, ClientError, ConfigError, IpwError
from ..events import QueryFailed, QueryFinished, QueryStarted, Token
from ..ledger import LedgerWriter
from ..secrets import scrub
from .backoff import retry_delay_s
from .clients.base import Chunk, ChunkRun, Completion, InferenceClient, client_error, finish_reason_text, token_cap
from .config import CaptureConfig, Progress
from .datasets.base import DatasetRecord, prompt_for


def run_query(
    client: InferenceClient,
    writer: LedgerWriter,
    qid: int,
    record: DatasetRecord,
    warmup: bool,
    gen: dict[str, Any],
    progress: Progress,
    *,
    config: CaptureConfig,
    stop: threading.Event,
    serial: threading.Lock | None,
    report: Callable[[Progress], None],
) -> None:
    """Run ``record`` as query ``qid`` until it finishes, fails for good, or ``stop`` is set.

    ``serial`` is held around each stream when the client is not thread-safe;
    ``report`` is called with ``progress`` once the query's outcome is counted.
    A :class:`ConfigError` is re-raised: the same setting would fail every query.
    """
    # stamped before any other per-query work: under a schedule, the send time is this close to its dispatch
    first_start_ns = time.monotonic_ns()
    prompt = prompt_for(record)
    started = QueryStarted(
        query_id=qid,
        t_ns=0,
        record_id=record.record_id,
        problem=record.problem,
        reference=record.answer,
        subject=record.subject,
        warmup=warmup,
        prompt_text=prompt,
        scorer=record.scorer,
        choices=record.choices,
        benchmark=record.metadata.get("benchmark") if record.metadata else None,
    )
    cap = token_cap(gen)
    attempt = 0
    while True:
        attempt += 1
        start_ns = first_start_ns if attempt == 1 else time.monotonic_ns()
        writer.append(msgspec.structs.replace(started, t_ns=start_ns))
        first_ns: int | None = None
        n_tokens = 0
        try:
            if serial is not None:
                serial.acquire()
            stream: Any = None
            try:
                completion: Completion | None = None
                stream = client.stream_runs(config.model, prompt, gen)
                for item in stream:
                    now = time.monotonic_ns()
                    kind = type(item)
                    if kind is ChunkRun:  # the tokens of one socket read: one arrival time
                        if item:
                            if first_ns is None:
                                first_ns = now
                            if n_tokens + len(item) > cap:  # what fits is kept; the rest is the runaway
                                if cap > n_tokens:
                                    writer.append_tokens(qid, now, item[: cap - n_tokens])
                                raise _too_long(cap)
                            writer.append_tokens(qid, now, item)
                            n_tokens += len(item)
                            progress.tokens += len(item)
                    elif kind is Chunk or isinstance(item, Chunk):
                        if first_ns is None:
                            first_ns = now
                        if n_tokens + item.n_tokens > cap:
                            raise _too_long(cap)
                        writer.append(Token(query_id=qid, t_ns=now, text=item.text, n_tokens=item.n_tokens))
                        n_tokens += item.n_tokens
                        progress.tokens += item.n_tokens
                    else:
                        completion = item
                    if stop.is_set():
                        raise KeyboardInterrupt("stopped")
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # an answer given up on lets go of its connection now, not when collected
                if serial is not None:
                    serial.release()
            end_ns = time.monotonic_ns()
            if completion is None:
                completion = Completion(None, n_tokens, None, "counted")
            finish_reason = finish_reason_text(completion.finish_reason)
            # a stream that ends without saying why was cut short by the service
            truncated = finish_reason is None
            writer.append(
                QueryFinished(
                    query_id=qid,
                    t_ns=end_ns,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens
                    if completion.completion_tokens is not None
                    else n_tokens,
                    finish_reason=finish_reason,
                    ttft_ns=None if first_ns is None else first_ns - start_ns,
                    usage_source=completion.usage_source,
                    truncated=truncated,
                )
            )
            # group commit: the query counts as complete once the fsync covering it is done,
            # and this thread goes on to the next query meanwhile
            writer.commit(lambda: _count_finished(progress, report, warmup, truncated))
            return
        except KeyboardInterrupt:
            writer.append(interrupted(qid, attempt))
            writer.flush()
            return  # neither completed nor failed: a resume runs it again
        except (ClientError, ConfigError) as exc:
            if stop.is_set() and isinstance(exc, ClientError):
                # the run is stopping and the request was cut short on purpose
                writer.append(interrupted(qid, attempt))
                writer.flush()
                return
            retryable = isinstance(exc, ClientError) and exc.retryable
            will_retry = retryable and attempt <= config.max_retries and not stop.is_set()
            writer.append(
                QueryFailed(
                    query_id=qid,
                    t_ns=time.monotonic_ns(),
                    error_type=type(exc).__name__,
                    message=scrub(exc.one_line()),
                    attempt=attempt,
                    will_retry=will_retry,
                )
            )
            final = not will_retry and not isinstance(exc, ConfigError)
            if final:
                progress.count(ok=False, warmup=warmup)  # before the flush, as for a finished query
            writer.flush()
            if isinstance(exc, ConfigError):
                raise  # the same setting would fail every query: stop here
            if final:
                report(progress)
                return
            stop.wait(retry_delay_s(exc, attempt, config.retry_backoff_s))
        except IpwError:
            raise
        except Exception as exc:  # a client library failing in a way it does not document
            if stop.is_set():
                writer.append(interrupted(qid, attempt))
                writer.flush()
                return
            writer.append(
                QueryFailed(query_id=qid, t_ns=time.monotonic_ns(), error_type=type(exc).__name__,
                            message=scrub(f"the {config.client} client failed: {exc}"), attempt=attempt,
                            will_retry=False)
            )
            progress.count(ok=False, warmup=warmup)
            writer.flush()
            report(progress)
            return


def _too_long(cap: int) -> AnswerTooLongError:
    return client_error(AnswerTooLongError, f"the answer went on past {cap} tokens (4 × max_tokens + 64) and was cut off",
                        retryable=False, hint="the server does not stop at max_tokens; check its settings")


def _count_finished(progress: Progress, report: Callable[[Progress], None], warmup: bool, truncated: bool) -> None:
    progress.count(ok=True, warmup=warmup, truncated=truncated)
    report(progress)


def interrupted(qid: int, attempt: int = 1, message: str = "the run was interrupted") -> QueryFailed:
    """The record of a query cut short by a stop: neither completed nor failed, so a resume runs it again."""
    return QueryFailed(query_id=qid, t_ns=time.monotonic_ns(), error_type="Interrupted", message=message,
                       attempt=attempt, will_retry=False)
