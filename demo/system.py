"""Each part set up and started as an operator would, with its own commands, on one machine.

Everything of one run lives under one folder (`Layout`): the dataset, the trainer's keys, the
workers' and the hub's data, the model, the cameras' configuration and ground truth, the edge's
configuration and spool, and a log per part.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from demo.processes import HOST, Proc, ProcessError, free_port, launch, script, tail
from hub.db import Reader
from trainer.distributed.layout import WorkerDir
from wire import messages as m

EDGE = "edge-1"
WATCHER = "laptop"
TRAINER = "trainer"
WIDTH, HEIGHT, FPS = 640, 480, 10
# Fashion-MNIST images are tight crops: the edge's crops are framed the same way (docs/edge.md,
# "Regions"; its default, 0.15, suits photos with context and costs this model 5 points).
PAD = 0.0
# Objects pass about 12 times a minute per camera, for 2 to 4 s, at least 1 s apart.
SCENE = "visits_per_min = 12\nmin_gap_s = 1.0\nvisit_s = [2.0, 4.0]\nsize_frac = [0.3, 0.5]\n"


@dataclass(frozen=True)
class Layout:
    """Where one run keeps everything."""

    root: Path

    def dataset(self, limit: int | None) -> Path:
        """The imported Fashion-MNIST (train/ and test/), one folder per import size."""
        return self.root / f"fashion-mnist-{limit or 'all'}"

    @property
    def scene(self) -> Path:
        return self.root / "scene-objects"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def workers(self) -> Path:
        return self.root / "workers"

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def video(self) -> Path:
        return self.root / "video"

    @property
    def truth(self) -> Path:
        return self.root / "video" / "truth"

    @property
    def edge(self) -> Path:
        return self.root / "edge"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def credential(self, peer: str) -> Path:
        """A peer's credential, as `hub add-peer` wrote it."""
        return self.hub / "credentials" / f"{peer}.toml"


def fresh_run(layout: Layout) -> None:
    """Forget an earlier run's hub, cameras, edge and logs; keep what is slow to make again
    (the dataset, keys, trainer workers, embeddings cache)."""
    for folder in (layout.hub, layout.video, layout.edge, layout.logs):
        if folder.exists():
            shutil.rmtree(folder)


