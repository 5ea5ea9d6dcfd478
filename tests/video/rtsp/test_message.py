"""Reading RTSP requests off a socket, and writing responses (RFC 2326 sections 6, 7, 10.12)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from video.rtsp.message import (
    MAX_BODY,
    MAX_HEADER,
    SERVER_NAME,
    Headers,
    Interleaved,
    PeerGone,
    Request,
    RequestReader,
    Response,
    RtspError,
)

URL = "rtsp://host/card"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(client end, server end) of a connected socket pair, with a read timeout."""
    client, server = socket.socketpair()
    server.settimeout(5)
    yield client, server
    client.close()
    server.close()


def read(
    data: bytes | list[bytes],
    pair: tuple[socket.socket, socket.socket],
    *,
    max_header: int = MAX_HEADER,
    max_body: int = MAX_BODY,
) -> RequestReader:
    """A reader of the server end, once `data` (or each chunk of it, 50 ms apart) is sent."""
    client, server = pair
    chunks = [data] if isinstance(data, bytes) else data
    client.sendall(chunks[0])
    if len(chunks) > 1:
        rest = b"".join(chunks[1:])
        threading.Timer(0.05, client.sendall, (rest,)).start()
    return RequestReader(server, max_header=max_header, max_body=max_body)


def next_request(reader: RequestReader) -> Request:
    item = reader.next()
    assert isinstance(item, Request)
    return item


def refused(reader: RequestReader) -> RtspError:
    with pytest.raises(RtspError) as caught:
        reader.next()
    return caught.value


Pair = tuple[socket.socket, socket.socket]


# --- Requests ---------------------------------------------------------------------------------


def test_request_line_and_headers(pair: Pair) -> None:
    request = next_request(read(b"OPTIONS rtsp://host/card RTSP/1.0\r\nCSeq: 1\r\n\r\n", pair))
    assert (request.method, request.url, request.cseq, request.body) == ("OPTIONS", URL, "1", b"")


def test_headers_are_case_insensitive(pair: Pair) -> None:
    head = b"SETUP rtsp://host/card RTSP/1.0\r\ncseq: 7\r\nTRANSPORT:RTP/AVP/TCP\r\n\r\n"
    request = next_request(read(head, pair))
    assert request.cseq == "7"
    assert request.headers.get("Transport") == "RTP/AVP/TCP"  # and the value is trimmed
    assert request.headers.get("transport") == "RTP/AVP/TCP"
    assert request.headers.get("Session") is None


def test_a_repeated_header_keeps_its_first_value() -> None:
    assert Headers((("CSeq", "1"), ("cseq", "2"))).get("CSEQ") == "1"


def test_body_by_content_length_then_the_next_request(pair: Pair) -> None:
    data = (
        b"SET_PARAMETER rtsp://host/card RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nhello"
        b"OPTIONS * RTSP/1.0\r\nCSeq: 3\r\n\r\n"
    )
    reader = read(data, pair)
    assert next_request(reader).body == b"hello"
    following = next_request(reader)
    assert (following.method, following.cseq) == ("OPTIONS", "3")


def test_a_body_arriving_in_pieces(pair: Pair) -> None:
    head = b"SET_PARAMETER rtsp://host/card RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 10\r\n\r\n"
    reader = read([head + b"01234", b"56789"], pair)
    assert next_request(reader).body == b"0123456789"


def test_a_head_arriving_in_pieces(pair: Pair) -> None:
    reader = read([b"OPTIONS rtsp://host/card RTSP/1.0\r\nCS", b"eq: 4\r\n\r\n"], pair)
    assert next_request(reader).cseq == "4"


def test_interleaved_packets_between_requests(pair: Pair) -> None:
    data = (
        b"$\x01\x00\x04abcd"
        b"OPTIONS rtsp://host/card RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        b"$\x03\x00\x00"
        b"$\x00\x00\x02xy"
        b"OPTIONS rtsp://host/card RTSP/1.0\r\nCSeq: 2\r\n\r\n"
    )
    reader = read(data, pair)
    assert reader.next() == Interleaved(1, b"abcd")
    assert next_request(reader).cseq == "1"
    assert reader.next() == Interleaved(3, b"")
    assert reader.next() == Interleaved(0, b"xy")
    assert next_request(reader).cseq == "2"


def test_an_interleaved_packet_arriving_in_pieces(pair: Pair) -> None:
    reader = read([b"$\x01\x01", b"\x00" + bytes(range(256))], pair)
    assert reader.next() == Interleaved(1, bytes(range(256)))


def test_peer_gone(pair: Pair) -> None:
    client, server = pair
    client.sendall(b"OPTIONS rtsp://host/card RTSP/1.0\r\nCSeq: 1\r\n\r\nOPTI")
    client.close()
    reader = RequestReader(server)
    assert next_request(reader).cseq == "1"
    with pytest.raises(PeerGone):
        reader.next()


def test_peer_gone_in_a_body(pair: Pair) -> None:
    client, server = pair
    client.sendall(b"SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 9\r\n\r\nabc")
    client.close()
    with pytest.raises(PeerGone):
        RequestReader(server).next()


