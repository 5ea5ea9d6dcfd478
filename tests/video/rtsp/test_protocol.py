"""The server's RTSP 1.0 protocol (RFC 2326) and RTP/JPEG delivery (RFC 2435, RFC 3550), pinned
behaviour by behaviour with a raw client, in the spirit of gortsplib's server tests.

Every test talks to a real server in the test process (see conftest.py) over loopback: requests
and their answers, then the RTP and RTCP packets, over TCP (interleaved) and over UDP.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.video.rtsp.conftest import RunningServer, StartServer
from tests.video.rtsp.rawclient import (
    Packet,
    RawClient,
    Rtp,
    RtspResponse,
    UdpPair,
    is_rtcp,
    parse_rtp,
)
from video.rtsp.connection import RtspConnection
from video.rtsp.session import Session

TCP = "RTP/AVP/TCP;unicast;interleaved=0-1"
PUBLIC = ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "GET_PARAMETER", "TEARDOWN")
MTU = 1500
MAX_DATAGRAM = MTU - 20 - 8  # IPv4 and UDP headers
SR = struct.Struct("!BBHIIIIII")
NTP_UNIX_OFFSET = 2_208_988_800

Connect = Callable[..., RawClient]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Open raw clients to a server; all closed after the test."""
    clients: list[RawClient] = []

    def open_client(server: RunningServer, **options: int) -> RawClient:
        client = RawClient(server.host, server.port, **options)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def client(card_server: RunningServer, connect: Connect) -> RawClient:
    """A client connected to the test-card server."""
    return connect(card_server)


# --- Helpers ---------------------------------------------------------------------------------


def track(url: str) -> str:
    """The control URL of a camera's one track."""
    return f"{url}/trackID=0"


def setup(client: RawClient, url: str, transport: str = TCP) -> RtspResponse:
    """DESCRIBE then SETUP the track; the SETUP response."""
    assert client.request("DESCRIBE", url).status == 200
    reply = client.request("SETUP", track(url), [("Transport", transport)])
    assert reply.status == 200, reply
    return reply


def play(client: RawClient, url: str, transport: str = TCP) -> tuple[str, RtspResponse]:
    """DESCRIBE, SETUP, PLAY; the session id and the PLAY response."""
    session = setup(client, url, transport).session
    assert session is not None
    reply = client.request("PLAY", url, [("Session", session)])
    assert reply.status == 200, reply
    return session, reply


def rtp_info_seq(reply: RtspResponse) -> int:
    """The `seq=` of PLAY's RTP-Info header."""
    found = re.search(r"seq=(\d+)", reply.header("RTP-Info") or "")
    assert found is not None, reply
    return int(found.group(1))


def ssrc_of(reply: RtspResponse) -> int:
    """The `ssrc=` of SETUP's Transport header."""
    found = re.search(r"ssrc=([0-9A-Fa-f]{8})", reply.header("Transport") or "")
    assert found is not None, reply
    return int(found.group(1), 16)


def rtp_on(packets: list[Packet], channel: int = 0) -> list[Rtp]:
    """The RTP packets of one interleaved channel."""
    return [parse_rtp(p.data) for p in packets if p.channel == channel]


def whole_frames(packets: list[Rtp]) -> list[list[Rtp]]:
    """Packets grouped into frames by timestamp (not by marker bit, which the tests check); a
    last frame whose end has not arrived is dropped."""
    frames = [list(group) for _, group in itertools.groupby(packets, lambda p: p.timestamp)]
    if frames and not frames[-1][-1].marker:
        frames.pop()
    return frames


def fragment_offset(packet: Rtp) -> int:
    """The RFC 2435 fragment offset of a JPEG payload."""
    return int.from_bytes(packet.payload[1:4], "big")


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def receive(sock: socket.socket, seconds: float) -> list[bytes]:
    """Every datagram a UDP socket gets within `seconds`."""
    datagrams = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            datagrams.append(sock.recv(65536))
        except TimeoutError:
            break
    return datagrams


def drain(sock: socket.socket) -> None:
    """Discard what a UDP socket has received so far."""
    receive(sock, 0.05)


def sessions_of(server: RunningServer) -> set[str]:
    """The ids in the server's session table."""
    return {session.id for session in server.server.context.sessions.every()}


def session_of(server: RunningServer, session_id: str) -> Session:
    """A session of the server's table."""
    return server.server.context.sessions.get(session_id)


