"""The skeleton every command shares: a parser with --version and --verbose."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed vigia version."""
    try:
        return version("vigia")
    except PackageNotFoundError:
        return "0+unknown"


def part_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser for one part's command, with the flags every part has."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (vigia {package_version()})"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log debug detail as well (one line per event, on stderr)",
    )
    return parser
