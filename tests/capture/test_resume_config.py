"""What a resumed run takes from the ledger, and what it must take from the new invocation."""

from __future__ import annotations

import json
from pathlib import Path

from ipw.capture.runner import CaptureConfig, Runner
from ipw.ledger import import_jsonl


def _interrupted_run(path: Path) -> Path:
    events = [
        {"kind": "run_started", "run_id": "abc", "t_ns": 1, "wall_time_ns": 2,
         "config": {"client": "openai", "model": "m", "dataset": "builtin", "max_queries": 3,
                    "client_params": {"api": "completions", "api_key": "<redacted>",
                                      "headers": {"Authorization": "<redacted>", "X-Team": "lab"}},
                    "gen_params": {"max_tokens": 4}, "energy": "none", "client_base_url": "http://127.0.0.1:9/v1"}},
        {"kind": "query_started", "query_id": 0, "t_ns": 10, "record_id": "arith-001"},
        {"kind": "query_finished", "query_id": 0, "t_ns": 20, "completion_tokens": 1},
        {"kind": "query_started", "query_id": 1, "t_ns": 30, "record_id": "comp-001"},
    ]
    source = path.with_suffix(".jsonl")
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    import_jsonl(source, path)
    return path


def test_resume_takes_settings_from_the_ledger_and_never_a_redacted_placeholder(tmp_path: Path) -> None:
    run = _interrupted_run(tmp_path / "r")
    live = CaptureConfig(client="openai", model="m", output_dir=str(tmp_path), run_name="r",
                         client_params={"api_key": "fresh-key-from-this-shell"})
    config, run_id, done, next_qid = Runner(live)._resume_state(run)
    assert run_id == "abc"
    assert done == {"arith-001"}
    assert next_qid == 2
    assert (config.model, config.max_queries, config.gen_params) == ("m", 3, {"max_tokens": 4})
    assert config.client_params == {"api": "completions", "headers": {"X-Team": "lab"},
                                    "api_key": "fresh-key-from-this-shell"}
    assert "<redacted>" not in json.dumps(config.client_params)
