"""A model pushed through the hub reaches the edge's store through the uplink: a good one runs
and is reported running, a forged one is refused with its reason and the old one runs on."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.delivery.spool import Spool
from edge.delivery.uplink import Uplink, UplinkOptions
from edge.models.store import ModelStore
from edge.modelslot import ModelBundle, Slot
from hub.registry import model_list
from tests.edge.models.packages import make_package
from tests.hub.conftest import RunningHub
from tests.wire.conftest import wait_for
from wire import messages as m
from wire.client import Endpoint
from wire.connection import Connection


def _status() -> m.NodeStatus:
    return m.NodeStatus(
        sent_at=int(time.time() * 1000),
        model_version=None,
        cpu_load=0.0,
        cpu_temp_c=None,
        throttled=[],
        cameras=[],
    )


def _push(trainer: Connection, package: Path, version: str) -> None:
    """What `trainer push-model` and `trainer assign` send: upload, then assign to edge-1."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    size = package.stat().st_size
    trainer.send_file(m.ModelUpload(version=version, sha256=digest, size=size), package)
    assert trainer.expect(m.ModelStored).version == version
    trainer.send(m.ModelAssign(version=version, edges=["edge-1"]))
    assert trainer.expect(m.ModelAssigned).edges == ["edge-1"]


def _edge_model(hub: RunningHub) -> m.EdgeModel:
    return next(e for e in model_list(hub.hub.reader).edges if e.edge == "edge-1")


def test_an_offered_model_is_installed_and_reported(hub: RunningHub, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    good = make_package(tmp_path / "v1.vpkg", key, version="v1")  # before dialling: TF is slow
    forged = make_package(tmp_path / "v2.vpkg", Ed25519PrivateKey.generate(), version="v2")
    slot: Slot[ModelBundle] = Slot()
    cred = hub.credential("edge-1")
    endpoint = Endpoint("127.0.0.1", hub.hub.server.address[1], cred.fingerprint)
    store: ModelStore | None = None

    def install(offer: m.ModelOffer, path: Path) -> None:
        assert store is not None
        store.accept_offer(offer, path)

    uplink = Uplink(
        cred,
        Spool(tmp_path / "spool"),
        status_source=_status,
        on_model=install,
        endpoint=endpoint,
        options=UplinkOptions(backoff_base_s=0.05),
    )
    store = ModelStore(tmp_path / "models", key.public_key(), slot, on_report=uplink.report)
    uplink.start()
    try:
        trainer = hub.dial("trainer-1")
        _push(trainer, good, "v1")
        assert wait_for(lambda: _edge_model(hub).state == "running", timeout=20)
        assert slot.current is not None and slot.current.version == "v1"
        assert _edge_model(hub).reported == "v1"
        _push(trainer, forged, "v2")
        assert wait_for(lambda: _edge_model(hub).state == "refused", timeout=20)
        edge = _edge_model(hub)
        assert edge.reported == "v2" and "signature does not verify" in edge.reason
        assert slot.current.version == "v1"  # the old model runs on
        assert not list((tmp_path / "spool" / "incoming").iterdir())  # offered files cleaned
    finally:
        uplink.stop()
