"""Packs that must be refused: one clear line, exit 3 (2 for bad usage), and nothing written.

Every bad pack is built from the members of a good one (a real captured run),
changed in exactly one way. After a refusal the target folder does not exist
and its parent holds nothing new: no staging folder, no partial run, and no
file outside the target.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import assert_one_clean_line, run_cli

pytestmark = pytest.mark.e2e

Member = tuple[tarfile.TarInfo, "bytes | None"]


@pytest.fixture(scope="module")
def good_pack(shared_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pack_file = tmp_path_factory.mktemp("good") / "good.ipwpack"
    assert run_cli("ledger", "pack", str(shared_run), "-o", str(pack_file)).exit_code == 0
    return pack_file


def read_members(pack_file: Path) -> list[Member]:
    with tarfile.open(pack_file) as tar:
        out: list[Member] = []
        for info in tar.getmembers():
            fh = tar.extractfile(info)
            out.append((info, fh.read() if fh is not None else None))
    return out


def regular(name: str, data: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def write_tar(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def segment_name(members: list[Member]) -> str:
    return next(info.name for info, _ in members if info.name.startswith("events/"))


def replace(members: list[Member], name: str, data: bytes) -> list[Member]:
    return [(info, data if info.name == name else blob) for info, blob in members]


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def edit_manifest(members: list[Member], change: Callable[[dict], None]) -> list[Member]:
    raw = next(blob for info, blob in members if info.name == "manifest.json")
    assert raw is not None
    manifest = json.loads(raw)
    change(manifest)
    return replace(members, "manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode())


def _flipped_and_rehashed(members: list[Member]) -> list[Member]:
    # tampering done carefully: the manifest agrees with the altered segment, the hash chain does not
    name = segment_name(members)
    data = next(blob for info, blob in members if info.name == name)
    assert data is not None
    bad = flip_byte(data, len(data) // 2)
    members = replace(members, name, bad)

    def rehash(manifest: dict) -> None:
        for seg in manifest["segments"]:
            if seg["name"] == name:
                seg["sha256"] = hashlib.sha256(bad).hexdigest()
    return edit_manifest(members, rehash)


def _flip_segment(members: list[Member]) -> list[Member]:
    name = segment_name(members)
    data = next(blob for info, blob in members if info.name == name)
    assert data is not None
    return replace(members, name, flip_byte(data, len(data) // 2))


def _symlink(members: list[Member]) -> list[Member]:
    info = tarfile.TarInfo("events/000002.ipwl")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    return [*members, (info, None)]


def _hardlink(members: list[Member]) -> list[Member]:
    info = tarfile.TarInfo("analysis/accuracy.json")
    info.type = tarfile.LNKTYPE
    info.linkname = "manifest.json"
    return [*members, (info, None)]


def _directory(members: list[Member]) -> list[Member]:
    info = tarfile.TarInfo("events")
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return [(info, None), *members]


def _other_sha(manifest: dict) -> None:
    seg = manifest["segments"][0]
    seg["sha256"] = ("0" if seg["sha256"][0] != "0" else "1") + seg["sha256"][1:]


def _other_head(manifest: dict) -> None:
    manifest["head_hash"] = hashlib.sha256(b"another chain").hexdigest()


def _drop_segment(members: list[Member]) -> list[Member]:
    name = segment_name(members)
    return [(info, blob) for info, blob in members if info.name != name]


# id -> (how to damage the good members, words the error line must contain)
BAD_MEMBERS: dict[str, tuple[Callable[[list[Member]], list[Member]], str]] = {
    "dotdot": (lambda m: [*m, regular("../x", b"escaped")], "escape"),
    "dotdot-inside": (lambda m: [regular("events/../../x", b"escaped"), *m], "escape"),
    "symlink": (_symlink, "link"),
    "hardlink": (_hardlink, "link"),
    "directory": (_directory, "not a regular file"),
    "unexpected-name": (lambda m: [*m, regular("notes.txt", b"hello")], "unexpected member"),
    "duplicate": (lambda m: [*m, m[1]], "twice"),
    "no-manifest": (lambda m: [x for x in m if x[0].name != "manifest.json"], "no manifest"),
    "missing-segment": (_drop_segment, "do not match the manifest"),
    "flipped-byte": (_flip_segment, "sha256"),
    "flipped-byte-rehashed": (_flipped_and_rehashed, "events/000001.ipwl at byte"),
    "manifest-sha256": (lambda m: edit_manifest(m, _other_sha), "sha256"),
    "manifest-head-hash": (lambda m: edit_manifest(m, _other_head), "head hash"),
    "manifest-not-json": (lambda m: replace(m, "manifest.json", b"{not json"), "manifest.json is not valid"),
}


def assert_refused(pack_file: Path, tmp_path: Path, words: str, code: int = 3) -> None:
    """Unpacking and verifying ``pack_file`` both fail with one line; nothing is left behind."""
    dest = tmp_path / "dest"
    dest.mkdir()
    scratch = tmp_path / "scratch"  # where verify_pack's temporary folder goes
    scratch.mkdir()
    target = dest / "their-run"
    old_tempdir = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        unpacked = run_cli("ledger", "unpack", str(pack_file), "-o", str(target))
        verified = run_cli("ledger", "verify", str(pack_file))
    finally:
        tempfile.tempdir = old_tempdir
    for result in (unpacked, verified):
        assert result.exit_code == code, result
        assert_one_clean_line(result.stderr)
        assert words.lower() in result.stderr.lower(), result.stderr
        assert result.stdout == ""
    assert not target.exists()
    assert list(dest.iterdir()) == []
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "x").exists() and not (dest / "x").exists()


@pytest.mark.parametrize("case", sorted(BAD_MEMBERS))
def test_damaged_or_unsafe_pack_is_refused(good_pack: Path, tmp_path: Path, case: str) -> None:
    damage, words = BAD_MEMBERS[case]
    bad = write_tar(tmp_path / f"{case}.ipwpack", damage(read_members(good_pack)))
    assert_refused(bad, tmp_path, words)


def test_absolute_member_is_refused_and_not_written(good_pack: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "owned.txt"
    bad = write_tar(tmp_path / "absolute.ipwpack", [*read_members(good_pack), regular(str(outside), b"escaped")])
    with tarfile.open(bad) as tar:
        assert str(outside) in tar.getnames()  # tarfile kept the absolute name as written
    assert_refused(bad, tmp_path, "escape")
    assert not outside.parent.exists()


def _cut_points(pack_file: Path) -> dict[str, tuple[int, str]]:
    """Where to cut the pack, and what the refusal says."""
    with tarfile.open(pack_file) as tar:
        members = tar.getmembers()
    seg = next(m for m in members if m.name.startswith("events/"))
    return {
        "inside-first-header": (100, "truncated header"),
        "inside-manifest": (members[0].offset_data + members[0].size // 2, "truncated or corrupt"),
        # tarfile reads a header cut short after the first member as the end of the archive
        "inside-segment-header": (seg.offset + 200, "segments do not match the manifest"),
        "inside-segment-data": (seg.offset_data + seg.size // 2, "truncated or corrupt"),
        "last-byte-of-segment-data": (seg.offset_data + seg.size - 1, "truncated or corrupt"),
    }


@pytest.mark.parametrize(
    "where", ["inside-first-header", "inside-manifest", "inside-segment-header", "inside-segment-data",
              "last-byte-of-segment-data"])
def test_truncated_pack_is_refused(good_pack: Path, tmp_path: Path, where: str) -> None:
    cut, words = _cut_points(good_pack)[where]
    bad = tmp_path / "truncated.ipwpack"
    bad.write_bytes(good_pack.read_bytes()[:cut])
    assert_refused(bad, tmp_path, words)


NOT_TARS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda good: b"",
    "text": lambda good: b"timestamp,power_w\n1795766400,42\n" * 40,
    "gzip-of-a-pack": lambda good: gzip.compress(good),
    "random": lambda good: hashlib.sha256(b"seed").digest() * 400,
}


@pytest.mark.parametrize("kind", sorted(NOT_TARS))
def test_a_file_that_is_not_a_pack_is_refused(good_pack: Path, tmp_path: Path, kind: str) -> None:
    bad = tmp_path / f"{kind}.ipwpack"
    bad.write_bytes(NOT_TARS[kind](good_pack.read_bytes()))
    assert_refused(bad, tmp_path, "not an ipw pack")


def test_a_segment_file_is_not_a_pack(shared_run: Path, tmp_path: Path) -> None:
    assert_refused(shared_run / "events" / "000001.ipwl", tmp_path, "not an ipw pack")


def test_missing_pack_file_is_bad_usage(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nowhere.ipwpack", tmp_path, "does not exist", code=2)


def test_unpack_refuses_a_target_that_holds_something(good_pack: Path, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run_cli("ledger", "unpack", str(good_pack), "-o", str(target))
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert [p.name for p in target.iterdir()] == ["keep.txt"] and (target / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_good_pack_verifies_and_unpacks_into_an_empty_folder(good_pack: Path, tmp_path: Path, cli) -> None:
    verified = cli("ledger", "verify", str(good_pack))
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.startswith("ok: ")
    as_json = cli("ledger", "verify", str(good_pack), "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["ok"] is True
    target = tmp_path / "empty"
    target.mkdir()
    result = cli("ledger", "unpack", str(good_pack), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert (target / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
