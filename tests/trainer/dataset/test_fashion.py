"""Fashion-MNIST's IDX files become a dataset folder of PNGs with the official split."""

from __future__ import annotations

import gzip
import io
import re
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from trainer.dataset import fashion
from trainer.dataset.fashion import (
    CLASSES,
    DEFAULT_SOURCE,
    OFFICIAL_NAMES,
    encode_png,
    import_fashion_mnist,
    read_idx,
)
from trainer.dataset.layout import DatasetError, open_dataset

TRAIN_LABELS = [9, 0, 0, 3, 9, 2, 7]
TEST_LABELS = [7, 0, 3, 9, 2, 2]  # the same classes as train: one layout


def write_idx(path: Path, array: npt.NDArray[np.uint8], *, magic: int | None = None) -> Path:
    """An IDX file of unsigned bytes (gzipped for a .gz name); the magic may be forced."""
    magic = 0x00000800 | array.ndim if magic is None else magic
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def images_for(labels: list[int], first: int) -> npt.NDArray[np.uint8]:
    """28x28 images, each different: a ramp shifted by its number."""
    ramp = np.arange(28 * 28, dtype=np.int64).reshape(28, 28)
    return np.stack([(ramp + 37 * (first + n)) % 256 for n in range(len(labels))]).astype(np.uint8)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Four IDX files like Debian's, of 7 training and 6 test images."""
    folder = tmp_path / "source"
    for prefix, labels, first in (("train", TRAIN_LABELS, 0), ("t10k", TEST_LABELS, 100)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images_for(labels, first))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.array(labels, np.uint8))
    return folder


def test_class_names_are_the_official_ones_made_folder_safe() -> None:
    assert CLASSES[0] == "T-shirt_top" and CLASSES[9] == "Ankle_boot"
    assert len(set(CLASSES)) == 10 == len(OFFICIAL_NAMES)
    assert all(name.replace("_", "").replace("-", "").isalnum() for name in CLASSES)


def test_import_writes_each_image_under_its_class_with_its_index(
    tmp_path: Path, source: Path
) -> None:
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "fmnist"
    summary = import_fashion_mnist(
        dest, source=source, progress=lambda done, total: calls.append((done, total))
    )
    assert summary.images == 13 and summary.dest == dest
    assert summary.train_counts == (2, 0, 1, 1, 0, 0, 0, 1, 0, 2)
    assert summary.test_counts == (1, 0, 2, 1, 0, 0, 0, 1, 0, 1)
    assert calls == [(13, 13)]
    for half, labels, first in (("train", TRAIN_LABELS, 0), ("test", TEST_LABELS, 100)):
        expected = images_for(labels, first)
        for index, label in enumerate(labels):
            with Image.open(dest / half / CLASSES[label] / f"{index:05d}.png") as image:
                assert image.mode == "L" and image.size == (28, 28)
                assert np.array_equal(np.asarray(image), expected[index])
    dataset = open_dataset(dest)
    assert dataset.test is not None
    assert (len(dataset.train.items), len(dataset.test.items)) == (7, 6)
    assert set(dataset.classes) == {CLASSES[label] for label in TRAIN_LABELS}
    assert len(list(dest.rglob("*.png"))) == 13
    assert not dest.with_name("fmnist.partial").exists()


def test_progress_comes_every_few_thousand_images(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fashion, "PROGRESS_EVERY", 4)
    calls: list[tuple[int, int]] = []
    import_fashion_mnist(
        tmp_path / "d", source=source, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(4, 13), (8, 13), (12, 13), (13, 13)]


def test_missing_files_name_the_debian_package_and_the_folder(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as raised:
        import_fashion_mnist(tmp_path / "d", source=nowhere)
    message = str(raised.value)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert str(nowhere) in message and "train-images-idx3-ubyte.gz" in message
    assert str(DEFAULT_SOURCE) in message
    assert not (tmp_path / "d").exists()


def test_a_wrong_magic_number_is_named(tmp_path: Path, source: Path) -> None:
    labels = source / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.array(TRAIN_LABELS, np.uint8), magic=0x00000803)
    with pytest.raises(DatasetError) as raised:
        import_fashion_mnist(tmp_path / "d", source=source)
    message = str(raised.value)
    assert str(labels) in message
    assert "0x00000803" in message and "expected 0x00000801" in message
    assert not (tmp_path / "d").exists() and not (tmp_path / "d.partial").exists()


def test_images_and_labels_of_different_counts_are_refused(tmp_path: Path, source: Path) -> None:
    write_idx(source / "t10k-labels-idx1-ubyte.gz", np.array([1, 1], np.uint8))
    with pytest.raises(DatasetError, match=r"holds 6 images but .* holds 2 labels"):
        import_fashion_mnist(tmp_path / "d", source=source)


def test_a_label_outside_0_to_9_is_refused(tmp_path: Path, source: Path) -> None:
    write_idx(source / "t10k-labels-idx1-ubyte.gz", np.array([7, 12, 3, 9, 2, 2], np.uint8))
    with pytest.raises(DatasetError, match=r"label 12 at index 1 is outside 0\.\.9"):
        import_fashion_mnist(tmp_path / "d", source=source)


