"""What software a trainer or a worker runs; a job starts only when all of it matches.

Versions come from the installed distributions, so a worker answers without importing
TensorFlow. Python must match in its major and minor version (a patch release changes no
bytecode or saved-model format); vigia, TensorFlow and tf-keras must match exactly.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from wire.cli import package_version

#: Distribution names TensorFlow is installed under, in the order they are looked up.
TENSORFLOW_DISTS = ("tensorflow-cpu", "tensorflow", "tensorflow-aarch64")


@dataclass(frozen=True, slots=True)
class Versions:
    """The versions that must agree between a coordinator and its workers."""

    vigia: str
    tensorflow: str
    keras: str
    python: str

    def describe(self) -> str:
        """E.g. `vigia 0.1.0, TensorFlow 2.21.0, tf-keras 2.21.0, Python 3.11.7`."""
        return (
            f"vigia {self.vigia}, TensorFlow {self.tensorflow}, tf-keras {self.keras}, "
            f"Python {self.python}"
        )


def _dist_version(*names: str) -> str:
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"


def local_versions() -> Versions:
    """This machine's versions."""
    return Versions(
        vigia=package_version(),
        tensorflow=_dist_version(*TENSORFLOW_DISTS),
        keras=_dist_version("tf-keras"),
        python=platform.python_version(),
    )


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _minor(python: str) -> str:
    return ".".join(python.split(".")[:2])


def mismatches(mine: Versions, theirs: Versions) -> list[str]:
    """Each difference that stops a job, as `TensorFlow 2.20.0 (this trainer: 2.21.0)`."""
    found = []
    for label, ours, other in (
        ("vigia", mine.vigia, theirs.vigia),
        ("TensorFlow", mine.tensorflow, theirs.tensorflow),
        ("tf-keras", mine.keras, theirs.keras),
    ):
        if ours != other:
            found.append(f"{label} {other} (this trainer: {ours})")
    if _minor(mine.python) != _minor(theirs.python):
        found.append(f"Python {theirs.python} (this trainer: {mine.python})")
    return found
