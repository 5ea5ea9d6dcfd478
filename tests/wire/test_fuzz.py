"""Bad input, generated: whatever the bytes, the decoder ends in a named protocol error."""

from __future__ import annotations

import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wire.conftest import MemoryTransport, frame_of
from tests.wire.samples import SAMPLES
from wire import messages as m
from wire.connection import DEFAULT_TIMING, Connection
from wire.errors import ConnectionClosed, ErrorCode, FrameError, MessageError, WireError
from wire.frame import HEADER, MAGIC, MAX_JSON

MAX_BODY = 1 << 20


def read_all(data: bytes, chunk: int = 1 << 20) -> WireError:
    """Feed `data` to a connection until it fails; return the failure."""
    conn = Connection(MemoryTransport(data, chunk), "fuzz", DEFAULT_TIMING, max_body=MAX_BODY)
    try:
        for _ in range(len(data) + 1):
            conn.receive()
    except WireError as exc:
        return exc
    raise AssertionError("the connection accepted more frames than there are bytes")


@settings(max_examples=400)
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_random_bytes_end_in_a_protocol_error(data: bytes, chunk: int) -> None:
    assert isinstance(read_all(data, chunk), WireError)


@settings(max_examples=200)
@given(st.sampled_from(SAMPLES), st.data())
def test_truncated_frames_end_cleanly(sample: tuple[m.Message, int], data: st.DataObject) -> None:
    msg, body_len = sample
    frame = frame_of(msg, bytes(body_len))
    cut = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    error = read_all(frame[:cut])
    assert isinstance(error, ConnectionClosed)


@settings(max_examples=200)
@given(
    st.integers(min_value=MAX_JSON + 1, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
)
def test_oversized_lengths_are_refused_before_reading(json_len: int, body_len: int) -> None:
    error = read_all(HEADER.pack(MAGIC, 1, m.Ping.KIND, 0, json_len, body_len))
    assert isinstance(error, FrameError)
    assert error.code is ErrorCode.TOO_LARGE


@given(st.binary(min_size=4, max_size=4).filter(lambda b: b != MAGIC))
def test_wrong_magic(magic: bytes) -> None:
    error = read_all(HEADER.pack(magic, 1, m.Ping.KIND, 0, 2, 0) + b"{}")
    assert isinstance(error, FrameError)
    assert "wrong magic" in str(error)


@given(st.binary(min_size=1, max_size=200))
def test_invalid_utf8_or_json(payload: bytes) -> None:
    try:
        json.loads(payload.decode("utf-8"))
        return  # valid JSON is another test's business
    except (UnicodeDecodeError, ValueError):
        pass
    error = read_all(struct.pack("!4sBBHIQ", MAGIC, 1, m.Ping.KIND, 0, len(payload), 0) + payload)
    assert isinstance(error, MessageError)
    assert "message 'ping'" in str(error)


WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.floats(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300)
@given(st.sampled_from(SAMPLES), st.data())
def test_wrong_field_types_are_named(sample: tuple[m.Message, int], data: st.DataObject) -> None:
    msg, body_len = sample
    fields = json.loads(msg.encode())
    key = data.draw(st.sampled_from(sorted(fields)))
    fields[key] = data.draw(WRONG_VALUES)
    payload = json.dumps(fields).encode()
    try:
        m.decode(msg.KIND, payload)
        return  # the drawn value happened to be valid for that field
    except MessageError:
        pass
    error = read_all(
        HEADER.pack(MAGIC, 1, msg.KIND, 0, len(payload), body_len) + payload + bytes(body_len)
    )
    assert isinstance(error, MessageError)
    assert f"message '{msg.NAME}': field '{key}" in str(error)
