"""Check a dataset folder before training: counts, damaged files, duplicates, imbalance.

Every image is read once: its bytes give the SHA-256 for the digest and for finding
duplicates, then Pillow checks it twice, `verify()` (structure and checksums) and a real
`load()` (which finds truncation that verify misses). Big JPEGs load at 1/8 scale: libjpeg
still decodes every coefficient, so damage is still found, in about half the time.

Errors (`report.ok` is false): files that are not decodable images, zero-byte files, and
classes without a single readable image. Warnings: duplicates (the same bytes under two
classes, a label conflict, come first; then those across train/test, which make the test
flatter the model), class imbalance (fewer than half the median count of a half, or fewer
than 10 images), images smaller than 32x32, files that are not JPEG or PNG inside, files
ignored by suffix.

Structural problems (no class folder, a class folder without images, train/test with
different classes) raise `DatasetError` as in `open_dataset`. The report's `dataset` is the
one `open_dataset` gives, from the same single read (a file that cannot be read at all
counts in its digest as if empty).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from PIL import Image, UnidentifiedImageError

from trainer.dataset.layout import (
    IO_WORKERS,
    Dataset,
    Listing,
    combined_digest,
    index_of,
    list_layout,
    parallel_map,
    read_file,
)

MIN_IMAGES = 10
SMALL_SIDE = 32
#: Pillow's names of the formats a dataset is meant to hold.
FORMATS = frozenset({"JPEG", "PNG"})
#: Listed paths per problem in the printed report; the report itself keeps them all.
SHOWN = 10
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
EMPTY_FILE = "empty (0 bytes)"
#: JPEGs this many pixels wide and high or more load at 1/8 scale (smaller ones gain nothing).
DRAFT_FROM = 256


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file and what is wrong with it."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Files with the same bytes (two or more)."""

    sha256: str
    paths: tuple[Path, ...]  # sorted
    classes: tuple[str, ...]  # the distinct classes they are filed under, sorted
    halves: tuple[str, ...]  # the distinct halves ("train", "test") they are in

    @property
    def label_conflict(self) -> bool:
        """The same image filed under two or more classes."""
        return len(self.classes) > 1

    @property
    def crosses_halves(self) -> bool:
        """The same image in both train/ and test/."""
        return len(self.halves) > 1


@dataclass(frozen=True, slots=True)
class HalfCounts:
    """Readable images per class (in class order) of a half ("train" or "test")."""

    name: str
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `check` found. `dataset` indexes every image file, readable or not."""

    dataset: Dataset
    halves: tuple[HalfCounts, ...]  # one ("train": the whole folder) or two
    unreadable: tuple[FileProblem, ...]
    empty_files: tuple[Path, ...]
    duplicates: tuple[DuplicateGroup, ...]
    small_images: int  # readable images narrower or lower than SMALL_SIDE
    other_formats: tuple[FileProblem, ...]  # readable, but not JPEG or PNG inside
    ignored: tuple[Path, ...]  # entries in class folders that are not images by suffix
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, sorted."""
        return self.dataset.classes

    @property
    def files(self) -> int:
        """Image files looked at (by suffix), readable or not."""
        return sum(len(index.items) for _, index in self.dataset.halves)


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What one file turned out to be."""

    sha256: str
    size: int  # bytes
    dimensions: tuple[int, int] | None  # (width, height) when readable
    image_format: str | None  # Pillow's name of the format, when readable
    problem: str | None  # why it is not a usable image, when it is not


def inspect_file(path: Path) -> FileFacts:
    """Read a file once, hash it and decode it; never raises (a problem is returned)."""
    try:
        data = read_file(path)
    except OSError as error:
        return FileFacts(EMPTY_SHA256, 0, None, None, f"cannot be read ({error.strerror})")
    sha = hashlib.sha256(data).hexdigest()
    if not data:
        return FileFacts(sha, 0, None, None, EMPTY_FILE)
    try:
        formats = _formats(data)
        with Image.open(io.BytesIO(data), formats=formats) as image:
            image.verify()
        with Image.open(io.BytesIO(data), formats=formats) as image:
            dimensions, image_format = image.size, image.format
            if image_format == "JPEG" and min(image.size) >= DRAFT_FROM:
                image.draft(None, (image.width // 8, image.height // 8))
            image.load()
    except UnidentifiedImageError:
        return FileFacts(sha, len(data), None, None, "not an image Pillow recognises")
    except Image.DecompressionBombError as error:
        return FileFacts(sha, len(data), None, None, f"too many pixels ({error})")
    except Exception as error:  # Pillow raises many types for damaged files; none may escape.
        return FileFacts(sha, len(data), None, None, f"damaged ({_reason(error)})")
    return FileFacts(sha, len(data), dimensions, image_format, None)


def _formats(data: bytes) -> tuple[str, ...] | None:
    """The formats for Pillow to try: JPEG or PNG by signature (saves trying every plugin,
    about a tenth of the time for tiny images), else all."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ("PNG",)
    if data.startswith(b"\xff\xd8\xff"):
        return ("JPEG",)
    return None


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check(root: Path, *, workers: int = IO_WORKERS) -> CheckReport:
    """Check every image of a dataset folder (see the module's docstring for what counts)."""
    started = time.perf_counter()
    train_listing, test_listing = list_layout(root)
    listings = [train_listing] if test_listing is None else [train_listing, test_listing]
    paths = [item.path for listing in listings for item in listing.items]
    facts = parallel_map(inspect_file, paths, workers=workers)
    per_listing: list[Sequence[FileFacts]] = []
    for listing in listings:
        per_listing.append(facts[: len(listing.items)])
        facts = facts[len(listing.items) :]
    indices = [
        index_of(listing, [fact.sha256 for fact in listing_facts])
        for listing, listing_facts in zip(listings, per_listing, strict=True)
    ]
    test = indices[1] if len(indices) > 1 else None
    dataset = Dataset(root, indices[0], test, combined_digest(indices[0], test))
    report = _report(dataset, listings, per_listing)
    return dataclasses.replace(report, seconds=time.perf_counter() - started)


