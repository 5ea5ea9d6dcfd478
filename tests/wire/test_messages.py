"""Typed messages: every kind round-trips, and every kind of bad JSON header is named."""

from __future__ import annotations

import json

import pytest

from tests.wire.samples import EID, SAMPLES
from wire import messages as m
from wire.errors import MessageError
from wire.roles import Role


def test_every_kind_has_a_sample_and_unique_code_and_name() -> None:
    assert {type(msg) for msg, _ in SAMPLES} == set(m.REGISTRY.values())
    names = [cls.NAME for cls in m.REGISTRY.values()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("msg", "body_len"), SAMPLES, ids=lambda v: getattr(v, "NAME", ""))
def test_round_trip(msg: m.Message, body_len: int) -> None:
    decoded = m.decode(msg.KIND, msg.encode())
    assert decoded == msg
    decoded.check_body(body_len)


def test_unknown_kind() -> None:
    with pytest.raises(MessageError, match="unknown message kind 250"):
        m.decode(250, b"{}")


def _ping(payload: object) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (_ping({}), "field 'sent_ms': Field required"),
        (_ping({"sent_ms": 1, "extra": 2}), "field 'extra': Extra inputs are not permitted"),
        (_ping({"sent_ms": "1"}), "field 'sent_ms': Input should be a valid integer"),
        (_ping({"sent_ms": 1.5}), "field 'sent_ms'"),
        (_ping({"sent_ms": True}), "field 'sent_ms'"),
        (_ping({"sent_ms": -1}), "greater than or equal to 0"),
        (_ping([1]), "Input should be an object"),
        (b"{not json", "Invalid JSON"),
        (b'{"sent_ms": "\xff"}', "not valid UTF-8"),
    ],
)
def test_bad_fields_are_named(raw: bytes, words: str) -> None:
    with pytest.raises(MessageError, match="message 'ping'") as caught:
        m.decode(m.Ping.KIND, raw)
    assert words in str(caught.value)


def test_nested_fields_are_named_by_path() -> None:
    bad = {
        "node": {
            "sent_at": 1,
            "model_version": None,
            "cpu_load": 0,
            "cpu_temp_c": None,
            "throttled": [],
            "cameras": [{"camera": "x"}],
        }
    }
    with pytest.raises(MessageError, match=r"field 'node\.cameras\.0\.online'"):
        m.decode(m.Status.KIND, _ping(bad))


def test_enumerated_values_are_checked() -> None:
    hello = {"versions": [1], "peer": "x", "role": "root", "nonce": "ab" * 32, "software": ""}
    with pytest.raises(MessageError, match=r"field 'role'.*'edge', 'watcher', 'trainer'"):
        m.decode(m.Hello.KIND, _ping(hello))


def test_a_bodiless_kind_refuses_a_body() -> None:
    with pytest.raises(MessageError, match="carries no body, got 3 bytes"):
        m.Ping(sent_ms=1).check_body(3)


def test_event_body_is_snapshot_plus_thumbnail() -> None:
    event = next(msg for msg, _ in SAMPLES if isinstance(msg, m.Event))
    event.check_body(120)
    with pytest.raises(MessageError, match=r"snapshot_len 100 \+ thumbnail_len 20 != body"):
        event.check_body(121)


def test_an_end_body_is_a_new_picture_pair_or_nothing() -> None:
    end = next(msg for msg, _ in SAMPLES if isinstance(msg, m.EventEnd))
    end.check_body(120)
    with pytest.raises(MessageError, match=r"'event_end': snapshot_len 100 \+ thumbnail_len 20"):
        end.check_body(100)
    bare = end.model_copy(update={"snapshot_len": 0, "thumbnail_len": 0})
    bare.check_body(0)  # the best view did not change: no pictures
    with pytest.raises(MessageError, match="a snapshot needs its thumbnail"):
        end.model_copy(update={"thumbnail_len": 0}).check_body(100)


def test_package_body_is_its_size() -> None:
    with pytest.raises(MessageError, match="size 300 != body 299"):
        m.ModelOffer(version="v", sha256="ab" * 32, size=300).check_body(299)


def test_identifiers_have_their_shapes() -> None:
    with pytest.raises(ValueError, match="event_id"):
        m.EventAck(event_id="not-a-uuid", seq=1, duplicate=False)
    with pytest.raises(ValueError, match="camera"):
        m.SnapshotRequest.model_validate({"event_id": EID, "camera": "x"})
    with pytest.raises(ValueError, match="peer"):
        m.Hello(versions=[1], peer="has space", role=Role.EDGE, nonce="ab" * 32, software="")
