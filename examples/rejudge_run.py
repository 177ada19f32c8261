"""Re-judge a recorded run with other judges and measure how much the judges agree.

What it shows: judging is a replay. ``ipw record`` captures answers without
scoring them; ``ipw replay --analysis accuracy`` judges them (the ``auto``
scorer picks the right deterministic check per record); replaying again with
``--eval-client exact`` (and ``letter``) appends those judges' verdicts next
to the first ones without asking the model anything; ``--analysis judges``
then reports each judge's accuracy and, per pair, agreement, Cohen's kappa
and the records they disagree on. Judging twice with the same judge makes no
new verdicts.

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

import json
import os
import subprocess
import sys
from pathlib import Path


def ipw(*args: str) -> str:
    """Run one ``ipw`` command and return its stdout; on failure, exit with its code (it printed why)."""
    proc = subprocess.run([sys.executable, "-m", "ipw.cli", *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    return proc.stdout


def accuracy(run: str, *judge_flags: str) -> dict:
    return json.loads(ipw("replay", run, "--analysis", "accuracy", *judge_flags, "--json"))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/examples")
    base_url = os.environ.get("IPW_EXAMPLE_BASE_URL", "http://127.0.0.1:8000/v1")
    model = os.environ.get("IPW_EXAMPLE_MODEL", "gemma")
    scorers = [s.strip() for s in os.environ.get("IPW_EXAMPLE_JUDGES", "exact,letter").split(",") if s.strip()]

    run = ipw(
        "record", "--client", "openai", "--client-base-url", base_url, "--model", model,
        "--client-param", "api=completions", "--max-queries", "6", "--gen-param", "max_tokens=8",
        "--energy", "none", "--output-dir", str(out), "--run-name", "rejudged",
    ).strip()
    print(f"recorded {run}")

    first = accuracy(run)
    print(f"judge {first['judge']}: {first['correct']} correct, {first['incorrect']} incorrect, "
          f"{first['unevaluated']} unevaluated")
    for scorer in scorers:
        again = accuracy(run, "--eval-client", scorer)
        print(f"judge {again['judge']}: {again['correct']} correct, {again['incorrect']} incorrect, "
              f"{again['unevaluated']} unevaluated")
    accuracy(run, "--eval-client", scorers[0])  # idempotent: that judge has judged everything already

    judges = json.loads(ipw("replay", run, "--analysis", "judges", "--json"))
    print(f"{len(judges['judges'])} judges: {', '.join(judges['judges'])}")
    for pair in judges["pairs"]:
        first_judge, second_judge = pair["judges"]
        agreement = "n/a" if pair["agreement"] is None else f"{pair['agreement']:.2f}"
        kappa = "n/a" if pair["kappa"] is None else f"{pair['kappa']:.2f}"
        print(f"  {first_judge} vs {second_judge}: {pair['n_decided']} of {pair['n']} decided by both, "
              f"agreement {agreement}, kappa {kappa}" + (f" ({pair['kappa_note']})" if pair.get("kappa_note") else ""))
        for record in pair["disagreements"]:
            print(f"    disagree on {record['record_id']}")
    print(f"wrote {Path(run) / 'analysis' / 'judges.json'}")


if __name__ == "__main__":
    main()
