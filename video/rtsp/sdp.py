"""The session description (RFC 4566) a DESCRIBE returns: one RTP/JPEG video track."""

from __future__ import annotations

import time

TRACK = "trackID=0"


def describe(*, name: str, server_ip: str, fps: float, width: int, height: int) -> bytes:
    """SDP for a live stream whose one track is controlled at `<Content-Base>trackID=0`."""
    session_id = int(time.time())
    lines = [
        "v=0",
        f"o=- {session_id} {session_id} IN IP4 {server_ip}",
        f"s={name}",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "a=control:*",
        "a=range:npt=now-",
        "m=video 0 RTP/AVP 26",
        "a=rtpmap:26 JPEG/90000",
        f"a=control:{TRACK}",
        f"a=framerate:{fps:g}",
        f"a=framesize:26 {width}-{height}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()
