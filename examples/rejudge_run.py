"""Re-judge a recorded run with other judges and measure how much the judges agree.

What it shows: judging is a replay. Recording (``ipw record``, here
:func:`ipw.api.record`) captures answers without scoring them; the accuracy
analysis (``ipw replay --analysis accuracy``, here :func:`ipw.api.analyse`)
judges them (the ``auto`` scorer picks the right deterministic check per
record); analysing again with another judge (``--eval-client exact``, and
``letter``) appends that judge's verdicts next to the first ones without
asking the model anything; the ``judges`` analysis then reports each
judge's accuracy and, per pair, agreement, Cohen's kappa and the records
they disagree on. Judging twice with the same judge makes no new verdicts.

How to run it (with any OpenAI-compatible server on this machine, e.g.
``python -m llama_cpp.server`` serving the packaged gemma-3-270m on port 8000):

    IPW_EXAMPLE_BASE_URL=http://127.0.0.1:8000/v1 python examples/rejudge_run.py out/

An LLM judge at a local OpenAI-compatible URL is one more replay of the same
run (no key is needed on loopback; a remote one reads IPW_EVAL_API_KEY):

    ipw replay out/rejudged --analysis accuracy --eval-client openai \\
        --eval-base-url http://127.0.0.1:8001/v1 --eval-model my-judge

Settings (environment): ``IPW_EXAMPLE_BASE_URL`` (default
http://127.0.0.1:8000/v1), ``IPW_EXAMPLE_MODEL`` (default ``gemma``),
``IPW_EXAMPLE_JUDGES`` (the scorers to re-judge with, default
``exact,letter``). The output folder (first argument, default
``runs/examples``) must not already hold a run named ``rejudged``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from _local import output_dir, run, server_config
from ipw import api
from ipw.judging.select import make_judge


def accuracy(run: Path, judge: Any = None) -> dict:
    """Judge what ``judge`` (default: the run's own) has not judged yet, then count."""
    return api.analyse(run, ["accuracy"], judge=judge).results["accuracy"]


def main() -> None:
    scorers = [s.strip() for s in os.environ.get("IPW_EXAMPLE_JUDGES", "exact,letter").split(",") if s.strip()]
    recorded = api.record(server_config(output_dir(), "rejudged", client_params={"api": "completions"},
                                        max_queries=6, gen_params={"max_tokens": 8}, energy="none")).run_dir
    print(f"recorded {recorded}")

    first = accuracy(recorded)
    print(f"judge {first['judge']}: {first['correct']} correct, {first['incorrect']} incorrect, "
          f"{first['unevaluated']} unevaluated")
    for scorer in scorers:
        again = accuracy(recorded, make_judge(scorer))
        print(f"judge {again['judge']}: {again['correct']} correct, {again['incorrect']} incorrect, "
              f"{again['unevaluated']} unevaluated")
    accuracy(recorded, make_judge(scorers[0]))  # idempotent: that judge has judged everything already

    judges = api.analyse(recorded, ["judges"]).results["judges"]
    print(f"{len(judges['judges'])} judges: {', '.join(judges['judges'])}")
    for pair in judges["pairs"]:
        first_judge, second_judge = pair["judges"]
        agreement = "n/a" if pair["agreement"] is None else f"{pair['agreement']:.2f}"
        kappa = "n/a" if pair["kappa"] is None else f"{pair['kappa']:.2f}"
        print(f"  {first_judge} vs {second_judge}: {pair['n_decided']} of {pair['n']} decided by both, "
              f"agreement {agreement}, kappa {kappa}" + (f" ({pair['kappa_note']})" if pair.get("kappa_note") else ""))
        for record in pair["disagreements"]:
            print(f"    disagree on {record['record_id']}")
    print(f"wrote {recorded / 'analysis' / 'judges.json'}")


if __name__ == "__main__":
    run(main)
