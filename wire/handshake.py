"""The handshake, both sides: hello, challenge, auth, welcome.

    client                                   server
      hello(versions, peer, role, nonce_c) ->
                                          <- challenge(version, hub, nonce_s)
      auth(proof_c)                        ->
                                          <- welcome(proof_s, session, timing, max_body)

A refusal at any step is an `error` frame with `fatal=true` and a code from ErrorCode, after
which the server closes. See docs/protocol.md for the sequence diagram.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from wire import messages as m
from wire.auth import NonceGuard, PeerDirectory, Transcript, make_proof, new_nonce, proof_matches
from wire.connection import Connection, PeerInfo, Timing
from wire.errors import AuthError, ErrorCode, RemoteError
from wire.frame import PROTOCOL_VERSIONS
from wire.roles import Role

SOFTWARE = "vigia/0.1"


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """What a client proves: its name, role and secret (from its credential file)."""

    name: str
    role: Role
    secret: str


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What a server presents: its name, where it looks peers up, and its limits."""

    name: str
    directory: PeerDirectory
    guard: NonceGuard
    timing: Timing
    max_body: int


def client_handshake(conn: Connection, me: ClientIdentity) -> m.Welcome:
    """Authenticate to the server and authenticate it; raise AuthError on any refusal."""
    nonce = new_nonce()
    conn.send(
        m.Hello(
            versions=list(PROTOCOL_VERSIONS),
            peer=me.name,
            role=me.role,
            nonce=nonce,
            software=SOFTWARE,
        )
    )
    try:
        challenge = conn.expect(m.Challenge)
        if challenge.version not in PROTOCOL_VERSIONS:
            raise AuthError(
                f"hub chose protocol version {challenge.version}, which we do not "
                f"speak ({list(PROTOCOL_VERSIONS)})",
                ErrorCode.VERSION_UNSUPPORTED,
            )
        transcript = Transcript(
            challenge.version,
            me.name,
            me.role,
            challenge.hub,
            nonce,
            challenge.nonce,
            conn.transport.channel,
        )
        conn.send(m.Auth(proof=make_proof(me.secret, "client", transcript)))
        welcome = conn.expect(m.Welcome)
    except RemoteError as exc:
        raise AuthError(f"hub refused us: {exc}", exc.code) from None
    if not proof_matches(me.secret, "server", transcript, welcome.proof):
        problem = "hub could not prove it holds our secret: an impostor hub, or a replayed answer"
        conn.close(problem, ErrorCode.BAD_CREDENTIALS)
        raise AuthError(problem)
    timing = Timing(
        welcome.keepalive_s,
        welcome.dead_after_s,
        conn.timing.handshake_timeout_s,
        conn.timing.tick_s,
    )
    conn.peer_max_body = welcome.max_body
    conn.authenticated(PeerInfo(challenge.hub, None, conn.address), challenge.version, timing)
    return welcome


def server_handshake(
    conn: Connection, me: ServerIdentity, admit: Callable[[Connection], None]
) -> PeerInfo:
    """Authenticate a client and prove ourselves to it; refuse (and raise AuthError) otherwise.

    `admit` runs once the client is verified, before the welcome goes out."""
    hello = conn.expect(m.Hello)
    version = _choose_version(conn, hello)
    record = me.directory.lookup(hello.peer)
    if record is None:
        _refuse(conn, ErrorCode.UNKNOWN_PEER, f"no peer named '{hello.peer}' on this hub")
    elif record.revoked:
        _refuse(conn, ErrorCode.REVOKED, f"peer '{hello.peer}' has been revoked")
    elif record.role is not hello.role:
        _refuse(
            conn,
            ErrorCode.ROLE_MISMATCH,
            f"peer '{hello.peer}' is registered as '{record.role.value}', not '{hello.role.value}'",
        )
    elif not me.guard.first_use(hello.nonce):
        _refuse(conn, ErrorCode.BAD_CREDENTIALS, "hello nonce already used: a replayed handshake")
    nonce = new_nonce()
    conn.send(m.Challenge(version=version, hub=me.name, nonce=nonce))
    transcript = Transcript(
        version, hello.peer, hello.role, me.name, hello.nonce, nonce, conn.transport.channel
    )
    auth = conn.expect(m.Auth)
    if not proof_matches(record.secret, "client", transcript, auth.proof):
        _refuse(
            conn,
            ErrorCode.BAD_CREDENTIALS,
            f"proof from '{hello.peer}' does not match: wrong secret or a replayed handshake",
        )
    peer = PeerInfo(hello.peer, hello.role, conn.address)
    conn.authenticated(peer, version, me.timing)
    admit(conn)  # before the welcome: once the client is in, the server knows it
    conn.send(
        m.Welcome(
            proof=make_proof(record.secret, "server", transcript),
            session=secrets.token_hex(8),
            keepalive_s=me.timing.keepalive_s,
            dead_after_s=me.timing.dead_after_s,
            max_body=me.max_body,
        )
    )
    return peer


def _choose_version(conn: Connection, hello: m.Hello) -> int:
    common = set(hello.versions) & set(PROTOCOL_VERSIONS)
    if not common:
        _refuse(
            conn,
            ErrorCode.VERSION_UNSUPPORTED,
            f"hub speaks {list(PROTOCOL_VERSIONS)}, peer offered {hello.versions}",
        )
    return max(common)


def _refuse(conn: Connection, code: ErrorCode, reason: str) -> NoReturn:
    conn.close(reason, code)
    raise AuthError(reason, code)
