"""Latency figures of a small golden run, against numbers worked out by hand.

tests/golden/latency_run/events.jsonl (imported into run/ with ``ipw.ledger.import_jsonl``):
    q1 [0.00, 0.45] s, tokens at 0.20 0.25 0.30 0.40, 4 completion tokens
    q2 [0.10, 0.60] s, tokens at 0.40 0.45 (two) 0.50, 4 tokens, client-reported TTFT 0.28 s
    q3 [0.30, 0.50] s, one token at 0.35
    q0 is a warmup and q4 failed: neither counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipw.analyses.latency import LatencyProjection, per_query_latency
from ipw.ledger import import_jsonl
from ipw.replay import load_run
from ipw.reports.analysis_files import dumps_result

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "latency_run"


@pytest.fixture(scope="module")
def golden():
    return load_run(GOLDEN / "run")


def test_per_query_figures(golden) -> None:
    rows = per_query_latency(golden)
    assert list(rows) == [1, 2, 3]
    assert [rows[q]["ttft_s"] for q in rows] == pytest.approx([0.20, 0.28, 0.05])  # q2: the client's TTFT
    assert rows[1]["tpot_s"] == pytest.approx((0.45 - 0.20) / 3)
    assert rows[2]["tpot_s"] == pytest.approx((0.60 - 0.38) / 3)
    assert rows[3]["tpot_s"] is None  # one token: no time per output token
    assert [rows[q]["e2e_s"] for q in rows] == pytest.approx([0.45, 0.50, 0.20])
    assert rows[1]["decode_tokens_per_s"] == pytest.approx(3 / 0.25)
    assert rows[2]["record_id"] == "b" and rows[2]["prompt_tokens"] == 10


def test_distributions_and_throughput(golden) -> None:
    result = LatencyProjection().compute(golden, {})
    assert result["queries"] == 3
    assert result["percentile_method"] == "linear"
    ttft = result["ttft_s"]
    # sorted 0.05 0.20 0.28; linear percentiles at ranks 1.0, 1.8, 1.98
    assert ttft["mean"] == pytest.approx(0.53 / 3)
    assert (ttft["p50"], ttft["p90"], ttft["p99"]) == pytest.approx((0.20, 0.264, 0.2784))
    assert (ttft["min"], ttft["max"], ttft["n"]) == (pytest.approx(0.05), pytest.approx(0.28), 3)
    itl = result["itl_s"]  # q1: .05 .05 .10, q2: .05 .05 (the 2-token event is one step)
    assert itl["n"] == 5
    assert itl["mean"] == pytest.approx(0.06)
    assert (itl["p50"], itl["p90"], itl["max"]) == pytest.approx((0.05, 0.08, 0.10))
    assert result["tpot_s"]["n"] == 2
    assert result["tpot_s"]["mean"] == pytest.approx(((0.25 / 3) + (0.22 / 3)) / 2)
    assert result["e2e_s"]["p50"] == pytest.approx(0.45)
    assert result["wall_span_s"] == pytest.approx(0.6)
    assert result["completion_tokens_total"] == 9
    assert result["prompt_tokens_total"] == 30
    assert result["throughput_tokens_per_s"] == pytest.approx(9 / 0.6)
    assert result["queries_per_s"] == pytest.approx(3 / 0.6)


def test_committed_ledger_matches_a_fresh_import(golden, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    import_jsonl(GOLDEN / "events.jsonl", fresh)
    a = dumps_result(LatencyProjection().compute(golden, {}))
    b = dumps_result(LatencyProjection().compute(load_run(fresh), {}))
    assert a == b


def test_empty_run_has_null_figures() -> None:
    view = load_run(GOLDEN / "run")
    view.queries.clear()
    result = LatencyProjection().compute(view, {})
    assert result["queries"] == 0
    assert result["ttft_s"]["mean"] is None and result["itl_s"]["n"] == 0
    assert result["throughput_tokens_per_s"] is None and result["wall_span_s"] is None


def _run_with_a_truncated_stream(tmp_path: Path) -> Path:
    """q1 finished (tokens at 0.1 0.2 0.3, end 0.4 s); q2 cut by the server after one token (0.15, end 0.16 s)."""
    import json

    s = 1_000_000_000
    events = [
        {"kind": "run_started", "run_id": "t", "t_ns": 0, "wall_time_ns": 1, "config": {"model": "m"}},
        {"kind": "query_started", "query_id": 1, "t_ns": 0, "record_id": "a"},
        *({"kind": "token", "query_id": 1, "t_ns": int(t * s), "text": "x"} for t in (0.1, 0.2, 0.3)),
        {"kind": "query_finished", "query_id": 1, "t_ns": int(0.4 * s), "completion_tokens": 3,
         "finish_reason": "length"},
        {"kind": "query_started", "query_id": 2, "t_ns": int(0.05 * s), "record_id": "b"},
        {"kind": "token", "query_id": 2, "t_ns": int(0.15 * s), "text": "y"},
        {"kind": "token", "query_id": 2, "t_ns": int(0.155 * s), "text": "z"},
        {"kind": "query_finished", "query_id": 2, "t_ns": int(0.16 * s), "completion_tokens": 2, "truncated": True},
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    import_jsonl(source, tmp_path / "run")
    return tmp_path / "run"


def test_truncated_streams_are_counted_and_left_out_of_end_dependent_latency(tmp_path: Path) -> None:
    result = LatencyProjection().compute(load_run(_run_with_a_truncated_stream(tmp_path)), {})
    assert (result["queries"], result["queries_truncated"]) == (2, 1)
    assert [r["truncated"] for r in result["per_query"]] == [False, True]
    assert result["ttft_s"]["n"] == 2  # the first token of a cut stream still arrived when it did
    assert result["ttft_s"]["max"] == pytest.approx(0.1)
    assert result["tpot_s"]["n"] == 1 and result["tpot_s"]["mean"] == pytest.approx(0.15)
    assert result["e2e_s"]["n"] == 1 and result["e2e_s"]["mean"] == pytest.approx(0.4)
    assert result["itl_s"]["n"] == 2  # q1's two gaps; q2's gap is left out
    assert result["completion_tokens_total"] == 5  # every token produced counts in throughput
