"""The `trainer` command."""

from __future__ import annotations

from wire.cli import part_parser

DESCRIPTION = """Vigía trainer: learns n classes by transfer learning and pushes signed int8 models.

Trains on a folder of labelled photos, spreads training over LAN PCs with TensorFlow's
MultiWorkerMirroredStrategy, exports int8 TFLite and signs the package. Its subcommands
(dataset, stock-model, train, worker, push-model) arrive with issue 5; see docs/architecture.md."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `trainer` command."""
    parser = part_parser("trainer", DESCRIPTION)
    parser.parse_args(argv)
    parser.print_help()
    return 0
