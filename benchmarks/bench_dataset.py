"""``dataset_load_s_100k_rows``: loading and mapping 100,000 cached rows of a catalogue benchmark (target ≤ 5 s).

An MMLU-Pro-shaped Parquet file of 100,000 rows is laid out in a Hub cache the
way ``huggingface_hub`` leaves it after a download (``snapshots/<sha>/…``,
``refs/main``); the figure is the median time of ``--dataset mmlu-pro`` loading
it offline: resolving the cached snapshot, hashing the file, reading the
Parquet and mapping every row to a record (ten choices each).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_dataset_benchmark"]

_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cache(root: Path, n_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = root / "hub" / "datasets--TIGER-Lab--MMLU-Pro"
    folder = repo / "snapshots" / _COMMIT / "data"
    folder.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(_COMMIT)
    table = pa.table({
        "question_id": list(range(n_rows)),
        "question": [f"Which option is right for question {i}?" for i in range(n_rows)],
        "options": [[f"option {j} of {i}" for j in range(10)] for i in range(n_rows)],
        "answer": ["ABCDEFGHIJ"[i % 10] for i in range(n_rows)],
        "answer_index": [i % 10 for i in range(n_rows)],
        "cot_content": [""] * n_rows,
        "category": [("physics", "law", "math", "history")[i % 4] for i in range(n_rows)],
        "src": ["ori_mmlu"] * n_rows,
    })
    pq.write_table(table, folder / "test-00000-of-00001.parquet")


def run_dataset_benchmark(n_rows: int = 100_000, repeats: int = 3) -> dict[str, Any]:
    from ipw.capture.datasets.benchmarks import benchmark_class

    root = Path(tempfile.mkdtemp(prefix="ipw-bench-hf-"))
    saved = {k: os.environ.get(k) for k in ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE")}
    try:
        _cache(root, n_rows)
        os.environ.update({"HF_HOME": str(root), "HF_HUB_OFFLINE": "1"})
        os.environ.pop("HF_HUB_CACHE", None)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            records = benchmark_class("mmlu-pro")().records()
            times.append(time.perf_counter() - t0)
            if len(records) != n_rows:
                raise RuntimeError(f"loaded {len(records)} of {n_rows} rows")
        return {"dataset_load_s_100k_rows": round(statistics.median(times) * 100_000 / n_rows, 3)}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)
