"""`vigia-demo`: the whole system on this one machine, each part its own program.

Imports Fashion-MNIST from Debian's package, trains a model on two local trainer workers (a
small budget, said on screen), starts the hub, the video server with scene cameras showing test
images the model never trained on, and one edge on those cameras; pushes the model through the
hub to the edge, then opens the watcher (the terminal one when there is no display). Ctrl-C, or
closing the watcher, stops every part cleanly.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo import system
from demo.processes import Proc, ProcessError, script, stop
from demo.system import Layout
from trainer.dataset.fashion import CLASSES
from wire.package import load_public_key, read_package

STEPS = 7
WATCHERS = ("auto", "gui", "cli", "none")


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs; the defaults fit a few minutes on a 2-core machine."""

    workdir: Path
    cameras: int = 4
    workers: int = 2
    limit: int = 500  # Fashion-MNIST images per class imported for each of train and test
    size: int = 96
    epochs: int = 6
    classes: tuple[str, ...] = CLASSES
    objects_per_class: int = 40  # test images each scene camera may show, per class
    model: Path | None = None  # a package to push instead of training one
    watcher: str = "auto"
    seconds: float | None = None  # stop after this long with the model live (else: Ctrl-C)


Show = Callable[[str], None]


def say(text: str) -> None:
    """One line of progress."""
    print(f"demo: {text}", flush=True)


@contextmanager
def running(proc: Proc, show: Show) -> Iterator[Proc]:
    """A part that is stopped (SIGTERM, then SIGKILL) when the block ends, however it ends."""
    try:
        yield proc
    finally:
        code = stop(proc)
        show(f"stopped the {proc.name} (exit code {code}); its log: {proc.log}")


def train(options: DemoOptions, layout: Layout, dataset: Path, show: Show) -> Path:
    """Two (or --workers) local trainer workers, then `trainer train` across them."""
    names = [f"worker-{i}" for i in range(1, options.workers + 1)]
    package = layout.root / "model.vpkg"
    version = time.strftime("demo-%Y%m%d-%H%M%S")
    show(
        f"[3/{STEPS}] training {len(options.classes)} classes on {len(names)} local workers: a "
        f"demo budget ({options.limit} images a class, {options.size} px, {options.epochs} "
        "epochs of the head, no fine-tuning); `trainer train` does better with more"
    )
    with ExitStack() as stack:
        for name in names:
            if not (layout.workers / name / "worker.toml").exists():
                system.init_worker(layout, name)
            stack.enter_context(running(system.start_worker(layout, name), show))
        training = system.training_set(dataset, layout, options.classes)
        argv = [script("trainer"), "train", str(training), "--out", str(package)]
        argv += ["--workers", ",".join(names), "--workers-dir", str(layout.workers)]
        argv += ["--size", str(options.size), "--epochs", str(options.epochs)]
        argv += ["--finetune-epochs", "0", "--version", version, "--keys", str(layout.keys)]
        system.run([*argv, "--cache-dir", str(layout.root / "cache")])
    return package


def start_system(
    options: DemoOptions, layout: Layout, stack: ExitStack, show: Show
) -> tuple[Proc, system.Cameras]:
    """The hub, the video server's scene cameras and the edge, each left running in `stack`."""
    show(f"[4/{STEPS}] hub: `hub init`, credentials for {system.EDGE}, a watcher, the trainer")
    port = system.init_hub(layout)
    stack.enter_context(running(system.start_hub(layout, port), show))
    dataset = layout.dataset(options.limit)
    objects = system.scene_objects(dataset, layout, options.classes, options.objects_per_class)
    show(f"[5/{STEPS}] video server: {options.cameras} scene cameras, 640x480 at 10 fps")
    cameras = system.start_video(layout, objects, options.cameras)
    stack.enter_context(running(cameras.proc, show))
    show(f"[6/{STEPS}] edge {system.EDGE} on {len(cameras.urls)} cameras, waiting for a model")
    edge = system.start_edge(layout, layout.keys / "trainer.pub", cameras.urls)
    stack.enter_context(running(edge, show))
    return edge, cameras


def deploy(options: DemoOptions, layout: Layout, package: Path, edge: Proc, show: Show) -> str:
    """Push the package through the hub and wait until the edge runs it; its version."""
    version = read_package(package, load_public_key(layout.keys / "trainer.pub")).manifest.version
    show(f"[7/{STEPS}] `trainer push-model`: model {version} to the hub, then to the edge")
    system.push_model(layout, package)
    system.wait_running(layout, edge, version, options.cameras, timeout=120)
    show(f"the edge runs {version} on {options.cameras} cameras; sightings flow to the hub")
    return version


