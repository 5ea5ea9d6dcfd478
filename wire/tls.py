"""TLS set-up: the hub's self-signed identity, the contexts, and certificate pinning.

There is no certificate authority on a camera LAN. The hub makes its own certificate once
(`hub init`); every peer's credential carries that certificate's SHA-256 fingerprint, and a
client accepts the hub only if the certificate it presents has exactly that fingerprint.
"""

from __future__ import annotations

import datetime
import hmac
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wire.errors import CertificateMismatch
from wire.transport import fingerprint


@dataclass(frozen=True, slots=True)
class Identity:
    """Where a server's certificate and private key live, and the certificate's fingerprint."""

    cert: Path
    key: Path
    fingerprint: str


def create_identity(directory: Path, common_name: str, days: int = 3650) -> Identity:
    """Write a new self-signed ECDSA P-256 certificate and key into `directory`.

    The key file is created with mode 0600. Existing files are never overwritten.
    """
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    for path in (cert_path, key_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; refusing to replace a TLS identity")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return load_identity(directory)


def load_identity(directory: Path) -> Identity:
    """The identity `create_identity` wrote into `directory`."""
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    return Identity(cert=cert_path, key=key_path, fingerprint=fingerprint(der))


def server_context(identity: Identity) -> ssl.SSLContext:
    """TLS 1.2+ server context presenting `identity`; clients authenticate in our handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(identity.cert, identity.key)
    return ctx


def client_context() -> ssl.SSLContext:
    """TLS 1.2+ client context that checks the server by pinned fingerprint, not by a CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # replaced by check_pin on the certificate's DER
    return ctx


def check_pin(actual: str, pinned: str) -> None:
    """Raise CertificateMismatch unless the presented certificate is the pinned one."""
    if not hmac.compare_digest(actual.lower(), pinned.lower()):
        raise CertificateMismatch(
            f"hub certificate {actual} does not match the pinned {pinned}: "
            "an impostor hub, or the hub was re-initialised (re-issue the credential)"
        )
