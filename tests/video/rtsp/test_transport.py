"""Which Transport alternative the server serves, and how it answers (RFC 2326 section 12.39)."""

from __future__ import annotations

import pytest

from video.rtsp.message import RtspError
from video.rtsp.transport import Lower, Transport, choose


def test_tcp_with_the_channels_asked_for() -> None:
    chosen = choose("RTP/AVP/TCP;unicast;interleaved=4-5", next_channel=0)
    assert chosen == Transport(Lower.TCP, "RTP/AVP/TCP", interleaved=(4, 5))


@pytest.mark.parametrize("next_channel", [0, 2, 10])
def test_tcp_without_channels_gets_the_next_free_pair(next_channel: int) -> None:
    chosen = choose("RTP/AVP/TCP;unicast", next_channel=next_channel)
    assert chosen.interleaved == (next_channel, next_channel + 1)


def test_one_channel_means_it_and_the_next() -> None:
    assert choose("RTP/AVP/TCP;interleaved=6", next_channel=0).interleaved == (6, 7)


def test_udp_with_client_ports() -> None:
    chosen = choose("RTP/AVP;unicast;client_port=5000-5001", next_channel=0)
    assert chosen == Transport(Lower.UDP, "RTP/AVP", client_ports=(5000, 5001))


def test_one_client_port_means_it_and_the_next() -> None:
    assert choose("RTP/AVP;client_port=5000", next_channel=0).client_ports == (5000, 5001)


@pytest.mark.parametrize("profile", ["RTP/AVP", "RTP/AVP/UDP", "rtp/avp/udp"])
def test_udp_profile_is_echoed_as_written(profile: str) -> None:
    chosen = choose(f"{profile};unicast;client_port=6000-6001", next_channel=0)
    assert (chosen.lower, chosen.profile) == (Lower.UDP, profile)


def test_profile_is_case_insensitive() -> None:
    assert choose("rtp/avp/tcp;interleaved=0-1", next_channel=0).lower is Lower.TCP


def test_mode_play_is_served() -> None:
    assert choose('RTP/AVP/TCP;interleaved=0-1;mode="PLAY"', next_channel=0).lower is Lower.TCP
    assert choose("RTP/AVP/TCP;interleaved=0-1;mode=PLAY", next_channel=0).lower is Lower.TCP


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "RTP/AVP;multicast, RTP/AVP/TCP;unicast;interleaved=2-3",
            Transport(Lower.TCP, "RTP/AVP/TCP", interleaved=(2, 3)),
        ),
        (
            "RTP/AVP/TCP;unicast;interleaved=0-1,RTP/AVP;unicast;client_port=5000-5001",
            Transport(Lower.TCP, "RTP/AVP/TCP", interleaved=(0, 1)),
        ),
        (
            "RTP/AVP;unicast;client_port=5000-5001 , RTP/AVP/TCP;unicast;interleaved=0-1",
            Transport(Lower.UDP, "RTP/AVP", client_ports=(5000, 5001)),
        ),
        (
            "RTP/SAVP;unicast;client_port=5000-5001,RTP/AVP;unicast;client_port=7000-7001",
            Transport(Lower.UDP, "RTP/AVP", client_ports=(7000, 7001)),
        ),
    ],
)
def test_alternatives_first_supported_wins(header: str, expected: Transport) -> None:
    assert choose(header, next_channel=0) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "RTP/AVP;multicast",
        "RTP/AVP;multicast;client_port=5000-5001",
        "RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD",
        'RTP/AVP/TCP;unicast;interleaved=0-1;mode="RECORD"',
        "RTP/SAVP;unicast;client_port=5000-5001",
        "RAW/RAW/UDP;unicast;client_port=5000-5001",
        "RTP/AVP;unicast",  # UDP needs client ports
        "RTP/AVP;unicast;client_port=abc-def",
        "RTP/AVP;unicast;client_port=\u00b2",  # a digit to str.isdigit, not to int()
        "RTP/AVP;unicast;client_port=70000-70001",
        "RTP/AVP/TCP;unicast;interleaved=255-256",  # a channel is one byte
        "RTP/AVP;multicast, RTP/AVP/TCP;mode=RECORD",
    ],
)
def test_nothing_supported_is_461(header: str | None) -> None:
    with pytest.raises(RtspError) as caught:
        choose(header, next_channel=0)
    assert caught.value.status == 461
    assert not caught.value.close  # the client may try another SETUP


def test_461_names_what_was_asked() -> None:
    with pytest.raises(RtspError, match="RTP/SAVP;unicast"):
        choose("RTP/SAVP;unicast", next_channel=0)


def test_tcp_answer() -> None:
    chosen = choose("RTP/AVP/TCP;unicast;interleaved=0-1", next_channel=0)
    assert chosen.answer(ssrc=0xABCD) == "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=0000ABCD"


def test_udp_answer_names_both_port_pairs() -> None:
    chosen = choose("RTP/AVP/UDP;unicast;client_port=5000-5001", next_channel=0)
    answer = chosen.answer(ssrc=0xDEADBEEF, server_ports=(6000, 6001))
    assert answer == (
        "RTP/AVP/UDP;unicast;client_port=5000-5001;server_port=6000-6001;ssrc=DEADBEEF"
    )


def test_answer_is_one_transport_even_when_several_were_offered() -> None:
    chosen = choose(
        "RTP/AVP;multicast,RTP/AVP/TCP;interleaved=0-1,RTP/AVP;client_port=8-9", next_channel=0
    )
    assert "," not in chosen.answer(ssrc=1)
