"""Judging a run of LLM-graded benchmark records through a judge server on loopback.

The server is a real HTTP server on 127.0.0.1 standing in for a hosted judge
model (unreachable from tests): it speaks ``/chat/completions``, keeps every
request body, and grades as it is told by a marker in the model's answer, in
whatever format the prompt it was sent asks for. The judge is chosen and
built as ``ipw replay`` does (:func:`judge_for_run`), and talks to it with
the real ``openai`` SDK over real sockets.
"""

from __future__ import annotations

import http.server
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from ._judging_support import chat_response, write_run
from ipw.analyses.accuracy import AccuracyProjection
from ipw.events import Verdict
from ipw.judging.apply import judge_run
from ipw.judging.llm import LLMJudge
from ipw.judging.prompts import JudgeItem
from ipw.judging.select import EvalFlags, judge_for_run
from ipw.ledger import LedgerWriter
from ipw.replay import load_run
from tests._servers import loopback_http

SQ = "llm:simpleqa"
RECORDS: list[dict[str, Any]] = [
    {"record_id": "sq-right", "subject": "geography", "scorer": SQ, "problem": "Capital of France?",
     "reference": "Paris", "answer": "Paris. [grade:CORRECT]"},
    {"record_id": "sq-wrong", "subject": "geography", "scorer": SQ, "problem": "Capital of Peru?",
     "reference": "Lima", "answer": "Cusco. [grade:INCORRECT]"},
    {"record_id": "sq-hedged", "subject": "geography", "scorer": SQ, "problem": "Capital of Chad?",
     "reference": "N'Djamena", "answer": "Maybe Abéché or Moundou, I am not sure. [grade:NOT_ATTEMPTED]"},
    {"record_id": "sq-garbled", "subject": "geography", "scorer": SQ, "problem": "Capital of Fiji?",
     "reference": "Suva", "answer": "Suva. [grade:garbage]"},
    {"record_id": "nr-1", "subject": "physics", "scorer": "llm:natural-reasoning", "problem": "Why is the sky blue?",
     "reference": "Rayleigh scattering", "answer": "Short wavelengths scatter more. [grade:CORRECT]"},
    {"record_id": "wc-1", "subject": "English", "scorer": "llm:wildchat", "problem": "Write me a haiku about rain",
     "reference": "Soft rain on the roof...", "answer": "Grey clouds gather low. [grade:ACCEPTABLE]"},
    {"record_id": "mc-1", "subject": "geography", "scorer": "letter", "choices": ["Rome", "Paris", "Oslo"],
     "problem": "Capital of France?\nA. Rome\nB. Paris\nC. Oslo", "reference": "B", "answer": "B"},
]


