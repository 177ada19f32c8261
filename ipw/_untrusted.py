"""Reading untrusted input within bounds: regular files only, sizes capped, JSON nesting capped.

Datasets, manifests, packs, power traces and imported JSON lines come from
other people. A file that is really a FIFO, a device (``/dev/zero``) or a
multi-gigabyte blob, or JSON nested 100,000 deep, must become one clear
refusal, never a hang, a ``MemoryError`` or a ``RecursionError``. Every
refusal here is an ``InputRefused`` (a ``ValueError``) carrying the reason;
each caller turns it into its own typed ``IpwError``.

This module imports nothing from ipw, so every layer may use it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

__all__ = [
    "MAX_JSON_DEPTH",
    "InputRefused",
    "check_depth",
    "decode_json",
    "open_regular",
    "read_regular",
]

# Deeper than any dataset row, manifest or event ipw writes; far below where
# msgspec's or json's recursion would fail, and below Python's own recursion
# limit when such a value is later encoded, compared or printed.
MAX_JSON_DEPTH = 64
_CHUNK_BYTES = 1024**2


class InputRefused(ValueError):
    """An untrusted input is refused; ``str()`` says why in words for the user."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path | str, max_bytes: int) -> BinaryIO:
    """Open ``path`` for reading in binary, refusing anything but a regular file of at most ``max_bytes``.

    The file is opened non-blocking and checked through its descriptor, so a
    FIFO is refused without waiting for a writer and a file swapped in after
    a check is still caught. An ``OSError`` (missing, a symlink loop,
    permission) is refused with the operating system's words.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputRefused(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputRefused(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise InputRefused(f"{path} holds {info.st_size} bytes, more than the {max_bytes} allowed")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (see ``open_regular``).

    At most ``max_bytes + 1`` bytes are read even when the file grows after
    the check, so memory stays bounded.
    """
    chunks: list[bytes] = []
    total = 0
    with open_regular(path, max_bytes) as fh:
        try:
            # in chunks: read(max_bytes + 1) would set aside max_bytes of memory for a small file
            while chunk := fh.read(min(_CHUNK_BYTES, max_bytes + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise InputRefused(f"{path} holds more than the {max_bytes} bytes allowed")
        except OSError as exc:
            raise InputRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    return b"".join(chunks)


def check_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a decoded JSON value whose lists and objects nest deeper than ``max_depth``.

    Iterative, so a value that could only just be decoded cannot exhaust the
    stack here either.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            raise InputRefused(f"JSON nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def decode_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON text, refusing it (``InputRefused``) when invalid or nested deeper than ``max_depth``."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        value = msgspec.json.decode(data)
    except RecursionError:
        raise InputRefused(f"JSON nested deeper than {max_depth} levels") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec before 0.19 lets bad UTF-8 through as UnicodeDecodeError
        raise InputRefused(f"not valid JSON ({exc})") from None
    # Nesting needs one bracket per level: a value with few brackets needs no walk.
    if data.count(b"[") + data.count(b"{") > max_depth:
        check_depth(value, max_depth)
    return value
