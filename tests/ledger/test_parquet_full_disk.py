"""``ipw ledger export --format parquet`` onto a disk that fills up: one line, exit 1, no ``*.parquet.tmp`` left.

Two real ways for the kernel to refuse a write, each through the real command line in a subprocess:

* ``tmpfs``: a 64 KiB tmpfs mounted for the test, a real full file system (ENOSPC). Mounting needs root
  with CAP_SYS_ADMIN; where it is refused, this variant cannot run, and the next one still does.
* ``rlimit``: RLIMIT_FSIZE set in the child, so the kernel refuses to grow a file past 64 KiB (EFBIG): what
  a quota or a per-process file-size limit does, and possible everywhere.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from ..reports.ledgers import sequential, write_run

pytest.importorskip("pyarrow.parquet", reason="pyarrow comes with the analysis extra")

LIMIT_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose Parquet export is several times the limit (~0.8 MB: 40,000 tokens, 5,000 power samples)."""
    root = tmp_path_factory.mktemp("full_disk")
    return write_run(root / "run", sequential([(f"r{i}", 1.0, 400, True) for i in range(100)]),
                     devices={"nvidia:0": 100.0}, interval_s=0.02)


@pytest.fixture()
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={LIMIT_BYTES}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the rlimit variant covers the export")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))  # Python ignores SIGXFSZ: write() fails


def _export(run: Path, out: Path, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipw.cli", "ledger", "export", str(run), "--format", "parquet",
                           "-o", str(out)], capture_output=True, text=True, timeout=300, preexec_fn=preexec,
                          env={**os.environ, "IPW_DEBUG": ""})


def _assert_one_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (1, 1), (done.returncode, done.stderr)
    assert lines[0].startswith("ipw: error: ") and "Traceback" not in done.stderr
    assert ".parquet.tmp" in lines[0]  # the line names the file that could not be written
    for word in words:
        assert word in lines[0], lines[0]


def test_a_full_tmpfs_is_one_line_and_leaves_nothing(big_run: Path, tmpfs: Path) -> None:
    out = tmpfs / "export"
    done = _export(big_run, out)
    _assert_one_line(done, "the disk is full", "No space left on device", "free some space")
    assert list(tmpfs.iterdir()) == []  # not even the folder the export made
    os.statvfs(tmpfs)  # the file system is still there, and empty again


def test_a_file_size_limit_is_one_line_and_leaves_nothing(big_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    done = _export(big_run, out, _limit_file_size)
    _assert_one_line(done, "File too large")
    assert not out.exists()


def test_a_folder_that_was_there_keeps_what_it_held_and_gets_no_tmp_files(big_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    done = _export(big_run, out, _limit_file_size)
    _assert_one_line(done, "File too large")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_the_same_export_with_room_writes_every_file(big_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    done = _export(big_run, out)
    assert done.returncode == 0, done.stderr
    assert "token.parquet" in {p.name for p in out.iterdir()} and not list(out.glob("*.tmp"))
    assert sum(p.stat().st_size for p in out.iterdir()) > LIMIT_BYTES  # so the limits above really bite
