"""Writing a file whole or not at all: a temp file beside it, renamed over it.

Every file ipw writes in one piece goes through :func:`atomic_path` (or
:func:`write_atomic` for bytes and text in hand). The content goes to
``.<name>.tmp`` in the same folder and is renamed over ``<name>`` only once
it is whole, so a reader sees the old file or the new one, never a half; a
failure (a full disk, Ctrl-C, a renderer that raises) removes the temp file
and leaves the old one as it was.

A rename alone is atomic for readers but not across a power cut: the new name
may be on disk before the bytes behind it. ``durable=True`` fsyncs the temp
file before the rename and the folder after it. Each caller says whether it
promises that, and why, where it calls: the ledger's manifest and a study's
state do; derived files that a replay rebuilds (analysis results, reports,
figures, exports) do not, and skip the two syncs.

Appending to a ledger segment is the writer's own business
(:mod:`ipw.ledger.writer`); it shares only :func:`fsync_dir` from here.

Nothing here imports from ipw, so every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "fsync_dir", "fsync_file", "write_atomic"]


def fsync_file(path: Path) -> None:
    """Push a file's bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Push a folder's entries (a rename, a new or removed file) to the disk, where the system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # a system that cannot open a folder (Windows) orders its renames itself
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse to sync a folder; the rename is still atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str, *, durable: bool = False) -> Iterator[Path]:
    """The temp path to write ``path``'s new content to; renamed over ``path`` when the block ends cleanly.

    For writers that want a path of their own (``savefig``, a Parquet or tar writer)::

        with atomic_path(out) as tmp:
            fig.savefig(tmp)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)  # a half-written temp file is no use to anyone
        raise
    if durable:
        fsync_dir(path.parent)


def write_atomic(path: Path | str, data: bytes | str, *, durable: bool = False) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) whole or not at all; returns ``path``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, durable=durable) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(raw)
    return Path(path)
