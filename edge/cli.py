"""The `edge` command: run the node, check a config, enroll with a hub."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import threading
from pathlib import Path

from wire.cli import part_parser
from wire.config import ConfigError
from wire.logs import setup_logging

log = logging.getLogger("vigia.edge")

DESCRIPTION = """Vigía edge: runs the int8 model on every camera's frames and reports each sighting.

Reads cameras (rtsp://, picamera2:N, v4l2:/dev/videoN, file:PATH), gates by motion, classifies
with LiteRT, tracks objects into one event per visit and delivers them to the hub through an
on-disk spool. Models arrive signed from the hub and swap in without stopping a camera.

  edge enroll edge-door.toml --config /etc/vigia/edge.toml   # the credential from the hub
  edge check --config /etc/vigia/edge.toml                   # cameras, model, one frame each
  edge run --config /etc/vigia/edge.toml                     # until SIGTERM (systemd-ready)

See docs/edge.md."""

DEFAULT_CONFIG = Path("/etc/vigia/edge.toml")


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its flags."""
    parser = part_parser("edge", DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="watch the cameras and report sightings until SIGTERM")
    check = sub.add_parser("check", help="validate the config, open each camera, load the model")
    check.add_argument(
        "--config-only", action="store_true", help="only validate edge.toml (no cameras, model)"
    )
    enroll = sub.add_parser("enroll", help="install the credential `hub add-peer` wrote")
    enroll.add_argument("credential", type=Path)
    for cmd in (run, check, enroll):
        cmd.add_argument(
            "--config",
            type=Path,
            default=Path(os.environ.get("VIGIA_EDGE_CONFIG", DEFAULT_CONFIG)),
            help=f"edge.toml (default: $VIGIA_EDGE_CONFIG or {DEFAULT_CONFIG})",
        )
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """edge run: until SIGTERM or SIGINT, with systemd READY and WATCHDOG notifications."""
    from edge.app import Edge  # noqa: PLC0415 - OpenCV and LiteRT load only for the commands
    from edge.config import load_config  # noqa: PLC0415
    from edge.system.notify import Notifier, start_watchdog  # noqa: PLC0415
    from edge.system.signals import stop_on_signals  # noqa: PLC0415

    edge = Edge(load_config(args.config))
    stop = threading.Event()
    restore = stop_on_signals(stop)
    notifier = Notifier()
    edge.start()
    notifier.ready()
    watchdog = start_watchdog(notifier, edge.healthy)
    try:
        stop.wait()
    finally:
        notifier.stopping()
        if watchdog is not None:
            watchdog.stop()
        edge.stop()
        restore()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """edge check: what the edge would see, without starting it."""
    from edge.check import check  # noqa: PLC0415
    from edge.config import load_config  # noqa: PLC0415

    config = load_config(args.config)
    print(f"edge: {args.config} is valid: {len(config.camera)} camera(s)")
    if args.config_only:
        return 0
    return check(config, sys.stdout)


def cmd_enroll(args: argparse.Namespace) -> int:
    """edge enroll: check the credential is an edge's, then install it (mode 0600)."""
    from edge.config import load_config  # noqa: PLC0415
    from wire.credential import load_credential  # noqa: PLC0415

    credential = load_credential(args.credential)
    if credential.role.value != "edge":
        raise ConfigError(
            f"{args.credential}: a {credential.role.value}'s credential, not an edge's"
        )
    target = load_config(args.config).node.credential
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.credential, target)
    target.chmod(0o600)
    print(f"edge: enrolled as {credential.name} with the hub at {credential.hub}; wrote {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `edge` command."""
    args = build_parser().parse_args(argv)
    setup_logging("edge", args.verbose)
    handlers = {"run": cmd_run, "check": cmd_check, "enroll": cmd_enroll}
    try:
        return handlers[args.command](args)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"edge: {exc}", file=sys.stderr)
        return 2
