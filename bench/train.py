"""Trainer: Fashion-MNIST from Debian, trained, quantised to int8, packaged; against plain Keras.

Phases, all in this one run:
  - data: `trainer dataset import fashion-mnist` (Debian's `dataset-fashion-mnist`, its own
    60,000 / 10,000 train / test halves) into a temporary folder, plus a small copy
    (--fit-per-class images per class) for the fit phase;
  - train: `trainer train`'s own job (`trainer.job.run_job`) at input size 96, with
    `finetune_on = "cache"`: the backbone below its top --blocks blocks runs once over the
    training images (all 54,000, or --per-class per class) and the validation images; the head
    trains on the top's features, then the top blocks and the head fine-tune on the cached
    activations; then the job's int8 export (calibrated on training images), the evaluation of
    the float (Keras) and int8 (ai-edge-litert, one image at a time as on the edge) models on
    all 10,000 test images, and the signed package. Figures: `float_acc`, `int8_acc`,
    `package_mb`;
  - fit: the same classifier (frozen backbone, new head, on images, no augmentation) trained for
    --fit-epochs epochs on --fit-per-class images a class, by plain `model.fit` in a fresh
    Python process of its own and by our trainer with one worker (`trainer worker serve` in its
    own process, the job sent over our protocol, as on a LAN, each job a fresh task process; a
    one-worker job trains under TensorFlow's default strategy), in --fit-rounds rounds whose
    order alternates (plain first, then ours first). Both start cold, as a user's script
    does: neither inherits a warm process (this one has run the train phase).
    Each run's rate is its best epoch after the first (the first builds and traces); a round's
    ratio is ours over plain, and `fit_ratio` is the median round's: this machine is shared,
    and two plain runs of one process have differed by a fifth;
  - speed: the trained model as float TFLite and as the job's int8 TFLite, single-image
    inference with ai-edge-litert (median of --runs, rounds alternating).
    `int8_speedup` = float ms / int8 ms.
`wall_s` is the whole run, data import included.

Last line: one JSON object with float_acc, int8_acc, package_mb, fit_ratio, int8_speedup,
wall_s and the rest. Goals: int8_acc >= 0.92 and at most 0.01 below float_acc;
package_mb <= 5; fit_ratio >= 0.9; int8_speedup >= 2; wall_s <= 1800.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from trainer.dataset.fashion import import_fashion_mnist  # noqa: E402
from trainer.dataset.layout import open_dataset  # noqa: E402
from trainer.dataset.split import split_dataset  # noqa: E402
from trainer.distributed import WorkerTarget, train_distributed  # noqa: E402
from trainer.distributed.layout import worker_init  # noqa: E402
from trainer.job import JobOptions, JobResult, run_job  # noqa: E402
from trainer.spec import TrainSpec  # noqa: E402
from trainer.tfrun import keras  # noqa: E402
from trainer.train.evaluate import tflite_latency  # noqa: E402
from trainer.train.export import to_tflite_float  # noqa: E402
from trainer.train.fit import WEIGHTS, compile_for  # noqa: E402
from trainer.train.images import image_dataset  # noqa: E402
from trainer.train.model import build_classifier, load_classifier  # noqa: E402
from trainer.train.progressbar import ProgressBar  # noqa: E402
from wire.package import new_key, read_package  # noqa: E402

SIZE = 96


def say(line: str) -> None:
    """One line of progress, on stderr (stdout is for the figures)."""
    print(f"bench.train: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Trained:
    """What the train phase measured."""

    result: JobResult
    package: Path
    workdir: Path
    spec: TrainSpec
    key: Ed25519PrivateKey
    seconds: float


def train_phase(args: argparse.Namespace, data: Path, root: Path) -> Trained:
    """`trainer train`'s job on the whole of Fashion-MNIST (or --per-class of it)."""
    spec = TrainSpec(
        version="fashion-bench",
        input_size=SIZE,
        batch_size=args.batch,
        head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs,
        finetune_blocks=args.blocks,
        finetune_learning_rate=args.finetune_lr,
        finetune_on="cache",
        max_per_class=args.per_class,
        patience=2,
    )
    key = new_key()
    options = JobOptions(
        out=root / "fashion.vpkg", workdir=root / "work", key=key, cache_dir=root / "cache"
    )
    start = time.perf_counter()
    result = run_job(spec, data, options, progress=ProgressBar(), say=say)
    return Trained(result, options.out, options.workdir, spec, key, time.perf_counter() - start)


