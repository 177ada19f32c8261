"""The built-in agent (``--workload agent``): a tool-calling loop over the OpenAI tools API, measured.

Each task of a task set (built in, or JSONL with a prompt and a check
command) is run by :func:`~ipw.agent.loop.run_task`: model calls recorded as
queries of the run with their task and turn, tools (sandboxed Python, a
per-task workspace's files, a calculator) recorded as tool calls with their
wall and CPU time, and the check's verdict as the task's outcome.
:class:`~ipw.agent.runner.AgentRunner` is the capture runner doing that.

Modules: ``tasks`` (the task set, the ``agent`` dataset), ``workspace``
(the folder a task may touch), ``sandboxed`` (programs and checks in the
sandbox over the workspace), ``tools``, ``chat`` (one streamed call with
tools), ``loop`` (one task), ``runner`` (one run).
"""

from __future__ import annotations

__all__: list[str] = []
