"""The `video` command: serve cameras over RTSP, or list their URLs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from video.app import build_server, camera_url, serve_forever
from video.config import CameraConfig, VideoConfig, scene_cameras
from video.sources.base import SourceError
from wire.cli import part_parser
from wire.config import ConfigError, load_toml, validate
from wire.logs import setup_logging

log = logging.getLogger("vigia.video.cli")

DESCRIPTION = """Vigía video server: stands in for IP cameras by serving RTSP streams.

RTSP 1.0 with RTP/JPEG over TCP or UDP, one path per camera, from video files, image folders,
webcams, a test card, or generated scenes that log their ground truth. For example:

  video serve --scenes /srv/datasets/fashion-mnist/test --cameras 8
  video serve --camera door=file:door.mp4 --camera card=testcard
  video serve --config video.toml
  video list --scenes /srv/datasets/fashion-mnist/test --cameras 8

See docs/video.md."""


def build_parser() -> argparse.ArgumentParser:
    """Both subcommands take the same camera options: `list` shows what `serve` would serve."""
    parser = part_parser("video", DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("serve", "serve the cameras until SIGTERM or Ctrl-C"),
        ("list", "print each camera's RTSP URL"),
    ):
        _camera_options(sub.add_parser(name, help=text, description=text))
    return parser


def _camera_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, help="video.toml with a [[camera]] table per camera")
    cmd.add_argument(
        "--scenes",
        type=Path,
        metavar="DATASET_DIR",
        help="add generated scene cameras with objects from this folder per class",
    )
    cmd.add_argument(
        "--cameras",
        type=int,
        default=1,
        metavar="N",
        help="how many scene cameras --scenes adds (cam1..camN; default 1)",
    )
    cmd.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="NAME=SOURCE",
        help="add a camera: SOURCE is file:PATH, folder:PATH, webcam:DEVICE, "
        "testcard or scene (repeatable)",
    )
    cmd.add_argument(
        "--truth",
        type=Path,
        metavar="DIR",
        help="where scene cameras write ground truth (default: ./truth)",
    )
    cmd.add_argument("--seed", type=int, help="seed of the first scene camera (default 1)")
    cmd.add_argument(
        "--rate",
        type=float,
        metavar="VISITS_PER_MIN",
        help="how often objects pass each scene camera (default 6 a minute)",
    )
    cmd.add_argument("--fps", type=float, help="frames per second (default 10)")
    cmd.add_argument("--size", metavar="WxH", help="frame size, multiples of 16 (default 640x480)")
    cmd.add_argument("--quality", type=int, help="JPEG quality 10-100 (default 80)")
    cmd.add_argument("--overlay", action="store_true", help="draw camera name and time")
    cmd.add_argument("--host", help="listen address (default 0.0.0.0)")
    cmd.add_argument("--port", type=int, help="RTSP port (default 8554)")
    cmd.add_argument("--rtp-port", type=int, help="first of the RTP/RTCP UDP pair (default 8000)")


def load_config(args: argparse.Namespace) -> VideoConfig:
    """video.toml (if given) with the command line's cameras and overrides on top."""
    base = load_toml(args.config, VideoConfig) if args.config else VideoConfig()
    data: dict[str, Any] = base.model_dump(exclude_defaults=True)
    for table, values in _overrides(args).items():
        data[table] = {**data.get(table, {}), **values}
    cameras = [c.model_dump(exclude_defaults=True) for c in base.camera]
    cameras += [c.model_dump(exclude_defaults=True) for c in _cli_cameras(args)]
    data["camera"] = cameras
    config = validate(VideoConfig, data, "command line")
    if not config.camera:
        raise ConfigError("no cameras: give --scenes DIR, --camera NAME=SOURCE or --config FILE")
    return config


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Flags that were given, by the config table they override."""
    size = _size(args.size) if args.size else {}
    tables = {
        "server": {"host": args.host, "port": args.port, "rtp_port": args.rtp_port},
        "defaults": {
            "fps": args.fps,
            "quality": args.quality,
            **size,
            "overlay": True if args.overlay else None,
        },
        "scene": {
            "dataset": args.scenes,
            "truth_dir": args.truth,
            "seed": args.seed,
            "visits_per_min": args.rate,
        },
    }
    return {t: {k: v for k, v in vals.items() if v is not None} for t, vals in tables.items()}


def _size(text: str) -> dict[str, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ConfigError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 640x480")
    return {"width": int(width), "height": int(height)}


def _cli_cameras(args: argparse.Namespace) -> list[CameraConfig]:
    cameras = []
    if args.scenes is not None:
        cameras += scene_cameras(args.cameras, first_seed=args.seed or 1)
    for spec in args.camera:
        name, sep, source = spec.partition("=")
        if not sep or not source:
            raise ConfigError(f"--camera {spec!r}: expected NAME=SOURCE, e.g. door=file:door.mp4")
        cameras.append(CameraConfig(name=name, source=source))
    return cameras


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `video` command."""
    args = build_parser().parse_args(argv)
    setup_logging("video", args.verbose)
    try:
        config = load_config(args)
        if args.command == "list":
            for camera in config.camera:
                where = camera_url(config.server.host, config.server.port, camera.name)
                print(f"{camera.name}\t{where}")
            return 0
        server = build_server(config)
    except (ConfigError, SourceError, OSError, ValueError) as exc:
        print(f"video: {exc}", file=sys.stderr)
        return 2
    for camera in config.camera:
        log.info("%s at %s", camera.name, camera_url(*server.address, camera.name))
    serve_forever(server)
    return 0
