"""ipw/_atomic.py: a file is replaced whole or not at all, and fsynced (file, then folder) only when asked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ipw._atomic import atomic_path, write_atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    assert write_atomic(target, "néw\n") == target
    assert target.read_bytes() == "néw\n".encode()  # UTF-8, and no newline translation
    write_atomic(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failure_keeps_the_old_file_and_removes_the_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("the renderer failed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_the_temp_file_is_beside_the_target_so_the_rename_stays_on_one_file_system(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".a.png")
        tmp.write_bytes(b"png")
    assert (tmp_path / "a.png").read_bytes() == b"png"


def _synced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The inode behind every fd the real os.fsync is asked to sync, in order."""
    inodes: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        inodes.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return inodes


def test_durable_syncs_the_new_bytes_then_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inodes = _synced(monkeypatch)
    target = write_atomic(tmp_path / "manifest.json", "{}\n", durable=True)
    # the file's inode is the temp file's: it was synced before the rename made it the target
    assert inodes == [target.stat().st_ino, tmp_path.stat().st_ino]


def test_a_derived_file_is_not_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inodes = _synced(monkeypatch)
    write_atomic(tmp_path / "accuracy.json", "{}\n")
    assert inodes == []
