"""Packing a run into one shareable file, and unpacking it safely.

A pack is an uncompressed tar (the segments are already zstd-compressed)
holding ``manifest.json`` first, then ``events/NNNNNN.ipwl`` segments, and —
only when asked — the derived ``analysis/*.json`` and ``plots/*.png``.

Unpacking trusts nothing: every member name is checked before anything is
written (no absolute paths, no ``..``, nothing but the names above, regular
files only), every segment's size and sha256 must match the manifest, and
the hash chain must verify and end at the manifest's head. Only then is the
run moved into place, in one rename; a refused pack leaves nothing behind.

A pack is also a possible bomb. Every header is checked before one byte is
written: sparse members are refused (a 20 KB pack could declare a 1 GiB
sparse file), each member's data must lie inside the pack file (an
uncompressed tar cannot unpack to more than it holds), the total is capped
absolutely, and members are streamed to disk in chunks, never held whole.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Callable

from .._atomic import atomic_path
from .._untrusted import InputRefused, decode_json, open_regular, read_regular
from ..errors import LedgerCorruptError, PackError, UsageError
from ._scan import segment_paths
from .manifest import MAX_MANIFEST_BYTES, MANIFEST_NAME, manifest_frames, read_manifest
from .recovery import VerifyReport, verify

_SEGMENT = re.compile(r"^events/\d{6}\.ipwl$")
_DERIVED = re.compile(r"^(analysis/[A-Za-z0-9_.-]+\.json|plots/[A-Za-z0-9_.-]+\.png)$")
MAX_MEMBER_BYTES = 8 * 1024**3  # one segment
MAX_DERIVED_BYTES = 256 * 1024**2  # one analysis/*.json or plots/*.png
MAX_UNPACKED_BYTES = 64 * 1024**3  # everything a pack may unpack to
MAX_MEMBERS = 100_000
_CHUNK_BYTES = 1024**2
_UNSAFE = "this pack is unsafe; nothing was written"


# (pack_file, unpacked run folder) -> None; raises when a derived file is not what the ledger replays to
DerivedCheck = Callable[[Path, Path], None]

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
    # Only the names listed above are packed: anything else in the run folder
    # (a writer's lock file, events/quarantine/, temporary files) stays behind.
    # not durable: the run it copies stays where it is, so a pack lost to a power cut is packed again
    with atomic_path(out_file) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in members:
            info = tar.gettarinfo(str(run_dir / name), arcname=name)
            if not info.isreg():
                raise PackError(f"{run_dir}/{name} is not a regular file", hint="remove it, then pack again")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0  # the same run packs to the same bytes
            info.mode = 0o644
            with open(run_dir / name, "rb") as fh:
                tar.addfile(info, fh)
    return members


def _open_pack(pack_file: Path) -> tuple[IO[bytes], int]:
    """The pack file, opened, and its size; only a regular file is a pack."""
    pack_file = Path(pack_file)
    if not pack_file.is_file():
        raise UsageError(f"{pack_file} does not exist", hint="pass a file written by 'ipw ledger pack'")
    try:
        fh = open_regular(pack_file, 2**62)
    except InputRefused as exc:
        raise PackError(f"{pack_file} is not an ipw pack: {exc}", hint="pass a file written by 'ipw ledger pack'") from None
    return fh, os.fstat(fh.fileno()).st_size


def _check_member(pack_file: Path, info: tarfile.TarInfo, pack_bytes: int) -> None:
    """Refuse a member that could escape, link, pretend to be sparse, or claim bytes the pack does not hold."""
    name = info.name
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")) or "\\" in name:
        raise PackError(f"{pack_file}: member {name!r} would escape the target folder", hint=_UNSAFE)
    if not info.isreg():
        raise PackError(f"{pack_file}: member {name!r} is not a regular file (links are refused)", hint=_UNSAFE)
    if info.issparse() or any(key.startswith("GNU.sparse") for key in info.pax_headers):
        raise PackError(f"{pack_file}: member {name!r} is a sparse file (refused: it could unpack to far more "
                        "than the pack holds)", hint=_UNSAFE)
    if name == MANIFEST_NAME:
        limit = MAX_MANIFEST_BYTES
    elif _SEGMENT.match(name):
        limit = MAX_MEMBER_BYTES
    elif _DERIVED.match(name):
        limit = MAX_DERIVED_BYTES
    else:
        raise PackError(f"{pack_file}: unexpected member {name!r}",
                        hint="a pack holds manifest.json, events/*.ipwl and optionally analysis/ and plots/")
    if info.size > limit:
        raise PackError(f"{pack_file}: member {name!r} is implausibly large ({info.size} bytes)", hint=_UNSAFE)
    if info.offset_data + info.size > pack_bytes:
        raise PackError(f"{pack_file} is truncated or corrupt: member {name!r} declares {info.size} bytes, "
                        "more than the pack holds", hint="get a fresh copy of the pack")


def _headers(pack_file: Path, tar: tarfile.TarFile, pack_bytes: int) -> list[tarfile.TarInfo]:
    """Every member's header, each checked, before anything is written (tarfile seeks past the data)."""
    infos: list[tarfile.TarInfo] = []
    seen: set[str] = set()
    total = 0
    for info in tar:
        _check_member(pack_file, info, pack_bytes)
        if info.name in seen:
            raise PackError(f"{pack_file}: member {info.name!r} appears twice", hint="this pack is unsafe")
        seen.add(info.name)
        total += info.size
        if len(infos) >= MAX_MEMBERS or total > MAX_UNPACKED_BYTES:
            raise PackError(f"{pack_file} holds more than {MAX_MEMBERS} members or "
                            f"{MAX_UNPACKED_BYTES // 1024**3} GiB", hint=_UNSAFE)
        infos.append(info)
    return infos


