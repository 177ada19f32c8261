"""``ipw proxy`` in front of the real llama_cpp.server, driven by an unmodified OpenAI SDK agent loop.

The proxy runs as the user runs it (a subprocess of ``python -m ipw.cli
proxy``); the agent is a few lines of the ``openai`` package with its base URL
pointed at the proxy. What is checked is the ledger: every call with its
tokens, grouped into the tasks the agent declared. Then a ``kill -9`` mid-task
and a ``--resume`` that continues the same task.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from ipw.ledger import verify
from tests._servers import llama_server, packaged_model
from tests.proxy._helpers import events_of, start_proxy

pytestmark = pytest.mark.e2e

MESSAGES = [{"role": "user", "content": "Name one prime number."}]
PROMPT = "The first five prime numbers are"


@pytest.fixture(scope="module")
def upstream() -> str:
    with llama_server(packaged_model()) as base_url:
        yield base_url


def agent_turn(client: openai.OpenAI, stream: bool, **extra: object) -> str:
    """One call of an agent loop, exactly as an agent framework makes it.

    The packaged model is a base model without a chat template, so a chat call
    answers nothing; the turns that must carry tokens use the completions API.
    """
    if stream:
        chunks = client.completions.create(model="gemma", prompt=PROMPT, max_tokens=8, stream=True, temperature=0,
                                           **extra)
        return "".join(c.choices[0].text for c in chunks if c.choices)
    answer = client.completions.create(model="gemma", prompt=PROMPT, max_tokens=8, temperature=0, **extra)
    return answer.choices[0].text


def test_an_sdk_agent_is_recorded_call_by_call_in_its_tasks(upstream: str, tmp_path: Path) -> None:
    url, proc = start_proxy(upstream, tmp_path, "agent", "--energy", "estimate", "--sample-interval-ms", "50")
    secret = "sk-proxy-test-credential-123456"
    try:
        alpha = openai.OpenAI(base_url=url, api_key=secret, default_headers={"X-IPW-Task": "alpha"})
        answers = [agent_turn(alpha, stream=True), agent_turn(alpha, stream=False)]
        beta = openai.OpenAI(base_url=url.replace("/v1", "/task/beta/v1"), api_key=secret)
        chat = beta.chat.completions.create(model="gemma", messages=MESSAGES, max_tokens=4, stream=True)
        answers.append("".join(c.choices[0].delta.content or "" for c in chat if c.choices))
        answers.append(agent_turn(beta, stream=True, extra_headers={"X-IPW-Task-Outcome": "solved"}))  # its last
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    run_dir = Path(out.decode().strip().splitlines()[-1])
    assert verify(run_dir).ok

    started = events_of(run_dir, "QueryStarted")
    finished = {e.query_id: e for e in events_of(run_dir, "QueryFinished")}
    assert [(q.task_id, q.turn) for q in started] == [("alpha", 1), ("alpha", 2), ("beta", 1), ("beta", 2)]
    assert len(finished) == 4
    tokens: dict[int, list] = {}
    for t in events_of(run_dir, "Token"):
        tokens.setdefault(t.query_id, []).append(t)
    for q, answer in zip(started, answers):
        assert "".join(t.text for t in tokens.get(q.query_id, [])) == answer  # every token the agent saw, in order
    for q in (started[0], started[1], started[3]):
        assert finished[q.query_id].completion_tokens >= 1 and tokens[q.query_id]
    assert len(tokens[started[0].query_id]) > 1  # a streamed answer: one timestamped event per token
    assert finished[started[1].query_id].prompt_tokens  # the server's usage of a whole answer
    assert started[0].prompt_text == PROMPT == started[0].problem
    assert json.loads(started[2].prompt_text) == MESSAGES and started[2].problem == MESSAGES[0]["content"]

    tasks = {e.task_id: e for e in events_of(run_dir, "TaskStarted")}
    assert {k: v.source for k, v in tasks.items()} == {"alpha": "header", "beta": "path"}
    ends = {e.task_id: e for e in events_of(run_dir, "TaskFinished")}
    assert ends["alpha"].outcome == "unknown" and ends["alpha"].turns == 2
    assert ends["beta"].outcome == "solved" and ends["beta"].turns == 2  # the header on its last call ended it
    assert events_of(run_dir, "PowerSample"), "the energy monitor ran while the agent worked"
    assert events_of(run_dir, "RunFinished")[-1].status == "completed"
    exported = subprocess.run([sys.executable, "-m", "ipw.cli", "ledger", "export", str(run_dir)],
                              capture_output=True, check=True).stdout
    assert secret.encode() not in exported and secret.encode() not in err


def test_kill_9_mid_task_loses_no_acknowledged_call_and_resume_continues(upstream: str, tmp_path: Path) -> None:
    url, proc = start_proxy(upstream, tmp_path, "killed", "--energy", "none")
    agent = openai.OpenAI(base_url=url, api_key="none", default_headers={"X-IPW-Task": "long"}, max_retries=0)
    done = [agent_turn(agent, stream=True), agent_turn(agent, stream=False)]
    run_dir = tmp_path / "killed"
    # A long answer (the end-of-sequence token is banned, so it runs to max_tokens: many seconds here), and the
    # kill only once the proxy's group commit has put the third call's start on disk: a call whose start never
    # reached the disk is not one the proxy can know it cut.
    long_answer = {"model": "gemma", "prompt": PROMPT, "max_tokens": 200, "stream": True, "logit_bias": {"1": -100}}
    with httpx.stream("POST", url + "/completions", headers={"X-IPW-Task": "long"}, timeout=60, json=long_answer) as r:
        pieces = r.iter_raw()  # held: a dropped generator closes the response, and the agent would have hung up
        next(pieces)  # the third call is streaming
        deadline = time.monotonic() + 30
        while len(events_of(run_dir, "QueryStarted")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(events_of(run_dir, "QueryFinished")) == 2, "the third call ended before the kill"
        proc.kill()
        proc.wait(timeout=30)
    started = events_of(run_dir, "QueryStarted")
    finished = {e.query_id for e in events_of(run_dir, "QueryFinished")}
    assert [q.turn for q in started if q.query_id in finished] == [1, 2]  # both acknowledged calls survived
    assert len(done) == 2

    url, proc = start_proxy(upstream, tmp_path, "killed", "--energy", "none", "--resume")
    try:
        agent = openai.OpenAI(base_url=url, api_key="none", default_headers={"X-IPW-Task": "long"})
        agent_turn(agent, stream=True, extra_headers={"X-IPW-Task-Outcome": "failed"})
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert verify(run_dir).ok
    runs = events_of(run_dir, "RunStarted")
    assert [r.resumed for r in runs] == [False, True] and len({r.run_id for r in runs}) == 1
    started = events_of(run_dir, "QueryStarted")
    assert [(q.query_id, q.task_id, q.turn) for q in started] == [(0, "long", 1), (1, "long", 2), (2, "long", 3),
                                                                   (3, "long", 4)]
    interrupted = [f for f in events_of(run_dir, "QueryFailed") if f.error_type == "Interrupted"]
    assert [f.query_id for f in interrupted] == [2]  # the call cut by the kill, and only it
    assert len(events_of(run_dir, "TaskStarted")) == 1  # the task continued under its id
    (end,) = events_of(run_dir, "TaskFinished")
    assert (end.task_id, end.outcome, end.turns) == ("long", "failed", 4)
