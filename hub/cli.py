"""The `hub` command: set up a hub, manage its peers and models, serve, export the log."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from hub.app import Hub
from hub.config import TEMPLATE, HubConfig, load_config
from hub.datadir import DataDir
from hub.db import Filters, Reader, connect
from hub.export import export, parse_time
from hub.peers import PeerExists, UnknownPeer, add_peer, list_peers, revoke_peer
from hub.registry import delete_model, model_list
from wire.cli import part_parser
from wire.config import ConfigError
from wire.credential import Credential, save_credential
from wire.logs import setup_logging
from wire.roles import Role
from wire.tls import create_identity, load_identity

log = logging.getLogger("vigia.hub")

DESCRIPTION = """Vigía hub: keeps the log of sightings, their images and the models; feeds watchers.

One TCP port (7700) for every peer, TLS and per-peer secrets; SQLite in WAL mode with one
writer thread; images as files. A first set-up:

  hub init /var/lib/vigia/hub --advertise 192.168.1.10:7700
  hub add-peer edge-kitchen --role edge --data /var/lib/vigia/hub
  hub serve --data /var/lib/vigia/hub

Every command takes the data directory with --data (or $VIGIA_HUB_DATA)."""


def _data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=os.environ.get("VIGIA_HUB_DATA"),
        help="the hub's data directory (default: $VIGIA_HUB_DATA)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and flag, with its help."""
    parser = part_parser("hub", DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="create a data directory, TLS identity and admin")
    init.add_argument("data_dir", type=Path, help="the directory to create")
    init.add_argument("--name", default="hub", help="the hub's name (default: hub)")
    init.add_argument("--port", type=int, default=7700, help="port to listen on (default: 7700)")
    init.add_argument(
        "--advertise",
        metavar="HOST:PORT",
        help="address peers dial, written into credentials (default: this host's name, --port)",
    )
    add = sub.add_parser("add-peer", help="register a peer and write its credential file")
    add.add_argument("name", help="the peer's name (letters, digits, . _ -)")
    add.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help="what the peer may do"
    )
    add.add_argument(
        "--out",
        type=Path,
        help="where to write the credential (default: DATA/credentials/NAME.toml)",
    )
    _data_arg(add)
    _data_arg(sub.add_parser("peers", help="list peers, their roles and when last seen"))
    revoke = sub.add_parser("revoke", help="revoke a peer; a running hub cuts it within 1 s")
    revoke.add_argument("name", help="the peer to revoke")
    _data_arg(revoke)
    serve = sub.add_parser("serve", help="run the hub until SIGTERM or Ctrl-C")
    serve.add_argument("--config", type=Path, help="hub.toml (default: DATA/hub.toml)")
    serve.add_argument("--host", help="listen address (overrides the config)")
    serve.add_argument("--port", type=int, help="listen port (overrides the config)")
    _data_arg(serve)
    _export_parser(sub)
    models = sub.add_parser("models", help="list stored model versions, or delete one")
    models.add_argument("--delete", metavar="VERSION", help="remove this version for good")
    _data_arg(models)
    return parser


def _export_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export_cmd = sub.add_parser("export", help="write the log as CSV or JSON lines")
    export_cmd.add_argument("--since", help="from this ISO 8601 date/time (UTC by default)")
    export_cmd.add_argument("--until", help="up to this ISO 8601 date/time")
    export_cmd.add_argument(
        "--format", choices=["csv", "jsonl"], default="csv", help="output format (default: csv)"
    )
    export_cmd.add_argument(
        "--camera", action="append", default=[], help="only this camera (repeatable)"
    )
    export_cmd.add_argument(
        "--label", action="append", default=[], help="only this label (repeatable)"
    )
    export_cmd.add_argument("--images", type=Path, help="also copy the images into this folder")
    export_cmd.add_argument("--out", type=Path, help="write here instead of standard output")
    _data_arg(export_cmd)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hub` command."""
    args = build_parser().parse_args(argv)
    setup_logging("hub", args.verbose)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "init": cmd_init,
        "add-peer": cmd_add_peer,
        "peers": cmd_peers,
        "revoke": cmd_revoke,
        "serve": cmd_serve,
        "export": cmd_export,
        "models": cmd_models,
    }
    try:
        if args.command not in {"init", "serve"} and args.data is None:
            raise ConfigError("no data directory: pass --data DIR or set VIGIA_HUB_DATA")
        return commands[args.command](args)
    except (ConfigError, FileNotFoundError, FileExistsError, PeerExists, ValueError) as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hub export | head`: the reader has all it wanted
        sys.stderr.close()
        return 0
    except (UnknownPeer, KeyError) as exc:
        print(
            f"hub: no such {'peer' if isinstance(exc, UnknownPeer) else 'thing'}: {exc.args[0]}",
            file=sys.stderr,
        )
        return 2