def _extract(pack_file: Path, tar: tarfile.TarFile, infos: list[tarfile.TarInfo], root: Path) -> dict[str, tuple[int, str]]:
    """Stream each checked member into ``root``; returns name -> (bytes written, sha256)."""
    root.mkdir(parents=True, exist_ok=True)
    root_resolved = root.resolve()
    digests: dict[str, tuple[int, str]] = {}
    for info in infos:
        path = root / info.name
        if root_resolved not in path.resolve().parents:
            raise PackError(f"member {info.name!r} would escape the target folder", hint="this pack is unsafe")
        path.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(info)
        assert source is not None  # a regular member
        digest, size = hashlib.sha256(), 0
        with source, open(path, "xb") as out:
            for chunk in iter(lambda: source.read(_CHUNK_BYTES), b""):
                size += len(chunk)
                if size > info.size:  # tarfile never reads past a member; a guard all the same
                    raise PackError(f"{pack_file}: member {info.name!r} is longer than it declares", hint=_UNSAFE)
                digest.update(chunk)
                out.write(chunk)
        digests[info.name] = (size, digest.hexdigest())
    return digests


def _unpack_into(pack_file: Path, make_root: Callable[[], Path]) -> tuple[Path, dict]:
    """Check every header, then stream the members into ``make_root()``; returns (that folder, manifest).

    ``make_root`` is called only once every header has passed, so a pack
    refused by its headers creates nothing at all.
    """
    pack_file = Path(pack_file)
    fh, pack_bytes = _open_pack(pack_file)
    with fh:
        try:
            tar = tarfile.open(fileobj=fh, mode="r:")
        except (tarfile.TarError, OSError) as exc:
            raise PackError(f"{pack_file} is not an ipw pack: {exc}", hint="pass a file written by 'ipw ledger pack'") from exc
        with tar:
            try:
                infos = _headers(pack_file, tar, pack_bytes)
                root = make_root()
                digests = _extract(pack_file, tar, infos, root)
            except (tarfile.TarError, EOFError) as exc:
                raise PackError(f"{pack_file} is truncated or corrupt: {exc}", hint="get a fresh copy of the pack") from exc
    return root, _check_hashes(pack_file, digests, root)


def _pack_frames(where: Path, manifest: dict) -> int:
    """The manifest's frame count, or a ``PackError`` saying it is not one."""
    try:
        return manifest_frames(manifest)
    except LedgerCorruptError as exc:
        raise PackError(f"{where}: {exc.message}", hint="the manifest was altered; nothing was written") from exc


