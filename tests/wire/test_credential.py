"""Credential files and TOML settings: round trip, privacy, and errors that name the key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wire.auth import new_secret
from wire.config import ConfigError, Settings, load_toml
from wire.credential import Credential, load_credential, save_credential
from wire.roles import Role

FINGERPRINT = "sha256:" + "ab" * 32


def _credential() -> Credential:
    return Credential(
        name="edge-kitchen",
        role=Role.EDGE,
        hub="192.168.1.10:7700",
        fingerprint=FINGERPRINT,
        secret=new_secret(),
    )


def test_round_trip_and_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "edge-kitchen.toml"
    cred = _credential()
    save_credential(path, cred)
    assert load_credential(path) == cred
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    endpoint = load_credential(path).endpoint()
    assert (endpoint.host, endpoint.port, endpoint.fingerprint) == (
        "192.168.1.10",
        7700,
        FINGERPRINT,
    )


def test_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    save_credential(path, _credential())
    with pytest.raises(FileExistsError):
        save_credential(path, _credential())


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('colour = "red"', "unknown key 'colour' (allowed: fingerprint, hub, name, role, secret)"),
        ('role = "boss"', "bad value 'boss' for 'role'"),
        ('hub = "no-port"', "bad value 'no-port' for 'hub'"),
        ('fingerprint = "md5:00"', "bad value 'md5:00' for 'fingerprint'"),
    ],
)
def test_bad_keys_and_values_are_named(tmp_path: Path, line: str, words: str) -> None:
    good = tmp_path / "good.toml"
    save_credential(good, _credential())
    key = line.split(" = ", maxsplit=1)[0]
    kept = [row for row in good.read_text().splitlines() if not row.startswith(f"{key} =")]
    bad = tmp_path / "bad.toml"
    bad.write_text("\n".join([*kept, line]) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_credential(bad)
    assert str(caught.value).startswith(f"{bad}: ")
    assert words in str(caught.value)


def test_missing_key_and_broken_files(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('name = "x"\n')
    with pytest.raises(ConfigError, match="missing key 'role'"):
        load_credential(path)
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_credential(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_credential(tmp_path / "absent.toml")


class Knobs(Settings):
    port: int = 7700
    name: str = "hub"


def test_command_line_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('port = 7800\nname = "attic"\n')
    assert load_toml(path, Knobs, {"port": 9000}) == Knobs(port=9000, name="attic")
