"""A peer's credential file: who it is, its secret, and how to reach and recognise the hub.

`hub add-peer` writes one per peer, to be copied to that machine:

    name = "edge-kitchen"
    role = "edge"
    hub = "192.168.1.10:7700"
    fingerprint = "sha256:5f2c..."
    secret = "9a41..."

The file holds a secret: it is written with mode 0600 and must stay private.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import StringConstraints

from wire.client import Endpoint
from wire.config import Settings, load_toml
from wire.handshake import ClientIdentity
from wire.messages import Name
from wire.roles import Role

HubAddress = Annotated[str, StringConstraints(pattern=r"^[^\s:]+:[0-9]{1,5}$")]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Secret = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Credential(Settings):
    """The contents of a credential file."""

    name: Name
    role: Role
    hub: HubAddress
    fingerprint: Fingerprint
    secret: Secret

    def endpoint(self) -> Endpoint:
        """Where to dial, with the certificate pin."""
        host, port = self.hub.rsplit(":", 1)
        return Endpoint(host, int(port), self.fingerprint)

    def identity(self) -> ClientIdentity:
        """What the handshake proves."""
        return ClientIdentity(self.name, self.role, self.secret)


def load_credential(path: Path) -> Credential:
    """Read and validate a credential file; ConfigError names any bad key."""
    return load_toml(path, Credential)


def save_credential(path: Path, cred: Credential) -> None:
    """Write a credential file readable by its owner only; never overwrite one."""
    lines = ["# Vigía peer credential. Keep it private: it holds this peer's secret."]
    for key, value in cred.model_dump(mode="json").items():
        lines.append(f"{key} = {json.dumps(value)}")  # a JSON string is a TOML basic string
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
