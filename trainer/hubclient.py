"""The trainer's side of the hub: upload packages, assign versions, list what runs where.

Every call opens one authenticated connection with the trainer's credential (role `trainer`),
does its exchange and closes it; refusals from the hub come back as RemoteError with its text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wire import messages as m
from wire.client import Endpoint, connect
from wire.connection import Connection
from wire.credential import Credential, load_credential

CREDENTIAL_ENV = "VIGIA_TRAINER_CREDENTIAL"
DEFAULT_CREDENTIAL = Path("~/.config/vigia/trainer-credential.toml")


@dataclass(frozen=True, slots=True)
class HubLink:
    """Who we are to the hub and where it is (the credential's address unless overridden)."""

    credential: Credential
    address: str | None = None

    def endpoint(self) -> Endpoint:
        """The hub's endpoint, with the credential's certificate pin."""
        pinned = self.credential.endpoint()
        if self.address is None:
            return pinned
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--hub {self.address!r}: expected HOST:PORT")
        return Endpoint(host, int(port), pinned.fingerprint)

    def open(self) -> Connection:
        """An authenticated connection to the hub."""
        return connect(self.endpoint(), self.credential.identity())


def credential_path(given: Path | None) -> Path:
    """--credential, else $VIGIA_TRAINER_CREDENTIAL, else the default under ~/.config/vigia."""
    if given is not None:
        return given
    return Path(os.environ.get(CREDENTIAL_ENV) or DEFAULT_CREDENTIAL).expanduser()


def link(credential: Path | None, hub: str | None) -> HubLink:
    """A HubLink from the command line's options."""
    return HubLink(load_credential(credential_path(credential)), hub)


def upload(hub: HubLink, package: Path, *, version: str, sha256: str) -> m.ModelStored:
    """Store a package in the hub's registry (idempotent for the same content)."""
    with _session(hub) as conn:
        conn.send_file(
            m.ModelUpload(version=version, sha256=sha256, size=package.stat().st_size), package
        )
        return conn.expect(m.ModelStored)


def assign(hub: HubLink, version: str, edges: list[str]) -> m.ModelAssigned:
    """Make `version` the model of these edges (none: every edge); older versions roll back."""
    with _session(hub) as conn:
        conn.send(m.ModelAssign(version=version, edges=edges))
        return conn.expect(m.ModelAssigned)


def models(hub: HubLink, limit: int = 0) -> m.ModelList:
    """The registry's versions and which edge runs which."""
    with _session(hub) as conn:
        conn.send(m.ModelListRequest(limit=limit))
        return conn.expect(m.ModelList)


@contextmanager
def _session(hub: HubLink) -> Iterator[Connection]:
    """A connection, closed with `bye` when the block ends."""
    conn = hub.open()
    try:
        yield conn
    finally:
        conn.close("done")
