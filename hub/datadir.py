"""The hub's data directory: one tree holding the database, the images, the models and the
TLS identity, so that a backup is one copy of one folder.

    DATA_DIR/
      hub.toml          settings
      hub.db            SQLite (WAL): peers, events, status, models, assignments
      tls.crt tls.key   the hub's certificate and key (pinned by every peer)
      images/YYYY-MM-DD/EDGE/CAMERA/EVENT_ID.jpg (.thumb.jpg)
      models/VERSION.vpkg
      spool/            bodies being received
      credentials/      credential files made by `hub add-peer`, to hand over
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    """Paths inside one hub data directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "hub.toml"

    @property
    def database(self) -> Path:
        return self.root / "hub.db"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    def make_tree(self) -> None:
        """Create the folders (private to the hub's user)."""
        for folder in (self.root, self.images, self.models, self.spool, self.credentials):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def check(self) -> None:
        """Raise FileNotFoundError naming what is missing, if this is not an initialised hub."""
        for needed in (self.database, self.root / "tls.crt", self.root / "tls.key"):
            if not needed.exists():
                raise FileNotFoundError(
                    f"{needed} is missing: is {self.root} a hub data directory? "
                    f"(make one with: hub init {self.root})"
                )


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
