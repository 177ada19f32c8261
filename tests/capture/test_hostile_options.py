"""Capture options that would escape --output-dir or break the arrival clock are refused before anything exists.

The server is the loopback stub of tests/_hostile_server.py answering well, so
that without the checks a run really would start (and write where it should not).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._hostile_server import HostileServer
from tests.conftest import assert_one_clean_line


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _record(cli, url: str, out: Path, *extra: str):
    return cli("record", "--client", "openai", "--client-base-url", url, "--model", "m",
               "--client-param", "api=completions", "--client-param", "usage_fallback=count",
               "--output-dir", str(out), "--max-queries", "2", "--energy", "none", *extra)


@pytest.mark.parametrize("name", ["../../escaped", "../escaped", "..", ".", "a/b", "a\\b", "ok\0nul", "x" * 300])
def test_a_run_name_that_is_not_one_folder_is_refused(tmp_path: Path, cli, name: str) -> None:
    out = tmp_path / "a" / "b" / "runs"
    with HostileServer("ok") as url:
        result = _record(cli, url, out, "--run-name", name)
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert "--run-name" in result.stderr
    assert _files(tmp_path) == []  # no run folder, here or anywhere above --output-dir


def test_an_absolute_run_name_is_refused(tmp_path: Path, cli) -> None:
    out = tmp_path / "runs"
    elsewhere = tmp_path / "elsewhere" / "run"
    with HostileServer("ok") as url:
        result = _record(cli, url, out, "--run-name", str(elsewhere))
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert not elsewhere.exists() and _files(tmp_path) == []


def test_a_plain_run_name_still_records_inside_output_dir(tmp_path: Path, cli) -> None:
    with HostileServer("ok") as url:
        result = _record(cli, url, tmp_path / "runs", "--run-name", "fine.run-1")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "runs" / "fine.run-1" / "events").is_dir()


@pytest.mark.parametrize("rate", ["1e-300", "nan", "NaN", "inf", "-inf", "0", "-1", "5e-324"])
def test_an_unusable_request_rate_is_refused_before_a_run_folder(tmp_path: Path, cli, rate: str) -> None:
    with HostileServer("ok") as url:
        result = _record(cli, url, tmp_path / "runs", "--run-name", "r", "--request-rate", rate)
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert "--request-rate" in result.stderr
    assert _files(tmp_path) == []


def test_a_real_request_rate_still_paces_the_run(tmp_path: Path, cli) -> None:
    with HostileServer("ok") as url:
        result = _record(cli, url, tmp_path / "runs", "--run-name", "r", "--request-rate", "1000")
    assert result.exit_code == 0, result.stderr