def test_a_file_shorter_than_its_header_says_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(struct.pack(">IIII", 0x803, 2, 28, 28) + bytes(28 * 28))
    with pytest.raises(DatasetError, match="2x28x28 = 1568 bytes of data but the file holds 784"):
        read_idx(path, magic=0x803)
    path.write_bytes(b"\0\0\x08")
    with pytest.raises(DatasetError, match="too short for an IDX header"):
        read_idx(path, magic=0x803)


def test_a_damaged_gzip_is_refused_naming_the_file(tmp_path: Path, source: Path) -> None:
    images = source / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:40])
    with pytest.raises(DatasetError, match=re.escape(f"{images}: cannot be read")):
        import_fashion_mnist(tmp_path / "d", source=source)


def test_a_non_empty_dest_is_refused_unless_overwriting_an_earlier_import(
    tmp_path: Path, source: Path
) -> None:
    dest = tmp_path / "d"
    (dest / "mine").mkdir(parents=True)
    with pytest.raises(DatasetError, match="not empty"):
        import_fashion_mnist(dest, source=source)
    with pytest.raises(DatasetError, match=r"will not overwrite .*\(mine\)"):
        import_fashion_mnist(dest, source=source, overwrite=True)
    (dest / "mine").rmdir()
    import_fashion_mnist(dest, source=source)  # empty: fine
    stale = dest / "train" / "Dress" / "stale.png"
    stale.write_bytes(b"from before")
    with pytest.raises(DatasetError, match="not empty"):
        import_fashion_mnist(dest, source=source)
    import_fashion_mnist(dest, source=source, overwrite=True)
    assert not stale.exists() and len(open_dataset(dest).train.items) == 7


def test_an_interrupted_import_leaves_nothing_that_looks_complete(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "d"
    leftover = tmp_path / "d.partial" / "train" / "Bag"
    leftover.mkdir(parents=True)  # as a killed import would leave it
    written: list[Path] = []
    real_write = fashion._write_png

    def failing_write(job: tuple[Path, bytes]) -> None:
        if len(written) == 5:
            raise KeyboardInterrupt
        written.append(job[0])
        real_write(job)

    monkeypatch.setattr(fashion, "_write_png", failing_write)
    with pytest.raises(KeyboardInterrupt):
        import_fashion_mnist(dest, source=source)
    assert len(written) == 5
    assert not dest.exists() and not (tmp_path / "d.partial").exists()
    monkeypatch.setattr(fashion, "_write_png", real_write)
    leftover.mkdir(parents=True)
    import_fashion_mnist(dest, source=source)
    assert not (tmp_path / "d.partial").exists() and len(open_dataset(dest).train.items) == 7


@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (3, 7)])
def test_encode_png_round_trips_through_pillow(shape: tuple[int, int]) -> None:
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(pixels))) as image:
        image.load()
        assert image.mode == "L" and image.size == (shape[1], shape[0])
        assert np.array_equal(np.asarray(image), pixels)


def test_limit_keeps_the_first_images_of_each_class(tmp_path: Path, source: Path) -> None:
    summary = import_fashion_mnist(tmp_path / "d", source=source, limit=1)
    assert summary.train_counts == summary.test_counts == (1, 0, 1, 1, 0, 0, 0, 1, 0, 1)
    names = sorted(
        path.relative_to(tmp_path / "d").as_posix() for path in (tmp_path / "d").rglob("*.png")
    )
    assert names == [
        "test/Ankle_boot/00003.png",
        "test/Dress/00002.png",
        "test/Pullover/00004.png",
        "test/Sneaker/00000.png",
        "test/T-shirt_top/00001.png",
        "train/Ankle_boot/00000.png",
        "train/Dress/00003.png",
        "train/Pullover/00005.png",
        "train/Sneaker/00006.png",
        "train/T-shirt_top/00001.png",
    ]
    with pytest.raises(ValueError, match="limit must be 1 or more"):
        import_fashion_mnist(tmp_path / "e", source=source, limit=0)


@pytest.mark.skipif(
    not (DEFAULT_SOURCE / "t10k-labels-idx1-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_the_real_files_import_with_their_labels(tmp_path: Path) -> None:
    summary = import_fashion_mnist(tmp_path / "fm", limit=5)
    assert summary.train_counts == summary.test_counts == (5,) * 10
    # Fashion-MNIST's first labels: train 9 0 0 3 0 2 7 2..., test 9 2 1 1...
    expected = [
        "train/Ankle_boot/00000.png",
        "train/T-shirt_top/00001.png",
        "train/Dress/00003.png",
        "train/Sneaker/00006.png",
        "test/Ankle_boot/00000.png",
        "test/Pullover/00001.png",
        "test/Trouser/00002.png",
    ]
    for name in expected:
        with Image.open(tmp_path / "fm" / name) as image:
            assert image.size == (28, 28) and image.mode == "L"
            assert np.asarray(image).max() > 0
    dataset = open_dataset(tmp_path / "fm")
    assert dataset.classes == tuple(sorted(CLASSES))
    assert dataset.test is not None
    assert len(dataset.train.items) == len(dataset.test.items) == 50
