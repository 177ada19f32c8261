"""Packing a run into one shareable file, and unpacking it safely.

A pack is an uncompressed tar (the segments are already zstd-compressed)
holding ``manifest.json`` first, then ``events/NNNNNN.ipwl`` segments, and —
only when asked — the derived ``analysis/*.json`` and ``plots/*.png``.

Unpacking trusts nothing: every member name is checked before anything is
written (no absolute paths, no ``..``, nothing but the names above, regular
files only), every segment's size and sha256 must match the manifest, and
the hash chain must verify and end at the manifest's head. Only then is the
run moved into place, in one rename; a refused pack leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from ..errors import LedgerCorruptError, PackError, UsageError
from ._scan import segment_paths
from .manifest import MANIFEST_NAME, _manifest_frames, read_manifest
from .recovery import VerifyReport, verify

_SEGMENT = re.compile(r"^events/\d{6}\.ipwl$")
_DERIVED = re.compile(r"^(analysis/[A-Za-z0-9_.-]+\.json|plots/[A-Za-z0-9_.-]+\.png)$")
MAX_MEMBER_BYTES = 8 * 1024**3


def pack(run_dir: Path, out_file: Path, *, include_derived: bool = False) -> list[str]:
    """Write ``run_dir`` as one pack file; returns the member names."""
    run_dir = Path(run_dir)
    report = verify(run_dir)
    if not report.ok:
        assert report.problem is not None
        raise PackError(f"refusing to pack a damaged ledger: {report.problem.message}",
                        hint=f"run 'ipw ledger repair {run_dir}' first")
    manifest = read_manifest(run_dir)
    if manifest is None or _pack_frames(run_dir, manifest) != report.frames:
        raise PackError(f"{run_dir}/manifest.json is missing or behind the ledger",
                        hint=f"run 'ipw ledger repair {run_dir}' to rewrite it, then pack again")
    try:
        members = [MANIFEST_NAME] + [str(s["name"]) for s in manifest["segments"]]
    except (KeyError, TypeError) as exc:
        raise PackError(f"{run_dir}/manifest.json does not list its segments properly",
                        hint=f"run 'ipw ledger repair {run_dir}' to rewrite it, then pack again") from exc
    if sorted(members[1:]) != [f"events/{p.name}" for p in segment_paths(run_dir)]:
        raise PackError(f"{run_dir}/manifest.json lists other segments than events/ holds",
                        hint=f"run 'ipw ledger repair {run_dir}' to rewrite it, then pack again")
    if include_derived:
        for sub, pattern in (("analysis", "*.json"), ("plots", "*.png")):
            members += sorted(f"{sub}/{p.name}" for p in (run_dir / sub).glob(pattern))
    out_file = Path(out_file)
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in members:
            info = tar.gettarinfo(str(run_dir / name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0  # the same run packs to the same bytes
            info.mode = 0o644
            with open(run_dir / name, "rb") as fh:
                tar.addfile(info, fh)
    os.replace(tmp, out_file)
    return members


def _read_members(pack_file: Path) -> dict[str, bytes]:
    """Every member's bytes, after checking each name and type; nothing is written."""
    pack_file = Path(pack_file)
    if not pack_file.is_file():
        raise UsageError(f"{pack_file} does not exist", hint="pass a file written by 'ipw ledger pack'")
    try:
        tar = tarfile.open(pack_file, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise PackError(f"{pack_file} is not an ipw pack: {exc}", hint="pass a file written by 'ipw ledger pack'") from exc
    members: dict[str, bytes] = {}
    with tar:
        try:
            for info in tar:
                name = info.name
                path = PurePosixPath(name)
                if path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")) or "\\" in name:
                    raise PackError(f"{pack_file}: member {name!r} would escape the target folder",
                                    hint="this pack is unsafe; nothing was written")
                if not info.isreg():
                    raise PackError(f"{pack_file}: member {name!r} is not a regular file (links are refused)",
                                    hint="this pack is unsafe; nothing was written")
                if name != MANIFEST_NAME and not _SEGMENT.match(name) and not _DERIVED.match(name):
                    raise PackError(f"{pack_file}: unexpected member {name!r}",
                                    hint="a pack holds manifest.json, events/*.ipwl and optionally analysis/ and plots/")
                if name in members:
                    raise PackError(f"{pack_file}: member {name!r} appears twice", hint="this pack is unsafe")
                if info.size > MAX_MEMBER_BYTES:
                    raise PackError(f"{pack_file}: member {name!r} is implausibly large", hint="this pack is unsafe")
                fh = tar.extractfile(info)
                assert fh is not None
                members[name] = fh.read()
        except tarfile.TarError as exc:
            raise PackError(f"{pack_file} is truncated or corrupt: {exc}", hint="get a fresh copy of the pack") from exc
    return members


def _pack_frames(where: Path, manifest: dict) -> int:
    """The manifest's frame count, or a ``PackError`` saying it is not one."""
    try:
        return _manifest_frames(manifest)
    except LedgerCorruptError as exc:
        raise PackError(f"{where}: {exc.message}", hint="the manifest was altered; nothing was written") from exc


def _check_complete(pack_file: Path, manifest: dict, report: VerifyReport) -> None:
    """A pack's manifest must name exactly the chain it carries, not an earlier head."""
    if _pack_frames(pack_file, manifest) != report.frames or manifest.get("head_hash") != report.head_hash:
        raise PackError(
            f"{pack_file}: manifest.json lists {manifest.get('frames')} frames but the segments hold {report.frames}",
            hint="the pack was altered or made from an unrepaired run; nothing was written",
        )


def _check_hashes(pack_file: Path, members: dict[str, bytes]) -> dict:
    raw = members.get(MANIFEST_NAME)
    if raw is None:
        raise PackError(f"{pack_file} has no manifest.json", hint="pass a file written by 'ipw ledger pack'")
    try:
        manifest = json.loads(raw)
        listed = {s["name"]: s for s in manifest["segments"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise PackError(f"{pack_file}: manifest.json is not valid", hint="get a fresh copy of the pack") from exc
    if not listed:
        raise PackError(f"{pack_file}: manifest.json lists no segments", hint="pack a run that holds events")
    present = {n for n in members if _SEGMENT.match(n)}
    if present != set(listed):
        missing = sorted(set(listed) - present)
        extra = sorted(present - set(listed))
        raise PackError(f"{pack_file}: segments do not match the manifest (missing {missing}, unlisted {extra})",
                        hint="get a fresh copy of the pack")
    for name, entry in listed.items():
        data = members[name]
        if len(data) != entry.get("size_bytes") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise PackError(f"{pack_file}: {name} does not match the sha256 in its manifest",
                            hint="the pack was altered or damaged in transit; nothing was written")
    return manifest


def verify_pack(pack_file: Path) -> VerifyReport:
    """Check a pack without unpacking it anywhere it could be mistaken for a run."""
    members = _read_members(pack_file)
    manifest = _check_hashes(pack_file, members)
    with tempfile.TemporaryDirectory(prefix="ipw-verify-") as tmp:
        run = Path(tmp) / "run"
        _write_members(run, members)
        report = verify(run)
        if report.ok:
            _check_derived(pack_file, run)
    if not report.ok:
        assert report.problem is not None
        raise PackError(f"{pack_file}: {report.problem.message}", hint="the pack does not verify; nothing was written")
    _check_complete(pack_file, manifest, report)
    return report


def unpack(pack_file: Path, target: Path) -> Path:
    """Verify a pack completely, then place the run at ``target`` (which must not exist)."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty", hint="choose a new folder with -o")
    members = _read_members(pack_file)
    manifest = _check_hashes(pack_file, members)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.unpack-", dir=target.parent))
    try:
        _write_members(staging, members)
        report = verify(staging)
        if not report.ok:
            assert report.problem is not None
            raise PackError(f"{pack_file}: {report.problem.message}", hint="the pack does not verify; nothing was written")
        _check_complete(pack_file, manifest, report)
        _check_derived(pack_file, staging)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_derived(pack_file: Path, run: Path) -> None:
    """Derived files must be what the pack's own ledger replays to (see ipw.analyses.audit)."""
    from ..analyses.audit import check_pack_derived  # imported late: analyses sit below the ledger layer

    check_pack_derived(pack_file, run)


def _write_members(root: Path, members: dict[str, bytes]) -> None:
    root_resolved = root.resolve()
    for name, data in members.items():
        path = (root / name).resolve()
        if root_resolved not in path.parents:
            raise PackError(f"member {name!r} would escape the target folder", hint="this pack is unsafe")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