def cmd_init(args: argparse.Namespace) -> int:
    """Create the data directory, settings, database, TLS identity and an admin credential."""
    data = DataDir(args.data_dir.resolve())
    if data.database.exists():
        raise FileExistsError(f"{data.root} is already a hub data directory")
    data.make_tree()
    advertise = args.advertise or f"{socket.gethostname()}:{args.port}"
    data.config.write_text(
        TEMPLATE.format(data_dir=data.root, name=args.name, port=args.port, advertise=advertise)
    )
    connect(data.database).close()
    identity = create_identity(data.root, args.name)
    cred = _write_credential(data, "admin", Role.ADMIN, None)
    print(f"hub: initialised {data.root}")
    print(f"hub: certificate pin {identity.fingerprint}")
    print(f"hub: admin credential {cred}")
    return 0


def _write_credential(data: DataDir, name: str, role: Role, out: Path | None) -> Path:
    config = load_config(data.config)
    record = add_peer(data.database, name, role)
    cred = Credential(
        name=name,
        role=role,
        hub=config.advertise or f"{socket.gethostname()}:{config.port}",
        fingerprint=load_identity(data.root).fingerprint,
        secret=record.secret,
    )
    path = out or data.credentials / f"{name}.toml"
    save_credential(path, cred)
    return path


def cmd_add_peer(args: argparse.Namespace) -> int:
    """Register a peer; write the credential file to hand to it."""
    data = DataDir(args.data)
    data.check()
    path = _write_credential(data, args.name, Role(args.role), args.out)
    print(f"hub: added {args.role} '{args.name}'; hand over {path} (it holds a secret)")
    return 0


def cmd_peers(args: argparse.Namespace) -> int:
    """Print one line per peer."""
    data = DataDir(args.data)
    data.check()
    print(f"{'name':24} {'role':8} {'state':8} {'last seen (UTC)':20} model")
    for peer in list_peers(data.database):
        seen = _when(peer.last_seen_ms) if peer.last_seen_ms else "never"
        state = "revoked" if peer.revoked else "active"
        print(f"{peer.name:24} {peer.role.value:8} {state:8} {seen:20} {peer.model or '-'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke a peer."""
    data = DataDir(args.data)
    data.check()
    revoke_peer(data.database, args.name)
    print(f"hub: revoked '{args.name}'; a running hub cuts its connections within a second")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the hub in the foreground."""
    if args.config is None and args.data is None:
        raise ConfigError("no configuration: pass --config hub.toml or --data DIR")
    path = args.config or DataDir(args.data).config
    config: HubConfig = load_config(path, {"host": args.host, "port": args.port})
    Hub(config).serve_forever()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export the log."""
    data = DataDir(args.data)
    data.check()
    filters = Filters(
        tuple(args.camera),
        tuple(args.label),
        parse_time(args.since) if args.since else None,
        parse_time(args.until) if args.until else None,
    )
    reader = Reader(data.database)
    if args.out is None:
        count = export(reader, data.root, filters, args.format, sys.stdout, images=args.images)
    else:
        with args.out.open("w", newline="", encoding="utf-8") as out:
            count = export(reader, data.root, filters, args.format, out, images=args.images)
    print(f"hub: exported {count} entries", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List or delete model versions."""
    data = DataDir(args.data)
    data.check()
    if args.delete:
        delete_model(data, args.delete)
        print(f"hub: deleted model {args.delete}")
        return 0
    print(f"{'version':24} {'bytes':>12} {'uploaded (UTC)':20} sha256")
    for entry in model_list(Reader(data.database)).models:
        print(f"{entry.version:24} {entry.size:12d} {_when(entry.uploaded_ms):20} {entry.sha256}")
    return 0


def _when(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
