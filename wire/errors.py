"""Exceptions of the wire protocol.

Every failure a peer can cause ends in one of these, each carrying an `ErrorCode` so that the
side that notices it can tell the other side why the connection is being closed.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Machine-readable reasons, sent in `error` messages and listed in docs/protocol.md."""

    BAD_FRAME = "bad_frame"
    BAD_MESSAGE = "bad_message"
    TOO_LARGE = "too_large"
    UNEXPECTED = "unexpected"
    VERSION_UNSUPPORTED = "version_unsupported"
    UNKNOWN_PEER = "unknown_peer"
    BAD_CREDENTIALS = "bad_credentials"
    ROLE_MISMATCH = "role_mismatch"
    REVOKED = "revoked"
    FORBIDDEN = "forbidden"
    CERTIFICATE_MISMATCH = "certificate_mismatch"
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    STORAGE_FAILED = "storage_failed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INTERNAL = "internal"


class WireError(Exception):
    """Base of every protocol failure; `code` says which kind it is."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class FrameError(WireError):
    """The bytes on the wire are not a valid frame (magic, version, lengths, flags)."""

    code = ErrorCode.BAD_FRAME


class MessageError(WireError):
    """The frame is sound but its JSON header is not a valid message of its kind."""

    code = ErrorCode.BAD_MESSAGE


class AuthError(WireError):
    """The handshake failed: unknown peer, wrong secret, wrong role, revoked, replay."""

    code = ErrorCode.BAD_CREDENTIALS


class CertificateMismatch(WireError):
    """The hub's TLS certificate does not match the pinned fingerprint."""

    code = ErrorCode.CERTIFICATE_MISMATCH


class RemoteError(WireError):
    """The other side sent an `error` message; `code` and text are the peer's own."""


class ConnectionClosed(WireError):
    """The connection ended: the peer closed it, went silent, or the socket failed."""

    code = ErrorCode.INTERNAL


class TlsFailed(ConnectionClosed):
    """The TLS handshake failed on a protocol error (not a plain hang-up)."""