def assert_serves_frames(server: RunningServer) -> None:
    """A new client plays over TCP and gets a whole frame."""
    with RawClient(server.host, server.port, timeout=3) as other:
        play(other, server.url())
        while True:  # until the end of a frame, or a read timeout
            packet = other.read_packet()
            if packet.channel == 0 and parse_rtp(packet.data).marker:
                return


def receiver_report(ssrc: int) -> bytes:
    """An RTCP receiver report with no report blocks."""
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


# --- OPTIONS, DESCRIBE ------------------------------------------------------------------------


def test_options_lists_the_methods(card_server: RunningServer, client: RawClient) -> None:
    reply = client.request("OPTIONS", card_server.url())
    assert (reply.version, reply.status, reply.header("CSeq")) == ("RTSP/1.0", 200, "1")
    public = [method.strip() for method in (reply.header("Public") or "").split(",")]
    assert sorted(public) == sorted(PUBLIC)


def test_pipelined_requests_are_answered_in_order(
    card_server: RunningServer, client: RawClient
) -> None:
    url = card_server.url()
    client.send_raw(
        f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n"
        f"DESCRIBE {url}x RTSP/1.0\r\nCSeq: 3\r\n\r\n".encode()
    )
    replies = [client.read_response() for _ in range(3)]
    assert [(r.header("CSeq"), r.status) for r in replies] == [("1", 200), ("2", 200), ("3", 404)]
    assert replies[1].body.startswith(b"v=0")


def test_options_star(client: RawClient) -> None:
    assert client.request("OPTIONS", "*").status == 200


def test_describe_returns_sdp(card_server: RunningServer, client: RawClient) -> None:
    url = card_server.url()
    reply = client.request("DESCRIBE", url, [("Accept", "application/sdp")])
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/sdp"
    assert reply.header("Content-Base") == url + "/"
    assert int(reply.header("Content-Length") or 0) == len(reply.body)
    lines = reply.body.decode().split("\r\n")
    assert lines[0] == "v=0"
    assert lines[-1] == ""  # every line ends with CRLF
    media = lines.index("m=video 0 RTP/AVP 26")
    assert "a=rtpmap:26 JPEG/90000" in lines[media:]
    assert "a=control:trackID=0" in lines[media:]
    assert "a=control:*" in lines[:media]
    assert any(line.startswith("o=") and line.endswith(" IN IP4 127.0.0.1") for line in lines)


def test_describe_unknown_path_is_404(card_server: RunningServer, client: RawClient) -> None:
    assert client.request("DESCRIBE", card_server.url("nope")).status == 404
    reply = client.request("SETUP", track(card_server.url("nope")), [("Transport", TCP)])
    assert (reply.status, reply.header("CSeq")) == (404, "2")


# --- SETUP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        ("RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=0-1"),
        ("RTP/AVP/TCP;unicast;interleaved=6-7", "RTP/AVP/TCP;unicast;interleaved=6-7"),
        ("RTP/AVP/TCP;unicast", "RTP/AVP/TCP;unicast;interleaved=0-1"),
    ],
)
def test_setup_tcp_interleaved(
    card_server: RunningServer, client: RawClient, asked: str, answered: str
) -> None:
    reply = setup(client, card_server.url(), asked)
    transport = reply.header("Transport") or ""
    assert re.fullmatch(re.escape(answered) + r";ssrc=[0-9A-F]{8}", transport)
    assert reply.all("Transport") == [transport]
    session = reply.header("Session") or ""
    assert re.fullmatch(r"[0-9a-f]{16};timeout=60", session)
    assert sessions_of(card_server) == {reply.session}


@pytest.mark.parametrize("profile", ["RTP/AVP", "RTP/AVP/UDP"])
def test_setup_udp(card_server: RunningServer, client: RawClient, profile: str) -> None:
    with UdpPair() as pair:
        rtp, rtcp = pair.ports
        reply = setup(client, card_server.url(), f"{profile};unicast;client_port={rtp}-{rtcp}")
    server_rtp, server_rtcp = card_server.server.context.server_ports
    assert server_rtcp == server_rtp + 1
    assert server_rtp % 2 == 0
    expected = f"{profile};unicast;client_port={rtp}-{rtcp};server_port={server_rtp}-{server_rtcp}"
    assert re.fullmatch(re.escape(expected) + r";ssrc=[0-9A-F]{8}", reply.header("Transport") or "")
    assert re.fullmatch(r"[0-9a-f]{16};timeout=60", reply.header("Session") or "")


