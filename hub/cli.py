"""The `hub` command."""

from __future__ import annotations

from wire.cli import part_parser

DESCRIPTION = """Vigía hub: keeps the log of sightings, their images and the models; feeds watchers.

One TCP port (7700) for every peer, TLS and per-peer secrets; SQLite in WAL mode with one
writer thread. Its subcommands (init, add-peer, peers, revoke, serve, export) arrive with
issue 3; see docs/architecture.md."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hub` command."""
    parser = part_parser("hub", DESCRIPTION)
    parser.parse_args(argv)
    parser.print_help()
    return 0
