"""Options: times as ISO 8601 or a time ago, bad ones refused with a message that says what is
allowed; `--hub` overrides the credential's address but keeps its pin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.config import Filters, Options, TimeError, parse_when
from wire.credential import Credential
from wire.roles import Role

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_times() -> None:
    noon = int(NOW.timestamp() * 1000)
    assert parse_when("2026-11-24T12:00", NOW) == noon
    assert parse_when("2026-11-24T13:00+01:00", NOW) == noon
    assert parse_when("2026-11-24", NOW) == noon - 12 * 3_600_000
    assert parse_when("2h", NOW) == noon - 2 * 3_600_000
    assert parse_when("30m", NOW) == noon - 30 * 60_000
    assert parse_when("1d", NOW) == noon - 86_400_000


def test_a_bad_time_says_what_is_allowed() -> None:
    with pytest.raises(TimeError, match=r"'yesterday'.*ISO 8601.*2h"):
        parse_when("yesterday", NOW)


def test_hub_override_keeps_the_pin() -> None:
    cred = Credential(
        name="laptop",
        role=Role.WATCHER,
        hub="10.0.0.1:7700",
        fingerprint="sha256:" + "a" * 64,
        secret="b" * 64,
    )
    assert str(Options(credential=Path("c.toml")).endpoint(cred)) == "10.0.0.1:7700"
    moved = Options(credential=Path("c.toml"), hub="127.0.0.1:9000").endpoint(cred)
    assert (moved.host, moved.port, moved.fingerprint) == ("127.0.0.1", 9000, cred.fingerprint)


def test_no_filters_admit_everything() -> None:
    assert Filters().none and not Filters(text="cat").none
