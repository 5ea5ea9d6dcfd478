"""The hub's peers: who may connect, with which role and secret, and when each was last seen.

Used by `hub add-peer`, `hub peers`, `hub revoke` (each its own process) and by the running hub,
which looks a peer up on every handshake, so a new or revoked peer takes effect at once.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from hub.db import Reader, connect
from wire.auth import PeerRecord, new_secret
from wire.roles import Role


@dataclass(frozen=True)
class PeerRow:
    """One peer as `hub peers` shows it."""

    name: str
    role: Role
    revoked: bool
    created_ms: int
    last_seen_ms: int | None
    model: str | None  # edges: the version it reported, and in what state


class PeerExists(ValueError):
    """`hub add-peer` for a name that is already taken."""


class UnknownPeer(KeyError):
    """`hub revoke` for a name that is not there."""


def add_peer(database: Path, name: str, role: Role) -> PeerRecord:
    """Register a new peer with a fresh secret."""
    record = PeerRecord(name, role, new_secret())
    with admin_write(database) as db:
        try:
            db.execute(
                "INSERT INTO peers (name, role, secret, created_ms) VALUES (?, ?, ?, ?)",
                (name, role.value, record.secret, _now_ms()),
            )
        except sqlite3.IntegrityError:
            raise PeerExists(f"a peer named '{name}' already exists") from None
    return record


def revoke_peer(database: Path, name: str) -> None:
    """Mark a peer revoked: refused from now on; a running hub cuts its sessions within 1 s."""
    with admin_write(database) as db:
        if db.execute("UPDATE peers SET revoked = 1 WHERE name = ?", (name,)).rowcount == 0:
            raise UnknownPeer(name)


def list_peers(database: Path) -> list[PeerRow]:
    """Every peer, with the model each edge last reported."""
    with admin_write(database) as db:
        rows = db.execute(
            "SELECT p.*, r.version || ' (' || r.state || ')' AS model FROM peers p "
            "LEFT JOIN model_reports r ON r.edge = p.name ORDER BY p.role, p.name"
        ).fetchall()
    return [
        PeerRow(
            r["name"],
            Role(r["role"]),
            bool(r["revoked"]),
            r["created_ms"],
            r["last_seen_ms"],
            r["model"],
        )
        for r in rows
    ]


class admin_write:  # noqa: N801 (used like a function: with admin_write(db) as conn)
    """A short-lived read-write connection for one admin command, committed on success."""

    def __init__(self, database: Path) -> None:
        self.conn = connect(database)

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, *rest: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
        self.conn.close()


class PeerDirectory:
    """The running hub's view of the peers table (wire.auth.PeerDirectory)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def lookup(self, name: str) -> PeerRecord | None:
        """The peer named `name` as the database says now."""
        row = self.reader.db().execute("SELECT * FROM peers WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return PeerRecord(row["name"], Role(row["role"]), row["secret"], bool(row["revoked"]))

    def revoked(self) -> set[str]:
        """Names of every revoked peer."""
        rows = self.reader.db().execute("SELECT name FROM peers WHERE revoked = 1")
        return {r[0] for r in rows}


def _now_ms() -> int:
    return int(time.time() * 1000)
