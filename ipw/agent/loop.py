"""The built-in agent's loop: one task, from its prompt to the check's verdict, written as events.

A task is ``task_started``, then turns, then ``task_finished``. A turn is one
model call (a query of the run: ``query_started`` with the task and turn,
a ``token`` per streamed piece of text or tool arguments, ``query_finished``)
and then, in order, each tool call it asked for (``tool_call_started``,
``tool_call_finished`` with the wall time and the CPU seconds of the
sandboxed process). The loop ends when:

    solved / failed   the model answered without a tool call; the task's check ran in the
                      sandbox over the workspace and exited 0 (solved) or not (failed)
    out_of_turns      ``max_turns`` model calls were made and the last still asked for tools
    out_of_time       ``budget_s`` wall seconds passed (a model call or tool is cut off)
    error             a model call failed for good, or the check could not run at all

A model call cut off by the budget is a ``query_failed`` (``BudgetSpent``) and
counts as a failed query of the run, like any call that did not answer.

A stop (Ctrl-C, SIGTERM) leaves the task without ``task_finished``: it was
neither solved nor failed, and ``--resume`` runs it again from the start.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import msgspec

from ..capture._query import interrupted
from ..capture.backoff import retry_delay_s
from ..capture.clients.base import client_error, finish_reason_text, token_cap
from ..errors import AnswerTooLongError, ClientError
from ..events import QueryFailed, QueryFinished, QueryStarted, TaskFinished, TaskStarted, Token, ToolCallFinished, \
    ToolCallStarted
from ..secrets import scrub
from .chat import BudgetSpent, ChatReply, stream_chat
from .sandboxed import SandboxUnavailable, run_in_workspace
from .tasks import AgentSettings, AgentTask
from .tools import TOOL_SCHEMAS, run_tool
from .workspace import Workspace

__all__ = ["AgentContext", "SYSTEM_PROMPT", "run_task"]

SYSTEM_PROMPT = (
    "You are an agent working in a workspace folder. Use the tools (python, read_file, write_file, calculator) "
    "to do the task. When the task is done, answer with a short message and no tool call."
)
CHECK_TIMEOUT_S = 30.0
MAX_TOOL_TEXT = 4000  # what an event keeps of a tool's arguments or output


@dataclass
class AgentContext:
    """What every task of a run shares: the client, the ledger, the settings, the query ids, the stop."""

    client: Any  # an OpenAIClient
    writer: Any  # a LedgerWriter
    model: str
    gen: dict[str, Any]
    settings: AgentSettings
    query_ids: Iterator[int]
    stop: threading.Event
    max_retries: int = 2
    retry_backoff_s: float = 0.5
    on_query: Callable[[bool], None] = lambda ok: None  # a model call ended: answered (True) or failed for good


class _Ended(Exception):
    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def run_task(ctx: AgentContext, task: AgentTask, task_id: str) -> str:
    """Run ``task`` as ``task_id`` to its outcome, which is returned and recorded in ``task_finished``."""
    settings = ctx.settings
    ctx.writer.append(TaskStarted(task_id=task_id, t_ns=time.monotonic_ns(), source="agent", name=task.id,
                                  prompt=task.prompt, record_id=task.id, check=task.check,
                                  max_turns=settings.max_turns, budget_s=settings.budget_s))
    ctx.writer.flush()
    deadline = time.monotonic() + settings.budget_s
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT},
                                      {"role": "user", "content": task.prompt}]
    turns = 0
    call_ids: set[str] = set()  # the ids recorded so far: a server may reuse "call_0" every turn
    with tempfile.TemporaryDirectory(prefix="ipw-agent-") as folder:
        workspace = Workspace(Path(folder))
        workspace.seed(task.files)
        try:
            while True:
                if turns >= settings.max_turns:
                    raise _Ended("out_of_turns", f"{turns} turns used and the model still asked for tools")
                turns += 1
                reply = _model_call(ctx, task, task_id, turns, messages, deadline)
                messages.append(reply.message())
                if not reply.tool_calls:
                    break
                for call in reply.tool_calls:
                    left_s = deadline - time.monotonic()
                    if left_s <= 0:
                        raise BudgetSpent("the task's time ran out between tool calls")
                    call_id = call.id if call.id not in call_ids else f"{call.id}@{turns}.{len(call_ids)}"
                    call_ids.add(call_id)
                    output = _tool_call(ctx, task_id, turns, call, call_id, workspace,
                                        min(settings.tool_timeout_s, left_s))
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
            outcome, message = _check(task, workspace)
        except _Ended as ended:
            outcome, message = ended.outcome, str(ended)
        except BudgetSpent as exc:
            outcome, message = "out_of_time", f"{exc} ({settings.budget_s:g} s)"
    ctx.writer.append(TaskFinished(task_id=task_id, t_ns=time.monotonic_ns(), outcome=outcome, turns=turns,
                                   message=scrub(message)))
    ctx.writer.flush()
    return outcome


def _model_call(ctx: AgentContext, task: AgentTask, task_id: str, turn: int, messages: list[dict[str, Any]],
                deadline: float) -> ChatReply:
    """One model call as one query: retried like any query, its pieces written as tokens as they arrive."""
    qid = next(ctx.query_ids)
    body = {"model": ctx.model, "messages": messages, "tools": TOOL_SCHEMAS,
            **{k: v for k, v in ctx.gen.items() if v is not None}}
    if getattr(ctx.client, "stream_usage", False):
        body["stream_options"] = {"include_usage": True}
    started = QueryStarted(query_id=qid, t_ns=0, record_id=task.id, problem=task.prompt, subject="agent",
                           task_id=task_id, turn=turn)
    writer = ctx.writer
    cap = token_cap(ctx.gen)
    for attempt in itertools.count(1):
        start_ns = time.monotonic_ns()
        writer.append(_at(started, start_ns))
        arrivals: list[int] = [0, 0]  # the first piece's time, and the pieces so far

        def on_piece(text: str) -> None:
            now = time.monotonic_ns()
            arrivals[1] += 1
            if arrivals[1] == 1:
                arrivals[0] = now
            if arrivals[1] > cap:
                raise client_error(AnswerTooLongError, f"the answer went on past {cap} pieces and was cut off",
                                   retryable=False, hint="the server does not stop at max_tokens; check its settings")
            writer.append(Token(query_id=qid, t_ns=now, text=text))
            if ctx.stop.is_set():
                raise KeyboardInterrupt("stopped")

        try:
            reply = stream_chat(ctx.client, body, deadline=deadline, on_piece=on_piece)
        except KeyboardInterrupt:
            writer.append(interrupted(qid, attempt))
            writer.flush()
            raise
        except BudgetSpent as exc:
            writer.append(QueryFailed(query_id=qid, t_ns=time.monotonic_ns(), error_type="BudgetSpent",
                                      message=str(exc), attempt=attempt, will_retry=False))
            ctx.on_query(False)
            raise
        except ClientError as exc:
            will_retry = exc.retryable and attempt <= ctx.max_retries and not ctx.stop.is_set() \
                and time.monotonic() < deadline
            writer.append(QueryFailed(query_id=qid, t_ns=time.monotonic_ns(), error_type=type(exc).__name__,
                                      message=scrub(exc.one_line()), attempt=attempt, will_retry=will_retry))
            writer.flush()
            if not will_retry:
                ctx.on_query(False)
                raise _Ended("error", f"the model call of turn {turn} failed: {exc.one_line()}") from exc
            ctx.stop.wait(min(retry_delay_s(exc, attempt, ctx.retry_backoff_s), max(0.0, deadline - time.monotonic())))
            continue
        completion = reply.completion
        assert completion is not None
        writer.append(QueryFinished(
            query_id=qid, t_ns=time.monotonic_ns(), prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens, finish_reason=finish_reason_text(completion.finish_reason),
            ttft_ns=arrivals[0] - start_ns if arrivals[1] else None, usage_source=completion.usage_source,
            truncated=completion.finish_reason is None))
        writer.flush()
        ctx.on_query(True)
        return reply
    raise AssertionError("unreachable")


def _at(event: QueryStarted, t_ns: int) -> QueryStarted:
    return msgspec.structs.replace(event, t_ns=t_ns)


def _tool_call(ctx: AgentContext, task_id: str, turn: int, call: Any, call_id: str, workspace: Workspace,
               wall_s: float) -> str:
    """Run one tool call, recorded under ``call_id`` (unique in the task); returns what the model reads back."""
    writer = ctx.writer
    start_ns = time.monotonic_ns()
    writer.append(ToolCallStarted(task_id=task_id, call_id=call_id, t_ns=start_ns, name=call.name, turn=turn,
                                  arguments=scrub(call.arguments[:MAX_TOOL_TEXT])))
    writer.flush()
    try:
        result = run_tool(call.name, call.arguments, workspace, wall_s=wall_s)
    except KeyboardInterrupt:
        writer.append(ToolCallFinished(task_id=task_id, call_id=call_id, t_ns=time.monotonic_ns(), name=call.name,
                                       wall_ns=time.monotonic_ns() - start_ns, ok=False, error="interrupted"))
        writer.flush()
        raise
    end_ns = time.monotonic_ns()
    writer.append(ToolCallFinished(task_id=task_id, call_id=call_id, t_ns=end_ns, name=call.name,
                                   wall_ns=end_ns - start_ns, cpu_s=result.cpu_s, ok=result.ok,
                                   output=scrub(result.output[:MAX_TOOL_TEXT]), error=scrub(result.error[:MAX_TOOL_TEXT])))
    writer.flush()
    return result.for_model()


def _check(task: AgentTask, workspace: Workspace) -> tuple[str, str]:
    """The check's verdict on the workspace: (solved or failed, what it printed); error if it cannot run."""
    try:
        run = run_in_workspace(workspace, check=task.check, wall_s=CHECK_TIMEOUT_S)
    except SandboxUnavailable as exc:
        return "error", f"the check could not run: {exc}"
    said = (run.stdout + run.stderr).strip()[-500:]
    if run.ok:
        return "solved", said or "the check passed"
    why = f"stopped: {run.reason}" if run.reason else f"exit status {run.returncode}"
    return "failed", f"the check failed ({why})" + (f": {said}" if said else "")
