"""The model registry: every uploaded package kept until an admin deletes it, assignments,
offers to edges, and what each edge did with its model.

The hub stores packages byte for byte and never opens them: edges check the trainer's
signature, so a hub cannot forge or alter a model.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from hub.datadir import DataDir, fsync_dir
from hub.db import Reader
from hub.jobs import AssignModel, SaveReport, StoreModel, assignment_of
from hub.peers import admin_write
from hub.writer import Writer
from wire import messages as m
from wire.connection import Connection
from wire.errors import MessageError, WireError
from wire.package import file_sha256

log = logging.getLogger("vigia.hub.models")


class Registry:
    """Stores packages, records assignments and reports, offers models to edges."""

    def __init__(self, data: DataDir, writer: Writer, reader: Reader) -> None:
        self.data = data
        self.writer = writer
        self.reader = reader

    def upload(self, uploader: str, msg: m.ModelUpload, received: Path) -> m.ModelStored:
        """Check the received package against its hash, keep it, register it."""
        digest = file_sha256(received)
        if digest != msg.sha256:
            received.unlink(missing_ok=True)
            raise MessageError(f"model {msg.version}: body hash {digest} != stated {msg.sha256}")
        kept = self.data.models / f"{msg.sha256}.vpkg"
        with received.open("rb") as src:
            os.fsync(src.fileno())
        os.replace(received, kept)
        fsync_dir(self.data.models)
        self.writer.call(
            StoreModel(
                msg.version, msg.sha256, msg.size, str(kept.relative_to(self.data.root)), uploader
            )
        )
        log.info("stored model %s (%d bytes) from %s", msg.version, msg.size, uploader)
        return m.ModelStored(version=msg.version, sha256=msg.sha256)

    def assign(self, msg: m.ModelAssign, edges_online: list[Connection]) -> m.ModelAssigned:
        """Record the assignment, then offer the model to the connected edges it names."""
        targets = self.writer.call(AssignModel(msg.version, tuple(msg.edges)))
        log.info("model %s assigned to %s", msg.version, ", ".join(targets) or "no edge yet")
        for conn in edges_online:
            if conn.peer is not None and conn.peer.name in targets:
                self.offer(conn)
        return m.ModelAssigned(version=msg.version, edges=targets)

    def offer(self, conn: Connection) -> None:
        """Send an edge its assigned model, unless it already said what it did with it.
        Runs on its own thread: a package takes a while on Wi-Fi."""
        assert conn.peer is not None
        edge = conn.peer.name
        assigned = assignment_of(self.reader.db(), edge)
        if assigned is None:
            return
        version, sha256, size, file = assigned
        report = (
            self.reader.db()
            .execute(
                "SELECT state FROM model_reports WHERE edge = ? AND version = ?", (edge, version)
            )
            .fetchone()
        )
        if report is not None:
            return  # running it, or refused it once already (with a reason on record)
        offer = m.ModelOffer(version=version, sha256=sha256, size=size)
        threading.Thread(
            target=self._send,
            args=(conn, offer, self.data.root / file),
            name=f"offer-{edge}",
            daemon=True,
        ).start()

    def report(self, edge: str, msg: m.ModelReport) -> None:
        """Keep what an edge did with a version."""
        self.writer.submit(SaveReport(edge, msg))
        level = logging.INFO if msg.state == "running" else logging.WARNING
        log.log(
            level,
            "edge %s: model %s %s%s",
            edge,
            msg.version,
            msg.state,
            f": {msg.reason}" if msg.reason else "",
        )

    def _send(self, conn: Connection, offer: m.ModelOffer, path: Path) -> None:
        try:
            conn.send_file(offer, path)
            log.info("%s: offered model %s", conn.label, offer.version)
        except (WireError, OSError) as exc:
            log.warning("%s: could not offer model %s: %s", conn.label, offer.version, exc)


def delete_model(data: DataDir, version: str) -> None:
    """Remove a version from the registry (an admin command); assignments to it go too."""
    with admin_write(data.database) as db:
        row = db.execute(
            "DELETE FROM models WHERE version = ? RETURNING file", (version,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no model version {version} in the registry")
        db.execute("DELETE FROM assignments WHERE version = ?", (version,))
    (data.root / row[0]).unlink(missing_ok=True)


def model_list(reader: Reader, limit: int = 0) -> m.ModelList:
    """The registry's versions, newest first (at most `limit`, 0: all), and each edge's model."""
    db = reader.db()
    rows = db.execute(
        "SELECT version, sha256, size, uploaded_ms, uploaded_by FROM models "
        "ORDER BY uploaded_ms DESC, version LIMIT ?",
        (limit or -1,),
    )
    models = [
        m.ModelEntry(version=r[0], sha256=r[1], size=r[2], uploaded_ms=r[3], uploaded_by=r[4])
        for r in rows
    ]
    edges = []
    for (name,) in db.execute(
        "SELECT name FROM peers WHERE role = 'edge' AND revoked = 0 ORDER BY name"
    ).fetchall():
        assigned = assignment_of(db, name)
        report = db.execute(
            "SELECT version, state, reason, reported_ms FROM model_reports WHERE edge = ?", (name,)
        ).fetchone()
        edges.append(
            m.EdgeModel(
                edge=name,
                assigned=assigned[0] if assigned else None,
                reported=report[0] if report else None,
                state=report[1] if report else None,
                reason=report[2] if report else "",
                reported_ms=report[3] if report else None,
            )
        )
    return m.ModelList(models=models, edges=edges)