def test_setup_takes_the_first_supported_alternative(
    card_server: RunningServer, client: RawClient
) -> None:
    offered = (
        "RTP/AVP;multicast, RTP/SAVP;unicast;client_port=5000-5001, "
        "RTP/AVP/TCP;unicast;interleaved=2-3, RTP/AVP;unicast;client_port=5000-5001"
    )
    transport = setup(client, card_server.url(), offered).header("Transport") or ""
    assert transport.startswith("RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=")
    assert "," not in transport


@pytest.mark.parametrize(
    "transport",
    [
        "RTP/AVP;multicast",
        "RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD",
        "RTP/SAVP;unicast;client_port=5000-5001",
        "RTP/AVP;unicast",
        None,
    ],
)
def test_setup_unsupported_transport_is_461(
    card_server: RunningServer, client: RawClient, transport: str | None
) -> None:
    assert client.request("DESCRIBE", card_server.url()).status == 200
    headers = [("Transport", transport)] if transport else []
    reply = client.request("SETUP", track(card_server.url()), headers)
    assert (reply.status, reply.header("CSeq")) == (461, "2")
    assert reply.session is None
    assert sessions_of(card_server) == set()
    assert setup(client, card_server.url()).status == 200  # the connection goes on


def test_setup_of_a_playing_session_is_455(card_server: RunningServer, client: RawClient) -> None:
    session, _ = play(client, card_server.url())
    headers = [("Transport", TCP), ("Session", session)]
    assert client.request("SETUP", track(card_server.url()), headers).status == 455


def test_setup_of_another_stream_in_a_session_is_459(
    start_server: StartServer, connect: Connect
) -> None:
    server = start_server("card", "other")
    client = connect(server)
    session = setup(client, server.url("card")).session
    assert client.request("DESCRIBE", server.url("other")).status == 200
    headers = [("Transport", TCP), ("Session", session or "")]
    assert client.request("SETUP", track(server.url("other")), headers).status == 459


def test_setup_before_describe_is_455(card_server: RunningServer, client: RawClient) -> None:
    reply = client.request("SETUP", track(card_server.url()), [("Transport", TCP)])
    assert reply.status == 455
    assert sessions_of(card_server) == set()


def test_describe_counts_only_on_its_own_connection(
    card_server: RunningServer, client: RawClient, connect: Connect
) -> None:
    assert client.request("DESCRIBE", card_server.url()).status == 200
    other = connect(card_server)
    assert other.request("SETUP", track(card_server.url()), [("Transport", TCP)]).status == 455


# --- PLAY and the packets ---------------------------------------------------------------------


def test_play_before_setup_is_455(card_server: RunningServer, client: RawClient) -> None:
    assert client.request("DESCRIBE", card_server.url()).status == 200
    assert client.request("PLAY", card_server.url()).status == 455
    assert client.request("PAUSE", card_server.url()).status == 455


def test_play_answer_comes_before_the_first_packet_and_names_it(
    card_server: RunningServer, client: RawClient
) -> None:
    url = card_server.url()
    session = setup(client, url).session
    assert session is not None
    time.sleep(0.25)  # frames made meanwhile must not reach a client that is not playing
    client.send("PLAY", url, [("Session", session)])
    reply = client.read_item()
    assert isinstance(reply, RtspResponse)
    assert reply.status == 200
    assert reply.session == session
    assert reply.header("Range") == "npt=now-"
    assert (reply.header("RTP-Info") or "").startswith(f"url={track(url)};")
    first = next(p for p in (client.read_packet() for _ in range(5)) if p.channel == 0)
    assert parse_rtp(first.data).seq == rtp_info_seq(reply)
    assert fragment_offset(parse_rtp(first.data)) == 0  # a whole frame, from its start


def test_play_on_the_track_url(card_server: RunningServer, client: RawClient) -> None:
    url = card_server.url()
    session = setup(client, url).session
    reply = client.request("PLAY", track(url), [("Session", session or "")])
    assert reply.status == 200
    assert (reply.header("RTP-Info") or "").startswith(f"url={track(url)};seq=")