def run(argv: Sequence[str], *, quiet: bool = False) -> str:
    """Run one of our commands to its end; its output passes through unless `quiet`.
    ProcessError naming the command when it fails."""
    result = subprocess.run(
        list(argv),
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shown = " ".join(str(a) for a in argv)
        raise ProcessError(f"`{shown}` failed with {result.returncode}\n{result.stdout or ''}")
    return result.stdout or ""


def import_fashion_mnist(layout: Layout, limit: int | None) -> Path:
    """`trainer dataset import fashion-mnist` once per size; later runs reuse it."""
    folder = layout.dataset(limit)
    if not (folder / "test").is_dir():
        argv = [script("trainer"), "dataset", "import", "fashion-mnist", str(folder)]
        run([*argv, "--overwrite", *(["--limit", str(limit)] if limit else [])])
    return folder


def training_set(dataset: Path, layout: Layout, classes: Sequence[str]) -> Path:
    """The training half of the import, limited to `classes` (a folder of links to theirs)."""
    folder = layout.root / "training-set"
    clear(folder)
    folder.mkdir(parents=True)
    for label in classes:
        (folder / label).symlink_to((dataset / "train" / label).resolve())
    return folder


def clear(folder: Path) -> None:
    """Remove a folder of links made by an earlier run (never what the links point to)."""
    if folder.exists():
        shutil.rmtree(folder)  # removes links, never follows them


def scene_objects(dataset: Path, layout: Layout, classes: Sequence[str], per_class: int) -> Path:
    """The scene cameras' dataset: links to the first test images of each class (images the
    model never trained on), and a black background like Fashion-MNIST's own."""
    folder = layout.scene
    clear(folder)
    for label in classes:
        (folder / label).mkdir(parents=True)
        for image in sorted((dataset / "test" / label).iterdir())[:per_class]:
            (folder / label / image.name).symlink_to(image.resolve())
    (folder / "_background").mkdir(parents=True)
    cv2.imwrite(str(folder / "_background" / "black.png"), np.zeros((HEIGHT, WIDTH), np.uint8))
    return folder


def make_keys(layout: Layout) -> Path:
    """The trainer's signing key pair (`trainer keygen`), made once; the public key's path."""
    if not (layout.keys / "trainer.key").exists():
        run([script("trainer"), "keygen", "--keys", str(layout.keys)], quiet=True)
    return layout.keys / "trainer.pub"


def init_worker(layout: Layout, name: str) -> None:
    """`trainer worker init` for a worker on this machine, listening on a free port; its own
    range of ports for TensorFlow's traffic, so that two workers here never race for one; its
    credential where the coordinator looks (`--workers-dir`)."""
    data = layout.workers / name
    port = free_port()
    argv = [script("trainer"), "worker", "init", str(data), "--name", name]
    run([*argv, "--port", str(port), "--advertise", f"{HOST}:{port}"], quiet=True)
    settings = data / "worker.toml"
    text = re.sub(
        r"^collective_port = \d+",
        f"collective_port = {free_port()}",
        settings.read_text(),
        flags=re.M,
    )
    settings.write_text(text.replace('host = "0.0.0.0"', f'host = "{HOST}"'))
    (data / "credentials" / f"{name}.toml").replace(layout.workers / f"{name}.toml")


def start_worker(layout: Layout, name: str) -> Proc:
    """`trainer worker serve`, once it listens."""
    data = layout.workers / name
    port = WorkerDir(data).load_config().port
    argv = [script("trainer"), "worker", "serve", str(data)]
    return launch(f"worker {name}", argv, layout.logs / f"worker-{name}.log", port=port)


def init_hub(layout: Layout, advertise: str = HOST) -> int:
    """`hub init` on a free port, and a credential for the edge, the watcher and the trainer
    (which dial `advertise`); the hub's port."""
    port = free_port()
    hub = script("hub")
    address = f"{advertise}:{port}"
    run([hub, "init", str(layout.hub), "--port", str(port), "--advertise", address], quiet=True)
    for peer, role in ((EDGE, "edge"), (WATCHER, "watcher"), (TRAINER, "trainer")):
        run([hub, "add-peer", peer, "--role", role, "--data", str(layout.hub)], quiet=True)
    return port


def start_hub(layout: Layout, port: int, host: str = HOST) -> Proc:
    """`hub serve` listening on `host`, once it accepts on this machine."""
    argv = [script("hub"), "serve", "--data", str(layout.hub), "--host", host]
    return launch("hub", argv, layout.logs / "hub.log", port=port)


def video_config(objects: Path, truth: Path, cameras: int, port: int) -> str:
    """video.toml: `cameras` scene cameras cam1..camN (seeds 1..N) over `objects`."""
    lines = [
        f'[server]\nhost = "{HOST}"\nport = {port}\nrtp_port = 0\n',
        f"[defaults]\nfps = {FPS}\nwidth = {WIDTH}\nheight = {HEIGHT}\nquality = 80\n",
        f"[scene]\ndataset = {json.dumps(str(objects))}\ntruth_dir = {json.dumps(str(truth))}\n"
        f"{SCENE}",
    ]
    lines += [
        f'[[camera]]\nname = "cam{i}"\nsource = "scene"\nseed = {i}\n'
        for i in range(1, cameras + 1)
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Cameras:
    """A running `video serve` and the URLs of its cameras."""

    proc: Proc
    urls: list[str]


def start_video(layout: Layout, objects: Path, cameras: int, netns: str | None = None) -> Cameras:
    """`video serve` with the scene cameras (in network namespace `netns` if given), once it
    listens."""
    port = free_port()
    layout.video.mkdir(parents=True, exist_ok=True)
    config = layout.video / "video.toml"
    config.write_text(video_config(objects, layout.truth, cameras, port))
    argv = [script("video"), "serve", "--config", str(config)]
    proc = launch("video server", argv, layout.logs / "video.log", port=port, netns=netns)
    return Cameras(proc, [f"rtsp://{HOST}:{port}/cam{i}" for i in range(1, cameras + 1)])


def edge_config(layout: Layout, trainer_key: Path, urls: list[str], pad: float = PAD) -> str:
    """edge.toml: edge-1 with every setting at its default but the crop `pad`, one camera per
    URL, no model until the hub offers one."""
    lines = [
        "[node]",
        f"credential = {json.dumps(str(layout.credential(EDGE)))}",
        f"trainer_key = {json.dumps(str(trainer_key))}",
        f"data_dir = {json.dumps(str(layout.edge / 'data'))}",
        "",
        "[defaults]",
        f"pad = {pad}",
    ]
    for i, url in enumerate(urls, 1):
        lines += ["", "[[camera]]", f'name = "cam{i}"', f"url = {json.dumps(url)}"]
    return "\n".join(lines) + "\n"


def start_edge(
    layout: Layout,
    trainer_key: Path,
    urls: list[str],
    netns: str | None = None,
    pad: float = PAD,
) -> Proc:
    """`edge run` on the cameras (in network namespace `netns` if given)."""
    layout.edge.mkdir(parents=True, exist_ok=True)
    config = layout.edge / "edge.toml"
    config.write_text(edge_config(layout, trainer_key, urls, pad))
    argv = [script("edge"), "run", "--config", str(config)]
    return launch("edge", argv, layout.logs / "edge.log", netns=netns)


def push_model(layout: Layout, package: Path) -> None:
    """`trainer push-model`: upload the package to the hub and assign it to every edge."""
    argv = [script("trainer"), "push-model", str(package), "--keys", str(layout.keys)]
    run([*argv, "--credential", str(layout.credential(TRAINER))], quiet=True)


def edge_status(layout: Layout) -> m.NodeStatus | None:
    """The edge's last status as the hub stored it."""
    query = "SELECT node FROM edge_status WHERE edge = ?"
    row = Reader(layout.hub / "hub.db").db().execute(query, (EDGE,)).fetchone()
    return None if row is None else m.NodeStatus.model_validate_json(row["node"])


def wait_running(layout: Layout, edge: Proc, version: str, cameras: int, timeout: float) -> None:
    """Until the edge reports `version` running with every camera online and processing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        edge.check()
        status = edge_status(layout)
        if (
            status is not None
            and status.model_version == version
            and len(status.cameras) == cameras
            and all(c.online and c.processed for c in status.cameras)
        ):
            return
        time.sleep(0.2)
    raise ProcessError(
        f"the edge did not report model {version} with {cameras} cameras online within "
        f"{timeout:.0f} s:\n{tail(edge.log)}"
    )
