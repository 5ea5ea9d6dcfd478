"""The `watcher` command."""

from __future__ import annotations

from wire.cli import part_parser

DESCRIPTION = """Vigía watcher: the live log of sightings, with photos, on a laptop.

A Tk desktop app (and a terminal mode) that subscribes to the hub and shows every
sighting with its thumbnail, class, time and camera. It arrives with issue 7; see
docs/architecture.md."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `watcher` command."""
    parser = part_parser("watcher", DESCRIPTION)
    parser.parse_args(argv)
    parser.print_help()
    return 0
