"""The recording proxy: any OpenAI-compatible agent measured through its base URL (``ipw proxy``).

An agent framework pointed at the proxy talks to its model server as before;
every chat/completions call it makes becomes a query of an ordinary ipw run,
grouped into tasks (:mod:`.tasks`), with its tokens timestamped as they pass
(:mod:`.record`, :mod:`.observe`) and the energy monitor running (:mod:`.run`).
The HTTP side is :mod:`.server`.
"""

from __future__ import annotations

from .run import LOOPBACK_HOSTS, ProxyConfig, ProxyRun
from .tasks import OUTCOMES, TaskRouter, task_from_path

__all__ = ["LOOPBACK_HOSTS", "OUTCOMES", "ProxyConfig", "ProxyRun", "TaskRouter", "task_from_path"]
