"""The `watcher` command."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from watcher.config import Filters, Options, TimeError, parse_when
from watcher.i18n import PoError
from wire.cli import part_parser
from wire.config import ConfigError
from wire.logs import setup_logging

DESCRIPTION = """Vigía watcher: the live log of sightings, with photos, on a laptop.

A Tk desktop app (or, with --cli, lines in a terminal) that subscribes to the hub and shows
every sighting with its thumbnail, class, time and camera, live. It reconnects by itself and
resumes from its cursor. See docs/watcher.md.

  watcher --credential laptop.toml
  watcher --credential laptop.toml --cli --since 2h --label cat"""


def hub_address(text: str) -> str:
    """`--hub`'s value, checked: HOST:PORT."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 192.168.1.10:7700)")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    parser = part_parser("watcher", DESCRIPTION)
    parser.add_argument(
        "--credential", required=True, metavar="FILE", help="this watcher's credential file"
    )
    parser.add_argument(
        "--hub",
        metavar="HOST:PORT",
        type=hub_address,
        help="dial this address instead of the credential's",
    )
    parser.add_argument("--cli", action="store_true", help="print the log as lines, no window")
    parser.add_argument(
        "--once", action="store_true", help="with --cli: print the backlog, then stop"
    )
    parser.add_argument("--lang", choices=["en", "es"], help="language (default: the system's)")
    parser.add_argument(
        "--camera", action="append", default=[], help="only this camera (repeatable)"
    )
    parser.add_argument("--label", action="append", default=[], help="only this class (repeatable)")
    parser.add_argument(
        "--since", metavar="WHEN", help="only what ended at or after: ISO 8601 or 30m, 2h, 1d"
    )
    parser.add_argument("--until", metavar="WHEN", help="only what started at or before")
    parser.add_argument("--text", default="", help="only rows containing this text")
    return parser


def options_from(args: argparse.Namespace) -> Options:
    """Typed options from the parsed flags; TimeError or ValidationError if bad."""
    filters = Filters(
        labels=tuple(args.label),
        cameras=tuple(args.camera),
        since_ms=parse_when(args.since) if args.since else None,
        until_ms=parse_when(args.until) if args.until else None,
        text=args.text,
    )
    return Options(
        credential=args.credential,
        hub=args.hub,
        cli=args.cli,
        once=args.once,
        lang=args.lang,
        filters=filters,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `watcher` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("watcher", args.verbose)
    try:
        options = options_from(args)
    except (TimeError, ValidationError) as exc:
        parser.error(str(exc))
    from watcher.app import run_gui, run_terminal  # noqa: PLC0415 - after the flags are good

    try:
        return run_terminal(options) if options.cli else run_gui(options)
    except (ConfigError, PoError) as exc:
        print(f"watcher: error: {exc}", file=sys.stderr)
        return 2
