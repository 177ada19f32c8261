"""``ipw plot``, ``ipw diff`` and ``ipw query`` through click and through the error boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from ipw.cli import cli as ipw_cli
from ipw.errors import UsageError
from tests.conftest import CliResult, assert_one_clean_line

from tests.reports.conftest import EXTRA_S, PLAN, POWER_W, runs  # noqa: F401 (runs: the two recorded runs)

Main = Callable[..., CliResult]  # the ``cli`` fixture: ``ipw`` through ``ipw.cli.main``


def invoke(*args: str) -> str:
    result = CliRunner().invoke(ipw_cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_plot_writes_into_the_run_by_default(runs: dict[str, Path]) -> None:
    out = invoke("plot", str(runs["a"]), "--visualization", "output-kde,power_timeline")
    paths = [Path(line) for line in out.splitlines()]
    assert paths == [runs["a"] / "plots" / "output-kde.png", runs["a"] / "plots" / "power-timeline.png"]
    assert all(p.stat().st_size > 8_000 for p in paths)


def test_plot_all_over_two_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    out = invoke("plot", str(runs["a"]), str(runs["b"]), "-o", str(tmp_path), "--option", "policy=tokens")
    names = sorted(Path(line).name for line in out.splitlines())
    assert names == ["accuracy-energy.png", "output-kde.png", "power-timeline-a_gemma-3-270m.png",
                     "power-timeline-b_gemma-3-1b.png", "regression.png"]
    assert all((tmp_path / n).is_file() for n in names)


def test_plot_unknown_visualization(runs: dict[str, Path], cli: Main) -> None:
    with pytest.raises(UsageError, match="unknown visualization 'heatmap'") as info:
        CliRunner().invoke(ipw_cli, ["plot", str(runs["a"]), "--visualization", "heatmap"], catch_exceptions=False)
    assert "regression" in info.value.one_line() and "accuracy-energy" in info.value.one_line()
    result = cli("plot", str(runs["a"]), "--visualization", "heatmap")
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)


def test_diff_text_and_json(runs: dict[str, Path]) -> None:
    text = invoke("diff", str(runs["a"]), str(runs["b"]), "--n-boot", "300")
    assert "right→wrong: r2" in text and "model" in text and "gemma-3-1b" in text
    data = json.loads(invoke("diff", str(runs["a"]), str(runs["b"]), "--json", "--judge", "auto", "--seed", "3"))
    assert data["accuracy_flips"]["wrong_to_right"] == ["r3"]
    assert data["deltas"]["energy_per_query_j"]["delta"] == pytest.approx(POWER_W * EXTRA_S, rel=1e-6)
    assert data["bootstrap"]["seed"] == 3


def test_diff_errors_are_one_line(runs: dict[str, Path], cli: Main) -> None:
    result = cli("diff", str(runs["a"]), str(runs["b"]), "--judge", "gpt")
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    missing = cli("diff", str(runs["a"]), str(runs["a"].parent / "nope"))
    assert missing.exit_code == 3
    assert_one_clean_line(missing.stderr)


def test_query_table_and_json(runs: dict[str, Path]) -> None:
    sql = "SELECT run_id, count(*) AS n FROM tokens GROUP BY 1 ORDER BY 1"
    text = invoke("query", str(runs["a"]), str(runs["b"]), sql)
    total = sum(tokens for _r, _d, tokens, _a, _b in PLAN)
    lines = text.splitlines()
    assert lines[0].split() == ["run_id", "n"]
    assert lines[2].split() == ["a", str(total)] and lines[3].split() == ["b", str(total)]
    assert lines[-1] == "(2 rows)"
    rows = json.loads(invoke("query", str(runs["a"]), "SELECT run_id, started_at_utc, 0.0/0 AS x FROM runs", "--json"))
    assert rows[0]["run_id"] == "a" and rows[0]["started_at_utc"].startswith("2026-01-01") and rows[0]["x"] is None


def test_query_errors_are_one_line(runs: dict[str, Path], cli: Main) -> None:
    bad_sql = cli("query", str(runs["a"]), "SELEC * FROM queries")
    assert bad_sql.exit_code == 2
    assert_one_clean_line(bad_sql.stderr)
    assert "SQL failed" in bad_sql.stderr
    no_sql = cli("query", str(runs["a"]))
    assert no_sql.exit_code == 2
    assert_one_clean_line(no_sql.stderr)


def test_every_command_documents_an_example() -> None:
    for name in ("plot", "diff", "query"):
        command = ipw_cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and "Example:" in (command.help or "")


def test_plot_rejects_an_option_no_visualization_reads(runs: dict[str, Path], cli: Main) -> None:
    result = cli("plot", str(runs["a"]), "--option", "colour=red")
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert "colour" in result.stderr and "bandwidth" in result.stderr


def test_damaged_ledger_is_reported_and_its_prefix_used(runs: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(runs["a"], damaged)
    segment = sorted((damaged / "events").iterdir())[-1]
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) - 7])  # a torn tail, as after a crash
    sql = "SELECT (SELECT count(*) FROM queries), (SELECT count(*) FROM verdicts), (SELECT status FROM runs)"
    result = CliRunner().invoke(ipw_cli, ["query", str(damaged), sql, "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "ledger damaged" in result.stderr and "valid prefix" in result.stderr
    # the torn last frame held the verdicts and run_finished; every query before it is kept
    assert list(json.loads(result.stdout)[0].values()) == [len(PLAN), 0, "unfinished"]
