"""A hostile ``manifest.json`` (nested 100,000 deep, huge, a FIFO, a device) is one line and exit 3 everywhere.

Every command that reads a manifest: ``ledger verify``, ``info``, ``export``,
``pack``, ``unpack`` (a pack carrying it), and ``replay``.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from ipw.ledger import manifest as manifest_module
from tests.conftest import assert_one_clean_line, run_cli
from tests.reports.ledgers import Q, write_run

DEEP = b'{"format": "ipw-ledger", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3, correct=True)])


def _commands(run: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "verify": ["ledger", "verify", str(run)],
        "info": ["ledger", "info", str(run)],
        "export": ["ledger", "export", str(run), "-o", str(tmp_path / "out.jsonl")],
        "pack": ["ledger", "pack", str(run), "-o", str(tmp_path / "out.ipwpack")],
        "replay": ["replay", str(run), "--analysis", "latency"],
    }


def _assert_refused(result, *words: str) -> None:
    assert result.exit_code == 3, result
    assert_one_clean_line(result.stderr)
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["verify", "info", "pack"])
def test_a_manifest_nested_100000_deep_is_one_line(tmp_path: Path, command: str) -> None:
    run = _run(tmp_path)
    (run / "manifest.json").write_bytes(DEEP)
    result = run_cli(*_commands(run, tmp_path)[command])
    _assert_refused(result, "manifest.json", "nested deeper")
    assert not (tmp_path / "out.ipwpack").exists()


@pytest.mark.parametrize("command", ["export", "replay"])
def test_readers_of_the_segments_go_on_past_a_deep_manifest(tmp_path: Path, command: str) -> None:
    # the segments are the truth and the manifest is derived: export and replay keep working (replay warns)
    run = _run(tmp_path)
    (run / "manifest.json").write_bytes(DEEP)
    result = run_cli(*_commands(run, tmp_path)[command])
    assert result.exit_code == 0, result
    assert "Traceback" not in result.stderr
    if command == "export":  # export writes the segments' events and says nothing about the manifest
        assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 8
    else:
        warnings = [line for line in result.stderr.splitlines() if "manifest.json" in line]
        assert len(warnings) == 1 and "nested deeper" in warnings[0], result.stderr
        assert (run / "analysis" / "latency.json").is_file()


@pytest.mark.parametrize("command", ["verify", "info", "pack"])
def test_a_manifest_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path, command: str) -> None:
    run = _run(tmp_path)
    (run / "manifest.json").unlink()
    os.mkfifo(run / "manifest.json")
    _assert_refused(run_cli(*_commands(run, tmp_path)[command]), "FIFO")


def test_a_manifest_that_is_dev_zero_is_refused_not_read_whole(tmp_path: Path) -> None:
    run = _run(tmp_path)
    (run / "manifest.json").unlink()
    (run / "manifest.json").symlink_to("/dev/zero")
    _assert_refused(run_cli("ledger", "verify", str(run)), "a device")


def test_a_manifest_past_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run(tmp_path)
    monkeypatch.setattr(manifest_module, "MAX_MANIFEST_BYTES", 64)
    _assert_refused(run_cli("ledger", "verify", str(run)), "more than the 64")


def test_a_manifest_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    run = _run(tmp_path)
    (run / "manifest.json").write_bytes(b'{"format": "ipw-ledger", "run_id": "\xff\xfe"}')
    _assert_refused(run_cli("ledger", "verify", str(run)), "manifest.json")


def test_a_pack_carrying_a_deep_manifest_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    run = _run(tmp_path)
    pack_file = tmp_path / "deep.ipwpack"
    with tarfile.open(pack_file, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in [run / "manifest.json", *sorted((run / "events").iterdir())]:
            name = str(path.relative_to(run))
            data = DEEP if name == "manifest.json" else path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "dest"
    dest.mkdir()
    for args in (["ledger", "unpack", str(pack_file), "-o", str(dest / "theirs")], ["ledger", "verify", str(pack_file)]):
        _assert_refused(run_cli(*args), "manifest.json", "nested deeper")
    assert list(dest.iterdir()) == []
