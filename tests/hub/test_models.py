"""The model registry: packages kept byte for byte, assigned, offered, reported, deleted."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from hub.cli import main as hub_main
from hub.peers import list_peers
from tests.hub.conftest import RunningHub, send_event, sighting
from tests.wire.conftest import wait_for
from wire import messages as m
from wire.connection import Connection


def _package(tmp_path: Path, size: int = 300_000) -> tuple[Path, str]:
    path = tmp_path / f"model-{size}.vpkg"
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _upload(trainer: Connection, version: str, path: Path, digest: str) -> m.Message:
    trainer.send_file(m.ModelUpload(version=version, sha256=digest, size=path.stat().st_size), path)
    return trainer.receive().message


def _offer(edge: Connection) -> tuple[m.ModelOffer, bytes]:
    got = edge.receive()
    assert isinstance(got.message, m.ModelOffer) and got.body_path is not None
    return got.message, got.body_path.read_bytes()


def test_upload_keeps_the_package_byte_for_byte(hub: RunningHub, tmp_path: Path) -> None:
    path, digest = _package(tmp_path)
    stored = _upload(hub.dial("trainer-1"), "v1", path, digest)
    assert stored == m.ModelStored(version="v1", sha256=digest)
    kept = hub.data.models / f"{digest}.vpkg"
    assert kept.read_bytes() == path.read_bytes()
    assert not list(hub.data.spool.iterdir())  # nothing left behind in the spool


def test_a_package_that_does_not_match_its_hash_is_refused(hub: RunningHub, tmp_path: Path) -> None:
    path, _ = _package(tmp_path)
    refusal = _upload(hub.dial("trainer-1"), "v1", path, "ab" * 32)
    assert isinstance(refusal, m.Error) and refusal.code == "bad_message"
    assert "body hash" in refusal.message and refusal.ref == "v1"
    assert not list(hub.data.models.iterdir())


def test_a_version_cannot_be_reused_for_other_content(hub: RunningHub, tmp_path: Path) -> None:
    trainer = hub.dial("trainer-1")
    first, first_digest = _package(tmp_path, 1000)
    second, second_digest = _package(tmp_path, 2000)
    assert isinstance(_upload(trainer, "v1", first, first_digest), m.ModelStored)
    assert isinstance(_upload(trainer, "v1", first, first_digest), m.ModelStored)  # idempotent
    conflict = _upload(trainer, "v1", second, second_digest)
    assert isinstance(conflict, m.Error) and conflict.code == "conflict"


def test_assign_offers_to_connected_edges_and_later_ones(hub: RunningHub, tmp_path: Path) -> None:
    path, digest = _package(tmp_path)
    trainer = hub.dial("trainer-1")
    _upload(trainer, "v2", path, digest)
    online = hub.dial("edge-1")
    trainer.send(m.ModelAssign(version="v2", edges=[]))
    assigned = trainer.receive().message
    assert assigned == m.ModelAssigned(version="v2", edges=["edge-1", "edge-2"])
    offer, package = _offer(online)
    assert offer == m.ModelOffer(version="v2", sha256=digest, size=path.stat().st_size)
    assert package == path.read_bytes()
    later, later_package = _offer(hub.dial("edge-2"))  # connects after the assignment
    assert later.version == "v2" and later_package == package


def test_reports_are_tracked_and_a_refusal_is_not_offered_again(
    hub: RunningHub, tmp_path: Path
) -> None:
    path, digest = _package(tmp_path)
    trainer = hub.dial("trainer-1")
    _upload(trainer, "v3", path, digest)
    trainer.send(m.ModelAssign(version="v3", edges=["edge-1"]))
    trainer.receive()
    edge = hub.dial("edge-1")
    _offer(edge)
    edge.send(m.ModelReport(version="v3", state="refused", reason="signature does not verify"))
    assert wait_for(lambda: any(p.model == "v3 (refused)" for p in list_peers(hub.data.database)))
    edge.close("restart")
    again = hub.dial("edge-1")
    time.sleep(0.3)  # an offer would be on its way by now, ahead of what follows
    event, body = sighting()
    assert send_event(again, event, body).event_id == event.event_id  # the next message


def test_assigning_an_unknown_version_is_refused(hub: RunningHub) -> None:
    trainer = hub.dial("trainer-1")
    trainer.send(m.ModelAssign(version="nope", edges=[]))
    refusal = trainer.receive().message
    assert isinstance(refusal, m.Error) and refusal.code == "not_found"


def test_an_admin_deletes_a_version(hub: RunningHub, tmp_path: Path) -> None:
    path, digest = _package(tmp_path)
    _upload(hub.dial("trainer-1"), "old", path, digest)
    data = str(hub.data.root)
    assert hub_main(["models", "--data", data, "--delete", "old"]) == 0
    assert not (hub.data.models / f"{digest}.vpkg").exists()
    assert hub_main(["models", "--data", data, "--delete", "old"]) == 2


def test_the_model_list_shows_versions_and_what_each_edge_runs(
    hub: RunningHub, tmp_path: Path
) -> None:
    trainer = hub.dial("trainer-1")
    for version, size in (("v1", 1000), ("v2", 2000)):
        path, digest = _package(tmp_path, size)
        assert isinstance(_upload(trainer, version, path, digest), m.ModelStored)
        time.sleep(0.01)  # distinct upload times, so "newest first" is well defined
    edge = hub.dial("edge-1")
    trainer.send(m.ModelAssign(version="v2", edges=["edge-1"]))
    trainer.receive()
    _offer(edge)
    edge.send(m.ModelReport(version="v2", state="running", reason=""))
    trainer.send(m.ModelAssign(version="v1", edges=["edge-2"]))
    trainer.receive()

    def listed() -> m.ModelList:
        trainer.send(m.ModelListRequest(limit=0))
        got = trainer.receive().message
        assert isinstance(got, m.ModelList)
        return got

    wait_for(lambda: listed().edges[0].reported == "v2")
    answer = listed()
    assert [e.version for e in answer.models] == ["v2", "v1"]
    assert answer.models[0].size == 2000 and answer.models[0].uploaded_by == "trainer-1"
    by_edge = {e.edge: e for e in answer.edges}
    assert (by_edge["edge-1"].assigned, by_edge["edge-1"].state) == ("v2", "running")
    assert (by_edge["edge-2"].assigned, by_edge["edge-2"].reported) == ("v1", None)
    trainer.send(m.ModelListRequest(limit=1))
    limited = trainer.receive().message
    assert isinstance(limited, m.ModelList) and [e.version for e in limited.models] == ["v2"]


def test_a_watcher_may_not_ask_for_the_model_list(hub: RunningHub) -> None:
    watcher = hub.dial("watcher-1")
    watcher.send(m.ModelListRequest(limit=0))
    refusal = watcher.receive()
    assert isinstance(refusal.message, m.Error) and refusal.message.code == "forbidden"
