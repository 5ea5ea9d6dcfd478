"""End to end: c scene cameras on one edge, every sighting at the hub scored against ground truth.

Every part runs as its own program, set up with its own commands (demo.system), on this one
machine: `video serve` with c scene cameras (640x480, 10 fps; Fashion-MNIST test images the
model never trained on pass one at a time over a black background, about 12 visits a minute per
camera, each logged as ground truth), `hub serve`, and `edge run` with every setting at its
default but `pad` (--pad, 0: crops framed as tightly as Fashion-MNIST's images; the default
0.15 suits photos with context, see docs/edge.md), receiving the model by `trainer push-model`
through the hub. Each level (c = 4, 8, 16
by default) is a fresh system: hub, cameras and edge.

The model is trained here first, by `trainer train` on one process (Fashion-MNIST from Debian's
package, --limit images per class, 96 px: the head on cached embeddings for --epochs, then the
top 2 blocks and the head on augmented images for --finetune-epochs), unless --model gives a
package (signed by the key in --keys). The augmented epochs matter here: random crops teach the
model to take a crop framed a little differently from its training images, which is what the
edge's crops of a moving object are (in a simulation of 118 visits, a head-only model lost 3.3
points to the pipeline, the same model fine-tuned 0.8).

Figures per level, over a window of --seconds after --warmup, judged on the visits wholly
inside it (demo.truth: a sighting matches a visit on camera and time overlap, 400 ms slack):
  - visit_recall: visits with a sighting / visits; visit_precision: sightings matching a visit
    / sightings (labels ignored);
  - label_accuracy: visits whose first sighting has the visit's class / visits found, beside
    model_accuracy: the same int8 model, run by the edge's runtime on the same visits' images
    straight from the dataset (what the pipeline would score if it lost nothing);
  - latency from the object's first frame (truth `enter_ms`) to the hub's commit of its
    sighting (`received_ms`), p50 and p95;
  - CPU per camera: the edge's cores over the window / c (the video server's and the hub's
    cores are printed beside: all share this machine).
Last line: one JSON object with the c = 8 figures at the top level (cameras, visit_recall,
visit_precision, label_accuracy, model_accuracy, p95_latency_ms, ...) and every level under
`levels`. Goals at c = 8: recall and precision >= 0.98, label_accuracy no more than 0.02 below
model_accuracy, p95_latency_ms <= 1000.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.video_streams import tree_cpu_s
from demo import system
from demo.processes import Proc, script, stop
from demo.system import Layout
from demo.truth import Score, percentile, read_sightings, read_visits, score
from trainer.dataset.fashion import CLASSES
from wire.package import load_public_key, read_package

LOST_AFTER_MS = 1500  # the edge's default: a visit ends this long after its object left
SETTLE_S = LOST_AFTER_MS / 1000 + 3  # the last visits end at the edge, then travel
HEADLINE = 8


@dataclass(frozen=True)
class Level:
    """One level's figures."""

    cameras: int
    seconds: float
    visits: int
    sightings: int
    visit_recall: float
    visit_precision: float
    label_accuracy: float
    model_accuracy: float
    p50_latency_ms: float
    p95_latency_ms: float
    p50_recognised_ms: float  # appearance to the first frame the edge recognised it in
    p95_recognised_ms: float
    split_visits: int
    cpu_per_camera: float
    cores: dict[str, float]

    def line(self) -> str:
        cores = "  ".join(f"{k} {v:.2f}" for k, v in self.cores.items())
        return (
            f"c={self.cameras:2d}  visits {self.visits:4d}  recall {self.visit_recall:.3f}  "
            f"precision {self.visit_precision:.3f}  labels {self.label_accuracy:.3f} (model "
            f"{self.model_accuracy:.3f})  latency p50 {self.p50_latency_ms:.0f} ms p95 "
            f"{self.p95_latency_ms:.0f} ms (recognised p50 {self.p50_recognised_ms:.0f} p95 "
            f"{self.p95_recognised_ms:.0f})  split {self.split_visits}  cpu/camera "
            f"{self.cpu_per_camera:.3f}  cores: {cores}"
        )


