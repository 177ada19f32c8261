"""Helpers shared by the judging tests: recorded runs and a stand-in judge endpoint.

The endpoint is an ``httpx.MockTransport`` handler; the judge's ``openai`` SDK client
is given an ``httpx.Client`` over it, so every request, retries included, is counted.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx

from ipw.events import Event, QueryFailed, QueryFinished, QueryStarted, RunFinished, RunStarted, Token
from ipw.ledger import LedgerWriter

# A small mixed run: multiple choice, numeric and exact records (deterministic
# scorers apply), an open question without a scorer, plus a warm-up query and a
# query that failed; those two never count.
RECORDS: list[dict[str, Any]] = [
    {"record_id": "mc-1", "subject": "geography", "scorer": "letter", "choices": ["Rome", "Paris", "Oslo"],
     "problem": "Capital of France?", "reference": "B", "answer": "B"},
    {"record_id": "mc-2", "subject": "geography", "scorer": "letter", "choices": ["Rome", "Paris", "Oslo"],
     "problem": "Capital of Norway?", "reference": "C", "answer": "A"},
    {"record_id": "num-1", "subject": "arithmetic", "scorer": "numeric",
     "problem": "What is 6 * 7?", "reference": "42", "answer": "42"},
    {"record_id": "num-2", "subject": "arithmetic", "scorer": "numeric",
     "problem": "What is 9 + 10?", "reference": "19", "answer": "21"},
    {"record_id": "ex-1", "subject": "science", "scorer": "exact",
     "problem": "Chemical symbol of gold?", "reference": "Au", "answer": "Au"},
    {"record_id": "open-1", "subject": "history", "scorer": None,
     "problem": "Who wrote the Odyssey?", "reference": "Homer", "answer": "Homer wrote it."},
]


def write_run(run_dir: Path, records: list[dict[str, Any]], *, config: dict[str, Any] | None = None) -> Path:
    """Record a finished run whose answers are the records' ``answer`` texts."""
    events: list[Event] = [
        RunStarted(run_id=run_dir.name, t_ns=1, wall_time_ns=1_700_000_000_000_000_000,
                   config=config or {"model": "test-model", "client": "stub", "dataset": "inline"}),
        QueryStarted(query_id=0, t_ns=5, record_id="warm", problem="warm up", reference="x", warmup=True,
                     scorer="exact"),
        Token(query_id=0, t_ns=6, text="x"),
        QueryFinished(query_id=0, t_ns=7, completion_tokens=1),
    ]
    t = 10
    for i, rec in enumerate(records, start=1):
        events.append(QueryStarted(
            query_id=i, t_ns=t, record_id=rec["record_id"], problem=rec["problem"], reference=rec["reference"],
            subject=rec["subject"], scorer=rec["scorer"], choices=rec.get("choices"),
        ))
        for piece in re.findall(r"\S+\s*", rec["answer"]):
            t += 1
            events.append(Token(query_id=i, t_ns=t, text=piece))
        t += 1
        events.append(QueryFinished(query_id=i, t_ns=t, completion_tokens=len(rec["answer"].split())))
        t += 10
    failed = len(records) + 1
    events += [
        QueryStarted(query_id=failed, t_ns=t, record_id="broken", problem="?", reference="y", scorer="exact"),
        QueryFailed(query_id=failed, t_ns=t + 1, error_type="ServerTimeoutError", message="timed out", attempt=1),
        RunFinished(t_ns=t + 2, status="completed", queries_completed=len(records), queries_failed=1),
    ]
    with LedgerWriter.create(run_dir, run_id=run_dir.name, flush_interval_s=0) as writer:
        writer.extend(events)
    return run_dir


def chat_response(content: str | None, model: str = "judge-model") -> dict[str, Any]:
    """The body of an OpenAI ``chat.completion`` answer."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
    }


def _section(text: str, title: str) -> str:
    m = re.search(rf"{title}:\n(.*?)\n\n", text, re.S)
    return m.group(1).strip() if m else ""


class FakeJudgeEndpoint:
    """Stands in for OpenAI's hosted ``/chat/completions`` (unreachable from tests).

    It answers like a sensible grader following the template's format: the
    first option letter a multiple-choice response states, or the template's
    positive label when the reference text occurs in the response. ``script``
    holds responses (or exceptions to raise) served first, in order.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.script: list[httpx.Response | Exception | str] = []
        self.always: httpx.Response | Exception | str | None = None

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def http_client(self) -> httpx.Client:
        """An httpx client whose every request, the SDK's retries included, lands here."""
        return httpx.Client(transport=self.transport)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        scripted = self.script.pop(0) if self.script else self.always
        if isinstance(scripted, Exception):
            raise scripted
        if isinstance(scripted, httpx.Response):
            return scripted
        body = json.loads(request.content)
        content = scripted if isinstance(scripted, str) else self.grade(body["messages"][-1]["content"])
        return httpx.Response(200, json=chat_response(content, body["model"]))

    @staticmethod
    def grade(prompt: str) -> str:
        response = _section(prompt, "Response")
        if "ANSWER: <letter or NONE>" in prompt:
            m = re.search(r"\b([A-J])\b", response)
            return f"ANSWER: {m.group(1) if m else 'NONE'}"
        labels = re.findall(r"VERDICT: (\w+)", prompt)
        reference = _section(prompt, "Reference answer")
        good = bool(reference) and reference.lower() in response.lower()
        return f"The response {'matches' if good else 'does not match'}.\nVERDICT: {labels[0] if good else labels[1]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


