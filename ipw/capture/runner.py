"""The runner: sends a dataset's prompts to a client and records what happens.

It writes events and computes nothing. It schedules the queries — warm-ups
first, at most ``max_concurrency`` at once, the measured ones at the times of
their arrival schedule (:mod:`ipw.capture.arrivals`: Poisson or gamma at
``request_rate``, a ramp-up, or a replayed trace) — and stops cleanly on Ctrl-C or SIGTERM
(:mod:`ipw.capture._interrupts`: the client is closed first, nothing raised mid-lock); each query's
attempts and retries are :mod:`ipw.capture._query`'s, and a resume's state is
:mod:`ipw.capture.resume`'s. Power samples come from the energy-monitor
session, on the same monotonic clock; the monitor also reads every device on
demand just before the first measured query starts and just after the last
query ends (the bracket reads that pin the window's edges, see
:mod:`ipw.analyses.energy`).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterable

import msgspec

from .. import __version__
from ..errors import IpwError, LedgerError, LedgerExistsError, ServerUnreachableError, UsageError
from ..events import Annotation, RunFinished, RunStarted
from ..ledger import LedgerWriter, scan
from ..ledger.lock import RunLock
from ..registry import REGISTRY
from ..secrets import redact
from .._untrusted import InputRefused
from ._interrupts import StopOnSignal
from ._query import interrupted, run_query
from .arrivals import ArrivalSchedule, schedule_for, wait_until
from .clients.base import InferenceClient
from .datasets.base import DatasetRecord
from .config import DEFAULT_GEN, CaptureConfig, Progress, RunResult, default_run_name
from .host import host_info, package_versions
from .lifecycle import CaptureTelemetry, start_telemetry, terminate_as_interrupt
from .limits import ensure_open_files
from .resume import resume_state
from .telemetry import HarnessCpuSampler

STOP_GRACE_S = 2.0  # how long a stop waits for queries in flight to notice it
WORKER_START_S = 60.0  # how long the query threads of a scheduled run may take to start, all together

__all__ = ["CaptureConfig", "Progress", "RunResult", "Runner", "CaptureTelemetry", "DEFAULT_GEN",
           "default_run_name", "load_records", "make_client"]

def load_records(config: CaptureConfig) -> tuple[list[DatasetRecord], dict[str, Any]]:
    params = dict(config.dataset_params)
    if config.max_queries is not None and "limit" not in params:
        params["limit"] = config.max_queries  # so the dataset hash covers exactly what runs
    provider = REGISTRY.create("datasets", config.dataset, **params)
    records = []
    for record in provider.iter_records():
        records.append(record)
        if config.max_queries is not None and len(records) >= config.max_queries:
            break
    if not records:
        raise UsageError(f"dataset '{config.dataset}' selected no records", hint="check --dataset-param filters")
    return records, provider.describe()


def make_client(config: CaptureConfig) -> InferenceClient:
    return REGISTRY.create("clients", config.client, config.client_base_url, **config.client_params)


class Runner:
    """Runs one capture into one ledger."""

    def __init__(
        self,
        config: CaptureConfig,
        *,
        client: InferenceClient | None = None,
        progress: Callable[[Progress], None] | None = None,
        telemetry: Any = None,
        observers: tuple[Any, ...] = (),
        explicit: Iterable[str] | None = None,
        server: Any = None,
        records: tuple[list[DatasetRecord], dict[str, Any]] | None = None,
    ) -> None:
        """``explicit`` names the config fields the user set (a resume checks those against the ledger;
        None: the fields that differ from their defaults, see :func:`ipw.capture.resume.explicit_fields`).
        ``server`` is a started :class:`ipw.capture.server_process.ServerProcess`: its ``server_started``
        event follows ``run_started``, and it is stopped (``server_stopped``) before ``run_finished``.
        ``records`` is :func:`load_records` of ``config`` already read (a new run uses it; a resume reads its own)."""
        config.validate()
        self.config = config
        # watchers of the capture (e.g. the Prometheus exporter): attach(progress) once, observe(event) per
        # telemetry event; they read what the runner already keeps and never touch the ledger
        self._observers = tuple(observers)
        self._client = client
        self._progress_cb = progress
        self._telemetry_factory = telemetry
        self._stop = threading.Event()
        self._signalled = threading.Event()  # a stop asked for by SIGINT/SIGTERM: the scheduler raises KeyboardInterrupt
        self._slots: threading.Semaphore | None = None  # the scheduler's, while it runs: a signal wakes it with one
        self._signals: StopOnSignal | None = None  # started by the scheduler, stopped once the ledger is closed
        self._serial = threading.Lock()
        self._inflight: set[int] = set()
        self._inflight_lock = threading.Lock()
        self._run_lock: RunLock | None = None
        self._explicit = None if explicit is None else frozenset(explicit)
        self._resume_changes: dict[str, dict[str, Any]] = {}
        self._server = server
        self._schedule: ArrivalSchedule | None = None
        self._records = records

    # -- public -----------------------------------------------------------

    def run(self, *, resume: bool = False) -> RunResult:
        """Capture the run; SIGTERM finishes it cleanly like Ctrl-C (status ``interrupted``)."""
        previous = terminate_as_interrupt()
        try:
            return self._run(resume)
        finally:
            if self._run_lock is not None:
                self._run_lock.release()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _run(self, resume: bool) -> RunResult:
        config = self.config
        run_dir = Path(config.output_dir) / (config.run_name or default_run_name(config))
        events_exist = (run_dir / "events").is_dir() and any((run_dir / "events").iterdir())
        if events_exist and not resume:
            raise LedgerExistsError(
                f"run directory {run_dir} already holds a run",
                hint="choose another --run-name, or add --resume to finish it",
            )
        if resume and not events_exist:
            raise UsageError(f"--resume: {run_dir} holds no run to resume", hint="check --output-dir and --run-name")
        done_records: set[str] = set()
        next_qid = 0
        run_id = uuid.uuid4().hex
        self._run_lock = lock = RunLock(run_dir)
        in_place = False
        if resume:
            lock.acquire()  # before the ledger is read or repaired: one writer per run
            if scan(run_dir).events == 0:
                # killed before its first event was acknowledged: nothing to continue, so start it here afresh
                resume, in_place = False, True
            else:
                config, run_id, done_records, next_qid = self._resume_state(run_dir, lock)
                self.config = config
        records, dataset_info = self._records if self._records is not None and not resume else load_records(config)
        self._schedule = _arrival_schedule(config, sum(1 for r in records if r.record_id not in done_records))
        client = self._client or make_client(config)
        plan = [r for r in records if r.record_id not in done_records]
        warmups = records[: config.warmup_queries] if not resume else []
        try:
            # a socket per stream in flight: the open-files limit must allow them (refused here if it cannot)
            ensure_open_files(config.max_concurrency if client.thread_safe else 1)
            healthy = _healthy(client)
            if healthy is True:
                client.prepare(config.model, {**DEFAULT_GEN, **config.gen_params})
            # everything that can fail about the client or the host fails here, before a ledger exists
            started = RunStarted(
                run_id=run_id,
                t_ns=0,
                wall_time_ns=0,
                ipw_version=__version__,
                config={
                    **config.to_record(),
                    "gen": {**DEFAULT_GEN, **config.gen_params},
                    "client_info": redact(client.describe(config.model)),
                    "dataset_info": redact(dataset_info),
                    "planned_records": [r.record_id for r in records],
                },
                host=host_info(),
                packages=package_versions(),
                resumed=resume,
            )
        except BaseException:
            if self._client is None:
                client.close()
            raise
        if healthy is not True:
            if self._client is None:
                client.close()
            raise ServerUnreachableError(
                f"the {config.client} service at {client.base_url or 'its default address'} does not answer"
                + (f" ({healthy})" if healthy else ""),
                hint="start the server, or point --client-base-url at it; nothing was recorded",
            )
        writer = (
            LedgerWriter.open_append(run_dir, run_id=run_id, lock=lock)
            if resume or in_place
            else LedgerWriter.create(run_dir, run_id=run_id, lock=lock.acquire(create_dir=True))
        )
        progress = Progress(total=len(plan) + len(warmups))
        for observer in self._observers:
            observer.attach(progress)
        status = "failed"
        telemetry = None
        cpu_sampler = None
        energy_note = None
        self._signals = signals = StopOnSignal(lambda: self._on_signal(client))
        try:
            writer.append(msgspec.structs.replace(started, t_ns=time.monotonic_ns(), wall_time_ns=time.time_ns()))
            if self._resume_changes:
                writer.append(Annotation(t_ns=time.monotonic_ns(), key="resume_changed_flags",
                                         value=json.dumps(self._resume_changes, sort_keys=True, default=str)))
            if self._server is not None:
                writer.append(self._server.started_event())
            writer.flush()
            telemetry, energy_note = start_telemetry(config, writer, progress, self._telemetry_factory, self._observers)
            cpu_sampler = HarnessCpuSampler(writer.append).start()  # ipw's own footprint, beside the power samples
            try:
                self._execute(client, writer, warmups, plan, next_qid, progress,
                              bracket=getattr(telemetry, "bracket", None))
                status = "interrupted" if self._stop.is_set() else "completed"
            except KeyboardInterrupt:
                self._stop.set()
                status = "interrupted"
                raise
        finally:
            try:
                if telemetry is not None:
                    telemetry.__exit__(None, None, None)
                if cpu_sampler is not None:
                    cpu_sampler.stop()
                with contextlib.suppress(LedgerError):  # close below reports a failing disk
                    writer.flush()  # runs the commits still waiting, so the counts below are final
                if self._server is not None:
                    writer.append(self._server.stop())  # after the measured window, and before the run ends
                writer.append(
                    RunFinished(
                        t_ns=time.monotonic_ns(),
                        status=status,
                        queries_completed=progress.measured_completed,
                        queries_failed=progress.measured_failed,
                        queries_truncated=progress.measured_truncated,
                    )
                )
                writer.close()
                if self._client is None:
                    client.close()
            finally:
                signals.stop()
        if signals.signalled is not None:
            # the signal came once the queries had ended (during the run's closing): the run is whole,
            # and the caller still hears of the interrupt (a profile does not go on to judge)
            raise KeyboardInterrupt(f"signal {signals.signalled}")
        return RunResult(run_dir, run_id, status, progress.measured_completed, progress.measured_failed, resume,
                         energy_note, progress.measured_truncated)

    def stop(self) -> None:
        """Ask the runner to stop after the queries in flight."""
        self._stop.set()

    def _on_signal(self, client: InferenceClient) -> None:
        """SIGINT or SIGTERM while the queries run (on :class:`StopOnSignal`'s thread): stop now."""
        self._signalled.set()
        self._stop.set()  # queries see it between chunks; a scheduled one not yet due is never sent
        if client.thread_safe:
            client.close()  # the requests in flight end now: a reader blocked on a silent server wakes
        slots = self._slots
        if slots is not None:
            slots.release()  # the scheduler, waiting for a slot, wakes and sees the signal

    # -- internals --------------------------------------------------------

    def _resume_state(self, run_dir: Path, lock: RunLock | None = None) -> tuple[CaptureConfig, str, set[str], int]:
        state = resume_state(run_dir, self.config, self._explicit, lock)
        self._resume_changes = state.changes
        return state.config, state.run_id, state.done_records, state.next_qid

    def _execute(
        self,
        client: InferenceClient,
        writer: LedgerWriter,
        warmups: list[DatasetRecord],
        plan: list[DatasetRecord],
        next_qid: int,
        progress: Progress,
        bracket: Callable[[str], None] | None = None,
    ) -> None:
        config = self.config
        jobs = [(r, True) for r in warmups] + [(r, False) for r in plan]
        concurrency = config.max_concurrency if client.thread_safe else 1
        schedule = self._schedule
        gen = {**DEFAULT_GEN, **config.gen_params}

        serial = self._serial if not client.thread_safe else None

        # a slot per query in flight: the scheduler takes one before it submits a query and the query gives
        # it back when it ends, so each completion costs O(1) (concurrent.futures.wait on the pending set
        # installs a waiter on every future, O(concurrency) per completion)
        slots = self._slots = threading.Semaphore(concurrency)
        errors: list[BaseException] = []  # what stopped a query thread (a ConfigError, say), for the scheduler

        def run_one(qid: int, record: DatasetRecord, warmup: bool, due_ns: int | None) -> None:
            # the query's own thread waits for its arrival: at the due time one thread wakes, not a scheduler
            # that then wakes a worker (two waits for a CPU and the GIL, each up to a switch interval under load)
            if due_ns is not None and not wait_until(due_ns, self._stop):
                slots.release()  # stopped before it was due: never sent, so a resume sends it
                return
            with self._inflight_lock:
                self._inflight.add(qid)  # what a stop records as interrupted if the service stays silent
            try:
                run_query(client, writer, qid, record, warmup, gen, progress, config=config, stop=self._stop,
                          serial=serial, report=self._report)
            except BaseException as exc:
                errors.append(exc)
                raise
            finally:
                with self._inflight_lock:
                    self._inflight.discard(qid)
                slots.release()

        def take_slot() -> None:
            slots.acquire()
            if self._signalled.is_set():  # raised here, between two steps, not wherever the signal landed
                raise KeyboardInterrupt("stopped by a signal")
            if errors:
                raise errors[0]

        if self._signals is not None:
            self._signals.start()  # from here to the ledger's close a signal asks for a stop, never raised mid-step
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ipw-query")
        pending: set[Future[None]] = set()
        origin_ns = 0  # the moment the schedule's offset 0 stands for: when the first measured query is due
        try:
            if schedule is not None:
                _start_workers(pool, min(concurrency, len(jobs)))
            for i, (record, warmup) in enumerate(jobs):
                if self._stop.is_set():
                    break
                take_slot()
                if self._stop.is_set():
                    slots.release()
                    break
                if bracket is not None and i == len(warmups):
                    bracket("start")  # synchronous, short timeout, never raises: the window's first edge
                due_ns = None
                if schedule is not None and not warmup:
                    if i == len(warmups):  # after the bracket read, so its time does not make the first query late
                        origin_ns = time.monotonic_ns()
                        writer.append(Annotation(t_ns=origin_ns, key="arrival_schedule",
                                                 value=schedule.annotation_value()))
                    due_ns = origin_ns + round(schedule.offsets_s[i - len(warmups)] * 1e9)
                # a query holds its slot from here, as it did while the scheduler waited for it: slots are taken
                # in order, and each query starts at its due time or at the first free slot after it
                future = pool.submit(run_one, next_qid + i, record, warmup, due_ns)
                pending.add(future)
                future.add_done_callback(pending.discard)
            for _ in range(concurrency):  # every slot back: every query ended
                take_slot()
            if bracket is not None and len(jobs) > len(warmups):
                bracket("end")
        except BaseException:
            self._stop.set()
            if client.thread_safe:
                # an HTTP client: closing it ends what it can of the requests in flight
                client.close()
            # queries see the stop between chunks; a server that says nothing at all is not waited for
            wait(list(pending), timeout=STOP_GRACE_S)
            pool.shutdown(wait=False, cancel_futures=True)
            with self._inflight_lock:
                stuck = sorted(self._inflight)
                self._inflight.clear()
            for qid in stuck:
                writer.append(interrupted(qid, message="the run was interrupted while the service was silent"))
            raise
        pool.shutdown(wait=True)

    def _report(self, progress: Progress) -> None:
        if self._progress_cb is not None:
            self._progress_cb(progress)


def _start_workers(pool: ThreadPoolExecutor, n: int) -> None:
    """Start ``n`` of the pool's threads now, so no dispatch waits for one to start (``Thread.start`` waits until
    the new thread runs: under load, a wait for the GIL, and a late arrival)."""
    barrier = threading.Barrier(n + 1)  # each task holds its thread until all have one: n threads, not one reused
    try:
        for _ in range(n):
            pool.submit(barrier.wait, WORKER_START_S)
        barrier.wait(WORKER_START_S)
    except BaseException:
        barrier.abort()  # the threads already started let go, and the error goes to the caller
        raise


def _arrival_schedule(config: CaptureConfig, n_measured: int) -> ArrivalSchedule | None:
    """The send times of the measured queries, refused (before any ledger exists) when the trace cannot serve."""
    try:
        return schedule_for(config, n_measured)
    except InputRefused as exc:
        raise UsageError(f"--arrival-trace refused: {exc}",
                         hint="one time in seconds per line, or CSV/JSONL with a timestamp column") from None
    except ValueError as exc:
        raise UsageError(f"--arrival-trace: {exc}", hint="give a longer trace, or fewer queries (--max-queries)") from None


def _healthy(client: InferenceClient) -> bool | str:
    """True when the service answers; otherwise False or why not."""
    try:
        return bool(client.health())
    except IpwError:
        raise
    except Exception as exc:  # a client library failing in an unforeseen way is still "not healthy"
        return f"{type(exc).__name__}: {exc}"