# --- Malformed requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"GARBAGE\r\nCSeq: 5",
        b"OPTIONS rtsp://host/card\r\nCSeq: 5",  # no version
        b"OPTIONS  rtsp://host/card RTSP/1.0\r\nCSeq: 5",  # two spaces
        b"options rtsp://host/card RTSP/1.0\r\nCSeq: 5",  # methods are upper case
        b"OPTIONS rtsp://host/card HTTP/1.1\r\nCSeq: 5",
    ],
)
def test_a_malformed_request_line_is_400_and_closes(pair: Pair, head: bytes) -> None:
    error = refused(read(head + b"\r\n\r\n", pair))
    assert (error.status, error.close) == (400, True)
    assert error.cseq == "5"  # so the client can still match the answer


@pytest.mark.parametrize(
    "line",
    [b"no colon here", b" CSeq: 1", b": empty name", b"Bad Name : value"],
)
def test_a_malformed_header_line_is_400_and_closes(pair: Pair, line: bytes) -> None:
    error = refused(read(b"OPTIONS rtsp://host/card RTSP/1.0\r\n" + line + b"\r\n\r\n", pair))
    assert (error.status, error.close) == (400, True)


def test_not_utf8_is_400(pair: Pair) -> None:
    error = refused(read(b"OPTIONS rtsp://host/\xff RTSP/1.0\r\nCSeq: 1\r\n\r\n", pair))
    assert (error.status, error.close) == (400, True)


def test_another_version_is_505_and_the_connection_goes_on(pair: Pair) -> None:
    data = (
        b"OPTIONS rtsp://host/card RTSP/2.0\r\nCSeq: 8\r\nContent-Length: 3\r\n\r\nabc"
        b"OPTIONS rtsp://host/card RTSP/1.0\r\nCSeq: 9\r\n\r\n"
    )
    reader = read(data, pair)
    error = refused(reader)
    assert (error.status, error.close, error.cseq) == (505, False, "8")
    assert next_request(reader).cseq == "9"  # the refused request's body was skipped


# --- Limits ----------------------------------------------------------------------------------


def test_default_limits() -> None:
    assert (MAX_HEADER, MAX_BODY) == (16 * 1024, 64 * 1024)


def test_a_header_over_the_limit_without_its_end_is_400(pair: Pair) -> None:
    reader = read(b"OPTIONS rtsp://host/card RTSP/1.0\r\nX: " + b"a" * 5000, pair, max_header=4096)
    error = refused(reader)
    assert (error.status, error.close) == (400, True)
    assert "over 4096 bytes" in error.detail


def test_a_header_over_the_limit_with_its_end_is_400(pair: Pair) -> None:
    head = b"OPTIONS rtsp://host/card RTSP/1.0\r\nCSeq: 1\r\nX: " + b"a" * 5000 + b"\r\n\r\n"
    error = refused(read(head, pair, max_header=4096))
    assert (error.status, error.close) == (400, True)


def test_a_header_at_the_limit_is_read(pair: Pair) -> None:
    start = b"OPTIONS rtsp://host/card RTSP/1.0\r\nCSeq: 1\r\nX: "
    head = start + b"a" * (4096 - len(start))
    assert len(head) == 4096
    assert next_request(read(head + b"\r\n\r\n", pair, max_header=4096)).cseq == "1"


def test_a_body_over_the_limit_is_413(pair: Pair) -> None:
    head = b"SET_PARAMETER * RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 1001\r\n\r\n"
    error = refused(read(head, pair, max_body=1000))
    assert (error.status, error.close, error.cseq) == (413, True, "3")


@pytest.mark.parametrize("length", [b"-1", b"ten", b"1e3", b"\xc2\xb2"])  # last: superscript 2
def test_a_content_length_that_is_not_a_number_is_400(pair: Pair, length: bytes) -> None:
    head = b"SET_PARAMETER * RTSP/1.0\r\nCSeq: 4\r\nContent-Length: " + length + b"\r\n\r\n"
    error = refused(read(head, pair))
    assert (error.status, error.close, error.cseq) == (400, True, "4")


# --- Responses -------------------------------------------------------------------------------


def test_response_head() -> None:
    raw = Response(200, (("Public", "OPTIONS"),)).encode("12")
    assert raw.endswith(b"\r\n\r\n")
    lines = raw.decode().split("\r\n")
    assert lines[0] == "RTSP/1.0 200 OK"
    assert lines[1] == "CSeq: 12"
    assert f"Server: {SERVER_NAME}" in lines
    assert any(line.startswith("Date: ") and line.endswith(" GMT") for line in lines)
    assert "Public: OPTIONS" in lines
    assert not any(line.startswith("Content-Length") for line in lines)


def test_response_without_cseq() -> None:
    assert b"CSeq" not in Response(400).encode(None)
    assert Response(400).encode(None).startswith(b"RTSP/1.0 400 Bad Request\r\n")


def test_response_body() -> None:
    raw = Response(200, body=b"v=0\r\n", content_type="application/sdp").encode("1")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == b"v=0\r\n"
    assert b"\r\nContent-Type: application/sdp\r\n" in head
    assert head.endswith(b"\r\nContent-Length: 5")


@pytest.mark.parametrize(
    ("status", "reason"),
    [(454, "Session Not Found"), (455, "Method Not Valid in This State"),
     (461, "Unsupported Transport"), (505, "RTSP Version Not Supported"), (299, "Unknown")],
)  # fmt: skip
def test_reason_phrases(status: int, reason: str) -> None:
    assert Response(status).encode("1").startswith(f"RTSP/1.0 {status} {reason}\r\n".encode())
