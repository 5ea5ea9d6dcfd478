"""The check finds what would spoil training: damaged files, duplicates, thin classes."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from tests.trainer.dataset.images import image_bytes, make_dataset, write_file
from trainer.dataset.check import CheckReport, check, inspect_file, print_report
from trainer.dataset.layout import open_dataset

BALANCED = {"cat": 12, "dog": 12, "owl": 12}


def printed(report: CheckReport) -> str:
    out = io.StringIO()
    print_report(report, out)
    return out.getvalue()


def test_a_clean_dataset_is_ok_with_its_counts_and_digest(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"cat": 12, "dog": 11, "owl": 10})
    for number, size in enumerate([(300, 260), (64, 48), (7, 9), (1, 1)]):
        write_file(root / "cat" / f"{number}.jpg", image_bytes(99 + number, size=size, fmt="JPEG"))
    report = check(root)
    assert report.ok and report.errors == ()
    assert report.classes == ("cat", "dog", "owl")
    assert [(half.name, half.counts) for half in report.halves] == [("train", (16, 11, 10))]
    assert report.files == 37
    assert not report.unreadable and not report.empty_files and not report.duplicates
    assert report.small_images == 35  # the 8x8 PNGs and the two tiny JPEGs
    assert report.dataset.digest == open_dataset(root).digest
    text = printed(report)
    assert "cat" in text and "16" in text and report.dataset.digest in text
    assert "\nOK;" in text


def test_damaged_truncated_and_empty_files_are_listed_skipped_and_not_ok(
    tmp_path: Path,
) -> None:
    root = make_dataset(tmp_path / "d", BALANCED)
    png = image_bytes(1, size=(64, 64))
    jpeg = image_bytes(2, size=(300, 300), fmt="JPEG")  # big enough to load at 1/8 scale
    garbage = write_file(root / "cat" / "garbage.png", b"this is not a picture at all")
    cut_png = write_file(root / "cat" / "cut.png", png[: len(png) * 2 // 3])
    cut_jpeg = write_file(root / "dog" / "cut.jpg", jpeg[: len(jpeg) * 2 // 3])
    flipped = bytearray(png)
    flipped[len(png) // 2] ^= 0xFF  # a bit error inside the compressed pixels
    bad_crc = write_file(root / "dog" / "flipped.png", bytes(flipped))
    checksum = bytearray(png)
    checksum[png.index(b"IEND") - 8] ^= 0xFF  # the IDAT checksum: pixels load, verify fails
    bad_checksum = write_file(root / "owl" / "checksum.png", bytes(checksum))
    empty = write_file(root / "owl" / "empty.jpg", b"")
    report = check(root)
    assert not report.ok
    assert {problem.path for problem in report.unreadable} == {
        garbage,
        cut_png,
        cut_jpeg,
        bad_crc,
        bad_checksum,
    }
    assert report.empty_files == (empty,)
    reasons = {problem.path.name: problem.reason for problem in report.unreadable}
    assert "not an image" in reasons["garbage.png"]
    assert "damaged" in reasons["cut.png"] and "damaged" in reasons["cut.jpg"]
    assert [half.counts for half in report.halves] == [(12, 12, 12)]  # only good ones count
    assert report.files == 42
    assert len(report.errors) == 2
    text = printed(report)
    assert "NOT OK" in text
    for path in (garbage, cut_png, cut_jpeg, bad_crc, bad_checksum, empty):
        assert str(path) in text


def test_inspect_file_never_raises_even_for_an_unreadable_path(tmp_path: Path) -> None:
    facts = inspect_file(tmp_path / "gone.png")
    assert facts.problem is not None and "cannot be read" in facts.problem
    folder = tmp_path / "folder.png"
    folder.mkdir()
    assert inspect_file(folder).problem is not None


def test_duplicates_are_grouped_and_label_conflicts_come_first(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", BALANCED)
    shutil.copy(root / "cat" / "000.png", root / "cat" / "copy.png")
    shutil.copy(root / "cat" / "000.png", root / "cat" / "copy2.png")
    shutil.copy(root / "dog" / "005.png", root / "owl" / "stray.png")
    report = check(root)
    assert report.ok  # duplicates are warnings
    first, second = report.duplicates
    assert first.label_conflict and first.classes == ("dog", "owl")
    assert first.paths == (root / "dog" / "005.png", root / "owl" / "stray.png")
    assert not second.label_conflict and second.classes == ("cat",)
    assert second.paths == tuple(
        root / "cat" / name for name in ("000.png", "copy.png", "copy2.png")
    )
    assert not first.crosses_halves and not second.crosses_halves
    assert any("label conflicts" in warning for warning in report.warnings)
    assert any("3 copies beyond the first" in warning for warning in report.warnings)
    assert "CONFLICT" in printed(report)


def test_counts_per_half_and_duplicates_across_train_and_test(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_dataset(root / "train", BALANCED)
    make_dataset(root / "test", {"cat": 10, "dog": 10, "owl": 10}, first_seed=500)
    shutil.copy(root / "train" / "owl" / "003.png", root / "test" / "owl" / "leak.png")
    report = check(root)
    assert [(half.name, half.counts) for half in report.halves] == [
        ("train", (12, 12, 12)),
        ("test", (10, 10, 11)),
    ]
    (group,) = report.duplicates
    assert group.crosses_halves and not group.label_conflict
    assert group.halves == ("train", "test")
    assert any("both train/ and test/" in warning for warning in report.warnings)
    text = printed(report)
    assert "train" in text.splitlines()[2] and "test" in text.splitlines()[2]


def test_thin_classes_are_warned_about(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"a": 30, "b": 30, "c": 30, "d": 14, "e": 4})
    report = check(root)
    assert report.ok
    imbalance = [warning for warning in report.warnings if warning.startswith("class ")]
    assert imbalance == [
        "class d has 14 images, under half the median (30)",
        "class e has only 4 images (fewer than 10)",
    ]


def test_balanced_classes_get_no_imbalance_warning(tmp_path: Path) -> None:
    report = check(make_dataset(tmp_path / "d", {"a": 10, "b": 19, "c": 12}))
    assert not [warning for warning in report.warnings if warning.startswith("class ")]


def test_a_class_of_only_unreadable_files_is_an_error(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", BALANCED)
    write_file(root / "ghost" / "a.png", b"nope")
    report = check(root)
    assert not report.ok
    assert report.halves[0].counts == (12, 12, 0, 12)
    assert any("without a readable image: ghost" in error for error in report.errors)


def test_small_images_other_formats_and_ignored_files_are_noted(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", BALANCED)
    for number in range(3):
        write_file(root / "cat" / f"big{number}.png", image_bytes(50 + number, size=(32, 40)))
    write_file(root / "dog" / "really_a_gif.png", image_bytes(60, size=(40, 40), fmt="GIF"))
    write_file(root / "owl" / "notes.txt", b"hello")
    write_file(root / "owl" / "inner" / "x.png", image_bytes(61))
    report = check(root)
    assert report.ok
    assert report.small_images == 36
    assert [problem.path.name for problem in report.other_formats] == ["really_a_gif.png"]
    assert {path.name for path in report.ignored} == {"notes.txt", "inner"}
    assert any("smaller than 32x32" in warning for warning in report.warnings)
    assert any("neither JPEG nor PNG" in warning for warning in report.warnings)
    assert any("2 entries" in warning for warning in report.warnings)
