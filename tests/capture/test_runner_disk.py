"""A capture against a disk that fails under it: killed just after a segment header, or full for a moment."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ipw import events as ev
from ipw.ledger import read_events, verify
from tests._openai_stub import openai_stub

QUERIES = 6


def record(cli: Any, base_url: str, out: Path, name: str, *extra: str) -> Any:
    return cli("record", "--client", "openai", "--client-base-url", base_url, "--model", "stub",
               "--max-queries", str(QUERIES), "--energy", "none", "--output-dir", str(out), "--run-name", name, *extra)


def measured_finished(events: list[ev.Event]) -> int:
    warmups = {e.query_id for e in events if isinstance(e, ev.QueryStarted) and e.warmup}
    return len({e.query_id for e in events if isinstance(e, ev.QueryFinished) and e.query_id not in warmups})


KILLED_AFTER_HEADER = r"""
import os, signal, sys
from ipw.ledger import LedgerWriter
from ipw.ledger import writer as writer_mod

if sys.argv[2] == "before-header":
    # the segment file exists, its header never reached the disk
    def no_header(fd, data):
        os.kill(os.getpid(), signal.SIGKILL)
    writer_mod._write_all = no_header
LedgerWriter.create(sys.argv[1], run_id="killed", flush_interval_s=0)
os.kill(os.getpid(), signal.SIGKILL)  # right after the segment header, before any event
"""


@pytest.mark.parametrize("moment", ["after-header", "before-header"])
def test_a_run_killed_before_its_first_event_is_continued_by_resume(tmp_path: Path, cli, moment: str) -> None:
    run_dir = tmp_path / "early"
    child = subprocess.run([sys.executable, "-c", KILLED_AFTER_HEADER, str(run_dir), moment])
    assert child.returncode == -signal.SIGKILL
    assert [p.name for p in (run_dir / "events").iterdir()] == ["000001.ipwl"]
    with openai_stub(delay_s=0.001, chunks=2) as stub:
        again = record(cli, stub.base_url, tmp_path, "early")
        assert again.exit_code == 2 and "--resume" in again.stderr  # a new run may not overwrite it …
        resumed = record(cli, stub.base_url, tmp_path, "early", "--resume")  # … and --resume continues it
    assert resumed.exit_code == 0, resumed.stderr
    report = verify(run_dir)
    assert report.ok and not report.notes, (report.one_line(), report.notes)
    assert cli("ledger", "verify", str(run_dir)).exit_code == 0
    events = read_events(run_dir)
    assert isinstance(events[0], ev.RunStarted) and not events[0].resumed
    (finished,) = [e for e in events if isinstance(e, ev.RunFinished)]
    assert finished.status == "completed" and finished.queries_completed == QUERIES == measured_finished(events)


class FillingDisk:
    """A disk that is full for a moment (another program's files come and go), then has room again.

    It stands in for a real full file system, which a test cannot fill safely:
    the ``nth`` write of ``what`` (segment frames or manifest files) lands
    half its bytes, then fails with ENOSPC; every other write succeeds.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, what: str, nth: int) -> None:
        from ipw import _atomic as atomic_mod
        from ipw.ledger import writer as writer_mod

        self.calls = 0
        self.failed = False
        if what == "segment":
            real = writer_mod._write_all

            def write_all(fd: int, data: bytes) -> None:
                if self._now():
                    os.write(fd, data[: len(data) // 2])
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                real(fd, data)

            monkeypatch.setattr(writer_mod, "_write_all", write_all)
        else:
            disk = self

            class HalfFile:
                """The manifest's temp file (written through ipw._atomic) on the filling disk; other files as usual."""

                def __init__(self, path: Any, mode: str) -> None:
                    self.fh = open(path, mode)
                    self.manifest = Path(path).name == ".manifest.json.tmp"

                def write(self, data: bytes) -> int:
                    if self.manifest and disk._now():
                        self.fh.write(data[: len(data) // 2])
                        self.fh.flush()
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    return self.fh.write(data)

                def __enter__(self) -> "HalfFile":
                    return self

                def __exit__(self, *exc: object) -> None:
                    self.fh.close()

            monkeypatch.setattr(atomic_mod, "open", HalfFile, raising=False)
        self.nth = nth

    def _now(self) -> bool:
        self.calls += 1
        if self.calls == self.nth:
            self.failed = True
            return True
        return False


@pytest.mark.parametrize(("what", "nth"), [("segment", 2), ("segment", 3), ("manifest", 2)])
def test_a_moment_of_full_disk_keeps_run_finished_true_to_the_ledger(tmp_path: Path, cli, monkeypatch, what: str,
                                                                    nth: int) -> None:
    run_dir = tmp_path / "full"
    # early writes: group commit writes one frame for many queries and the manifest only at the
    # first flush, rollover and close, so a later write may never come
    disk = FillingDisk(monkeypatch, what, nth=nth)
    with openai_stub(delay_s=0.001, chunks=2) as stub:
        result = record(cli, stub.base_url, tmp_path, "full")
    assert disk.failed, f'only {disk.calls} writes happened'
    assert "Traceback" not in result.stderr
    if result.exit_code != 0:  # the run stopped at the failure: one clear line that says the disk is full
        assert result.exit_code == 3 and "No space left on device" in result.stderr, result.stderr
    monkeypatch.undo()
    assert not (run_dir / ".manifest.json.tmp").exists()
    events = read_events(run_dir)
    (finished,) = [e for e in events if isinstance(e, ev.RunFinished)]
    assert finished.queries_completed == measured_finished(events)
    assert verify(run_dir).ok
