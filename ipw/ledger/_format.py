"""The byte layout of a ledger segment. Bytes in, bytes out; no files.

A segment is a header followed by frames::

    segment header (20 bytes)
        magic      8s   b"IPWLEDG\\x01"
        schema     u16  event schema version of every frame in the segment
        reserved   u16  zero
        index      u32  1-based segment number
        crc32      u32  of the 16 bytes before it

    frame (48-byte header + payload)
        magic      4s   b"IPWF"
        length     u32  payload bytes
        count      u32  events in the payload
        prev_hash  32s  hash of the previous frame (zeros before the first)
        crc32      u32  of the 44 header bytes before it and the payload
        payload         zstd-compressed msgpack array of events

The hash of a frame is sha256 over its 44 header bytes (which include the
previous frame's hash) and its payload, so the last hash names the whole chain.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import NamedTuple

SEGMENT_MAGIC = b"IPWLEDG\x01"
FRAME_MAGIC = b"IPWF"
SEGMENT_HEADER_LEN = 20
FRAME_HEADER_LEN = 48
GENESIS_HASH = bytes(32)
SEGMENT_SUFFIX = ".ipwl"

_SEG_HEAD = struct.Struct("<8sHHI")
_FRAME_HEAD = struct.Struct("<4sII32s")
_U32 = struct.Struct("<I")


def segment_name(index: int) -> str:
    return f"{index:06d}{SEGMENT_SUFFIX}"


def encode_segment_header(schema_version: int, index: int) -> bytes:
    head = _SEG_HEAD.pack(SEGMENT_MAGIC, schema_version, 0, index)
    return head + _U32.pack(zlib.crc32(head))


class SegmentHeader(NamedTuple):
    schema_version: int
    index: int


def decode_segment_header(data: bytes) -> SegmentHeader | str:
    """The header, or a string saying why these bytes are not one."""
    if len(data) < SEGMENT_HEADER_LEN:
        return "segment header is truncated"
    magic, schema, _reserved, index = _SEG_HEAD.unpack_from(data)
    if magic != SEGMENT_MAGIC:
        return "not an ipw ledger segment (bad magic bytes)"
    (crc,) = _U32.unpack_from(data, 16)
    if crc != zlib.crc32(data[:16]):
        return "segment header checksum mismatch"
    return SegmentHeader(schema, index)


def encode_frame(payload: bytes, count: int, prev_hash: bytes) -> tuple[bytes, bytes]:
    """Return (frame bytes, frame hash)."""
    head = _FRAME_HEAD.pack(FRAME_MAGIC, len(payload), count, prev_hash)
    crc = zlib.crc32(payload, zlib.crc32(head))
    digest = hashlib.sha256(head)
    digest.update(payload)
    return b"".join((head, _U32.pack(crc), payload)), digest.digest()


class FrameHeader(NamedTuple):
    length: int
    count: int
    prev_hash: bytes
    crc: int
    head: bytes


def decode_frame_header(data: bytes | memoryview, offset: int) -> FrameHeader | str:
    """Parse the frame header at ``offset``, or say why it is not one."""
    if len(data) - offset < FRAME_HEADER_LEN:
        return "frame header is truncated (torn write)"
    head = bytes(data[offset : offset + 44])
    magic, length, count, prev = _FRAME_HEAD.unpack(head)
    if magic != FRAME_MAGIC:
        return "bad frame magic bytes"
    (crc,) = _U32.unpack_from(data, offset + 44)
    return FrameHeader(length, count, prev, crc, head)


def check_frame(header: FrameHeader, payload: bytes | memoryview) -> bool:
    return zlib.crc32(payload, zlib.crc32(header.head)) == header.crc


def frame_hash(header: FrameHeader, payload: bytes | memoryview) -> bytes:
    digest = hashlib.sha256(header.head)
    digest.update(payload)
    return digest.digest()