def test_rtp_over_tcp(card_server: RunningServer, client: RawClient) -> None:
    reply = setup(client, card_server.url())
    ssrc = ssrc_of(reply)
    client.request("PLAY", card_server.url(), [("Session", reply.session or "")])
    packets = rtp_on(client.packets_for(1.3))
    frames = whole_frames(packets)
    assert len(frames) >= 8
    assert all(p.version == 2 and p.payload_type == 26 and p.ssrc == ssrc for p in packets)
    assert all(not (p.padding or p.extension or p.csrc_count) for p in packets)
    seqs = [p.seq for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))
    for frame in frames:
        assert len(frame) > 1  # a 320x240 card needs several packets
        assert [p.marker for p in frame] == [False] * (len(frame) - 1) + [True]
        offsets = [fragment_offset(p) for p in frame]
        assert offsets[0] == 0
        assert offsets == sorted(set(offsets))  # in order, none repeated


def test_timestamps_are_90khz(card_server: RunningServer, client: RawClient) -> None:
    play(client, card_server.url())
    frames = whole_frames(rtp_on(client.packets_for(1.6)))
    stamps = [frame[0].timestamp for frame in frames]
    steps = sorted((b - a) % 2**32 for a, b in itertools.pairwise(stamps))
    assert len(steps) >= 10
    # 10 fps: 9000 ticks of 90 kHz a frame, exactly (a skipped frame shows as 18000).
    assert all(step > 0 and step % 9000 == 0 for step in steps)
    assert steps[len(steps) // 2] == 9000


def test_sender_report_on_the_rtcp_channel(card_server: RunningServer, client: RawClient) -> None:
    reply = setup(client, card_server.url())
    client.request("PLAY", card_server.url(), [("Session", reply.session or "")])
    packets = client.packets_for(0.5)
    reports = [p.data for p in packets if p.channel == 1]
    assert reports, "no RTCP sender report on channel 1"
    assert all(is_rtcp(p.data) is (p.channel == 1) for p in packets)
    first, kind, length, ssrc, ntp_s, ntp_frac, rtp_ts, count, octets = SR.unpack(reports[0])
    assert (first >> 6, kind, (length + 1) * 4) == (2, 200, len(reports[0]))
    assert ssrc == ssrc_of(reply)
    wall = ntp_s + ntp_frac / 2**32 - NTP_UNIX_OFFSET
    assert abs(wall - time.time()) < 5
    # Both times stand for the same instant (RFC 3550 6.4.1): the report speaks of the frame
    # that follows it, whose RTP time is a random base plus the stream's cadence.
    assert rtp_ts == rtp_on(packets)[0].timestamp
    assert count > 0
    assert octets > 0


def test_rtp_over_udp(card_server: RunningServer, client: RawClient) -> None:
    with UdpPair() as pair:
        rtp, rtcp = pair.ports
        reply = setup(client, card_server.url(), f"RTP/AVP;unicast;client_port={rtp}-{rtcp}")
        client.request("PLAY", card_server.url(), [("Session", reply.session or "")])
        datagrams = receive(pair.rtp, 1.0)
        reports = receive(pair.rtcp, 0.1)
    assert all(len(datagram) <= MAX_DATAGRAM for datagram in datagrams)
    packets = [parse_rtp(datagram) for datagram in datagrams]
    frames = whole_frames(packets)
    assert len(frames) >= 5
    assert any(len(frame) > 1 for frame in frames)  # so the size check meant something
    assert all(p.payload_type == 26 and p.ssrc == ssrc_of(reply) for p in packets)
    for frame in frames:
        assert [p.marker for p in frame] == [False] * (len(frame) - 1) + [True]
        assert fragment_offset(frame[0]) == 0
    assert reports, "no RTCP sender report on the RTCP port"
    assert SR.unpack(reports[0])[1] == 200
    assert SR.unpack(reports[0])[3] == ssrc_of(reply)
    assert client.packets_for(0.1) == []  # nothing interleaved on the RTSP connection


def test_udp_play_names_the_first_packet(card_server: RunningServer, client: RawClient) -> None:
    with UdpPair() as pair:
        rtp, rtcp = pair.ports
        _, reply = play(client, card_server.url(), f"RTP/AVP;unicast;client_port={rtp}-{rtcp}")
        first = parse_rtp(pair.rtp.recv(65536))
    assert first.seq == rtp_info_seq(reply)


def test_requests_are_answered_while_frames_stream(
    card_server: RunningServer, client: RawClient
) -> None:
    session, _ = play(client, card_server.url())
    for _ in range(5):
        assert client.read_packet()  # frames are flowing
        started = time.monotonic()
        cseq = client.send("GET_PARAMETER", card_server.url(), [("Session", session)])
        reply = client.read_response()
        assert time.monotonic() - started < 1.0
        assert (reply.status, reply.header("CSeq"), reply.session) == (200, str(cseq), session)
        time.sleep(0.05)
    assert whole_frames(rtp_on(client.packets_for(0.4)))  # and frames still flow


def test_interleaved_receiver_reports_are_read_between_requests(
    card_server: RunningServer, client: RawClient
) -> None:
    session, _ = play(client, card_server.url())
    client.send_interleaved(1, receiver_report(1234))
    assert client.request("GET_PARAMETER", card_server.url(), [("Session", session)]).status == 200


def test_pause_stops_frames_and_play_resumes(card_server: RunningServer, client: RawClient) -> None:
    url = card_server.url()
    session, _ = play(client, url)
    assert client.read_packet()
    reply = client.request("PAUSE", url, [("Session", session)])
    assert (reply.status, reply.session) == (200, session)
    client.pending.clear()  # sent before the answer
    assert client.packets_for(0.4) == []
    assert sessions_of(card_server) == {session}
    reply = client.request("PLAY", url, [("Session", session)])
    assert reply.status == 200
    assert not client.pending  # nothing before the answer
    packets = rtp_on(client.packets_for(0.5))
    assert packets[0].seq == rtp_info_seq(reply)
    assert whole_frames(packets)


def test_teardown_ends_the_session_and_the_connection_stays(
    card_server: RunningServer, client: RawClient
) -> None:
    url = card_server.url()
    session, _ = play(client, url)
    assert client.read_packet()
    assert client.request("TEARDOWN", url, [("Session", session)]).status == 200
    assert sessions_of(card_server) == set()
    client.pending.clear()
    assert client.packets_for(0.3) == []
    assert client.request("PLAY", url, [("Session", session)]).status == 454
    assert client.request("OPTIONS", url).status == 200
    assert card_server.server.connection_count() == 1
    play(client, url)  # and a new session on the same connection
    assert client.read_packet()


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "OPTIONS"])
def test_unknown_session_is_454(card_server: RunningServer, client: RawClient, method: str) -> None:
    reply = client.request(method, card_server.url(), [("Session", "0123456789abcdef")])
    assert (reply.status, reply.header("CSeq")) == (454, "1")


