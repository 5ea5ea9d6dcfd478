"""Model packages: one signed file with the TFLite model, its labels and a manifest.

The trainer writes them, the hub stores them byte for byte, the edge verifies them before it
loads anything. A package (`.vpkg`) is, in order:

- a 28-byte header: the magic `VGIAPKG1`, then the lengths of the four parts below
  (big-endian u32 manifest, u32 signature, u64 model, u32 labels);
- `manifest`: JSON describing the model (`Manifest`), including the SHA-256 of model and labels;
- `signature`: the Ed25519 signature of the manifest's bytes by the trainer's key (64 bytes);
- `model`: the TFLite flatbuffer;
- `labels`: one class name per line, in output order (UTF-8).

The file must end exactly after the labels. Verification checks the signature against the
trainer's public key that the edge pinned, then the model and labels against the manifest's
hashes. So every byte is covered: a changed byte in the header breaks the lengths, in the
manifest or signature the signature, in the model or labels their hash. A hub (or anyone in
between) can neither alter nor forge a model.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field, ValidationError

from wire.messages import Hex64, Model, Version

MAGIC = b"VGIAPKG1"
_HEADER = struct.Struct("!8sIIQI")
SIGNATURE_BYTES = 64
MAX_MANIFEST_BYTES = 4 * 2**20
MAX_MODEL_BYTES = 256 * 2**20  # far larger than any edge could run: refuse before reading

Label = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\n\r]+$")]
Accuracy = Annotated[float, Field(ge=0, le=1)]


class PackageError(ValueError):
    """A package is malformed, altered, or signed by a key we do not trust; says which."""


class InputSpec(Model):
    """What the model takes: a square RGB picture, `size` pixels a side."""

    size: int = Field(ge=32, le=1024)
    dtype: Literal["uint8", "float32"]
    colour: Literal["rgb"] = "rgb"
    #: The model normalises inside: x' = (x - mean) / std on 0..255 pixel values.
    mean: float = 127.0
    std: float = 128.0


class Metrics(Model):
    """How well the model did on the held-out test images."""

    float_accuracy: Accuracy | None
    int8_accuracy: Accuracy | None
    test_images: int = Field(ge=0)


class Manifest(Model):
    """The signed description of a package."""

    format: Literal[1] = 1
    version: Version
    created_ms: int = Field(ge=0)
    backbone: str = Field(max_length=64)
    labels: tuple[Label, ...] = Field(min_length=1, max_length=10_000)
    input: InputSpec
    quantisation: Literal["int8", "float32"]
    metrics: Metrics
    dataset_sha256: Hex64
    model_sha256: Hex64
    model_size: int = Field(ge=1)
    labels_sha256: Hex64
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class Package:
    """A verified package's contents."""

    manifest: Manifest
    model: bytes


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key, to name it in manifests and errors."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def labels_text(labels: tuple[str, ...]) -> bytes:
    """labels.txt: one name a line."""
    return ("\n".join(labels) + "\n").encode()


def write_package(path: Path, manifest: Manifest, model: bytes, key: Ed25519PrivateKey) -> None:
    """Sign `manifest` and write the package atomically (temporary file, fsync, rename)."""
    body = manifest.model_dump_json(indent=1).encode()
    labels = labels_text(manifest.labels)
    _check_contents(manifest, model, labels)
    if manifest.key_id != key_id(key.public_key()):
        raise PackageError("the manifest names another key than the one signing it")
    signature = key.sign(body)
    header = _HEADER.pack(MAGIC, len(body), len(signature), len(model), len(labels))
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as out:
        for part in (header, body, signature, model, labels):
            out.write(part)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def read_package(path: Path, trusted: Ed25519PublicKey) -> Package:
    """Open and verify a package; PackageError says exactly what is wrong."""
    body, signature, model, labels = _parts(path)
    try:
        trusted.verify(signature, body)
    except InvalidSignature:
        raise PackageError(
            f"{path.name}: signature does not verify with the trusted trainer key "
            f"{key_id(trusted)} (signed by another key, or the manifest was changed)"
        ) from None
    try:
        manifest = Manifest.model_validate_json(body)
    except ValidationError as exc:
        raise PackageError(f"{path.name}: manifest is invalid: {exc.errors()[0]['msg']}") from None
    _check_contents(manifest, model, labels)
    return Package(manifest, model)


def _parts(path: Path) -> tuple[bytes, bytes, bytes, bytes]:
    """Manifest, signature, model and labels, with every length checked before reading."""
    try:
        with path.open("rb") as src:
            head = src.read(_HEADER.size)
            if len(head) < _HEADER.size or head[:8] != MAGIC:
                raise PackageError(f"{path.name}: not a Vigía model package (no {MAGIC!r} header)")
            _, *lengths = _HEADER.unpack(head)
            manifest_len, signature_len, model_len, labels_len = lengths
            if (
                manifest_len > MAX_MANIFEST_BYTES
                or signature_len != SIGNATURE_BYTES
                or model_len > MAX_MODEL_BYTES
                or labels_len > MAX_MANIFEST_BYTES
            ):
                raise PackageError(f"{path.name}: header states impossible lengths {lengths}")
            parts = tuple(src.read(n) for n in lengths)
            if [len(p) for p in parts] != lengths or src.read(1):
                raise PackageError(f"{path.name}: file size does not match its header")
    except OSError as exc:
        raise PackageError(f"{path.name}: cannot read: {exc}") from None
    body, signature, model, labels = parts
    return body, signature, model, labels


def _check_contents(manifest: Manifest, model: bytes, labels: bytes) -> None:
    """The model and labels are the ones the manifest describes."""
    if len(model) != manifest.model_size or hashlib.sha256(model).hexdigest() != (
        manifest.model_sha256
    ):
        raise PackageError(f"model {manifest.version}: the model does not match its manifest hash")
    if hashlib.sha256(labels).hexdigest() != manifest.labels_sha256:
        raise PackageError(f"model {manifest.version}: the labels do not match their manifest hash")
    if labels != labels_text(manifest.labels):
        raise PackageError(f"model {manifest.version}: the labels differ from the manifest's")


def new_key() -> Ed25519PrivateKey:
    """A fresh trainer signing key."""
    return Ed25519PrivateKey.generate()


def save_keys(key: Ed25519PrivateKey, private_path: Path, public_path: Path) -> None:
    """The private key (PKCS#8 PEM, mode 0600) and the public key (PEM) for the edges."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The trainer's signing key; PackageError when missing or not an Ed25519 key."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PackageError(f"{path}: not a readable private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PackageError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A pinned trainer public key; PackageError when missing or not an Ed25519 key."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PackageError(f"{path}: not a readable public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PackageError(f"{path}: not an Ed25519 public key")
    return key


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