def fit_spec(args: argparse.Namespace) -> TrainSpec:
    """The fit phase's job: the head on images (no cache, no augmentation), fixed epochs."""
    return TrainSpec(
        version="fit-bench",
        input_size=SIZE,
        batch_size=args.batch,
        head_epochs=args.fit_epochs,
        patience=args.fit_epochs + 1,
        cache_embeddings=False,
        augment=False,
    )


class EpochClock(keras.callbacks.Callback):  # type: ignore[misc]
    """Training seconds of each epoch (from its first batch to its last: as our trainer counts)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = self._end = 0.0

    def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
        self._start = self._end = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: object = None) -> None:
        self._end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: object = None) -> None:
        self.seconds.append(self._end - self._start)


def plain_fit_process(args: argparse.Namespace, small: Path) -> float:
    """`plain_fit` in a fresh Python process, as each job of ours runs in a fresh task
    process: both start cold, neither inherits the other's (or the train phase's) state."""
    command = [sys.executable, "-m", "bench.train", "--plain-fit-child", str(small),
               "--batch", str(args.batch), "--fit-epochs", str(args.fit_epochs)]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the plain model.fit process failed (exit code {done.returncode})")
    return float(json.loads(lines[-1])["plain_images_per_s"])


def plain_fit(spec: TrainSpec, small: Path) -> float:
    """Images/s of plain `model.fit` of the classifier on the small set's training images."""
    dataset = open_dataset(small)
    split = split_dataset(dataset, seed=spec.seed, val_frac=spec.val_frac, test_frac=None)
    keras.utils.set_random_seed(spec.seed)
    model, _ = build_classifier(spec, len(dataset.classes))
    compile_for(model, spec.head_learning_rate)
    clock = EpochClock()
    train = image_dataset(
        split.train, size=spec.input_size, batch_size=spec.batch_size, shuffle=True, seed=1
    )
    model.fit(train, epochs=spec.head_epochs, callbacks=[clock], verbose=0)
    rate = len(split.train) / min(clock.seconds[1:])
    epochs = ", ".join(f"{seconds:.1f}" for seconds in clock.seconds)
    say(f"plain model.fit: {rate:.1f} images/s (epochs of {epochs} s)")
    return rate


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_worker(root: Path) -> tuple[subprocess.Popen[bytes], WorkerTarget]:
    """`trainer worker serve` on a free port, initialised in root/worker."""
    port = free_port()
    credential = worker_init(
        root / "worker", name="bench-pc", port=port, advertise=f"127.0.0.1:{port}"
    )
    with (root / "worker.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("trainer")),
                "worker",
                "serve",
                str(root / "worker"),
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, WorkerTarget.load(credential, "bench-pc")
        time.sleep(0.2)
    proc.kill()
    tail = (root / "worker.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the worker did not listen on {port}; its log ends:\n{tail}")


RATE = re.compile(r"^head epoch (\d+)/\d+: .*\bimages_per_s ([0-9.e+]+)")


def worker_fit(spec: TrainSpec, small: Path, root: Path, target: WorkerTarget, run: int) -> float:
    """Images/s of our trainer with one worker: the best epoch after the first."""
    rates: dict[int, float] = {}

    def line(text: str) -> None:
        say(f"worker job: {text}")
        if found := RATE.match(text):
            rates[int(found.group(1))] = float(found.group(2))

    train_distributed(spec, small, [target], out_dir=root / f"worker-job-{run}", progress=line)
    later = [rate for epoch, rate in rates.items() if epoch > 1]
    if not later:
        raise RuntimeError(f"no images_per_s after epoch 1 in the worker's progress: {rates}")
    return max(later)


def speed_phase(trained: Trained, args: argparse.Namespace) -> tuple[float, float]:
    """(float ms, int8 ms) per single-image inference, each the best of --rounds medians."""
    package = read_package(trained.package, trained.key.public_key())
    classes = len(package.manifest.labels)
    model = load_classifier(trained.spec, classes, trained.workdir / WEIGHTS)
    float_model, int8_model = to_tflite_float(model), package.model
    float_ms, int8_ms = [], []
    for _ in range(args.rounds):
        float_ms.append(1000 * tflite_latency(float_model, runs=args.runs))
        int8_ms.append(1000 * tflite_latency(int8_model, runs=args.runs))
    say(f"float TFLite {min(float_ms):.2f} ms, int8 {min(int8_ms):.2f} ms per image")
    return min(float_ms), min(int8_ms)


def import_data(root: Path, fit_per_class: int) -> tuple[Path, Path]:
    """Fashion-MNIST whole, and a small copy of it (fit_per_class images per class and half)."""
    data, small = root / "fashion", root / "fashion-small"
    summary = import_fashion_mnist(data)
    import_fashion_mnist(small, limit=fit_per_class)
    total = sum(summary.train_counts) + sum(summary.test_counts)
    say(f"imported {total:,} images into {data} in {summary.seconds:.1f} s")
    return data, small


@dataclass(frozen=True)
class FitRound:
    """One round of the fit phase: images/s of ours and of plain model.fit."""

    ours: float
    plain: float

    @property
    def ratio(self) -> float:
        return self.ours / self.plain


def fit_phase(args: argparse.Namespace, small: Path, root: Path) -> list[FitRound]:
    """--fit-rounds rounds of plain model.fit and our trainer with one worker (one worker
    process for all, each job a fresh task), the order alternating from round to round."""
    spec = fit_spec(args)
    proc, target = start_worker(root)
    rounds = []
    try:
        for run in range(args.fit_rounds):
            if run % 2 == 0:
                plain = plain_fit_process(args, small)
                ours = worker_fit(spec, small, root, target, run)
            else:
                ours = worker_fit(spec, small, root, target, run)
                plain = plain_fit_process(args, small)
            rounds.append(FitRound(ours, plain))
            say(f"fit round {run + 1}: ours {ours:.1f}, plain {plain:.1f} images/s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rounds


def figures(trained: Trained, fit: list[FitRound], speed: tuple[float, float]) -> dict[str, object]:
    """The summary: the goals' figures first; `fit_ratio` is the median round's."""
    result = trained.result
    float_ms, int8_ms = speed
    ratios = sorted(r.ratio for r in fit)
    middle = statistics.median(ratios)
    ours = statistics.median(r.ours for r in fit)
    plain = statistics.median(r.plain for r in fit)
    return {
        "float_acc": round(result.float_eval.accuracy, 4),
        "int8_acc": round(result.int8_eval.accuracy, 4),
        "package_mb": round(trained.package.stat().st_size / 1e6, 3),
        "fit_ratio": round(middle, 3),
        "int8_speedup": round(float_ms / int8_ms, 3),
        "test_images": result.int8_eval.count,
        "input_size": trained.spec.input_size,
        "train_images_per_class": trained.spec.max_per_class or "all",
        "finetune_blocks": trained.spec.finetune_blocks,
        "train_s": round(trained.seconds, 1),
        "ours_images_per_s": round(ours, 1),
        "plain_fit_images_per_s": round(plain, 1),
        "fit_ratio_rounds": [round(r.ratio, 3) for r in fit],
        "float_tflite_ms": round(float_ms, 3),
        "int8_tflite_ms": round(int8_ms, 3),
    }


def main() -> None:
    """Run every phase and print the figures, then the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=0, help="training images per class (all)")
    parser.add_argument("--blocks", type=int, default=5, help="top blocks fine-tuned (5)")
    parser.add_argument("--head-epochs", type=int, default=12, help="phase 1 epochs at most (12)")
    parser.add_argument("--finetune-epochs", type=int, default=4, help="phase 2 epochs at most (4)")
    parser.add_argument("--finetune-lr", type=float, default=3e-4, help="phase 2 rate (3e-4)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (128)")
    parser.add_argument("--fit-per-class", type=int, default=200, help="fit phase set (200)")
    parser.add_argument("--fit-rounds", type=int, default=3, help="fit phase rounds (3)")
    parser.add_argument("--fit-epochs", type=int, default=3, help="fit phase epochs (3)")
    parser.add_argument("--rounds", type=int, default=3, help="inference speed rounds (3)")
    parser.add_argument("--runs", type=int, default=100, help="inferences per round (100)")
    parser.add_argument("--dir", type=Path, help="make the temporary folder here")
    parser.add_argument("--plain-fit-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_fit_child is not None:  # one plain model.fit run, for `plain_fit_process`
        rate = plain_fit(fit_spec(args), args.plain_fit_child)
        print(json.dumps({"plain_images_per_s": rate}))
        return
    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="vigia-bench-train-", dir=args.dir))
    try:
        data, small = import_data(root, args.fit_per_class)
        trained = train_phase(args, data, root)
        speed = speed_phase(trained, args)
        fit = fit_phase(args, small, root)
        summary = {**figures(trained, fit, speed), "wall_s": round(time.perf_counter() - start, 1)}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for key, value in summary.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
