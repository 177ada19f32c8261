"""``study_report_s_1000_runs``: ``ipw study report`` over 1,000 synthetic cells of 50 queries each.

Setup (not timed): a 10 × 100 matrix, each cell a ledger written with fsync
off — run_started, 50 overlapping queries of 16 tokens, power samples at
100 Hz, a verdict per query, run_finished. Timed: replaying every cell and
writing report.json and the figures, as ``ipw study report`` does.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _data import run_events  # noqa: E402

N_CELLS = 1000
QUERIES_PER_CELL = 50


def make_study(root: Path) -> Path:
    from ipw.events import RunFinished, RunStarted, Verdict
    from ipw.ledger import LedgerWriter
    from ipw.studies import StudyState, parse_spec

    spec = parse_spec(
        f'name = "bench"\noutput_dir = "{root}"\n[base]\nclient = "openai"\nmodel = "m"\nmax_queries = {QUERIES_PER_CELL}\n'
        "[matrix]\nmax_concurrency = [" + ", ".join(str(i) for i in range(1, 11)) + "]\n"
        '"gen_param.max_tokens" = [' + ", ".join(str(i) for i in range(1, N_CELLS // 10 + 1)) + "]\n")
    state = StudyState.open(spec)
    body = run_events(QUERIES_PER_CELL, 16)
    end_ns = body[-1].t_ns
    for i, cell in enumerate(state.cells):
        verdicts = [Verdict(query_id=q, t_ns=end_ns + 1, judge="scorer:numeric/v1", is_correct=(q + i) % 3 != 0)
                    for q in range(QUERIES_PER_CELL)]
        with LedgerWriter.create(state.run_dir(cell["name"]), run_id=f"cell{i}", fsync=False,
                                 flush_interval_s=0) as writer:
            writer.append(RunStarted(run_id=f"cell{i}", t_ns=body[0].t_ns - 1, wall_time_ns=0,
                                     config={"client": "openai", "model": "m"}))
            writer.extend(body)
            writer.extend(verdicts)
            writer.append(RunFinished(t_ns=end_ns + 2, status="completed", queries_completed=QUERIES_PER_CELL))
        cell["status"] = "completed"
    state.save()
    return spec.study_dir


def run_study_benchmark(repeats: int = 3) -> dict[str, Any]:
    from ipw.studies import build_report

    tmp = Path(tempfile.mkdtemp(prefix="ipw-bench-study-"))
    try:
        study_dir = make_study(tmp)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            report = build_report(study_dir)
            times.append(time.perf_counter() - t0)
        assert len(report["rows"]) == N_CELLS and all(r["accuracy"] is not None for r in report["rows"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    times.sort()
    return {"study_report_s_1000_runs": round(times[len(times) // 2], 3)}


if __name__ == "__main__":
    print(run_study_benchmark())
