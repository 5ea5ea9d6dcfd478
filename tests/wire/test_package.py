"""Model packages: what the trainer signs, the edge accepts; any change or other key is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from wire.package import (
    InputSpec,
    Manifest,
    Metrics,
    PackageError,
    key_id,
    labels_text,
    load_private_key,
    load_public_key,
    new_key,
    read_package,
    save_keys,
    write_package,
)

MODEL = bytes(range(256)) * 40
LABELS = ("cat", "dog", "bird")


def _manifest(key_hex: str, model: bytes = MODEL, labels: tuple[str, ...] = LABELS) -> Manifest:
    return Manifest(
        version="pets-1",
        created_ms=1_796_000_000_000,
        backbone="efficientnet-lite0",
        labels=labels,
        input=InputSpec(size=224, dtype="uint8"),
        quantisation="int8",
        metrics=Metrics(float_accuracy=0.95, int8_accuracy=0.94, test_images=300),
        dataset_sha256="a" * 64,
        model_sha256=hashlib.sha256(model).hexdigest(),
        model_size=len(model),
        labels_sha256=hashlib.sha256(labels_text(labels)).hexdigest(),
        key_id=key_hex,
    )


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    """A package and the public key file that verifies it."""
    key = new_key()
    save_keys(key, tmp_path / "trainer.key", tmp_path / "trainer.pub")
    package = tmp_path / "pets.vpkg"
    write_package(package, _manifest(key_id(key.public_key())), MODEL, key)
    return package, tmp_path / "trainer.pub"


def test_a_signed_package_verifies_and_gives_back_its_model(signed: tuple[Path, Path]) -> None:
    package, public = signed
    opened = read_package(package, load_public_key(public))
    assert opened.model == MODEL
    assert opened.manifest.labels == LABELS
    assert opened.manifest.input.size == 224


def test_the_private_key_file_is_only_for_its_owner(
    signed: tuple[Path, Path], tmp_path: Path
) -> None:
    assert (tmp_path / "trainer.key").stat().st_mode & 0o777 == 0o600
    assert load_private_key(tmp_path / "trainer.key").public_key() == load_public_key(signed[1])


def test_a_package_signed_by_another_key_is_refused(signed: tuple[Path, Path]) -> None:
    package, _ = signed
    with pytest.raises(PackageError, match="signature does not verify"):
        read_package(package, new_key().public_key())


def test_one_changed_byte_anywhere_is_refused(signed: tuple[Path, Path]) -> None:
    package, public = signed
    raw = package.read_bytes()
    trusted = load_public_key(public)
    # Every byte of the header, manifest and signature, and a spread through model and labels.
    offsets = list(range(600)) + list(range(600, len(raw), 97)) + [len(raw) - 1]
    for offset in offsets:
        changed = bytearray(raw)
        changed[offset] ^= 0x01
        package.write_bytes(changed)
        with pytest.raises(PackageError):
            read_package(package, trusted)


@pytest.mark.parametrize(
    ("where", "reason"),
    [(-5, "labels do not match"), (-200, "model does not match"), (100, "signature")],
)
def test_the_refusal_names_what_was_changed(
    signed: tuple[Path, Path], where: int, reason: str
) -> None:
    package, public = signed
    raw = bytearray(package.read_bytes())
    raw[where] ^= 0x01
    package.write_bytes(raw)
    with pytest.raises(PackageError, match=reason):
        read_package(package, load_public_key(public))


def test_truncated_padded_and_foreign_files_are_named(signed: tuple[Path, Path]) -> None:
    package, public = signed
    raw = package.read_bytes()
    trusted = load_public_key(public)
    for changed, reason in (
        (raw[:-1], "does not match its header"),
        (raw + b"\0", "does not match its header"),
        (b"PK\x03\x04 a zip file", "not a Vigía model package"),
    ):
        package.write_bytes(changed)
        with pytest.raises(PackageError, match=reason):
            read_package(package, trusted)


def test_the_writer_refuses_a_manifest_that_does_not_describe_the_model(tmp_path: Path) -> None:
    key = new_key()
    with pytest.raises(PackageError, match="model does not match"):
        write_package(tmp_path / "x.vpkg", _manifest(key_id(key.public_key())), b"other", key)
    with pytest.raises(PackageError, match="another key"):
        write_package(tmp_path / "x.vpkg", _manifest("0" * 16), MODEL, key)
    assert not (tmp_path / "x.vpkg").exists()


def test_keys_that_are_not_ed25519_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(PackageError, match="not a readable public key"):
        load_public_key(bad)
    with pytest.raises(PackageError, match="not a readable private key"):
        load_private_key(tmp_path / "absent.key")
