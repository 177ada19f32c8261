"""``ipw diff`` and ``ipw query`` over two REAL ledgers captured from llama_cpp.server.

Run A and run B ask the same four dataset records with ``max_tokens`` 4 and
8, so their latency and token counts differ for a known reason. Every number
checked here is also computed another way: from the exported events or from
each run's own analyses.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from ipw.ledger import export_jsonl
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

QUERIES = 4
MAX_TOKENS = {"a": 4, "b": 8}


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory, llama_server_url: str) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("captured")
    for name, max_tokens in MAX_TOKENS.items():
        result = run_cli(
            "profile", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
            "--client-param", "api=completions", "--max-queries", str(QUERIES),
            "--gen-param", f"max_tokens={max_tokens}", "--sample-interval-ms", "50",
            "--output-dir", str(root), "--run-name", name, "--json",
        )
        assert result.exit_code == 0, result.stderr
    return {name: root / name for name in MAX_TOKENS}


def exported(run: Path) -> list[dict]:
    """The run's events as ``ipw ledger export`` writes them."""
    out = run.parent / f"{run.name}.jsonl"
    result = run_cli("ledger", "export", str(run), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    buf = io.BytesIO()
    export_jsonl(run, buf)
    assert out.read_bytes() == buf.getvalue()
    return [json.loads(line) for line in out.read_bytes().splitlines()]


def run_id(run: Path) -> str:
    return json.loads((run / "manifest.json").read_text())["run_id"]


def query_json(*args: str) -> list[dict]:
    result = run_cli("query", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_diff_of_two_captured_runs(captured: dict[str, Path]) -> None:
    result = run_cli("diff", str(captured["a"]), str(captured["b"]), "--json")
    assert result.exit_code == 0, result.stderr
    diff = json.loads(result.stdout)
    assert {"a", "b", "config", "hardware", "devices", "packages", "accuracy_flips", "deltas", "bootstrap"} <= set(diff)
    assert diff["a"]["run_id"] == run_id(captured["a"]) and diff["b"]["run_id"] == run_id(captured["b"])

    changed = {d["key"]: (d["a"], d["b"]) for d in diff["config"] if d["status"] == "changed"}
    max_tokens = {k: v for k, v in changed.items() if k.endswith("max_tokens")}
    assert max_tokens and set(max_tokens.values()) == {(4, 8)}, diff["config"]
    assert changed["run_name"] == ("a", "b")
    assert diff["hardware"] == [] and diff["packages"] == []  # same machine, same install

    # the same dataset records were asked in both runs, and every one of them was compared
    records, correct = {}, {}
    for name, run in captured.items():
        events = exported(run)
        record_of = {e["query_id"]: e["record_id"] for e in events if e["kind"] == "query_started"}
        records[name] = sorted(record_of.values())
        assert len(records[name]) == QUERIES
        correct[name] = {record_of[e["query_id"]]: e["is_correct"] for e in events if e["kind"] == "verdict"}
    assert records["a"] == records["b"]
    flips = diff["accuracy_flips"]
    assert flips["shared_records"] == QUERIES
    assert flips["compared"] + flips["unevaluated"] == QUERIES
    assert flips["unchanged"] + flips["n_right_to_wrong"] + flips["n_wrong_to_right"] == flips["compared"]
    shared = records["a"]
    assert sorted(flips["right_to_wrong"]) == [r for r in shared if correct["a"][r] is True and correct["b"][r] is False]
    assert sorted(flips["wrong_to_right"]) == [r for r in shared if correct["a"][r] is False and correct["b"][r] is True]
    assert flips["unevaluated"] == sum(correct["a"][r] is None or correct["b"][r] is None for r in shared)

    # each side of each delta is that run's own analysis of itself
    for name in ("a", "b"):
        latency = json.loads((captured[name] / "analysis" / "latency.json").read_text())
        energy = json.loads((captured[name] / "analysis" / "energy.json").read_text())
        accuracy = json.loads((captured[name] / "analysis" / "accuracy.json").read_text())
        assert diff["deltas"]["latency_e2e_s"][name] == pytest.approx(latency["e2e_s"]["mean"])
        assert diff["deltas"]["energy_per_query_j"][name] == pytest.approx(energy["mean_energy_per_query_j"])
        assert diff["deltas"]["accuracy"][name] == pytest.approx(accuracy["accuracy"])
    for key in ("latency_e2e_s", "ttft_s", "energy_per_query_j"):
        delta = diff["deltas"][key]
        assert delta["method"] == "paired" and delta["n_pairs"] == QUERIES
        assert delta["delta"] == pytest.approx(delta["b"] - delta["a"])
        assert delta["ci_low"] <= delta["delta"] <= delta["ci_high"]

    text = run_cli("diff", str(captured["a"]), str(captured["b"]))
    assert text.exit_code == 0 and "max_tokens" in text.stdout


def test_query_token_counts_match_the_exported_events(captured: dict[str, Path]) -> None:
    rows = query_json(str(captured["a"]), str(captured["b"]),
                      "SELECT run_id, count(*) AS token_events, sum(n_tokens) AS tokens FROM tokens GROUP BY 1")
    by_run = {r["run_id"]: r for r in rows}
    assert set(by_run) == {run_id(captured["a"]), run_id(captured["b"])}
    for name, run in captured.items():
        events = exported(run)
        tokens = [e for e in events if e["kind"] == "token"]
        assert by_run[run_id(run)]["token_events"] == len(tokens)
        assert by_run[run_id(run)]["tokens"] == sum(e.get("n_tokens", 1) for e in tokens)
        finished = [e for e in events if e["kind"] == "query_finished"]
        assert len(finished) == QUERIES
        assert all(e["completion_tokens"] <= MAX_TOKENS[name] for e in finished)
        summary = json.loads((run / "analysis" / "summary.json").read_text())
        assert summary["metrics"]["completion_tokens_total"]["value"] == sum(e["completion_tokens"] for e in finished)


def test_query_joins_the_two_runs_on_their_records(captured: dict[str, Path]) -> None:
    a, b = run_id(captured["a"]), run_id(captured["b"])
    rows = query_json(str(captured["a"]), str(captured["b"]), f"""
        SELECT qa.record_id, qa.completion_tokens AS tokens_a, qb.completion_tokens AS tokens_b,
               qa.end_ns - qa.start_ns AS e2e_ns_a, qb.end_ns - qb.start_ns AS e2e_ns_b
        FROM queries qa JOIN queries qb USING (record_id)
        WHERE qa.run_id = '{a}' AND qb.run_id = '{b}' ORDER BY record_id""")
    assert len(rows) == QUERIES
    finished = {}
    for name, run in captured.items():
        events = exported(run)
        record_of = {e["query_id"]: e["record_id"] for e in events if e["kind"] == "query_started"}
        finished[name] = {record_of[e["query_id"]]: e["completion_tokens"] for e in events if e["kind"] == "query_finished"}
    for row in rows:
        assert row["tokens_a"] == finished["a"][row["record_id"]]
        assert row["tokens_b"] == finished["b"][row["record_id"]]
        assert row["e2e_ns_a"] > 0 and row["e2e_ns_b"] > 0
    assert any(row["tokens_b"] > row["tokens_a"] for row in rows)

    runs = query_json(str(captured["a"]), str(captured["b"]),
                      "SELECT run_id, model, client, dataset, status, queries_completed, config FROM runs ORDER BY run_id")
    assert Counter(r["status"] for r in runs) == {"completed": 2}
    for row in runs:
        assert (row["model"], row["client"], row["dataset"], row["queries_completed"]) == ("gemma", "openai", "builtin", QUERIES)
        name = "a" if row["run_id"] == a else "b"
        assert json.loads(row["config"])["gen"]["max_tokens"] == MAX_TOKENS[name]
