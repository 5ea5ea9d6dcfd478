"""The fixed frame header: what is accepted, and what each kind of damage is called."""

from __future__ import annotations

import pytest

from wire.errors import ErrorCode, FrameError
from wire.frame import HEADER, HEADER_SIZE, MAGIC, MAX_JSON, pack_header, parse_header


def test_header_is_twenty_bytes_big_endian() -> None:
    raw = pack_header(1, 7, 300, 70_000)
    assert len(raw) == HEADER_SIZE == 20
    assert raw[:4] == MAGIC
    assert raw[8:12] == (300).to_bytes(4, "big")
    assert raw[12:20] == (70_000).to_bytes(8, "big")


def test_round_trip() -> None:
    header = parse_header(pack_header(1, 42, 10, 99), max_body=100)
    assert (header.version, header.kind, header.json_len, header.body_len) == (1, 42, 10, 99)


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ((b"GET ", 1, 1, 0, 2, 0), ErrorCode.BAD_FRAME, "wrong magic"),
        ((MAGIC, 9, 1, 0, 2, 0), ErrorCode.VERSION_UNSUPPORTED, "protocol version 9"),
        ((MAGIC, 1, 1, 1, 2, 0), ErrorCode.BAD_FRAME, "reserved flags"),
        ((MAGIC, 1, 1, 0, MAX_JSON + 1, 0), ErrorCode.TOO_LARGE, "JSON header length"),
        ((MAGIC, 1, 1, 0, 2, 1001), ErrorCode.TOO_LARGE, "body length 1001"),
        ((MAGIC, 1, 1, 0, 2, 2**64 - 1), ErrorCode.TOO_LARGE, "exceeds the 1000-byte"),
    ],
)
def test_bad_headers_are_named(fields: tuple[object, ...], code: ErrorCode, words: str) -> None:
    with pytest.raises(FrameError, match=words) as caught:
        parse_header(HEADER.pack(*fields), max_body=1000)
    assert caught.value.code is code


def test_body_limit_is_the_receivers_choice() -> None:
    raw = pack_header(1, 1, 2, 5000)
    assert parse_header(raw, max_body=5000).body_len == 5000
    with pytest.raises(FrameError):
        parse_header(raw, max_body=4999)


def test_a_json_header_over_64k_cannot_be_packed() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        pack_header(1, 1, MAX_JSON + 1, 0)
