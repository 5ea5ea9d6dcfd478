"""The `edge` command."""

from __future__ import annotations

from wire.cli import part_parser

DESCRIPTION = """Vigía edge: runs the int8 model on every camera's frames and reports each sighting.

Reads cameras (RTSP, picamera2, V4L2, files), gates by motion, classifies with LiteRT,
tracks objects into events and delivers them to the hub through an on-disk spool. Its
subcommands (run, check) arrive with issue 6; see docs/architecture.md."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `edge` command."""
    parser = part_parser("edge", DESCRIPTION)
    parser.parse_args(argv)
    parser.print_help()
    return 0
