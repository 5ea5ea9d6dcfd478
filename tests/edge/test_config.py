"""edge.toml: the documented example is valid, its defaults are the real ones, cameras take
[defaults] with their own overrides, and mistakes are named."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import EdgeConfig, pipeline_options, vision_of
from wire.config import validate

DOC = Path(__file__).parents[2] / "docs" / "edge.md"


def _documented() -> EdgeConfig:
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/edge.md lost its edge.toml example"
    return validate(EdgeConfig, tomllib.loads(block.group(1)), "docs/edge.md")


def test_the_documented_example_is_valid_and_shows_the_real_defaults() -> None:
    config = _documented()
    assert [c.name for c in config.camera] == ["door", "yard"]
    for table in ("spool", "inference", "defaults"):
        assert getattr(config, table) == getattr(EdgeConfig(), table), table
    assert config.node.status_interval_s == EdgeConfig().node.status_interval_s


def test_a_camera_overrides_its_defaults_and_keeps_the_rest() -> None:
    config = _documented()
    door, yard = config.camera
    assert vision_of(config, door).fps_limit == 5.0
    assert vision_of(config, yard).fps_limit == config.defaults.fps_limit
    options = pipeline_options(config, door)
    assert options.motion.min_area == 900
    assert options.motion.masks == (((0, 0), (640, 0), (640, 60), (0, 60)),)
    assert options.tracker.min_frames == config.defaults.min_frames


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[defaults]\nfps_limt = 5\n', "defaults.fps_limt"),
        ('[[camera]]\nname = "a"\nurl = "gopher://x"\n', "gopher"),
        ('[[camera]]\nname = "a"\nurl = "file:x"\nvision = { fps = 3 }\n', "unknown vision"),
        ('[[camera]]\nname = "a"\nurl = "file:x"\n[[camera]]\nname = "a"\nurl = "file:y"\n',
         "repeated: a"),
        ('[thresholds]\ncat = 1.5\n', "thresholds.cat"),
    ],
)  # fmt: skip
def test_edge_check_config_only_names_the_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, named: str
) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(toml)
    assert main(["check", "--config-only", "--config", str(path)]) == 2
    assert named in capsys.readouterr().err


def test_edge_check_config_only_accepts_the_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    path = tmp_path / "edge.toml"
    path.write_text(block.group(1))
    assert main(["check", "--config-only", "--config", str(path)]) == 0
    assert "2 camera(s)" in capsys.readouterr().out


def test_enroll_installs_an_edge_credential_privately_and_refuses_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.cli import main as hub_main  # noqa: PLC0415

    data = tmp_path / "hub"
    assert hub_main(["init", str(data), "--advertise", "127.0.0.1:7700"]) == 0
    for name, role in (("edge-door", "edge"), ("watch", "watcher")):
        assert hub_main(["add-peer", name, "--role", role, "--data", str(data)]) == 0
    target = tmp_path / "etc" / "credential.toml"
    config = tmp_path / "edge.toml"
    config.write_text(f'[node]\ncredential = "{target}"\n')
    credentials = data / "credentials"
    assert main(["enroll", str(credentials / "watch.toml"), "--config", str(config)]) == 2
    assert "not an edge's" in capsys.readouterr().err
    assert main(["enroll", str(credentials / "edge-door.toml"), "--config", str(config)]) == 0
    assert target.read_bytes() == (credentials / "edge-door.toml").read_bytes()
    assert target.stat().st_mode & 0o777 == 0o600
