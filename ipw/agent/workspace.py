"""A task's workspace: one folder the agent's file tools may touch, and nothing outside it.

Every name a tool gives is resolved inside the folder; an absolute path, a
``..`` that climbs out, or a symbolic link that leads out is refused with a
:class:`PathRefused` (its message goes back to the model as the tool's
error). The workspace travels into the sandbox and back as a tar archive
(:meth:`Workspace.pack`, :meth:`Workspace.replace_from`): only regular files
and folders are taken back, each name checked the same way, within size and
count caps, because what comes back was written by an untrusted program.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Mapping

__all__ = ["PathRefused", "Workspace", "MAX_FILE_BYTES", "MAX_WORKSPACE_BYTES", "MAX_WORKSPACE_FILES"]

MAX_FILE_BYTES = 1024 * 1024  # one file a tool reads or writes
MAX_WORKSPACE_BYTES = 16 * 1024 * 1024  # everything a sandboxed program may leave behind
MAX_WORKSPACE_FILES = 1000


class PathRefused(ValueError):
    """A path that would leave the workspace, or a file too large to handle; ``str()`` says which."""


class Workspace:
    """The folder ``root`` as a task's workspace."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """Where ``name`` lies in the workspace; refused when it would lie anywhere else."""
        if not isinstance(name, str) or not name or "\0" in name:
            raise PathRefused(f"{name!r} is not a file name")
        if Path(name).is_absolute():
            raise PathRefused(f"{name!r} is an absolute path; give a name inside the workspace")
        target = (self.root / name).resolve()  # follows links, so one that points out is caught below
        if target != self.root and self.root not in target.parents:
            raise PathRefused(f"{name!r} lies outside the workspace")
        return target

    def read_text(self, name: str) -> str:
        path = self.path(name)
        if not path.is_file():
            raise PathRefused(f"{name!r} is not a file in the workspace")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PathRefused(f"{name!r} is larger than {MAX_FILE_BYTES} bytes")
        return path.read_bytes().decode("utf-8", "replace")

    def write_text(self, name: str, content: str) -> int:
        """Write ``content`` to ``name`` (folders made as needed); returns the bytes written."""
        data = content.encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            raise PathRefused(f"the content is larger than {MAX_FILE_BYTES} bytes")
        path = self.path(name)
        if path == self.root or path.is_dir():
            raise PathRefused(f"{name!r} is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return len(data)

    def seed(self, files: Mapping[str, str]) -> None:
        for name, content in files.items():
            self.write_text(name, content)

    def pack(self) -> bytes:
        """The workspace as an uncompressed tar archive (regular files and folders only)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.root.rglob("*")):
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue
                tar.add(path, arcname=path.relative_to(self.root).as_posix(), recursive=False)
        return buf.getvalue()

    def replace_from(self, archive: bytes) -> None:
        """Make the workspace what ``archive`` holds (a sandboxed program's workspace after it ran).

        The archive is checked whole before anything changes: a member that is
        not a regular file or folder, a name that leaves the workspace, or
        sizes or counts past the caps refuse it, and the workspace stays as it was.
        """
        try:
            tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r:")
            members = tar.getmembers()
        except (tarfile.TarError, EOFError) as exc:
            raise PathRefused(f"the workspace came back unreadable: {exc}") from exc
        if len(members) > MAX_WORKSPACE_FILES:
            raise PathRefused(f"the program left more than {MAX_WORKSPACE_FILES} files")
        if sum(m.size for m in members if m.isfile()) > MAX_WORKSPACE_BYTES:
            raise PathRefused(f"the program left more than {MAX_WORKSPACE_BYTES} bytes of files")
        for member in members:
            if not (member.isfile() or member.isdir()):
                raise PathRefused(f"the program left {member.name!r}, which is not a regular file or folder")
            if Path(member.name).is_absolute() or ".." in Path(member.name).parts or "\0" in member.name:
                raise PathRefused(f"the program left {member.name!r}, a name outside the workspace")
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        for member in members:
            target = self.path(member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