def _report(
    dataset: Dataset,
    listings: Sequence[Listing],
    per_listing: Sequence[Sequence[FileFacts]],
) -> CheckReport:
    halves: list[HalfCounts] = []
    unreadable: list[FileProblem] = []
    empty: list[Path] = []
    other_formats: list[FileProblem] = []
    small = 0
    for (name, _), listing, facts in zip(dataset.halves, listings, per_listing, strict=True):
        counts = [0] * len(listing.classes)
        for item, fact in zip(listing.items, facts, strict=True):
            if fact.problem == EMPTY_FILE:
                empty.append(item.path)
            elif fact.problem is not None:
                unreadable.append(FileProblem(item.path, fact.problem))
            else:
                counts[item.label] += 1
                small += _is_small(fact)
                if fact.image_format not in FORMATS:
                    other_formats.append(FileProblem(item.path, f"{fact.image_format} inside"))
        halves.append(HalfCounts(name, tuple(counts)))
    duplicates = _duplicates(dataset, listings, per_listing)
    ignored = tuple(path for listing in listings for path in listing.ignored)
    report = CheckReport(
        dataset=dataset,
        halves=tuple(halves),
        unreadable=tuple(unreadable),
        empty_files=tuple(empty),
        duplicates=duplicates,
        small_images=small,
        other_formats=tuple(other_formats),
        ignored=ignored,
        errors=(),
        warnings=(),
        seconds=0.0,
    )
    return _with_findings(report)


def _is_small(fact: FileFacts) -> bool:
    return fact.dimensions is not None and min(fact.dimensions) < SMALL_SIDE


def _duplicates(
    dataset: Dataset, listings: Sequence[Listing], per_listing: Sequence[Sequence[FileFacts]]
) -> tuple[DuplicateGroup, ...]:
    """Groups of readable images with the same bytes, label conflicts first, then by path."""
    groups: dict[str, list[tuple[Path, str, str]]] = defaultdict(list)
    for (name, _), listing, facts in zip(dataset.halves, listings, per_listing, strict=True):
        for item, fact in zip(listing.items, facts, strict=True):
            if fact.problem is None:
                groups[fact.sha256].append((item.path, listing.classes[item.label], name))
    found = [
        DuplicateGroup(
            sha256=sha,
            paths=tuple(sorted(path for path, _, _ in members)),
            classes=tuple(sorted({label for _, label, _ in members})),
            halves=tuple(h for h, _ in dataset.halves if any(h == m[2] for m in members)),
        )
        for sha, members in groups.items()
        if len(members) > 1
    ]
    return tuple(sorted(found, key=lambda group: (not group.label_conflict, group.paths)))


def _with_findings(report: CheckReport) -> CheckReport:
    errors: list[str] = []
    warnings: list[str] = []
    if report.unreadable:
        errors.append(f"{len(report.unreadable)} files are not decodable images (skipped)")
    if report.empty_files:
        errors.append(f"{len(report.empty_files)} files are empty, 0 bytes (skipped)")
    for half in report.halves:
        empty_classes = [c for c, n in zip(report.classes, half.counts, strict=True) if n == 0]
        if empty_classes:
            where = _where(report, half)
            errors.append(f"classes without a readable image{where}: {', '.join(empty_classes)}")
    warnings.extend(_duplicate_warnings(report.duplicates))
    for half in report.halves:
        warnings.extend(imbalance_warnings(report.classes, half.counts, where=_where(report, half)))
    if report.small_images:
        warnings.append(
            f"{report.small_images} images are smaller than {SMALL_SIDE}x{SMALL_SIDE}; they are "
            "upscaled to the model's input size"
        )
    if report.other_formats:
        warnings.append(
            f"{len(report.other_formats)} files are readable but neither JPEG nor PNG inside "
            "(whatever their suffix); convert them if the trainer cannot read them"
        )
    if report.ignored:
        warnings.append(
            f"{len(report.ignored)} entries in class folders are not .jpg/.jpeg/.png and are "
            "ignored (other formats, nested folders)"
        )
    return dataclasses.replace(report, errors=tuple(errors), warnings=tuple(warnings))


