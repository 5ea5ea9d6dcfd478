"""A camera's source spec names its kind and where its pictures come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.video.sources.conftest import solid, write_image
from video.sources.base import SourceError
from video.sources.folder import FolderSource
from video.sources.open import DEFAULT_HOLD_S, open_source
from video.sources.scene import SceneOptions, SceneSource
from video.sources.testcard import TestCardSource


def test_unknown_or_incomplete_specs_name_the_allowed_ones() -> None:
    for spec in ("rtsp://camera/1", "ftp:x", "Testcard", "webcam"):
        with pytest.raises(
            SourceError, match=r"unknown source .*file:PATH.*folder:.*webcam:.*testcard.*scene"
        ):
            open_source(spec, camera="cam1", width=64, height=48)
    with pytest.raises(SourceError, match="names no path"):
        open_source("file:", camera="cam1", width=64, height=48)


def test_folder_spec_takes_an_optional_hold(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", solid(64, 48, (1, 2, 3)))
    default = open_source(f"folder:{tmp_path}", camera="cam1", width=64, height=48)
    held = open_source(f"folder:{tmp_path}?hold=0.5", camera="cam1", width=64, height=48)
    assert isinstance(default, FolderSource) and default.hold_s == DEFAULT_HOLD_S
    assert isinstance(held, FolderSource) and held.hold_s == 0.5
    with pytest.raises(SourceError, match="hold must be a number"):
        open_source(f"folder:{tmp_path}?hold=soon", camera="cam1", width=64, height=48)


def test_file_and_webcam_specs_open_their_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"clip\.avi does not exist"):
        open_source(f"file:{tmp_path / 'clip.avi'}", camera="cam1", width=64, height=48)
    with pytest.raises(SourceError, match=r"webcam /dev/video-nothing does not exist"):
        open_source("webcam:/dev/video-nothing", camera="cam1", width=64, height=48)


def test_testcard_and_scene_specs(dataset: Path) -> None:
    card = open_source("testcard", camera="cam1", width=64, height=48)
    assert isinstance(card, TestCardSource)
    with pytest.raises(SourceError, match="needs scene settings"):
        open_source("scene", camera="cam1", width=64, height=48)
    options = SceneOptions(dataset=dataset, camera="other", seed=3)
    scene = open_source("scene", camera="cam2", width=320, height=240, scene=options)
    assert isinstance(scene, SceneSource)
    # Drawn at the stream's size and named after its camera, so truth matches the stream.
    assert (scene.options.camera, scene.options.width, scene.options.height) == ("cam2", 320, 240)
    assert scene.background.shape == (240, 320, 3)
