"""Compare two runs that differ in one setting with ``ipw diff``.

What it shows: two profiles (:func:`ipw.api.profile`, what ``ipw profile``
runs) over the same dataset records, the
second allowed twice as many output tokens, then ``ipw diff`` — which
settings differ, which answers flipped between right and wrong, and the
change in accuracy, energy per query and latency with bootstrap 95 %
intervals paired over the shared records. The diff is also saved as
``diff.json`` in the output folder.

How to run it (with any OpenAI-compatible server on this machine, e.g.
``python -m llama_cpp.server`` serving the packaged gemma-3-270m on port 8000):

    IPW_EXAMPLE_BASE_URL=http://127.0.0.1:8000/v1 python examples/compare_runs.py out/

Settings (environment): ``IPW_EXAMPLE_BASE_URL`` (default
http://127.0.0.1:8000/v1), ``IPW_EXAMPLE_MODEL`` (default ``gemma``),
``IPW_EXAMPLE_ENERGY`` (``auto``, the default, or ``none``). The output
folder (first argument, default ``runs/examples``) must not already hold the
runs ``short-answers`` and ``long-answers``.
"""

from __future__ import annotations

import json
import os

from _local import ipw, output_dir, run, server_config
from ipw import api

SETTINGS = {"short-answers": 4, "long-answers": 8}  # run name -> max_tokens


def main() -> None:
    out = output_dir()
    runs = []
    for name, max_tokens in SETTINGS.items():
        config = server_config(out, name, client_params={"api": "completions"}, max_queries=4,
                               gen_params={"max_tokens": max_tokens}, energy=os.environ.get("IPW_EXAMPLE_ENERGY", "auto"))
        runs.append(str(api.profile(config).run.run_dir))

    diff = json.loads(ipw("diff", *runs, "--json"))
    (out / "diff.json").write_text(json.dumps(diff, indent=2, sort_keys=True) + "\n")
    print(f"compared {runs[0]} (A) with {runs[1]} (B)")
    for change in diff["config"]:
        print(f"  setting {change['key']}: {change['a']!r} -> {change['b']!r}")
    flips = diff["accuracy_flips"]
    print(f"  {flips['shared_records']} shared records: {flips['n_right_to_wrong']} right->wrong, "
          f"{flips['n_wrong_to_right']} wrong->right")
    for key, delta in sorted(diff["deltas"].items()):
        if delta["delta"] is None:
            print(f"  {key}: not compared ({delta['note']})")
            continue
        interval = "" if delta["ci_low"] is None else f" [{delta['ci_low']:+.4g}, {delta['ci_high']:+.4g}]"
        print(f"  {key}: {delta['a']:.4g} -> {delta['b']:.4g}, delta {delta['delta']:+.4g}{interval}")
    print(f"wrote {out / 'diff.json'}")
    print()
    print(ipw("diff", *runs), end="")  # the same comparison as a table


if __name__ == "__main__":
    run(main)
