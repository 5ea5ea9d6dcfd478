"""Roles on the hub: watchers only read, trainers only publish models, revocation is quick."""

from __future__ import annotations

import time

import pytest

from hub.peers import revoke_peer
from tests.hub.conftest import RunningHub, sighting
from tests.wire.conftest import wait_for
from wire import messages as m
from wire.client import Endpoint, connect
from wire.errors import AuthError, RemoteError
from wire.roles import Role


def _refused(conn_msg: m.Message) -> m.Error:
    assert isinstance(conn_msg, m.Error)
    return conn_msg


def test_a_watcher_cannot_send_events_or_models(hub: RunningHub) -> None:
    watcher = hub.dial("watcher-1")
    watcher.send(*sighting())
    assert _refused(watcher.receive().message).code == "forbidden"
    watcher.send(m.ModelAssign(version="v1", edges=[]))
    assert _refused(watcher.receive().message).code == "forbidden"
    assert hub.hub.reader.last_seq() == 0


def test_a_trainer_cannot_subscribe_or_pose_as_an_edge(hub: RunningHub) -> None:
    trainer = hub.dial("trainer-1")
    trainer.send(
        m.Subscribe(
            after_seq=0, cameras=[], labels=[], since_ms=None, until_ms=None, thumbnails=True
        )
    )
    assert _refused(trainer.receive().message).message == (
        "role 'trainer' may not send 'subscribe'"
    )
    trainer.send(*sighting())
    assert _refused(trainer.receive().message).code == "forbidden"
    cred = hub.credential("trainer-1")
    endpoint = Endpoint("127.0.0.1", hub.hub.server.address[1], cred.fingerprint)
    posing = cred.identity().__class__(cred.name, Role.EDGE, cred.secret)
    with pytest.raises(AuthError, match="registered as 'trainer', not 'edge'"):
        connect(endpoint, posing)


def test_a_revoked_peer_is_cut_off_within_a_second(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    revoke_peer(hub.data.database, "edge-1")  # what `hub revoke edge-1` does
    started = time.monotonic()
    with pytest.raises(RemoteError, match="revoked"):
        edge.receive()
    assert time.monotonic() - started < 1.0
    with pytest.raises(AuthError, match="has been revoked"):
        hub.dial("edge-1")
    assert wait_for(lambda: not hub.hub.server.sessions(Role.EDGE))
