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
    assert config.node.opencv_threads == EdgeConfig().node.opencv_threads == 1


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


def test_the_node_settings_reach_the_hub_link_and_opencv(tmp_path: Path) -> None:
    import cv2  # noqa: PLC0415

    from edge.app import Edge  # noqa: PLC0415
    from edge.config import load_config  # noqa: PLC0415
    from hub.cli import main as hub_main  # noqa: PLC0415
    from wire.package import new_key, save_keys  # noqa: PLC0415

    data = tmp_path / "hub"
    assert hub_main(["init", str(data), "--advertise", "127.0.0.1:7700"]) == 0
    assert hub_main(["add-peer", "edge-1", "--role", "edge", "--data", str(data)]) == 0
    save_keys(new_key(), tmp_path / "trainer.key", tmp_path / "trainer.pub")
    node = (
        f'[node]\ncredential = "{data / "credentials" / "edge-1.toml"}"\n'
        f'trainer_key = "{tmp_path / "trainer.pub"}"\ndata_dir = "{tmp_path / "data"}"\n'
    )
    path = tmp_path / "edge.toml"
    cv2.setNumThreads(-1)
    default_threads = cv2.getNumThreads()
    try:
        path.write_text(node + "status_interval_s = 2.5\n")
        edge = Edge(load_config(path))
        assert edge.uplink.options.status_interval_s == 2.5  # the status goes out that often
        assert cv2.getNumThreads() == 1  # the default: OpenCV's pool off
        path.write_text(node + "opencv_threads = 0\n")
        edge = Edge(load_config(path))
        assert edge.uplink.options.status_interval_s == 5.0
        assert cv2.getNumThreads() == default_threads  # 0: OpenCV's own choice
    finally:
        cv2.setNumThreads(-1)


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


def test_edge_check_opens_each_camera_and_says_what_the_model_sees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from tests.edge.models.packages import make_package  # noqa: PLC0415
    from wire.package import new_key, save_keys  # noqa: PLC0415

    key = new_key()
    save_keys(key, tmp_path / "trainer.key", tmp_path / "trainer.pub")
    package = make_package(tmp_path / "m.vpkg", key, version="check-1")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(5):
        writer.write(np.full((48, 64, 3), 200, np.uint8))
    writer.release()
    config = tmp_path / "edge.toml"
    config.write_text(
        f'[node]\ntrainer_key = "{tmp_path / "trainer.pub"}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'model = "{package}"\n\n[[camera]]\nname = "clip"\nurl = "file:{video}"\n\n'
        f'[[camera]]\nname = "gone"\nurl = "file:{tmp_path / "missing.avi"}"\n'
    )
    assert main(["check", "--config", str(config)]) == 1  # the second camera fails
    said = capsys.readouterr().out
    assert "model: check-1, 3 classes" in said
    assert re.search(r"camera clip: 64x48 frame; the model sees (cat|dog|person) \(0\.\d\d\)", said)
    assert "camera gone: FAILED" in said
