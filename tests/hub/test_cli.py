"""The `hub` command: set-up, peers, and errors that say what to do."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli import main as hub_main
from tests.hub.conftest import init_data_dir
from wire.credential import load_credential
from wire.roles import Role
from wire.tls import load_identity


def test_init_makes_a_complete_private_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "hub"
    assert (
        hub_main(
            ["init", str(root), "--name", "attic", "--port", "7710", "--advertise", "10.0.0.5:7710"]
        )
        == 0
    )
    for name in ("hub.db", "hub.toml", "tls.crt", "tls.key", "images", "models", "spool"):
        assert (root / name).exists(), name
    admin = load_credential(root / "credentials" / "admin.toml")
    assert admin.role is Role.ADMIN and admin.hub == "10.0.0.5:7710"
    assert admin.fingerprint == load_identity(root).fingerprint
    assert stat.S_IMODE((root / "credentials" / "admin.toml").stat().st_mode) == 0o600
    assert 'name = "attic"' in (root / "hub.toml").read_text()
    assert load_identity(root).fingerprint in capsys.readouterr().out


def test_init_refuses_an_existing_hub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_data_dir(tmp_path / "hub")
    assert hub_main(["init", str(tmp_path / "hub")]) == 2
    assert "already a hub data directory" in capsys.readouterr().err


def test_add_peer_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = init_data_dir(tmp_path / "hub")
    cred = load_credential(data.credentials / "edge-1.toml")
    assert (cred.name, cred.role, cred.hub) == ("edge-1", Role.EDGE, "127.0.0.1:7700")
    out = tmp_path / "handover.toml"
    assert (
        hub_main(
            ["add-peer", "cam-9", "--role", "edge", "--data", str(data.root), "--out", str(out)]
        )
        == 0
    )
    assert load_credential(out).name == "cam-9"
    assert hub_main(["add-peer", "cam-9", "--role", "edge", "--data", str(data.root)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert hub_main(["revoke", "cam-9", "--data", str(data.root)]) == 0
    assert hub_main(["revoke", "ghost", "--data", str(data.root)]) == 2
    capsys.readouterr()
    assert hub_main(["peers", "--data", str(data.root)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert any(line.split()[:4] == ["cam-9", "edge", "revoked", "never"] for line in listing)
    assert any(line.split()[:3] == ["watcher-1", "watcher", "active"] for line in listing)


def test_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub_main(["peers", "--data", str(tmp_path / "nowhere")]) == 2
    assert "hub.db is missing: is" in capsys.readouterr().err
    data = init_data_dir(tmp_path / "hub")
    settings = data.config.read_text()
    data.config.write_text(settings + "colour = 'red'\n")  # lands in [retention]
    assert hub_main(["serve", "--data", str(data.root)]) == 2
    assert (
        "unknown key 'retention.colour' (allowed: interval_s, max_age_days, max_gb, "
        "min_age_s, min_free_mb)"
    ) in capsys.readouterr().err
    data.config.write_text(settings.replace("port = 0", "port = 99999"))
    assert hub_main(["serve", "--data", str(data.root)]) == 2
    assert "bad value 99999 for 'port'" in capsys.readouterr().err


def test_every_subcommand_has_help() -> None:
    exe = Path(sys.executable).parent / "hub"
    shown = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("init", "add-peer", "peers", "revoke", "serve", "export", "models"):
        assert command in shown
        sub = subprocess.run(
            [exe, command, "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert sub.startswith(f"usage: hub {command}")