def _where(report: CheckReport, half: HalfCounts) -> str:
    return f" in {half.name}/" if len(report.halves) > 1 else ""


def _duplicate_warnings(duplicates: Sequence[DuplicateGroup]) -> list[str]:
    warnings = []
    conflicts = [group for group in duplicates if group.label_conflict]
    if conflicts:
        warnings.append(
            f"{len(conflicts)} images are filed under more than one class (label conflicts); "
            "keep each under its one right class"
        )
    leaks = [group for group in duplicates if group.crosses_halves]
    if leaks:
        warnings.append(
            f"{len(leaks)} images are in both train/ and test/; the test score flatters the model"
        )
    if duplicates:
        extra = sum(len(group.paths) - 1 for group in duplicates)
        warnings.append(
            f"{len(duplicates)} groups of identical files ({extra} copies beyond the first)"
        )
    return warnings


def imbalance_warnings(
    classes: Sequence[str], counts: Sequence[int], *, where: str = ""
) -> list[str]:
    """Warnings for classes (with images) with fewer than MIN_IMAGES images, or fewer than
    half the median count of all classes."""
    if not counts:
        return []
    median = statistics.median(counts)
    warnings = []
    for name, count in zip(classes, counts, strict=True):
        if count == 0:
            continue  # an error, reported as such
        if count < MIN_IMAGES:
            warnings.append(f"class {name} has only {count} images{where} (fewer than 10)")
        elif count < median / 2:
            warnings.append(
                f"class {name} has {count} images{where}, under half the median ({median:g})"
            )
    return warnings


def print_report(report: CheckReport, out: TextIO) -> None:
    """The report as a table of counts, then errors and warnings with the files concerned."""
    dataset = report.dataset
    layout = "its own train/test split" if dataset.test is not None else "no test half"
    out.write(
        f"Dataset {dataset.root}: {report.files} image files, {len(report.classes)} classes, "
        f"{layout}\n\n"
    )
    _print_counts(report, out)
    out.write(f"\ndigest {dataset.digest}\n")
    if report.errors:
        out.write("\nErrors:\n")
        for line in report.errors:
            out.write(f"  - {line}\n")
        _print_problems("not decodable", report.unreadable, out)
        _print_paths("empty", report.empty_files, out)
    if report.warnings:
        out.write("\nWarnings:\n")
        for line in report.warnings:
            out.write(f"  - {line}\n")
        _print_duplicates(report.duplicates, out)
        _print_problems("other formats", report.other_formats, out)
        _print_paths("ignored", report.ignored, out)
    verdict = "OK" if report.ok else f"NOT OK ({len(report.errors)} errors)"
    out.write(f"\n{verdict}; checked in {report.seconds:.1f} s\n")


def _print_counts(report: CheckReport, out: TextIO) -> None:
    width = max(len("class"), len("total"), *(len(name) for name in report.classes))
    names = [half.name for half in report.halves] if len(report.halves) > 1 else ["images"]
    out.write(f"{'class':<{width}}" + "".join(f"  {name:>7}" for name in names) + "\n")
    for label, name in enumerate(report.classes):
        row = "".join(f"  {half.counts[label]:>7}" for half in report.halves)
        out.write(f"{name:<{width}}{row}\n")
    totals = "".join(f"  {sum(half.counts):>7}" for half in report.halves)
    out.write(f"{'total':<{width}}{totals}\n")


def _print_problems(title: str, problems: Sequence[FileProblem], out: TextIO) -> None:
    if problems:
        out.write(f"    {title}:\n")
        for problem in problems[:SHOWN]:
            out.write(f"      {problem.path}: {problem.reason}\n")
        _print_more(len(problems), out)


def _print_paths(title: str, paths: Sequence[Path], out: TextIO) -> None:
    if paths:
        out.write(f"    {title}:\n")
        for path in paths[:SHOWN]:
            out.write(f"      {path}\n")
        _print_more(len(paths), out)


def _print_duplicates(groups: Sequence[DuplicateGroup], out: TextIO) -> None:
    if groups:
        out.write("    identical files (label conflicts first):\n")
        for group in groups[:SHOWN]:
            mark = "CONFLICT " if group.label_conflict else ""
            mark += "TRAIN+TEST " if group.crosses_halves else ""
            out.write(f"      {mark}{' = '.join(str(path) for path in group.paths)}\n")
        _print_more(len(groups), out)


def _print_more(count: int, out: TextIO) -> None:
    if count > SHOWN:
        out.write(f"      ... and {count - SHOWN} more\n")
