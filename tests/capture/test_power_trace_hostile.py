"""Power trace CSVs as hostile input, at ``--power-trace`` and ``ipw ledger import-power``.

A non-UTF-8 file, a FIFO, /dev/zero, an overlong line, non-finite readings or
times no clock can hold: each is one line and exit 2, with nothing appended
to the run and (at capture) no run folder made.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ipw.capture import power_trace
from tests._hostile_server import HostileServer
from tests.conftest import assert_one_clean_line, run_cli
from tests.reports.ledgers import Q, write_run


def _segments(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (run / "events").iterdir()}


BAD_TRACES = {
    "latin-1": ("timestamp,power_w\n1795766400,42\n# caf\u00e9\n".encode("latin-1"), "not UTF-8"),
    "binary": (b"timestamp,power_w\n\xff\xfe\x00\x01,\x80\n", "not UTF-8"),
    "utf-16": ("timestamp,power_w\n1795766400,42\n".encode("utf-16"), "not UTF-8"),
    "nan-power": (b"timestamp,power_w\n1795766400,nan\n", "not a finite number"),
    "inf-power": (b"timestamp,power_w\n1795766400,inf\n", "not a finite number"),
    "nan-time": (b"timestamp,power_w\nnan,42\n", "not between 1970 and 2262"),
    "huge-time": (b"timestamp,power_w\n1e300,42\n", "not between 1970 and 2262"),
    "negative-time": (b"timestamp,power_w\n-5,42\n", "not between 1970 and 2262"),
    "nul-in-csv": (b"timestamp,power_w\n1795766400,4\x002\n", "power_w"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRACES))
def test_import_power_refuses_a_bad_trace_and_appends_nothing(tmp_path: Path, case: str) -> None:
    run = write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3)])
    before = _segments(run)
    content, words = BAD_TRACES[case]
    trace = tmp_path / "trace.csv"
    trace.write_bytes(content)
    result = run_cli("ledger", "import-power", str(run), str(trace))
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert words in result.stderr, result.stderr
    assert _segments(run) == before


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "symlink-loop"])
def test_import_power_refuses_a_special_file(tmp_path: Path, kind: str) -> None:
    run = write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3)])
    before = _segments(run)
    trace = tmp_path / "trace.csv"
    if kind == "fifo":
        os.mkfifo(trace)
    elif kind == "dev-zero":
        trace.symlink_to("/dev/zero")
    elif kind == "directory":
        trace.mkdir()
    else:
        trace.symlink_to(trace)
    result = run_cli("ledger", "import-power", str(run), str(trace))
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert _segments(run) == before


def test_an_overlong_line_is_refused_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(power_trace, "MAX_TRACE_LINE_BYTES", 100)
    run = write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3)])
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,power_w\n1795766400," + "4" * 500 + "\n")
    result = run_cli("ledger", "import-power", str(run), str(trace))
    assert result.exit_code == 2 and "longer than 100 bytes" in result.stderr, result


def test_a_non_finite_offset_is_refused(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3)])
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,power_w\n1767225600.5,42\n")
    for offset in ("nan", "inf", "1e300"):
        result = run_cli("ledger", "import-power", str(run), str(trace), "--offset-s", offset)
        assert result.exit_code == 2, result
        assert_one_clean_line(result.stderr)
    assert run_cli("ledger", "import-power", str(run), str(trace), "--offset-s", "-0.5").exit_code == 0


@pytest.mark.parametrize("case", ["latin-1", "binary", "nan-power"])
def test_power_trace_at_capture_is_refused_before_a_run_folder(tmp_path: Path, case: str) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_bytes(BAD_TRACES[case][0])
    with HostileServer("ok") as url:
        result = run_cli("record", "--client", "openai", "--client-base-url", url, "--model", "m",
                         "--client-param", "api=completions", "--output-dir", str(tmp_path / "runs"),
                         "--run-name", "r", "--max-queries", "1", "--energy", "none", "--power-trace", str(trace))
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert not (tmp_path / "runs").exists()