def test_setup_with_an_unknown_session_is_454(
    card_server: RunningServer, client: RawClient
) -> None:
    assert client.request("DESCRIBE", card_server.url()).status == 200
    headers = [("Transport", TCP), ("Session", "0123456789abcdef")]
    assert client.request("SETUP", track(card_server.url()), headers).status == 454


def test_cseq_is_echoed_on_every_reply(card_server: RunningServer, client: RawClient) -> None:
    url = card_server.url()
    asked: list[tuple[str, str, list[tuple[str, str]], int]] = [
        ("OPTIONS", url, [], 200),
        ("DESCRIBE", card_server.url("nope"), [], 404),
        ("SETUP", track(url), [("Transport", TCP)], 455),
        ("DESCRIBE", url, [], 200),
        ("SETUP", track(url), [("Transport", "RTP/AVP;multicast")], 461),
        ("PLAY", url, [("Session", "nope")], 454),
        ("FROB", url, [], 501),
        ("SETUP", track(url), [("Transport", TCP)], 200),
        ("TEARDOWN", url, [], 455),
    ]
    for number, (method, target, headers, status) in zip(
        (917, 3, 4_000_000, 0, 42, 8, 77, 5, 6), asked, strict=True
    ):
        client.send(method, target, [("CSeq", str(number)), *headers], cseq=False)
        reply = client.read_response()
        assert (reply.status, reply.header("CSeq")) == (status, str(number)), method


def test_no_cseq_is_400_and_the_connection_goes_on(
    card_server: RunningServer, client: RawClient
) -> None:
    client.send("OPTIONS", card_server.url(), cseq=False)
    reply = client.read_response()
    assert reply.status == 400
    assert reply.header("CSeq") is None
    assert client.request("OPTIONS", card_server.url()).status == 200
    assert_serves_frames(card_server)


