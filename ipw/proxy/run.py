"""A proxy session: one run's ledger open, the energy monitor running, the server answering, then closed.

The run is an ordinary ipw run: ``run_started`` (``config.workload`` is
``proxy``), power samples and the harness's CPU time as in ``ipw record``,
a query per model call, and ``run_finished`` at the end. A stop (Ctrl-C,
SIGTERM, :meth:`ProxyRun.stop`) ends every open task with ``unknown`` and
records ``run_finished``: ``completed`` when no call was in flight,
``interrupted`` when one was (that call is recorded as interrupted).

``resume=True`` continues a run that was stopped or killed: its ledger is
repaired to the last acknowledged frame, calls left without an end are
recorded as interrupted, query ids go on from the last one, and the tasks it
left open continue as :meth:`~.tasks.TaskRouter.resume` says.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import LedgerExistsError, UsageError
from ..events import QueryFailed, QueryFinished, QueryStarted, RunFinished, RunStarted, TaskFinished, TaskStarted
from ..ledger import LedgerWriter, read_events, scan
from ..ledger.lock import RunLock
from ..secrets import register_url, scrub
from ..capture.config import Progress
from ..capture.host import host_info, package_versions
from ..capture.lifecycle import start_telemetry
from ..capture.telemetry import HarnessCpuSampler
from .record import CallRecorder
from .server import ProxyServer
from .tasks import TaskRouter

__all__ = ["ProxyConfig", "ProxyRun", "LOOPBACK_HOSTS"]

STOP_GRACE_S = 2.0  # how long a stop waits for the calls in flight to end
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class ProxyConfig:
    """The settings of one ``ipw proxy`` session."""

    upstream: str
    host: str = "127.0.0.1"
    port: int = 8080
    task_gap_s: float = 30.0
    output_dir: str = "runs"
    run_name: str | None = None
    energy: str = "auto"
    sample_interval_ms: int = 100
    cpu_tdp_w: float | None = None
    durable_ack: bool = True

    def validate(self) -> None:
        if not self.upstream.startswith(("http://", "https://")):
            raise UsageError(f"--upstream {self.upstream!r} is not an http(s) URL",
                             hint="e.g. --upstream http://127.0.0.1:8000/v1")
        if self.task_gap_s <= 0:
            raise UsageError(f"--task-gap-s {self.task_gap_s} must be above 0", hint="e.g. --task-gap-s 30")
        if self.energy not in ("auto", "none"):
            from ..registry import REGISTRY

            unknown = [n for n in self.energy.split(",") if n.strip() not in REGISTRY.ids("collectors")]
            if unknown:
                raise UsageError(f"--energy: unknown collector(s) {', '.join(unknown)}",
                                 hint=f"use auto, none, or a comma list of: {', '.join(REGISTRY.ids('collectors'))}")
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port} is not a TCP port", hint="use 1-65535, or 0 for any free port")

    def run_dir(self) -> Path:
        name = self.run_name or "proxy_" + time.strftime("%Y%m%d-%H%M%S")
        return Path(self.output_dir) / name

    def to_record(self) -> dict[str, Any]:
        return {**asdict(self), "upstream": scrub(self.upstream), "workload": "proxy", "client": "proxy",
                "model": "", "dataset": "proxy"}


class ProxyRun:
    """One proxy session; :meth:`start`, then :meth:`serve` (blocks) or :meth:`serve_in_thread`, then :meth:`close`."""

    def __init__(self, config: ProxyConfig, *, telemetry: Any = None) -> None:
        config.validate()
        register_url(config.upstream)
        self.config = config
        self.run_dir = config.run_dir()
        self._telemetry_factory = telemetry
        self._stop = threading.Event()
        self._lock: RunLock | None = None
        self.writer: LedgerWriter | None = None
        self.server: ProxyServer | None = None
        self.recorder: CallRecorder | None = None
        self._telemetry: Any = None
        self._cpu: HarnessCpuSampler | None = None
        self.energy_note: str | None = None
        self.status: str | None = None

    @property
    def url(self) -> str:
        """The base URL an agent is given: ``http://HOST:PORT/v1``."""
        assert self.server is not None
        host, port = self.server.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/v1"

    def start(self, *, resume: bool = False) -> "ProxyRun":
        events_dir = self.run_dir / "events"
        exists = events_dir.is_dir() and any(events_dir.iterdir())
        if exists and not resume:
            raise LedgerExistsError(f"run directory {self.run_dir} already holds a run",
                                    hint="choose another --run-name, or add --resume to continue it")
        lock = self._lock = RunLock(self.run_dir)
        lock.acquire(create_dir=True)
        try:
            if resume and exists and scan(self.run_dir).events:
                writer = self.writer = LedgerWriter.open_append(self.run_dir, lock=lock)
                first_qid, open_tasks, gap_serial, dangling = _resume_state(self.run_dir)
            else:
                writer = self.writer = LedgerWriter.create(self.run_dir, run_id=uuid.uuid4().hex, lock=lock) \
                    if not exists else LedgerWriter.open_append(self.run_dir, lock=lock)
                first_qid, open_tasks, gap_serial, dangling = 0, {}, 0, []
                resume = False
            writer.append(RunStarted(run_id=writer.run_id, t_ns=time.monotonic_ns(), wall_time_ns=time.time_ns(),
                                     ipw_version=__version__, config=self.config.to_record(), host=host_info(),
                                     packages=package_versions(), resumed=resume))
            for qid in dangling:
                writer.append(QueryFailed(query_id=qid, t_ns=time.monotonic_ns(), error_type="Interrupted",
                                          message="the proxy stopped while this call was in flight"))
            router = TaskRouter(writer.append, gap_s=self.config.task_gap_s)
            router.resume(open_tasks, gap_serial)
            self.recorder = CallRecorder(writer, router, first_query_id=first_qid, durable_ack=self.config.durable_ack)
            self.server = ProxyServer(self.config.upstream, self.recorder, host=self.config.host, port=self.config.port)
            writer.flush()
            self._telemetry, self.energy_note = start_telemetry(self.config, writer, Progress(total=0),
                                                                self._telemetry_factory)
            self._cpu = HarnessCpuSampler(writer.append).start()
        except BaseException:
            self.close("failed")
            raise
        return self

    def serve(self) -> None:
        """Answer the agent until :meth:`stop` (or a KeyboardInterrupt in this thread)."""
        assert self.server is not None
        self.server.serve(self._stop)

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve, name="ipw-proxy", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def close(self, status: str | None = None) -> str:
        """End the session: tasks, ``run_finished``, ledger closed, monitor stopped; returns the run's status."""
        self._stop.set()
        recorder, writer = self.recorder, self.writer
        deadline = time.monotonic() + STOP_GRACE_S
        while status is None and recorder is not None and recorder.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)  # a call whose answer is ending: let its record become durable
        in_flight = sorted(recorder.in_flight) if recorder is not None else []
        if status is None:
            status = "interrupted" if in_flight else "completed"
        if self.server is not None:
            self.server.close()
        try:
            if self._telemetry is not None:
                self._telemetry.__exit__(None, None, None)
            if self._cpu is not None:
                self._cpu.stop()
            if writer is not None:
                for qid in in_flight:
                    writer.append(QueryFailed(query_id=qid, t_ns=time.monotonic_ns(), error_type="Interrupted",
                                              message="the proxy stopped while this call was in flight"))
                if recorder is not None:
                    recorder.router.finish_all("the proxy stopped before the agent reported an outcome")
                writer.append(RunFinished(t_ns=time.monotonic_ns(), status=status,
                                          queries_completed=recorder.completed if recorder else 0,
                                          queries_failed=recorder.failed if recorder else 0))
                writer.close()
        finally:
            self.writer = None
            self._telemetry = self._cpu = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None
        self.status = status
        return status


