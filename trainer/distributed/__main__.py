"""`python -m trainer.distributed init|serve`: a worker without the `trainer` command.

python -m trainer.distributed init DATA --name pc-a --advertise 192.168.1.21:7710
python -m trainer.distributed serve DATA
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer.distributed.layout import DEFAULT_PORT, worker_init
from trainer.distributed.worker import serve_worker
from wire.cli import part_parser
from wire.config import ConfigError
from wire.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    """init and serve, with their flags."""
    parser = part_parser("python -m trainer.distributed", __doc__ or "")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="make a worker data directory and a coordinator credential")
    init.add_argument("data_dir", type=Path)
    init.add_argument("--name", required=True, help="the worker's name")
    init.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    init.add_argument("--advertise", metavar="HOST:PORT", help="the address coordinators dial")
    serve = sub.add_parser("serve", help="serve jobs until SIGTERM or Ctrl-C")
    serve.add_argument("data_dir", type=Path)
    serve.add_argument("--host", help="listen address (overrides worker.toml)")
    serve.add_argument("--port", type=int, help="listen port (overrides worker.toml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    setup_logging("trainer", args.verbose)
    try:
        if args.command == "init":
            path = worker_init(
                args.data_dir, name=args.name, port=args.port, advertise=args.advertise
            )
            print(f"worker: initialised {args.data_dir}; copy {path} to the desktop")
        else:
            serve_worker(args.data_dir, host=args.host, port=args.port)
    except (ConfigError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