def test_unknown_method_is_501_with_public(card_server: RunningServer, client: RawClient) -> None:
    reply = client.request("RECORD", card_server.url())
    assert (reply.status, reply.header("CSeq")) == (501, "1")
    assert "DESCRIBE" in (reply.header("Public") or "")
    assert client.request("OPTIONS", card_server.url()).status == 200
    assert_serves_frames(card_server)


def test_rtsp_2_is_505_and_the_connection_goes_on(
    card_server: RunningServer, client: RawClient
) -> None:
    client.send_raw(
        f"OPTIONS {card_server.url()} RTSP/2.0\r\nCSeq: 9\r\nContent-Length: 2\r\n\r\nhi".encode()
    )
    reply = client.read_response()
    assert (reply.status, reply.header("CSeq")) == (505, "9")
    assert client.request("OPTIONS", card_server.url()).status == 200
    assert_serves_frames(card_server)


def test_malformed_url_is_400(card_server: RunningServer, client: RawClient) -> None:
    reply = client.request("DESCRIBE", f"rtsp://[::1:{card_server.port}/card")
    assert (reply.status, reply.header("CSeq")) == (400, "1")
    assert client.request("OPTIONS", card_server.url()).status == 200
    assert_serves_frames(card_server)


def test_garbage_request_line_is_400_and_closes(
    card_server: RunningServer, client: RawClient
) -> None:
    client.send_raw(b"HELLO THERE\r\nCSeq: 3\r\n\r\n")
    reply = client.read_response()
    assert (reply.status, reply.header("CSeq")) == (400, "3")
    assert client.wait_closed()
    assert_serves_frames(card_server)


def test_binary_garbage_is_400_and_closes(card_server: RunningServer, client: RawClient) -> None:
    client.send_raw(bytes(range(1, 256)) * 100)  # no `$` first, no end of header
    assert client.read_response().status == 400
    assert client.wait_closed()
    assert_serves_frames(card_server)


def test_a_megabyte_header_is_400_and_closes(card_server: RunningServer, client: RawClient) -> None:
    head = f"OPTIONS {card_server.url()} RTSP/1.0\r\nCSeq: 1\r\nX-Junk: ".encode()

    def blast() -> None:
        with contextlib.suppress(OSError):  # the server stops reading: may block, then fail
            client.send_raw(head + b"a" * (1 << 20) + b"\r\n\r\n")

    sender = threading.Thread(target=blast, daemon=True)
    sender.start()
    assert client.read_response().status == 400
    assert client.wait_closed()
    sender.join(5)
    assert wait_for(lambda: card_server.server.connection_count() == 0)
    assert_serves_frames(card_server)


def test_a_client_gone_mid_request_leaves_the_server_serving(
    card_server: RunningServer, client: RawClient
) -> None:
    client.send_raw(b"DESCRIBE rtsp://127.0.0.1/card RTSP/1.0\r\nCSe")
    client.close()
    assert wait_for(lambda: card_server.server.connection_count() == 0)
    assert_serves_frames(card_server)