def _check_complete(pack_file: Path, manifest: dict, report: VerifyReport) -> None:
    """A pack's manifest must name exactly the chain it carries, not an earlier head."""
    if _pack_frames(pack_file, manifest) != report.frames or manifest.get("head_hash") != report.head_hash:
        raise PackError(
            f"{pack_file}: manifest.json lists {manifest.get('frames')} frames but the segments hold {report.frames}",
            hint="the pack was altered or made from an unrepaired run; nothing was written",
        )


def _check_hashes(pack_file: Path, members: dict[str, tuple[int, str]], root: Path) -> dict:
    if MANIFEST_NAME not in members:
        raise PackError(f"{pack_file} has no manifest.json", hint="pass a file written by 'ipw ledger pack'")
    try:
        manifest = decode_json(read_regular(root / MANIFEST_NAME, MAX_MANIFEST_BYTES))
        listed = {s["name"]: s for s in manifest["segments"]}
    except (InputRefused, KeyError, TypeError) as exc:
        raise PackError(f"{pack_file}: manifest.json is not valid ({exc})", hint="get a fresh copy of the pack") from None
    if not listed:
        raise PackError(f"{pack_file}: manifest.json lists no segments", hint="pack a run that holds events")
    present = {n for n in members if _SEGMENT.match(n)}
    if present != set(listed):
        missing = sorted(set(listed) - present)
        extra = sorted(present - set(listed))
        raise PackError(f"{pack_file}: segments do not match the manifest (missing {missing}, unlisted {extra})",
                        hint="get a fresh copy of the pack")
    for name, entry in listed.items():
        size, sha256 = members[name]
        if not isinstance(entry, dict) or size != entry.get("size_bytes") or sha256 != entry.get("sha256"):
            raise PackError(f"{pack_file}: {name} does not match the sha256 in its manifest",
                            hint="the pack was altered or damaged in transit; nothing was written")
    return manifest


def verify_pack(pack_file: Path, check_derived: DerivedCheck | None = None) -> VerifyReport:
    """Check a pack without unpacking it anywhere it could be mistaken for a run.

    ``check_derived(pack_file, run_dir)`` (e.g. :func:`ipw.reports.audit.check_pack_derived`)
    raises when the pack's derived files are not what its ledger replays to; the
    ledger layer cannot replay, so the caller that can passes it in.
    """
    with tempfile.TemporaryDirectory(prefix="ipw-verify-") as tmp:
        run, manifest = _unpack_into(pack_file, lambda: Path(tmp) / "run")
        report = verify(run)
        if report.ok:
            if check_derived is not None:
                check_derived(pack_file, run)
    if not report.ok:
        assert report.problem is not None
        raise PackError(f"{pack_file}: {report.problem.message}", hint="the pack does not verify; nothing was written")
    _check_complete(pack_file, manifest, report)
    return report


def unpack(pack_file: Path, target: Path, check_derived: DerivedCheck | None = None) -> Path:
    """Verify a pack completely (``check_derived`` as for :func:`verify_pack`), then place the run
    at ``target`` (which must not exist)."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty", hint="choose a new folder with -o")
    created: list[Path] = []  # folders above target made here, removed again on refusal
    staging: list[Path] = []

    def make_staging() -> Path:
        created.extend(p for p in reversed(target.parents) if not p.exists())
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.append(Path(tempfile.mkdtemp(prefix=f".{target.name}.unpack-", dir=target.parent)))
        return staging[0]

    try:
        run, manifest = _unpack_into(pack_file, make_staging)
        report = verify(run)
        if not report.ok:
            assert report.problem is not None
            raise PackError(f"{pack_file}: {report.problem.message}", hint="the pack does not verify; nothing was written")
        _check_complete(pack_file, manifest, report)
        if check_derived is not None:
            check_derived(pack_file, run)
        if target.exists():
            target.rmdir()
        os.replace(run, target)
    except BaseException:
        for folder in staging:
            shutil.rmtree(folder, ignore_errors=True)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return target

