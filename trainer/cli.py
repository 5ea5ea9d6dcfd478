"""The `trainer` command: datasets, training, signing keys, packages, and the fleet's models.

TensorFlow is imported only by the subcommands that train or export, so the others (and
`--help`) answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from trainer import hubclient, publish
from trainer.dataset.layout import DatasetError
from wire.cli import part_parser
from wire.config import ConfigError
from wire.errors import WireError
from wire.logs import setup_logging
from wire.package import PackageError

DESCRIPTION = """Vigía trainer: learns n classes by transfer learning and pushes signed int8 models.

A dataset is a folder with one subfolder per class. A first model, start to finish:

  trainer keygen                                   # the signing key pair, once
  trainer dataset import fashion-mnist ~/data/fmnist
  trainer dataset check ~/data/fmnist
  trainer train ~/data/fmnist --out fmnist.vpkg    # add --workers pcA,pcB to spread it
  trainer verify fmnist.vpkg
  trainer push-model fmnist.vpkg --hub 192.168.1.10:7700
  trainer models

See docs/training.md."""

Handler = Callable[[argparse.Namespace], int]


def _hub_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--hub", metavar="HOST:PORT", help="the hub (default: the credential's)")
    cmd.add_argument(
        "--credential",
        type=Path,
        help="the trainer's credential from `hub add-peer --role trainer` "
        f"(default: ${hubclient.CREDENTIAL_ENV} or {hubclient.DEFAULT_CREDENTIAL})",
    )


def _key_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--keys",
        type=Path,
        help=f"folder of trainer.key and trainer.pub (default: ${publish.KEY_DIR_ENV} "
        f"or {publish.DEFAULT_KEY_DIR})",
    )


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its flags."""
    parser = part_parser("trainer", DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _dataset_parser(sub)
    _train_parser(sub)
    _worker_parser(sub)
    stock = sub.add_parser("stock-model", help="the ImageNet 1000-class model as an int8 package")
    stock.add_argument("--out", type=Path, required=True, help="the package to write")
    stock.add_argument("--size", type=int, default=224, choices=[224, 160, 128, 96])
    stock.add_argument("--version", help="its version (default: imagenet-SIZE-DATE)")
    _key_option(stock)
    _key_option(sub.add_parser("keygen", help="make the signing key pair (trainer.key, .pub)"))
    verify = sub.add_parser("verify", help="check a package's signature and hashes")
    verify.add_argument("package", type=Path)
    _key_option(verify)
    push = sub.add_parser("push-model", help="upload a package to the hub and assign it")
    push.add_argument("package", type=Path)
    push.add_argument(
        "--edge", action="append", default=[], metavar="NAME", help="only this edge (repeatable)"
    )
    _hub_options(push)
    _key_option(push)
    _hub_options(sub.add_parser("models", help="the hub's versions and which edge runs which"))
    assign = sub.add_parser("assign", help="run a stored version (an older one rolls back)")
    assign.add_argument("version")
    assign.add_argument(
        "--edge", action="append", default=[], metavar="NAME", help="only this edge (repeatable)"
    )
    _hub_options(assign)
    return parser


def _dataset_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dataset = sub.add_parser("dataset", help="check a dataset folder, or import one")
    verbs = dataset.add_subparsers(dest="verb", required=True, metavar="VERB")
    check = verbs.add_parser("check", help="counts, unreadable files, duplicates, imbalance")
    check.add_argument("folder", type=Path)
    imp = verbs.add_parser("import", help="write a known dataset as one folder per class")
    imp.add_argument("name", choices=["fashion-mnist"], help="the dataset")
    imp.add_argument("folder", type=Path, help="where to write it (train/ and test/)")
    imp.add_argument("--source", type=Path, help="the Debian package's files (default: its path)")
    imp.add_argument("--limit", type=int, help="at most N images per class and half")
    imp.add_argument("--overwrite", action="store_true", help="replace an earlier import")


def _train_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = sub.add_parser("train", help="learn a dataset's classes; write a signed int8 package")
    train.add_argument("dataset", type=Path, help="a folder with one subfolder per class")
    train.add_argument("--out", type=Path, required=True, help="the package to write (.vpkg)")
    train.add_argument("--config", type=Path, help="train.toml with any TrainSpec setting")
    train.add_argument("--version", help="the model's version (default: DATASET-DATE-TIME)")
    train.add_argument("--size", type=int, choices=[224, 160, 128, 96], help="input size")
    train.add_argument("--epochs", type=int, help="epochs of the new head (backbone frozen)")
    train.add_argument("--finetune-epochs", type=int, help="epochs with the top blocks unfrozen")
    train.add_argument("--finetune-blocks", type=int, help="how many top blocks to unfreeze")
    train.add_argument(
        "--finetune-on",
        choices=["images", "cache"],
        help="fine-tune on augmented images, or on cached activations (fast, one machine)",
    )
    train.add_argument("--batch", type=int, help="batch size")
    train.add_argument("--seed", type=int, help="seed of the split, augmentation and init")
    train.add_argument("--max-per-class", type=int, help="at most N training images per class")
    train.add_argument("--no-augment", action="store_true", help="no augmentation")
    train.add_argument(
        "--workers", help="train on these LAN workers (names of credentials in --workers-dir)"
    )
    train.add_argument("--workers-dir", type=Path, help="default ~/.config/vigia/workers")
    train.add_argument(
        "--rejoin-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for a dead worker before going on without it",
    )
    train.add_argument("--workdir", type=Path, help="report and weights (default: OUT.d/)")
    train.add_argument("--cache-dir", type=Path, help="embeddings cache (~/.cache/vigia)")
    _key_option(train)


def _worker_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="a LAN PC that trains jobs (port 7710)")
    verbs = worker.add_subparsers(dest="verb", required=True, metavar="VERB")
    init = verbs.add_parser("init", help="make its data folder and the trainer's credential")
    init.add_argument("data", type=Path)
    init.add_argument("--name", required=True, help="the worker's name, e.g. pc-a")
    init.add_argument("--port", type=int, default=7710)
    init.add_argument("--advertise", metavar="HOST:PORT", help="the address the trainer dials")
    serve = verbs.add_parser("serve", help="serve jobs until SIGTERM or Ctrl-C")
    serve.add_argument("data", type=Path)
    serve.add_argument("--host", help="listen address (overrides worker.toml)")
    serve.add_argument("--port", type=int, help="listen port (overrides worker.toml)")