def test_clients_that_reset_at_once_leave_the_server_serving(
    card_server: RunningServer,
) -> None:
    """Connections reset before the server got to them (a port scan, say)."""
    resets = []
    for _ in range(100):
        sock = socket.create_connection((card_server.host, card_server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        resets.append(sock)
    for sock in resets:
        sock.close()
    assert_serves_frames(card_server)


# --- Session lifetime -------------------------------------------------------------------------


def test_a_tcp_session_ends_with_its_connection(
    card_server: RunningServer, client: RawClient
) -> None:
    play(client, card_server.url())
    assert client.read_packet()
    assert len(sessions_of(card_server)) == 1
    client.close()
    assert wait_for(lambda: not sessions_of(card_server))
    assert wait_for(lambda: card_server.server.connection_count() == 0)


def test_a_udp_session_outlives_its_connection(
    card_server: RunningServer, client: RawClient, connect: Connect
) -> None:
    with UdpPair() as pair:
        rtp, rtcp = pair.ports
        session, _ = play(client, card_server.url(), f"RTP/AVP;client_port={rtp}-{rtcp}")
        client.close()
        assert wait_for(lambda: card_server.server.connection_count() == 0)
        drain(pair.rtp)
        assert receive(pair.rtp, 0.3), "frames stopped with the connection"
        other = connect(card_server)
        assert other.request("TEARDOWN", card_server.url(), [("Session", session)]).status == 200
        drain(pair.rtp)
        assert receive(pair.rtp, 0.3) == []
    assert sessions_of(card_server) == set()


def test_udp_sessions_expire_without_keepalives(
    start_server: StartServer, connect: Connect
) -> None:
    server = start_server(session_timeout_s=2)
    url = server.url()
    silent, talking, reporting = (connect(server) for _ in range(3))
    with UdpPair() as silent_udp, UdpPair() as talking_udp, UdpPair() as reporting_udp:
        ids = []
        for rtsp, pair in (
            (talking, talking_udp),
            (reporting, reporting_udp),
            (silent, silent_udp),
        ):
            session, _ = play(rtsp, url, "RTP/AVP;client_port={}-{}".format(*pair.ports))
            ids.append(session)
        talking_id, reporting_id, silent_id = ids
        assert "timeout=2" in (setup(connect(server), url).header("Session") or "")
        server_rtcp = server.server.context.server_ports[1]
        started = time.monotonic()
        gone_after = None
        next_keepalive = started
        while time.monotonic() - started < 4.0 and gone_after is None:
            if time.monotonic() >= next_keepalive:
                reply = talking.request("GET_PARAMETER", url, [("Session", talking_id)])
                assert reply.status == 200
                reporting_udp.rtcp.sendto(receiver_report(99), ("127.0.0.1", server_rtcp))
                next_keepalive += 1.0
            if silent_id not in sessions_of(server):
                gone_after = time.monotonic() - started
            time.sleep(0.05)
        assert gone_after is not None, "the silent session never expired"
        assert 1.8 <= gone_after <= 3.5
        assert {talking_id, reporting_id} <= sessions_of(server)
        drain(silent_udp.rtp)
        assert receive(silent_udp.rtp, 0.3) == []  # its frames stopped
        assert silent.request("PLAY", url, [("Session", silent_id)]).status == 454
        assert receive(talking_udp.rtp, 0.3)


# --- Several clients --------------------------------------------------------------------------


def test_two_clients_both_receive(card_server: RunningServer, connect: Connect) -> None:
    first, second = connect(card_server), connect(card_server)
    play(first, card_server.url())
    play(second, card_server.url())
    got = [whole_frames(rtp_on(c.packets_for(0.6))) for c in (first, second)]
    assert all(len(frames) >= 4 for frames in got)
    stamps = [{frame[0].timestamp for frame in frames} for frames in got]
    assert len(stamps[0] & stamps[1]) >= 3  # the same frames, encoded once
    assert {frame[0].ssrc for frames in got for frame in frames} == {got[0][0][0].ssrc}


def test_a_stalled_client_does_not_slow_the_others(
    card_server: RunningServer, connect: Connect
) -> None:
    url = card_server.url()
    reader = connect(card_server)
    play(reader, url)
    stalled = connect(card_server, rcvbuf=2048)
    stalled_id = setup(stalled, url).session
    assert stalled_id is not None
    # A slow link: without this the kernel would buffer megabytes of frames on loopback.
    owner = session_of(card_server, stalled_id).owner
    assert isinstance(owner, RtspConnection)
    owner.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    assert stalled.request("PLAY", url, [("Session", stalled_id)]).status == 200
    # ... and it never reads again.
    frames = whole_frames(rtp_on(reader.packets_for(3.0)))
    assert len(frames) >= 24  # at least 8 fps of the 10
    stalled_subscriber = session_of(card_server, stalled_id).subscriber
    assert stalled_subscriber is not None
    assert stalled_subscriber.dropped > 0
    reader_subscriber = next(
        s.subscriber for s in card_server.server.context.sessions.every() if s.id != stalled_id
    )
    assert reader_subscriber is not None
    assert reader_subscriber.dropped == 0


# --- Stopping ---------------------------------------------------------------------------------


def test_stop_is_prompt_and_hangs_up(start_server: StartServer, connect: Connect) -> None:
    server = start_server()
    client = connect(server)
    play(client, server.url())
    assert client.read_packet()
    started = time.monotonic()
    server.server.stop()
    assert time.monotonic() - started < 1.0
    assert client.wait_closed()
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=1).close()
