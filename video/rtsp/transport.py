"""The RTSP Transport header: which of the client's alternatives we serve, and our answer.

We stream unicast RTP either interleaved on the RTSP TCP connection or over UDP to the client's
port pair. The client may list several alternatives separated by commas; we take the first we
support and answer exactly that one (RFC 2326 section 12.39).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from video.rtsp.message import RtspError


class Lower(StrEnum):
    """How RTP travels."""

    TCP = "tcp"
    UDP = "udp"


@dataclass(frozen=True, slots=True)
class Transport:
    """One chosen transport; `interleaved` for TCP, `client_ports` for UDP."""

    lower: Lower
    profile: str  # as the client wrote it: RTP/AVP, RTP/AVP/UDP or RTP/AVP/TCP
    interleaved: tuple[int, int] | None = None
    client_ports: tuple[int, int] | None = None

    def answer(self, *, ssrc: int, server_ports: tuple[int, int] | None = None) -> str:
        """The Transport header of our SETUP response."""
        parts = [self.profile, "unicast"]
        if self.interleaved is not None:
            parts.append(f"interleaved={self.interleaved[0]}-{self.interleaved[1]}")
        if self.client_ports is not None:
            parts.append(f"client_port={self.client_ports[0]}-{self.client_ports[1]}")
        if server_ports is not None:
            parts.append(f"server_port={server_ports[0]}-{server_ports[1]}")
        parts.append(f"ssrc={ssrc:08X}")
        return ";".join(parts)


def choose(header: str | None, *, next_channel: int) -> Transport:
    """The first alternative in `header` that we serve; RtspError 461 when there is none."""
    if not header:
        raise RtspError(461, "SETUP has no Transport header")
    for alternative in header.split(","):
        chosen = _parse(alternative.strip(), next_channel)
        if chosen is not None:
            return chosen
    raise RtspError(461, f"none of the transports {header!r} is RTP/AVP unicast over TCP or UDP")


def _parse(spec: str, next_channel: int) -> Transport | None:
    """One alternative, or None when we do not serve it (multicast, RECORD, other profiles)."""
    profile, *params = spec.split(";")
    values: dict[str, str] = {}
    for param in params:
        key, _, value = param.partition("=")
        values[key.strip().lower()] = value.strip()
    lower = {"RTP/AVP": Lower.UDP, "RTP/AVP/UDP": Lower.UDP, "RTP/AVP/TCP": Lower.TCP}.get(
        profile.upper()
    )
    if lower is None or "multicast" in values or values.get("mode", "PLAY").strip('"') != "PLAY":
        return None
    if lower is Lower.TCP:
        channels = _pair(values.get("interleaved")) or (next_channel, next_channel + 1)
        if max(channels) > 255:  # the interleaved channel is one byte
            return None
        return Transport(lower, profile, interleaved=channels)
    ports = _pair(values.get("client_port"))
    if ports is None:
        return None
    return Transport(lower, profile, client_ports=ports)


def _pair(value: str | None) -> tuple[int, int] | None:
    """'5000-5001' -> (5000, 5001); '5000' -> (5000, 5001); None when absent or malformed."""
    if not value:
        return None
    first, _, second = value.partition("-")
    if not _digits(first) or (second and not _digits(second)):
        return None
    low = int(first)
    high = int(second) if second else low + 1
    return (low, high) if 0 <= low <= 65535 and 0 <= high <= 65535 else None


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit also takes '²', which int() refuses."""
    return text.isascii() and text.isdigit()
