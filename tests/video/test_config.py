"""video.toml: the documented example is valid, defaults fill in, scene settings reach scenes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from video.app import scene_options, stream_options
from video.config import CameraConfig, VideoConfig
from wire.config import validate

DOC = Path(__file__).parents[2] / "docs" / "video.md"


def _documented_example() -> VideoConfig:
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/video.md lost its video.toml example"
    return validate(VideoConfig, tomllib.loads(block.group(1)), "docs/video.md")


def test_the_documented_example_is_a_valid_config() -> None:
    config = _documented_example()
    assert [c.name for c in config.camera] == ["door", "lobby", "yard"]
    assert config.server.port == 8554


def test_the_documented_defaults_are_the_real_defaults() -> None:
    documented = _documented_example()
    assert documented.server == VideoConfig().server
    assert documented.defaults == VideoConfig().defaults


def test_a_camera_takes_defaults_and_a_files_own_rate() -> None:
    config = _documented_example()
    door, lobby, yard = config.camera
    assert stream_options(door, config, natural_fps=25.0).fps == 25.0
    assert stream_options(lobby, config, natural_fps=None).fps == 5
    assert stream_options(yard, config, natural_fps=None).overlay is True
    assert stream_options(door, config, natural_fps=None).width == 640


def test_scene_settings_reach_each_scene_camera_with_its_own_seed() -> None:
    config = _documented_example()
    yard = config.camera[2]
    options = scene_options(yard, config, 640, 480)
    assert options is not None
    assert options.seed == 7
    assert options.visit_s == (3.0, 6.0)
    assert options.truth_path == Path("truth") / "yard.jsonl"
    other = CameraConfig(name="other", source="scene")
    other_options = scene_options(other, config, 640, 480)
    assert other_options is not None and other_options.seed == config.scene.seed
    assert scene_options(config.camera[0], config, 640, 480) is None
