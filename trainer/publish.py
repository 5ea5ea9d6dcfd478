"""Signing keys, package checks, and putting packages on the fleet through the hub."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from trainer import hubclient
from wire import messages as m
from wire.package import (
    Package,
    file_sha256,
    key_id,
    load_public_key,
    new_key,
    read_package,
    save_keys,
)

KEY_DIR_ENV = "VIGIA_TRAINER_KEYS"
DEFAULT_KEY_DIR = Path("~/.config/vigia")
PRIVATE_NAME, PUBLIC_NAME = "trainer.key", "trainer.pub"


def key_dir(given: Path | None = None) -> Path:
    """--keys, else $VIGIA_TRAINER_KEYS, else ~/.config/vigia."""
    return given or Path(os.environ.get(KEY_DIR_ENV) or DEFAULT_KEY_DIR).expanduser()


def keygen(directory: Path) -> str:
    """Make the trainer's key pair in `directory`; never overwrite one. Returns the key id."""
    private, public = directory / PRIVATE_NAME, directory / PUBLIC_NAME
    if private.exists() or public.exists():
        raise FileExistsError(f"{directory} already holds a trainer key; move it away first")
    directory.mkdir(parents=True, exist_ok=True)
    key = new_key()
    save_keys(key, private, public)
    return key_id(key.public_key())


def verify(package: Path, public: Path) -> Package:
    """Check a package against a trusted public key; PackageError says what is wrong."""
    return read_package(package, load_public_key(public))


def describe(package: Package, out: TextIO) -> None:
    """A readable summary of a verified package."""
    man = package.manifest
    created = datetime.datetime.fromtimestamp(man.created_ms / 1000, datetime.UTC)
    shown = ", ".join(man.labels[:8]) + (", ..." if len(man.labels) > 8 else "")
    metrics = man.metrics
    accuracy = "not measured"
    if metrics.int8_accuracy is not None and metrics.float_accuracy is not None:
        accuracy = (
            f"float {metrics.float_accuracy:.4f}, int8 {metrics.int8_accuracy:.4f} "
            f"on {metrics.test_images} test images"
        )
    lines = [
        f"version      {man.version}",
        f"created      {created:%Y-%m-%d %H:%M:%S} UTC",
        f"model        {man.backbone}, {man.quantisation}, input {man.input.size}x"
        f"{man.input.size} {man.input.dtype} RGB, {man.model_size:,} bytes",
        f"classes      {len(man.labels)}: {shown}",
        f"accuracy     {accuracy}",
        f"dataset      sha256 {man.dataset_sha256}",
        f"signed by    trainer key {man.key_id}",
    ]
    out.write("\n".join(lines) + "\n")


@dataclass(frozen=True, slots=True)
class Pushed:
    """What the hub said to a push."""

    stored: m.ModelStored
    assigned: m.ModelAssigned


def push(hub: hubclient.HubLink, package: Path, public: Path, edges: list[str]) -> Pushed:
    """Verify our own package, upload it, assign it (to `edges`, or every edge)."""
    verified = verify(package, public)
    version = verified.manifest.version
    stored = hubclient.upload(hub, package, version=version, sha256=file_sha256(package))
    return Pushed(stored, hubclient.assign(hub, version, edges))


def print_models(listing: m.ModelList, out: TextIO) -> None:
    """The registry's versions, then each edge's assigned and reported model."""
    out.write(f"{'version':28} {'bytes':>12} {'uploaded (UTC)':19} by\n")
    for entry in listing.models:
        when = datetime.datetime.fromtimestamp(entry.uploaded_ms / 1000, datetime.UTC)
        out.write(
            f"{entry.version:28} {entry.size:12,d} {when:%Y-%m-%d %H:%M:%S} {entry.uploaded_by}\n"
        )
    out.write(f"\n{'edge':24} {'assigned':28} {'reported':28} state\n")
    for edge in listing.edges:
        state: str = edge.state or "-"
        if edge.reason:
            state += f" ({edge.reason})"
        out.write(f"{edge.edge:24} {edge.assigned or '-':28} {edge.reported or '-':28} {state}\n")
