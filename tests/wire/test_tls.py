"""The hub's TLS identity and certificate pinning."""

from __future__ import annotations

import hashlib
import ssl
import stat
from pathlib import Path

import pytest

from wire.errors import CertificateMismatch, ErrorCode
from wire.tls import check_pin, create_identity, load_identity


def test_identity_files_and_fingerprint(tmp_path: Path) -> None:
    identity = create_identity(tmp_path, "hub.local")
    der = ssl.PEM_cert_to_DER_cert(identity.cert.read_text())
    assert identity.fingerprint == "sha256:" + hashlib.sha256(der).hexdigest()
    assert stat.S_IMODE(identity.key.stat().st_mode) == 0o600
    assert load_identity(tmp_path) == identity


def test_two_identities_differ_and_none_is_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = create_identity(tmp_path / "a", "hub")
    second = create_identity(tmp_path / "b", "hub")
    assert first.fingerprint != second.fingerprint
    with pytest.raises(FileExistsError, match="refusing to replace"):
        create_identity(tmp_path / "a", "hub")


def test_pin_check() -> None:
    pin = "sha256:" + "ab" * 32
    check_pin(pin.upper().replace("SHA256", "sha256"), pin)
    with pytest.raises(CertificateMismatch, match="re-issue the credential") as caught:
        check_pin("sha256:" + "cd" * 32, pin)
    assert caught.value.code is ErrorCode.CERTIFICATE_MISMATCH
