"""The capture of an agent run (``--workload agent``): the runner's ledger, lifecycle and telemetry, tasks as the work.

:class:`AgentRunner` is the capture :class:`~ipw.capture.runner.Runner` with
two things replaced: what a run does (each task of the ``agent`` dataset, one
at a time, through :func:`ipw.agent.loop.run_task`) and what a resume counts
as done (a task with a ``task_finished``). Everything else is the runner's:
the run folder, the one-writer lock, ``run_started`` with the task set's hash,
the energy monitor and its bracket reads, the harness CPU sampler, SIGTERM
as a clean stop, and ``run_finished``.

Resume: a task without ``task_finished`` (the run was killed or stopped in
the middle of it) is run again from the start, with a fresh workspace, under
a new task id ``<task>#<attempt>`` (the first attempt's id is the task's own),
so the events of the abandoned attempt stay as they were, and it stays
unfinished; its ``record_id`` ties both attempts to the task. A finished task,
whatever its outcome, is not run again.

Tasks run one at a time, so each tool's CPU time is its own and turns are in
order: ``--max-concurrency`` above 1, ``--request-rate`` and
``--warmup-queries`` are refused.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from ..capture.config import DEFAULT_GEN, CaptureConfig, Progress
from ..capture.datasets.base import DatasetRecord
from ..capture.resume import resume_state
from ..capture.runner import Runner
from ..errors import UsageError
from ..events import TaskStarted
from .loop import AgentContext, run_task
from .tasks import settings_from, task_of

__all__ = ["AgentRunner", "AGENT_DATASET", "DEFAULT_AGENT_MAX_TOKENS", "is_agent_run", "agent_config"]

AGENT_DATASET = "agent"
DEFAULT_AGENT_MAX_TOKENS = 1024  # a program written in one tool call needs room; the dataset default of 16 has none


def agent_config(config: CaptureConfig) -> CaptureConfig:
    """``config`` made an agent run's: its refusals checked, a generous ``max_tokens`` unless one was given."""
    if config.dataset != AGENT_DATASET:
        raise UsageError(f"the agent workload runs the '{AGENT_DATASET}' task set, not dataset '{config.dataset}'",
                         hint="drop --dataset; give your own tasks with --tasks FILE")
    if config.client != "openai":
        raise UsageError(f"the built-in agent speaks the OpenAI tools API; --client {config.client} does not",
                         hint="use --client openai with --client-base-url pointing at an OpenAI-compatible server")
    refused = [flag for flag, bad in (("--max-concurrency", config.max_concurrency != 1),
                                      ("--request-rate", config.request_rate is not None),
                                      ("--warmup-queries", config.warmup_queries != 0)) if bad]
    if refused:
        raise UsageError(f"the agent workload runs its tasks one at a time: {', '.join(refused)} cannot apply",
                         hint="leave them out")
    if str(config.client_params.get("api", "chat")).lower() != "chat":
        raise UsageError("the built-in agent needs the chat API", hint="drop --client-param api=completions")
    settings_from(config.dataset_params)  # a bad setting is refused before anything runs
    config.gen_params.setdefault("max_tokens", DEFAULT_AGENT_MAX_TOKENS)
    return config


def is_agent_run(config: CaptureConfig, resume: bool) -> bool:
    """Whether capturing ``config`` is an agent run: asked for, or (on ``--resume``) what the run holds."""
    if config.dataset == AGENT_DATASET:
        return True
    if not resume:
        return False
    from ..ledger import LedgerReader

    run_dir = Path(config.output_dir) / (config.run_name or "")
    if not config.run_name or not (run_dir / "events").is_dir():
        return False
    try:
        for event in LedgerReader(run_dir).events(kinds={"run_started"}):
            return getattr(event, "config", {}).get("dataset") == AGENT_DATASET
    except Exception:  # an unreadable ledger: the runner's own resume says what is wrong with it
        return False
    return False


class AgentRunner(Runner):
    """Runs the tasks of one agent run into one ledger (see the module docstring)."""

    def __init__(self, config: CaptureConfig, *, progress: Callable[[Progress], None] | None = None, **kw: Any) -> None:
        if config.dataset != AGENT_DATASET:  # a resume names the run, not its dataset
            config.dataset = AGENT_DATASET
        super().__init__(agent_config(config), progress=progress, **kw)
        self._attempts: Counter[str] = Counter()  # task_started events so far, per task

    def _resume_state(self, run_dir: Path, lock: Any = None) -> tuple[CaptureConfig, str, set[str], int]:
        from ..ledger import read_events

        state = resume_state(run_dir, self.config, self._explicit, lock)
        self._resume_changes = state.changes
        started: dict[str, str] = {}
        finished: set[str] = set()
        for event in read_events(run_dir, kinds={"task_started", "task_finished"}):
            if isinstance(event, TaskStarted):
                started[event.task_id] = event.record_id
                self._attempts[event.record_id] += 1
            else:
                finished.add(event.task_id)  # type: ignore[attr-defined]
        done = {record for task, record in started.items() if task in finished}
        return agent_config(state.config), state.run_id, done, state.next_qid

    def _execute(self, client: Any, writer: Any, warmups: list[DatasetRecord], plan: list[DatasetRecord],
                 next_qid: int, progress: Progress, bracket: Callable[[str], None] | None = None) -> None:
        config = self.config
        if not hasattr(client, "send"):  # the openai client's one send path (ipw.agent.chat uses it)
            raise UsageError(f"the built-in agent needs the openai client, not {type(client).__name__}")

        def on_query(ok: bool) -> None:
            progress.count(ok=ok, warmup=False)
            self._report(progress)

        ctx = AgentContext(client=client, writer=writer, model=config.model,
                           gen={**DEFAULT_GEN, **config.gen_params},
                           settings=settings_from(config.dataset_params), query_ids=itertools.count(next_qid),
                           stop=self._stop, max_retries=config.max_retries, retry_backoff_s=config.retry_backoff_s,
                           on_query=on_query)
        if bracket is not None and plan:
            bracket("start")
        for record in plan:
            if self._stop.is_set():
                break
            self._attempts[record.record_id] += 1
            attempt = self._attempts[record.record_id]
            task_id = record.record_id if attempt == 1 else f"{record.record_id}#{attempt}"
            run_task(ctx, task_of(record), task_id)
        if bracket is not None and plan:
            bracket("end")
