"""`trainer train` and `trainer stock-model`: options to a TrainSpec, a run, a summary.

Kept apart from cli.py because it imports TensorFlow, which takes seconds.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

from trainer import publish
from trainer.distributed import DEFAULT_WORKERS_DIR, WorkerTarget
from trainer.job import JobOptions, run_job
from trainer.spec import TrainSpec
from trainer.train.progressbar import ProgressBar
from trainer.train.stock import stock_model
from wire.config import read_toml, validate
from wire.package import load_private_key

# Command-line flag -> TrainSpec field.
_FLAGS = {
    "version": "version",
    "size": "input_size",
    "epochs": "head_epochs",
    "finetune_epochs": "finetune_epochs",
    "finetune_blocks": "finetune_blocks",
    "finetune_on": "finetune_on",
    "batch": "batch_size",
    "seed": "seed",
    "max_per_class": "max_per_class",
}


def spec_from(args: argparse.Namespace) -> TrainSpec:
    """train.toml (if given) with the flags on top; the version defaults to DATASET-DATE-TIME."""
    given: dict[str, Any] = {field: getattr(args, flag) for flag, field in _FLAGS.items()}
    settings = {key: value for key, value in given.items() if value is not None}
    if args.no_augment:
        settings["augment"] = False
    source = "command line"
    if args.config is not None:
        source = str(args.config)
        settings = {**read_toml(args.config), **settings}
    settings.setdefault("version", _default_version(args.dataset))
    return validate(TrainSpec, settings, source)


def _default_version(dataset: Path) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M")
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in dataset.resolve().name)
    return f"{name or 'model'}-{stamp}"[:64]


def _workers(args: argparse.Namespace) -> tuple[WorkerTarget, ...]:
    if not args.workers:
        return ()
    folder = args.workers_dir or DEFAULT_WORKERS_DIR
    names = [name.strip() for name in args.workers.split(",") if name.strip()]
    return tuple(WorkerTarget.named(name, folder) for name in names)


def train_command(args: argparse.Namespace) -> int:
    """Run a training job and say what it made."""
    spec = spec_from(args)
    key = load_private_key(publish.key_dir(args.keys) / publish.PRIVATE_NAME)
    options = JobOptions(
        out=args.out,
        workdir=args.workdir or args.out.with_name(args.out.name + ".d"),
        key=key,
        workers=_workers(args),
        cache_dir=args.cache_dir,
        rejoin_timeout_s=args.rejoin_timeout,
    )
    result = run_job(spec, args.dataset, options, progress=ProgressBar(), say=_say)
    manifest = result.manifest
    _say(
        f"{manifest.version}: float {result.float_eval.accuracy:.4f}, "
        f"int8 {result.int8_eval.accuracy:.4f} on {result.int8_eval.count} test images"
    )
    _say(f"package {options.out} ({options.out.stat().st_size:,} bytes), signed by key "
         f"{manifest.key_id}; report {result.report[0]} and {result.report[1].name}")  # fmt: skip
    return 0


def stock_command(args: argparse.Namespace) -> int:
    """Package the ImageNet model."""
    key = load_private_key(publish.key_dir(args.keys) / publish.PRIVATE_NAME)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    version = args.version or f"imagenet-{args.size}-{stamp}"
    _say(f"building EfficientNet-Lite0 at {args.size} and quantising it (a minute or so)")
    manifest = stock_model(args.size, args.out, key, version=version)
    _say(f"{manifest.version}: {len(manifest.labels)} classes, {args.out} "
         f"({args.out.stat().st_size:,} bytes)")  # fmt: skip
    return 0


def _say(line: str) -> None:
    print(f"trainer: {line}", file=sys.stderr, flush=True)