def cmd_dataset(args: argparse.Namespace) -> int:
    """trainer dataset check|import"""
    from trainer.dataset import check, fashion  # noqa: PLC0415 - only this command reads images

    if args.verb == "check":
        report = check.check(args.folder)
        check.print_report(report, sys.stdout)
        return 0 if report.ok else 1
    options = {"source": args.source} if args.source else {}
    summary = fashion.import_fashion_mnist(
        args.folder,
        overwrite=args.overwrite,
        limit=args.limit,
        progress=lambda done, total: print(f"trainer: {done:,}/{total:,} images", flush=True),
        **options,
    )
    fashion.print_import_summary(summary, sys.stdout)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """trainer train DATASET --out PKG"""
    from trainer.train_command import train_command  # noqa: PLC0415 - loads TensorFlow

    return train_command(args)


def cmd_stock(args: argparse.Namespace) -> int:
    """trainer stock-model --out PKG"""
    from trainer.train_command import stock_command  # noqa: PLC0415 - loads TensorFlow

    return stock_command(args)


def cmd_worker(args: argparse.Namespace) -> int:
    """trainer worker init|serve"""
    from trainer.distributed import serve_worker, worker_init  # noqa: PLC0415

    if args.verb == "init":
        path = worker_init(args.data, name=args.name, port=args.port, advertise=args.advertise)
        print(f"trainer: worker {args.name} ready in {args.data}")
        print(f"trainer: copy {path} to the desktop as ~/.config/vigia/workers/{args.name}.toml")
        return 0
    serve_worker(args.data, host=args.host, port=args.port)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """trainer keygen"""
    directory = publish.key_dir(args.keys)
    ident = publish.keygen(directory)
    print(f"trainer: key {ident} written to {directory / publish.PRIVATE_NAME} (keep private)")
    print(f"trainer: give the edges {directory / publish.PUBLIC_NAME}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """trainer verify PKG"""
    package = publish.verify(args.package, publish.key_dir(args.keys) / publish.PUBLIC_NAME)
    publish.describe(package, sys.stdout)
    print(f"trainer: {args.package} is intact and signed by the trusted key")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """trainer push-model PKG"""
    public = publish.key_dir(args.keys) / publish.PUBLIC_NAME
    pushed = publish.push(
        hubclient.link(args.credential, args.hub), args.package, public, args.edge
    )
    edges = ", ".join(pushed.assigned.edges) or "no edge yet (every edge that joins)"
    print(f"trainer: {pushed.stored.version} stored (sha256 {pushed.stored.sha256[:16]}...)")
    print(f"trainer: {pushed.assigned.version} assigned to {edges}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """trainer models"""
    publish.print_models(hubclient.models(hubclient.link(args.credential, args.hub)), sys.stdout)
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    """trainer assign VERSION"""
    done = hubclient.assign(hubclient.link(args.credential, args.hub), args.version, args.edge)
    print(f"trainer: {done.version} assigned to {', '.join(done.edges) or 'no edge yet'}")
    return 0


HANDLERS: dict[str, Handler] = {
    "dataset": cmd_dataset,
    "train": cmd_train,
    "stock-model": cmd_stock,
    "worker": cmd_worker,
    "keygen": cmd_keygen,
    "verify": cmd_verify,
    "push-model": cmd_push,
    "models": cmd_models,
    "assign": cmd_assign,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `trainer` command."""
    args = build_parser().parse_args(argv)
    setup_logging("trainer", args.verbose)
    try:
        return HANDLERS[args.command](args)
    except (ConfigError, DatasetError, PackageError, WireError, FileExistsError, ValueError) as exc:
        print(f"trainer: {exc}", file=sys.stderr)
        return 2
