"""Pack bombs: a small pack that would unpack to far more than it holds is refused, and members stream to disk.

The good pack comes from a synthetic run (tests/reports/ledgers.py) packed by
``ipw ledger pack``; each bomb adds one member to it. A refusal is one line,
exit 3, and leaves nothing behind: no target, no staging folder, no parents.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from ipw.ledger import pack as pack_module
from ipw.ledger.pack import unpack
from tests.conftest import assert_one_clean_line, run_cli
from tests.reports.ledgers import Q, write_run

GIB = 1024**3


def _good_pack(tmp_path: Path, *, derived: dict[str, bytes] | None = None) -> Path:
    run = write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3, correct=True), Q("r2", 1.0, 1.4, 2)])
    for name, data in (derived or {}).items():
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_bytes(data)
    pack_file = tmp_path / "good.ipwpack"
    args = ["ledger", "pack", str(run), "-o", str(pack_file)] + (["--include-derived"] if derived else [])
    assert run_cli(*args).exit_code == 0
    return pack_file


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


def gnu_sparse_header(name: str, real_size: int, stored: bytes) -> bytes:
    """A GNU sparse member ('S'): ``stored`` bytes on disk, declared ``real_size`` once expanded.

    tarfile cannot write one, so the header is built by hand as GNU tar
    writes it: one sparse map entry putting the data at the end of the file.
    """
    info = tarfile.TarInfo(name)
    info.size = len(stored)
    info.mode = 0o644
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))[:512]
    header[386:398] = _octal(real_size - len(stored), 12)  # sparse[0].offset
    header[398:410] = _octal(len(stored), 12)  # sparse[0].numbytes
    header[482] = 0  # isextended
    header[483:495] = _octal(real_size, 12)  # realsize
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}".encode() + b"\0 "
    padding = b"\0" * (-len(stored) % 512)
    return bytes(header) + stored + padding


def _append_raw(pack_file: Path, out: Path, raw_member: bytes) -> Path:
    """``pack_file`` with one more member (raw header + data) before the end-of-archive blocks."""
    with tarfile.open(pack_file) as tar:
        end = max(m.offset_data + m.size for m in tar.getmembers())
    data = pack_file.read_bytes()
    body = data[: end + (-end % 512)]
    out.write_bytes(body + raw_member + b"\0" * 1024)
    return out


def _assert_refused_leaving_nothing(pack_file: Path, tmp_path: Path, *words: str) -> None:
    dest = tmp_path / "dest"
    dest.mkdir(exist_ok=True)
    target = dest / "not" / "yet" / "there"  # parents that unpack would have to create
    for args in (["ledger", "unpack", str(pack_file), "-o", str(target)], ["ledger", "verify", str(pack_file)]):
        result = run_cli(*args)
        assert result.exit_code == 3, result
        assert_one_clean_line(result.stderr)
        for word in words:
            assert word in result.stderr, result.stderr
    assert list(dest.iterdir()) == []


def test_a_20kb_pack_with_a_1gib_sparse_member_is_refused(tmp_path: Path) -> None:
    good = _good_pack(tmp_path)
    bomb = _append_raw(good, tmp_path / "bomb.ipwpack", gnu_sparse_header("analysis/bomb.json", GIB, b"{}"))
    assert bomb.stat().st_size < 64 * 1024
    with tarfile.open(bomb) as tar:
        member = tar.getmember("analysis/bomb.json")
        assert member.issparse() and member.size == GIB  # what tarfile would have expanded
    _assert_refused_leaving_nothing(bomb, tmp_path, "sparse")


def test_a_member_declaring_more_than_the_pack_holds_is_refused_before_writing(tmp_path: Path) -> None:
    good = _good_pack(tmp_path)
    info = tarfile.TarInfo("events/000009.ipwl")
    info.size = GIB
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    bomb = _append_raw(good, tmp_path / "claims.ipwpack", header + b"{}" + b"\0" * 510)
    _assert_refused_leaving_nothing(bomb, tmp_path, "more than the pack holds")


def test_the_total_unpacked_size_is_capped_absolutely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _good_pack(tmp_path)
    monkeypatch.setattr(pack_module, "MAX_UNPACKED_BYTES", 1024)
    _assert_refused_leaving_nothing(good, tmp_path, "holds more than")


def test_the_number_of_members_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _good_pack(tmp_path)
    monkeypatch.setattr(pack_module, "MAX_MEMBERS", 1)
    _assert_refused_leaving_nothing(good, tmp_path, "members")


def test_a_derived_member_past_its_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _good_pack(tmp_path, derived={"analysis/accuracy.json": b"{}" * 600})
    monkeypatch.setattr(pack_module, "MAX_DERIVED_BYTES", 1000)
    _assert_refused_leaving_nothing(good, tmp_path, "implausibly large")


def test_members_stream_to_disk_instead_of_being_held_in_memory(tmp_path: Path) -> None:
    big = b"[" + b"0," * (16 * 1024 * 1024) + b"0]"  # a 32 MiB analysis file
    good = _good_pack(tmp_path, derived={"analysis/big.json": big})
    tracemalloc.start()
    try:
        target = unpack(good, tmp_path / "theirs")
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (target / "analysis" / "big.json").stat().st_size == len(big)
    assert peak_bytes < 8 * 1024 * 1024, f"unpack held {peak_bytes} bytes at once"


def test_a_refused_pack_does_not_leave_the_parents_it_would_have_made(tmp_path: Path) -> None:
    # a flipped byte with the manifest's sha256 updated to match: refused by the hash chain, after writing
    good = _good_pack(tmp_path)
    with tarfile.open(good) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    segment = next(m.name for m, _ in members if m.name.startswith("events/"))
    flipped = bytearray(dict((m.name, d) for m, d in members)[segment])
    flipped[len(flipped) // 2] ^= 1
    manifest = json.loads(dict((m.name, d) for m, d in members)["manifest.json"])
    for entry in manifest["segments"]:
        if entry["name"] == segment:
            entry["sha256"] = hashlib.sha256(flipped).hexdigest()
    bad = tmp_path / "rehashed.ipwpack"
    with tarfile.open(bad, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            data = bytes(flipped) if info.name == segment else data
            data = json.dumps(manifest).encode() if info.name == "manifest.json" else data
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _assert_refused_leaving_nothing(bad, tmp_path, "events/")


def test_a_good_pack_still_unpacks_and_verifies(tmp_path: Path) -> None:
    # a plot: derived, streamed like any member, and not re-derived (a forged analysis file is refused;
    # tests/ledger/test_pack_derived.py covers that)
    good = _good_pack(tmp_path, derived={"plots/power-timeline.png": b"\x89PNG\r\n\x1a\n" + b"0" * 64})
    result = run_cli("ledger", "unpack", str(good), "-o", str(tmp_path / "a" / "b" / "theirs"))
    assert result.exit_code == 0, result.stderr
    assert run_cli("ledger", "verify", str(tmp_path / "a" / "b" / "theirs")).exit_code == 0
    assert (tmp_path / "a" / "b" / "theirs" / "plots" / "power-timeline.png").read_bytes() == b"\x89PNG\r\n\x1a\n" + b"0" * 64
    with io.BytesIO(good.read_bytes()) as raw, tarfile.open(fileobj=raw) as tar:
        assert tar.getnames()[0] == "manifest.json"
