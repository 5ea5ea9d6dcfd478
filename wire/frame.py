"""The frame: a fixed binary header, a UTF-8 JSON header, an optional binary body.

    offset  size  field
    0       4     magic  b"VGIA"
    4       1     protocol version
    5       1     message kind (see wire.messages)
    6       2     flags, reserved, must be 0
    8       4     JSON header length, at most MAX_JSON bytes
    12      8     body length, at most the endpoint's max_body
    20      ...   JSON header, then body

All integers are big-endian (network order).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wire.errors import ErrorCode, FrameError

MAGIC = b"VGIA"
PROTOCOL_VERSIONS = (1,)
"""Protocol versions this code speaks, oldest first. Frames before negotiation carry the first."""

HEADER = struct.Struct("!4sBBHIQ")
HEADER_SIZE = HEADER.size
MAX_JSON = 64 * 1024
DEFAULT_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The parsed fixed header of one frame."""

    version: int
    kind: int
    json_len: int
    body_len: int


def pack_header(version: int, kind: int, json_len: int, body_len: int) -> bytes:
    """Return the 20-byte fixed header for a frame with these parts."""
    if json_len > MAX_JSON:
        raise FrameError(
            f"JSON header of {json_len} bytes exceeds the {MAX_JSON}-byte limit",
            ErrorCode.TOO_LARGE,
        )
    return HEADER.pack(MAGIC, version, kind, 0, json_len, body_len)


def parse_header(raw: bytes | bytearray | memoryview, max_body: int) -> FrameHeader:
    """Validate the fixed header; raise FrameError naming the first thing wrong with it."""
    if len(raw) != HEADER_SIZE:
        raise FrameError(f"fixed header is {len(raw)} bytes, expected {HEADER_SIZE}")
    magic, version, kind, flags, json_len, body_len = HEADER.unpack(raw)
    if magic != MAGIC:
        raise FrameError(f"wrong magic {bytes(magic)!r}, expected {MAGIC!r}")
    if version not in PROTOCOL_VERSIONS:
        raise FrameError(
            f"protocol version {version} is not one of {list(PROTOCOL_VERSIONS)}",
            ErrorCode.VERSION_UNSUPPORTED,
        )
    if flags != 0:
        raise FrameError(f"reserved flags are {flags:#06x}, must be 0")
    if json_len > MAX_JSON:
        raise FrameError(
            f"JSON header length {json_len} exceeds the {MAX_JSON}-byte limit", ErrorCode.TOO_LARGE
        )
    if body_len > max_body:
        raise FrameError(
            f"body length {body_len} exceeds the {max_body}-byte limit", ErrorCode.TOO_LARGE
        )
    return FrameHeader(version=version, kind=kind, json_len=json_len, body_len=body_len)
