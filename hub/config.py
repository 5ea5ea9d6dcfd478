"""The hub's settings (`hub.toml`), with their defaults. `hub init` writes a commented copy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints

from wire.config import Settings, load_toml
from wire.messages import Name


class Retention(Settings):
    """How long sightings are kept, and how much disk they may use."""

    max_age_days: Annotated[float, Field(gt=0)] = 30.0
    max_gb: Annotated[float, Field(gt=0)] = 20.0
    min_age_s: Annotated[float, Field(ge=0)] = 3600.0  # never removed younger than this
    min_free_mb: Annotated[float, Field(ge=0)] = 200.0  # below this, refuse new events
    interval_s: Annotated[float, Field(gt=0)] = 60.0


class HubConfig(Settings):
    """Everything `hub serve` needs; command-line flags override these."""

    data_dir: Path
    name: Name = "hub"
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 7700  # 0: any free port (tests)
    advertise: Annotated[str, StringConstraints(pattern=r"^[^\s:]+:[0-9]{1,5}$")] | None = None
    tls: bool = True
    max_body_mb: Annotated[float, Field(gt=0, le=1024)] = 64.0
    watcher_queue: Annotated[int, Field(ge=10)] = 2000
    commit_batch: Annotated[int, Field(ge=1)] = 256
    retention: Retention = Retention()

    @property
    def max_body(self) -> int:
        """The largest frame body accepted, in bytes."""
        return int(self.max_body_mb * 1024 * 1024)


def load_config(path: Path, overrides: dict[str, object] | None = None) -> HubConfig:
    """Read `hub.toml`; a relative data_dir is taken relative to the file."""
    config = load_toml(
        path, HubConfig, {k: v for k, v in (overrides or {}).items() if v is not None}
    )
    if not config.data_dir.is_absolute():
        config = config.model_copy(update={"data_dir": (path.parent / config.data_dir)})
    return config


TEMPLATE = """\
# Vigía hub settings. Every key but data_dir is optional; shown are the defaults.
data_dir = "{data_dir}"
name = "{name}"              # the hub's name in handshakes and logs
host = "0.0.0.0"             # where to listen
port = {port}
advertise = "{advertise}"    # the address peers dial, written into their credentials
tls = true                   # plain TCP only for tests and links protected otherwise
max_body_mb = 64             # largest message body accepted (model packages)
watcher_queue = 2000         # live entries held per watcher before it catches up from disk
commit_batch = 256           # most events committed in one transaction

[retention]
max_age_days = 30            # sightings older than this are removed, oldest first
max_gb = 20                  # images may use at most this much disk, oldest removed first
min_age_s = 3600             # but nothing younger than this is ever removed
min_free_mb = 200            # below this much free disk, new events are refused (edges retry)
interval_s = 60              # how often retention runs
"""
