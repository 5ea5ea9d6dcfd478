"""Mutual challenge-response authentication on a per-peer secret.

Each side sends a fresh 32-byte nonce. Each proves it holds the peer's secret with an
HMAC-SHA256 over a transcript of the whole exchange: both nonces, the peer's name and role, the
hub's name, the protocol version, and the TLS certificate fingerprint (the channel). The secret
never crosses the wire; a recorded handshake is useless later because the other side's nonce is
new; and a proof made through an impostor's TLS session does not verify against the real one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, Protocol

from wire.roles import Role

NONCE_BYTES = 32


def new_nonce() -> str:
    """A fresh random nonce, hex-encoded."""
    return secrets.token_hex(NONCE_BYTES)


def new_secret() -> str:
    """A fresh per-peer secret, hex-encoded, for `hub add-peer` to hand out."""
    return secrets.token_hex(32)


@dataclass(frozen=True, slots=True)
class Transcript:
    """Everything both sides agree on by the time proofs are exchanged."""

    version: int
    peer: str
    role: Role
    hub: str
    client_nonce: str
    server_nonce: str
    channel: str

    def encode(self) -> bytes:
        """Unambiguous bytes: fields are length-prefixed, so no two transcripts collide."""
        fields = (
            str(self.version),
            self.peer,
            self.role.value,
            self.hub,
            self.client_nonce,
            self.server_nonce,
            self.channel,
        )
        return b"vigia-auth-1" + b"".join(len(f).to_bytes(2, "big") + f.encode() for f in fields)


def make_proof(secret: str, side: Literal["client", "server"], transcript: Transcript) -> str:
    """HMAC-SHA256 of the transcript under the peer secret; `side` stops reflection."""
    message = side.encode() + b"|" + transcript.encode()
    return hmac.new(bytes.fromhex(secret), message, hashlib.sha256).hexdigest()


def proof_matches(
    secret: str, side: Literal["client", "server"], transcript: Transcript, proof: str
) -> bool:
    """Constant-time check of a proof."""
    return hmac.compare_digest(make_proof(secret, side, transcript), proof)


@dataclass(frozen=True, slots=True)
class PeerRecord:
    """What the server knows of one peer."""

    name: str
    role: Role
    secret: str
    revoked: bool = False


class PeerDirectory(Protocol):
    """Where a server looks peers up (the hub keeps them in its database)."""

    def lookup(self, name: str) -> PeerRecord | None:
        """The peer named `name`, or None if there is none."""


class StaticDirectory:
    """A fixed set of peers held in memory (trainer workers, tests)."""

    def __init__(self, peers: list[PeerRecord]) -> None:
        self._peers = {p.name: p for p in peers}

    def lookup(self, name: str) -> PeerRecord | None:
        """The peer named `name`, or None."""
        return self._peers.get(name)


class NonceGuard:
    """Remembers recent client nonces, so that a replayed hello is named as a replay."""

    def __init__(self, capacity: int = 65536) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def first_use(self, nonce: str) -> bool:
        """True the first time a nonce is seen; False for every repeat."""
        with self._lock:
            if nonce in self._seen:
                return False
            self._seen[nonce] = None
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True
