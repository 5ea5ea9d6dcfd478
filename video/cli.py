"""The `video` command."""

from __future__ import annotations

from wire.cli import part_parser

DESCRIPTION = """Vigía video server: stands in for IP cameras by serving RTSP streams.

Serves RTSP/RTP (RFC 2326, RTP/JPEG) from video files, image folders, webcams and
generated scenes that log their ground truth, one path per camera. Its subcommands
(serve, list) arrive with issue 4; see docs/architecture.md."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `video` command."""
    parser = part_parser("video", DESCRIPTION)
    parser.parse_args(argv)
    parser.print_help()
    return 0