def watcher_mode(choice: str) -> str:
    """`auto` is the window when there is a display and Tk, else the terminal."""
    if choice != "auto":
        return choice
    try:
        import tkinter  # noqa: F401, PLC0415 - only to learn whether Tk is there
    except ImportError:
        return "cli"
    return "gui" if os.environ.get("DISPLAY") else "cli"


def watch(options: DemoOptions, layout: Layout, parts: list[Proc], show: Show) -> None:
    """The watcher in the foreground until it closes, `seconds` pass, or a part dies."""
    mode = watcher_mode(options.watcher)
    watcher = None
    if mode != "none":
        argv = [script("watcher"), "--credential", str(layout.credential(system.WATCHER))]
        watcher = subprocess.Popen([*argv, *(["--cli"] if mode == "cli" else [])])
        show(f"watcher ({'window' if mode == 'gui' else 'terminal'}) open; Ctrl-C stops all")
    deadline = None if options.seconds is None else time.monotonic() + options.seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            for part in parts:
                part.check()
            if watcher is not None and watcher.poll() is not None:
                show("the watcher closed")
                return
            time.sleep(0.2)
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.terminate()
            watcher.wait(10)


def run_demo(options: DemoOptions, show: Show = say) -> Layout:
    """Every step of the demo; returns where its data is (the hub's database, the truth)."""
    layout = Layout(options.workdir)
    system.fresh_run(layout)
    show(f"[1/{STEPS}] Fashion-MNIST from Debian's dataset-fashion-mnist into {layout.root}")
    dataset = system.import_fashion_mnist(layout, options.limit)
    show(f"[2/{STEPS}] the trainer's signing keys in {layout.keys}")
    system.make_keys(layout)
    package = options.model or train(options, layout, dataset, show)
    with ExitStack() as stack:
        edge, cameras = start_system(options, layout, stack, show)
        deploy(options, layout, package, edge, show)
        watch(options, layout, [edge, cameras.proc], show)
    show(f"all parts stopped; the hub's log and photos stay in {layout.hub}")
    return layout


def parse_args(argv: list[str] | None) -> DemoOptions:
    """Options, with CAMERAS from the environment as the default number of cameras."""
    parser = argparse.ArgumentParser(prog="vigia-demo", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add(
        "--cameras",
        type=int,
        default=int(os.environ.get("CAMERAS", "4")),
        help="scene cameras on the edge (default: $CAMERAS or 4)",
    )
    add(
        "--workdir",
        type=Path,
        default=Path.home() / ".cache" / "vigia" / "demo",
        help="where the run keeps its data (default: ~/.cache/vigia/demo)",
    )
    add("--workers", type=int, default=2, help="local trainer workers (default 2)")
    add("--limit", type=int, default=500, help="Fashion-MNIST images per class (500)")
    add("--epochs", type=int, default=6, help="epochs of the new head (6)")
    add("--classes", help="comma-separated classes to learn (default: all 10)")
    add("--model", type=Path, help="push this package (signed by the workdir's keys) instead")
    add("--watcher", choices=WATCHERS, default="auto", help="window, terminal or none")
    add("--seconds", type=float, help="stop by itself after this long with the model live")
    args = parser.parse_args(argv)
    classes = tuple(args.classes.split(",")) if args.classes else CLASSES
    if unknown := set(classes) - set(CLASSES):
        parser.error(f"not a Fashion-MNIST class: {', '.join(sorted(unknown))}")
    if not 1 <= args.cameras <= 64 or args.workers < 1 or args.limit < 1:
        parser.error("--cameras must be 1 to 64, --workers and --limit at least 1")
    return DemoOptions(
        workdir=args.workdir,
        cameras=args.cameras,
        workers=args.workers,
        limit=args.limit,
        epochs=args.epochs,
        classes=classes,
        model=args.model,
        watcher=args.watcher,
        seconds=args.seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when it ends by itself or by Ctrl-C, 1 when a part fails."""
    options = parse_args(argv)
    try:
        run_demo(options)
    except KeyboardInterrupt:
        say("Ctrl-C: every part stopped")
    except ProcessError as error:
        say(f"failed: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
