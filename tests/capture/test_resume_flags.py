"""``--resume`` with flags that differ from the run: refused unless safe; safe changes are recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from ipw.capture.runner import CaptureConfig, Runner
from ipw.errors import UsageError
from ipw.events import Annotation, QueryFinished, RunStarted
from ipw.ledger import import_jsonl, read_events
from tests.capture._stub_server import completions_server
from tests.conftest import assert_one_clean_line


@pytest.fixture
def server() -> Iterator[str]:
    with completions_server() as url:
        yield url


def _interrupted(run: Path, base_url: str) -> Path:
    """A run of 3 builtin records cut after the first, recorded with concurrency 1 and max_tokens 4."""
    config = {"client": "openai", "model": "m", "dataset": "builtin", "max_queries": 3, "max_concurrency": 1,
              "client_params": {"api": "completions", "usage_fallback": "count"}, "gen_params": {"max_tokens": 4},
              "energy": "none", "client_base_url": base_url, "max_retries": 2}
    events = [
        {"kind": "run_started", "run_id": "abc", "t_ns": 1, "wall_time_ns": 2, "config": config},
        {"kind": "query_started", "query_id": 0, "t_ns": 10, "record_id": "arith-001"},
        {"kind": "query_finished", "query_id": 0, "t_ns": 20, "completion_tokens": 1, "finish_reason": "stop"},
    ]
    source = run.parent / "source.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    import_jsonl(source, run)
    return run


def _bytes(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _live(tmp_path: Path, **changes: object) -> CaptureConfig:
    kw: dict = {"client": "openai", "model": "m", "output_dir": str(tmp_path), "run_name": "r"}
    kw.update(changes)
    return CaptureConfig(**kw)


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"model": "other"}, "--model (was \"m\", now \"other\")"),
        ({"gen_params": {"max_tokens": 8}}, "--gen-param max_tokens (was 4, now 8)"),
        ({"gen_params": {"temperature": 0.7}}, "--gen-param temperature (was unset, now 0.7)"),
        ({"client_params": {"api": "chat"}}, "--client-param api"),
        ({"energy": "estimate"}, "--energy"),
        ({"dataset": "ipw"}, "--dataset"),
        ({"client_base_url": "http://127.0.0.1:1/v1"}, "--client-base-url"),
        ({"max_queries": 2}, "--max-queries (was 3, now 2)"),
    ],
)
def test_a_changed_setting_is_refused_naming_the_flag(tmp_path: Path, changes: dict, flag: str) -> None:
    run = _interrupted(tmp_path / "r", "http://127.0.0.1:9/v1")
    before = _bytes(run)
    with pytest.raises(UsageError) as info:
        Runner(_live(tmp_path, **changes)).run(resume=True)
    assert flag in info.value.message
    assert "\n" not in info.value.one_line()
    assert _bytes(run) == before  # refused before anything was written


def test_safe_changes_apply_and_are_recorded_as_an_annotation(tmp_path: Path, server: str) -> None:
    run = _interrupted(tmp_path / "r", server)
    live = _live(tmp_path, max_concurrency=2, max_queries=4, max_retries=0,
                 client_params={"timeout_s": 30, "api": "completions"}, gen_params={"max_tokens": 4})
    result = Runner(live).run(resume=True)
    assert (result.status, result.completed) == ("completed", 3)
    events = read_events(run)
    starts = [e for e in events if isinstance(e, RunStarted)]
    assert starts[1].resumed and starts[1].config["max_concurrency"] == 2 and starts[1].config["max_queries"] == 4
    assert starts[1].config["client_params"]["timeout_s"] == 30
    (note,) = [e for e in events if isinstance(e, Annotation)]
    assert note.key == "resume_changed_flags"
    assert json.loads(note.value) == {
        "--max-concurrency": {"was": 1, "now": 2},
        "--max-queries": {"was": 3, "now": 4},
        "--max-retries": {"was": 2, "now": 0},
        "--client-param timeout_s": {"was": None, "now": 30},
    }
    assert sum(isinstance(e, QueryFinished) for e in events) == 4  # the larger run it would have been


def test_the_cli_refuses_in_one_line_and_leaves_the_run_untouched(tmp_path: Path, cli, server: str) -> None:
    run = _interrupted(tmp_path / "r", server)
    before = _bytes(run)
    result = cli("record", "--client", "openai", "--model", "m", "--output-dir", str(tmp_path), "--run-name", "r",
                 "--resume", "--gen-param", "max_tokens=8", "--max-concurrency", "3")
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert "--gen-param max_tokens (was 4, now 8)" in result.stderr
    assert "--max-concurrency" not in result.stderr  # safe: not named among the refused
    assert _bytes(run) == before


def test_the_cli_takes_flags_left_out_from_the_run(tmp_path: Path, cli, server: str) -> None:
    run = _interrupted(tmp_path / "r", server)
    # --gen-param, --client-param, --client-base-url and --max-queries left out: the run's own values are used
    result = cli("record", "--client", "openai", "--model", "m", "--output-dir", str(tmp_path), "--run-name", "r",
                 "--resume")
    assert result.exit_code == 0, result.stderr
    events = read_events(run)
    resumed = [e for e in events if isinstance(e, RunStarted)][1]
    assert resumed.config["gen_params"] == {"max_tokens": 4} and resumed.config["max_queries"] == 3
    assert not any(isinstance(e, Annotation) for e in events)
    assert sum(isinstance(e, QueryFinished) for e in events) == 3
