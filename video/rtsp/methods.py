"""What the server does for each RTSP method; each handler returns the response to send.

Paths: `/NAME` is a camera (the aggregate), `/NAME/trackID=0` its one video track; SETUP takes
either. A client must DESCRIBE a path on its connection before its first SETUP of it (455
otherwise), so that it knows the stream's format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from video.fanout import Subscriber
from video.rtsp.message import Request, Response, RtspError
from video.rtsp.sdp import TRACK, describe
from video.rtsp.session import Session, TcpDelivery, UdpDelivery, new_session_id
from video.rtsp.transport import Lower, choose
from video.stream import Stream

if TYPE_CHECKING:
    from video.rtsp.connection import RtspConnection

log = logging.getLogger("vigia.video.rtsp")

PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, TEARDOWN"


@dataclass(frozen=True, slots=True)
class Reply:
    """A response, and what to do once it is written (PLAY starts frames only after it)."""

    response: Response
    then: Callable[[], None] | None = None


def stream_of(conn: RtspConnection, url: str) -> tuple[Stream, bool]:
    """The stream a request URL names, and whether it names the track; 404 when unknown."""
    try:
        path = urlsplit(url).path.strip("/")
    except ValueError as exc:  # urlsplit refuses a malformed IPv6 host, say
        raise RtspError(400, f"malformed URL {url[:80]!r}: {exc}") from None
    name, _, last = path.rpartition("/")
    is_track = last == TRACK
    if not is_track:
        name = path
    stream = conn.context.streams.get(name)
    if stream is None:
        raise RtspError(404, f"no camera at path {'/' + path!r}")
    return stream, is_track


def options(conn: RtspConnection, request: Request) -> Reply:
    """Which methods we support; also a keepalive for the session named."""
    _touch(conn, request)
    return Reply(Response(200, (("Public", PUBLIC),)))


def describe_stream(conn: RtspConnection, request: Request) -> Reply:
    """The SDP of a camera."""
    stream, _ = stream_of(conn, request.url)
    conn.described.add(stream.name)
    opts = stream.options
    base = request.url.rstrip("/") + "/"
    body = describe(
        name=stream.name, server_ip=conn.local_ip, fps=opts.fps, width=opts.width,
        height=opts.height,
    )  # fmt: skip
    headers = (("Content-Base", base),)
    return Reply(Response(200, headers, body, content_type="application/sdp"))


def setup(conn: RtspConnection, request: Request) -> Reply:
    """Choose a transport and make (or re-use) a session."""
    stream, _ = stream_of(conn, request.url)
    session_header = request.headers.get("Session")
    known = conn.context.sessions.get(session_header) if session_header else None
    if known is None and stream.name not in conn.described:
        raise RtspError(455, f"SETUP of {stream.name!r} before DESCRIBE on this connection")
    if known is not None and (known.stream is not stream or known.subscriber is not None):
        raise RtspError(459 if known.stream is not stream else 455, "session already set up")
    transport = choose(request.headers.get("Transport"), next_channel=conn.next_channel)
    if transport.lower is Lower.TCP:
        assert transport.interleaved is not None
        conn.next_channel = max(conn.next_channel, transport.interleaved[1] + 1)
        delivery: TcpDelivery | UdpDelivery = TcpDelivery(
            conn.sock, conn.write_lock, transport.interleaved
        )
        server_ports = None
    else:
        assert transport.client_ports is not None
        ctx = conn.context
        delivery = UdpDelivery(ctx.rtp_sock, ctx.rtcp_sock, conn.peer_host, transport.client_ports)
        server_ports = ctx.server_ports
    session = known or Session(
        id=new_session_id(), stream=stream, transport=transport, delivery=delivery,
        peer=conn.peer, peer_host=conn.peer_host,
        timeout_s=conn.context.options.session_timeout_s, owner=conn,
    )  # fmt: skip
    session.transport, session.delivery = transport, delivery
    if known is None:
        conn.context.sessions.add(session)
        log.info("%s: session %s for %s over %s", stream.name, session.id, conn.peer,
                 transport.lower.value)  # fmt: skip
    headers = (
        ("Transport", transport.answer(ssrc=stream.ssrc, server_ports=server_ports)),
        ("Session", f"{session.id};timeout={int(session.timeout_s)}"),
    )
    return Reply(Response(200, headers))


def play(conn: RtspConnection, request: Request) -> Reply:
    """Start frames after the response is written; RTP-Info says where they start."""
    session = _session(conn, request)
    if session.subscriber is not None:
        return Reply(Response(200, (("Session", session.id), ("Range", "npt=now-"))))
    subscriber = Subscriber(f"{session.stream.name} {conn.peer}", session.delivery,
                            conn.server.subscriber_failed)  # fmt: skip
    # Subscribed before the reply, so RTP-Info names the first packet; frames queue up and
    # flow only once the reply is written.
    seq = session.stream.subscribe(subscriber)
    session.subscriber = subscriber
    log.info("%s: %s playing", session.stream.name, conn.peer)
    headers = (
        ("Session", session.id),
        ("Range", "npt=now-"),
        ("RTP-Info", f"url={_track_url(request.url)};seq={seq}"),
    )
    return Reply(Response(200, headers), then=subscriber.start)


def pause(conn: RtspConnection, request: Request) -> Reply:
    """Stop frames; the session stays."""
    session = _session(conn, request)
    session.pause()
    return Reply(Response(200, (("Session", session.id),)))


def get_parameter(conn: RtspConnection, request: Request) -> Reply:
    """A keepalive (clients send it with an empty body)."""
    _touch(conn, request)
    session = request.headers.get("Session")
    return Reply(Response(200, (("Session", session),) if session else ()))


def teardown(conn: RtspConnection, request: Request) -> Reply:
    """End the session; the connection stays open."""
    session = _session(conn, request)
    conn.context.sessions.remove(session)
    log.info("%s: %s tore down session %s", session.stream.name, conn.peer, session.id)
    return Reply(Response(200))


HANDLERS: dict[str, Callable[[RtspConnection, Request], Reply]] = {
    "OPTIONS": options,
    "DESCRIBE": describe_stream,
    "SETUP": setup,
    "PLAY": play,
    "PAUSE": pause,
    "GET_PARAMETER": get_parameter,
    "TEARDOWN": teardown,
}


def _session(conn: RtspConnection, request: Request) -> Session:
    header = request.headers.get("Session")
    if header is None:  # no SETUP yet: RFC 2326 appendix A answers 455 in the Init state
        raise RtspError(455, f"{request.method} before SETUP (no Session header)")
    session = conn.context.sessions.get(header)
    session.touch()
    return session


def _touch(conn: RtspConnection, request: Request) -> None:
    header = request.headers.get("Session")
    if header is not None:
        conn.context.sessions.get(header).touch()


def _track_url(url: str) -> str:
    """The track's control URL from the PLAY URL (aggregate or track)."""
    base = url.rstrip("/")
    return base if base.endswith("/" + TRACK) else f"{base}/{TRACK}"
