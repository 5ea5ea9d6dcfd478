"""The watcher's options, typed: where the hub is, who we are, what to show and in which
language. Filters are shared by the desktop app (applied locally, changed at will) and the
terminal mode (cameras, labels and times also go to the hub in `subscribe`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wire.client import Endpoint
from wire.credential import Credential, HubAddress

RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
DEFAULT_LANG = "en"
LANGUAGES = ("en", "es")


class TimeError(ValueError):
    """A date or time the watcher cannot read."""


def parse_when(text: str, now: datetime | None = None) -> int:
    """Milliseconds since the epoch for `text`: ISO 8601 (a date, or a date and time; UTC
    unless it carries an offset) or a time ago such as `30m`, `2h`, `1d`."""
    text = text.strip()
    now = now or datetime.now(UTC)
    relative = RELATIVE.match(text)
    if relative:
        ago = timedelta(**{UNITS[relative.group(2)]: int(relative.group(1))})
        return int((now - ago).timestamp() * 1000)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise TimeError(
            f"cannot read the time {text!r}: use ISO 8601 (2026-11-24 or "
            "2026-11-24T18:00, UTC unless it has an offset) or a time ago (45s, 30m, 2h, 1d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


class Filters(BaseModel):
    """What to show: classes, cameras, a time range (ms, UTC) and a text to look for.
    Empty means everything; `since_ms` admits what ended at or after it and `until_ms` what
    started at or before it, as the hub's own filters do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None
    text: str = ""

    @property
    def none(self) -> bool:
        """True when the filters admit everything."""
        return self == Filters()


class Options(BaseModel):
    """Everything the `watcher` command was told."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credential: Path
    hub: HubAddress | None = None  # overrides the credential's address
    cli: bool = False
    once: bool = False  # terminal mode: print the backlog and stop at `caught_up`
    lang: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] | None = None
    filters: Filters = Filters()
    cache_thumbnails: Annotated[int, Field(ge=16)] = 2000

    def endpoint(self, credential: Credential) -> Endpoint:
        """The hub to dial: `--hub` if given, else the credential's, with its pin."""
        if self.hub is None:
            return credential.endpoint()
        host, port = self.hub.rsplit(":", 1)
        return Endpoint(host, int(port), credential.fingerprint)