def _resume_state(run_dir: Path) -> tuple[int, dict[str, tuple[str, int]], int, list[int]]:
    """(next query id, open tasks {id: (source, turns)}, last gap serial, calls left without an end)."""
    kinds = {"query_started", "query_finished", "query_failed", "task_started", "task_finished"}
    started: set[int] = set()
    ended: set[int] = set()
    tasks: dict[str, tuple[str, int]] = {}
    turns: dict[str, int] = {}
    gap_serial = 0
    for event in read_events(run_dir, kinds=kinds):
        if isinstance(event, QueryStarted):
            started.add(event.query_id)
            if event.task_id is not None and event.turn is not None:
                turns[event.task_id] = max(turns.get(event.task_id, 0), event.turn)
        elif isinstance(event, (QueryFinished, QueryFailed)):
            ended.add(event.query_id)
        elif isinstance(event, TaskStarted):
            tasks[event.task_id] = (event.source, 0)
            turns[event.task_id] = 0
            if event.source == "gap" and event.task_id.startswith("gap-") and event.task_id[4:].isdigit():
                gap_serial = max(gap_serial, int(event.task_id[4:]))
        elif isinstance(event, TaskFinished):
            tasks.pop(event.task_id, None)
    open_tasks = {task_id: (source, turns.get(task_id, 0)) for task_id, (source, _) in tasks.items()}
    next_qid = max(started | ended, default=-1) + 1
    return next_qid, open_tasks, gap_serial, sorted(started - ended)