class LoopbackJudge:
    """What the loopback judge was sent, and how it answers: by the ``[grade:X]`` marker in the response."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.base_url = ""

    @staticmethod
    def answer(prompt: str) -> str:
        if "ANSWER: <letter or NONE>" in prompt:
            return "ANSWER: B"
        grade = re.search(r"\[grade:(\w+)\]", prompt)
        if grade is None or grade.group(1) == "garbage":
            return "Hmm, hard to say; partly right perhaps."
        label = "GRADE" if "GRADE: NOT_ATTEMPTED" in prompt else "VERDICT"
        return f"Checked against the reference.\n{label}: {grade.group(1)}"

    def prompt_for(self, marker: str) -> list[dict[str, str]]:
        """The messages of the one request whose response section holds ``marker``."""
        found = [b["messages"] for b in self.bodies if marker in b["messages"][-1]["content"]]
        assert len(found) == 1, f"{len(found)} requests for {marker!r}"
        return found[0]


@pytest.fixture
def server() -> Iterator[LoopbackJudge]:
    judge = LoopbackJudge()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's spelling)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            judge.bodies.append(body)
            payload = json.dumps(chat_response(judge.answer(body["messages"][-1]["content"]), body["model"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args: object) -> None:
            return None

    with loopback_http(Handler) as url:
        judge.base_url = url
        yield judge


def _judge(run: Path, server: LoopbackJudge, tmp_path: Path, **kw: Any) -> Any:
    flags = EvalFlags(base_url=server.base_url, model="judge-model")
    return judge_for_run(load_run(run), flags, env={}, dotenv_path=tmp_path / "none.env", **kw)


def _verdicts(run: Path, spec: str) -> dict[str, Any]:
    view = load_run(run)
    return {view.queries[qid].record_id: v for qid, v in view.verdicts_by_judge()[spec].items()}


def test_simpleqa_grades_become_verdicts_and_accuracy_counts_not_attempted_as_unevaluated(
    tmp_path: Path, server: LoopbackJudge
) -> None:
    run = write_run(tmp_path / "run", RECORDS)
    judge = _judge(run, server, tmp_path)
    assert isinstance(judge, LLMJudge) and judge.spec == "llm:openai:judge-model:ipw-judge/v2"
    report = judge_run(run, judge)
    assert (report.appended, report.errors, report.unevaluated) == (len(RECORDS), 0, 2)
    assert len(server.bodies) == len(RECORDS)

    got = _verdicts(run, judge.spec)
    meta = {rid: json.loads(v.metadata) for rid, v in got.items()}
    assert got["sq-right"].is_correct is True and meta["sq-right"]["grade"] == "CORRECT"
    assert got["sq-wrong"].is_correct is False and meta["sq-wrong"]["grade"] == "INCORRECT"
    hedged = got["sq-hedged"]
    assert hedged.is_correct is None and hedged.score is None
    assert meta["sq-hedged"]["outcome"] == "not_attempted" and meta["sq-hedged"]["grade"] == "NOT_ATTEMPTED"
    garbled = meta["sq-garbled"]
    assert got["sq-garbled"].is_correct is None and garbled["outcome"] == "unparsed"
    assert "GRADE" in garbled["reason"] and "grade" not in garbled and garbled["raw"].startswith("Hmm")
    for rid in ("sq-right", "sq-wrong", "sq-hedged", "sq-garbled"):
        assert meta[rid]["grader"] == "llm:simpleqa/v1" and meta[rid]["template"] == "simpleqa/v1"
    assert "NOT_ATTEMPTED" in server.prompt_for("[grade:NOT_ATTEMPTED]")[1]["content"]

    accuracy = AccuracyProjection().compute(load_run(run), {})
    assert accuracy["judge"] == judge.spec
    # correct: sq-right, nr-1, wc-1, mc-1; incorrect: sq-wrong; NOT_ATTEMPTED and the unparsed grade decide nothing
    assert (accuracy["correct"], accuracy["incorrect"], accuracy["unevaluated"]) == (4, 1, 2)
    assert accuracy["unevaluated_detail"] == {"no_verdict": 0, "no_decision": 2}
    assert accuracy["accuracy"] == pytest.approx(4 / 5)
    assert accuracy["by_subject"]["geography"]["unevaluated"] == 2


def test_each_family_gets_its_prompt_and_spec_and_a_mixed_run_keeps_multiple_choice(
    tmp_path: Path, server: LoopbackJudge
) -> None:
    run = write_run(tmp_path / "run", RECORDS)
    judge = _judge(run, server, tmp_path)
    judge_run(run, judge)
    meta = {rid: json.loads(v.metadata) for rid, v in _verdicts(run, judge.spec).items()}

    nr_system, nr_user = (m["content"] for m in server.prompt_for("Short wavelengths scatter more."))
    assert "Equivalent forms are the same answer" in nr_user and "Rayleigh scattering" in nr_user
    assert nr_user.rstrip().endswith("VERDICT: INCORRECT") and "NOT_ATTEMPTED" not in nr_user
    assert "impartial grader" in nr_system
    assert (meta["nr-1"]["grader"], meta["nr-1"]["template"]) == ("llm:natural-reasoning/v1", "natural-reasoning/v1")

    wc_system, wc_user = (m["content"] for m in server.prompt_for("Grey clouds gather low."))
    assert "reviewer of a chat assistant" in wc_system
    assert "User's message:\nWrite me a haiku about rain" in wc_user and "not an answer key" in wc_user
    assert wc_user.rstrip().endswith("VERDICT: UNACCEPTABLE")
    assert (meta["wc-1"]["grader"], meta["wc-1"]["grade"]) == ("llm:wildchat/v1", "ACCEPTABLE")

    # the multiple-choice record of the mixture keeps its letter prompt, and no family grader
    assert "ANSWER: <letter or NONE>" in server.prompt_for("Capital of France?\nA. Rome")[1]["content"]
    assert meta["mc-1"]["template"] == "mcq/v1" and "grader" not in meta["mc-1"]


def test_rejudging_the_same_run_appends_nothing(tmp_path: Path, server: LoopbackJudge) -> None:
    run = write_run(tmp_path / "run", RECORDS)
    judge_run(run, _judge(run, server, tmp_path))
    before = {p.name: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    asked = len(server.bodies)

    again = _judge(run, server, tmp_path)  # built afresh, as a second 'ipw replay' would
    report = judge_run(run, again)
    assert (report.calls, report.appended, report.already_judged) == (0, 0, len(RECORDS))
    assert len(server.bodies) == asked
    assert {p.name: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before
    # and a rerun that reuses the recorded judge finds nothing left to ask
    assert judge_for_run(load_run(run), reuse_recorded=True, env={}, dotenv_path=tmp_path / "none.env") is None


def test_the_recorded_v2_judge_is_rebuilt_with_its_prompt_set(tmp_path: Path, server: LoopbackJudge) -> None:
    spec = "llm:openai:judge-model:ipw-judge/v2"
    run = write_run(tmp_path / "run", RECORDS[:3], config={
        "model": "m", "eval": {"judge": spec, "client": "openai", "base_url": server.base_url,
                               "model": "judge-model"}})
    with LedgerWriter.open_append(run) as writer:  # an earlier pass judged the first answer only
        writer.append(Verdict(query_id=1, t_ns=1_000, judge=spec, is_correct=True, score=1.0,
                              metadata=json.dumps({"outcome": "parsed"})))
    rebuilt = judge_for_run(load_run(run), reuse_recorded=True, env={}, dotenv_path=tmp_path / "none.env")
    assert isinstance(rebuilt, LLMJudge) and rebuilt.spec == spec and rebuilt.prompts == "ipw-judge/v2"
    assert judge_run(run, rebuilt).appended == 2
    assert "GRADE: NOT_ATTEMPTED" in server.prompt_for("[grade:NOT_ATTEMPTED]")[1]["content"]


def test_an_empty_simpleqa_answer_is_not_attempted_without_asking(server: LoopbackJudge) -> None:
    judge = LLMJudge(server.base_url, "judge-model", prompts="ipw-judge/v2")
    result = judge.judge(JudgeItem(query_id=1, answer_text="  ", problem="Capital of France?", reference="Paris",
                                   scorer=SQ))
    assert (result.is_correct, result.score) == (None, None)
    assert result.metadata["outcome"] == "not_attempted" and result.metadata["grade"] == "NOT_ATTEMPTED"
    other = judge.judge(JudgeItem(query_id=2, answer_text="", problem="Why?", reference="Because",
                                  scorer="llm:natural-reasoning"))
    assert other.is_correct is False and other.metadata["outcome"] == "empty_answer"
    assert server.bodies == []
    judge.close()


def test_the_auto_scorer_leaves_family_records_to_the_llm_judge() -> None:
    from ipw.judging.apply import ScorerJudge
    from ipw.judging.dispatch import AutoScorer

    reason = ScorerJudge(AutoScorer()).unjudgeable(JudgeItem(query_id=1, answer_text="Paris", reference="Paris",
                                                             scorer=SQ))
    assert reason == "the record names no deterministic scorer (it needs an LLM judge)"