@dataclass(frozen=True)
class Model:
    """The package every level runs, and what the model makes of images by itself."""

    package: Path
    keys: Path
    version: str
    labels: tuple[str, ...]
    size: int
    tflite: bytes


def say(text: str) -> None:
    print(f"e2e: {text}", file=sys.stderr, flush=True)


def prepare_model(root: Path, args: argparse.Namespace) -> tuple[Model, Path]:
    """The Fashion-MNIST import, and the model (trained here unless --model); the dataset."""
    layout = Layout(root)
    dataset = system.import_fashion_mnist(layout, args.limit)
    if args.model is None:
        system.make_keys(layout)
        package, keys = root / "model.vpkg", layout.keys
        argv = [script("trainer"), "train", str(dataset / "train"), "--out", str(package)]
        argv += ["--size", "96", "--epochs", str(args.epochs), "--finetune-blocks", "2"]
        argv += ["--finetune-epochs", str(args.finetune_epochs)]
        say(
            f"training the model: {args.limit} images a class, 96 px, {args.epochs} + "
            f"{args.finetune_epochs} epochs"
        )
        system.run([*argv, "--keys", str(keys), "--cache-dir", str(root / "cache")], quiet=True)
    else:
        package, keys = args.model, args.keys
    verified = read_package(package, load_public_key(keys / "trainer.pub"))
    manifest = verified.manifest
    model = Model(
        package, keys, manifest.version, manifest.labels, manifest.input.size, verified.model
    )
    return model, dataset


@contextmanager
def level_system(
    root: Path, model: Model, dataset: Path, cameras: int, pad: float
) -> Iterator[tuple[Layout, Proc, Proc, Proc]]:
    """A fresh hub, c scene cameras and an edge running the model; stopped at the end."""
    layout = Layout(root / f"c{cameras}")
    shutil.copytree(model.keys, layout.keys)
    with ExitStack() as stack:
        port = system.init_hub(layout)
        hub = system.start_hub(layout, port)
        stack.callback(stop, hub)
        objects = system.scene_objects(dataset, layout, CLASSES, 100)
        video = system.start_video(layout, objects, cameras)
        stack.callback(stop, video.proc)
        edge = system.start_edge(layout, layout.keys / "trainer.pub", video.urls, pad=pad)
        stack.callback(stop, edge)
        system.push_model(layout, model.package)
        system.wait_running(layout, edge, model.version, cameras, timeout=180)
        yield layout, hub, video.proc, edge


@dataclass(frozen=True)
class LevelRun:
    """What one level measured, before the model's own accuracy is known."""

    cameras: int
    result: Score
    images: list[Path]  # each judged visit's image, straight from the dataset
    labels: list[str]  # and its class
    cores: dict[str, float]
    seconds: float


def run_level(
    root: Path, model: Model, dataset: Path, cameras: int, args: argparse.Namespace
) -> LevelRun:
    """One level: warm up, measure a window, let the last visits arrive, stop, score."""
    with level_system(root, model, dataset, cameras, args.pad) as (layout, hub, video, edge):
        time.sleep(args.warmup)
        procs = {"edge": edge.pid, "video": video.pid, "hub": hub.pid}
        start_ms, cpu0, t0 = now_ms(), cpu(procs), time.monotonic()
        time.sleep(args.seconds)
        end_ms, cpu1, span = now_ms(), cpu(procs), time.monotonic() - t0
        time.sleep(SETTLE_S)
        edge.check()
    visits = read_visits(layout.truth)
    result = score(visits, read_sightings(layout.hub / "hub.db", system.EDGE), start_ms, end_ms)
    judged = [v for v in visits if start_ms < v.enter_ms and v.leave_ms < end_ms]
    return LevelRun(
        cameras=cameras,
        result=result,
        images=[(layout.scene / v.image).resolve() for v in judged],
        labels=[v.label for v in judged],
        cores={k: (cpu1[k] - cpu0[k]) / span for k in procs},
        seconds=span,
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def cpu(procs: dict[str, int]) -> dict[str, float]:
    return {name: tree_cpu_s(pid) for name, pid in procs.items()}


def model_accuracy(model: Model, run: LevelRun) -> float:
    """The int8 model by itself (the edge's runtime, the trainer's preprocessing) on the
    images of the visits judged."""
    from trainer.dataset.layout import Item  # noqa: PLC0415 - TensorFlow, once levels are done
    from trainer.train.evaluate import evaluate_tflite  # noqa: PLC0415
    from trainer.train.images import load_images  # noqa: PLC0415

    if not run.images:
        return float("nan")
    pairs = zip(run.images, run.labels, strict=True)
    items = [Item(path, model.labels.index(label)) for path, label in pairs]
    images, labels = load_images(items, model.size)
    return evaluate_tflite(model.tflite, images, labels).accuracy


def level(run: LevelRun, accuracy: float) -> Level:
    """The figures of one level."""
    r = run.result
    return Level(
        cameras=run.cameras,
        seconds=round(run.seconds, 1),
        visits=r.visits,
        sightings=r.sightings,
        visit_recall=round(r.recall, 4),
        visit_precision=round(r.precision, 4),
        label_accuracy=round(r.label_accuracy, 4),
        model_accuracy=round(accuracy, 4),
        p50_latency_ms=round(r.latency_ms(50)),
        p95_latency_ms=round(r.latency_ms(95)),
        p50_recognised_ms=round(percentile(r.recognised_ms, 50)),
        p95_recognised_ms=round(percentile(r.recognised_ms, 95)),
        split_visits=r.split,
        cpu_per_camera=round(run.cores["edge"] / run.cameras, 4),
        cores={k: round(v, 2) for k, v in run.cores.items()},
    )


def parse_args() -> argparse.Namespace:
    """Options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[4, 8, 16], help="c per level")
    parser.add_argument("--seconds", type=float, default=180.0, help="measured window (180)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before it (10)")
    parser.add_argument("--limit", type=int, default=1000, help="images a class to import")
    parser.add_argument("--epochs", type=int, default=10, help="head epochs when training")
    parser.add_argument(
        "--finetune-epochs", type=int, default=2, help="then epochs on augmented images (2)"
    )
    parser.add_argument("--model", type=Path, help="run this package instead of training one")
    parser.add_argument("--keys", type=Path, help="the folder with --model's trainer.pub")
    parser.add_argument("--pad", type=float, default=system.PAD, help="the edge's crop pad (0)")
    parser.add_argument("--root", type=Path, help="make the temporary folder here")
    args = parser.parse_args()
    if (args.model is None) != (args.keys is None):
        parser.error("--model and --keys go together")
    if min(args.levels) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--levels and --seconds must be positive, --warmup not negative")
    return args


def main() -> None:
    """Train (or take) the model, run every level, print the figures and the JSON summary."""
    args = parse_args()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="vigia-bench-e2e-", dir=args.root))
    try:
        model, dataset = prepare_model(root, args)
        runs = []
        for cameras in args.levels:
            say(f"level c={cameras}: hub, {cameras} scene cameras, edge, model push")
            runs.append(run_level(root, model, dataset, cameras, args))
        levels = [level(run, model_accuracy(model, run)) for run in runs]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for lv in levels:
        print(lv.line(), flush=True)
    headline = next((lv for lv in levels if lv.cameras == HEADLINE), levels[0])
    summary = {
        **{k: v for k, v in asdict(headline).items() if k != "cores"},
        "model": model.version,
        "levels": {str(lv.cameras): asdict(lv) for lv in levels},
        "cpus": os.cpu_count(),
        "run_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
