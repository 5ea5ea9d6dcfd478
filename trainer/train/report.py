"""What a run did, for people: report.json (everything) and report.png (the curves and matrices).

report.json holds the spec, the classes, the image counts, every epoch of every phase, the float
and int8 test accuracy side by side, per-class precision/recall and confusion matrices of both,
the timings and the package size. report.png shows loss and accuracy per epoch (train and
validation, phases one after the other), the int8 model's confusion matrix, and per-class
precision/recall of the int8 model (bars) against the float model (markers).

Drawn with matplotlib's Agg canvas directly: no pyplot, no global backend switch, no display.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainer.spec import TrainSpec
from trainer.train.evaluate import Evaluation
from trainer.train.progress import EpochRecord

ANNOTATE_MAX_CLASSES = 20  # write counts into confusion cells up to this many classes


def report_data(
    *,
    spec: TrainSpec,
    classes: Sequence[str],
    counts: Mapping[str, int],
    history: Sequence[EpochRecord],
    float_eval: Evaluation,
    int8_eval: Evaluation,
    timings: Mapping[str, float | bool],
    package_size: int,
    package: str | None = None,
) -> dict[str, Any]:
    """The JSON document of a run."""
    return {
        "spec": spec.model_dump(mode="json"),
        "classes": list(classes),
        "counts": dict(counts),
        "history": [
            {key: _finite(value) for key, value in asdict(record).items()} for record in history
        ],
        "accuracy": {"float": float_eval.accuracy, "int8": int8_eval.accuracy},
        "per_class": [
            {
                "class": name,
                "float_precision": float_eval.precision[i],
                "float_recall": float_eval.recall[i],
                "int8_precision": int8_eval.precision[i],
                "int8_recall": int8_eval.recall[i],
            }
            for i, name in enumerate(classes)
        ],
        "float": float_eval.as_dict(),
        "int8": int8_eval.as_dict(),
        "timings": dict(timings),
        "package": {"path": package, "size": package_size},
    }


def write_report(
    out_dir: Path,
    *,
    spec: TrainSpec,
    classes: Sequence[str],
    counts: Mapping[str, int],
    history: Sequence[EpochRecord],
    float_eval: Evaluation,
    int8_eval: Evaluation,
    timings: Mapping[str, float | bool],
    package_size: int,
    package: str | None = None,
) -> tuple[Path, Path]:
    """report.json and report.png in out_dir; returns their paths."""
    data = report_data(
        spec=spec,
        classes=classes,
        counts=counts,
        history=history,
        float_eval=float_eval,
        int8_eval=int8_eval,
        timings=timings,
        package_size=package_size,
        package=package,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / "report.json", out_dir / "report.png"
    json_path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    plot(png_path, history=history, classes=classes, int8_eval=int8_eval, data=data)
    return json_path, png_path


def _finite(value: Any) -> Any:
    """NaN (a metric Keras did not report) as JSON null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _curves(axes: Axes, history: Sequence[EpochRecord], metric: str) -> None:
    """Train and validation `metric` per epoch, phases in sequence, a line between phases."""
    x = np.arange(1, len(history) + 1)
    axes.plot(x, [getattr(r, metric) for r in history], marker=".", label=f"train {metric}")
    axes.plot(x, [getattr(r, f"val_{metric}") for r in history], marker=".", label=f"val {metric}")
    for i in range(1, len(history)):
        if history[i].phase != history[i - 1].phase:
            axes.axvline(i + 0.5, color="grey", linestyle="--", linewidth=1)
            axes.text(i + 0.6, axes.get_ylim()[1], history[i].phase, va="top", fontsize=8)
    axes.set_xlabel("epoch")
    axes.set_title(metric)
    axes.legend(fontsize=8)


def _confusion(axes: Axes, confusion: np.ndarray, classes: Sequence[str]) -> None:
    k = len(classes)
    axes.imshow(confusion, cmap="Blues")
    axes.set_xticks(range(k), list(classes), rotation=90, fontsize=7)
    axes.set_yticks(range(k), list(classes), fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("int8 confusion matrix")
    if k <= ANNOTATE_MAX_CLASSES:
        top = confusion.max() if confusion.size else 0
        for (row, col), value in np.ndenumerate(confusion):
            colour = "white" if value > top / 2 else "black"
            axes.text(col, row, str(value), ha="center", va="center", color=colour, fontsize=7)


def _bars(axes: Axes, int8_eval: Evaluation, float_data: Mapping[str, Any], k: int) -> None:
    x = np.arange(k)
    axes.bar(x - 0.2, int8_eval.precision, width=0.4, label="int8 precision")
    axes.bar(x + 0.2, int8_eval.recall, width=0.4, label="int8 recall")
    axes.scatter(x - 0.2, float_data["precision"], marker="_", color="black", label="float")
    axes.scatter(x + 0.2, float_data["recall"], marker="_", color="black")
    axes.set_ylim(0, 1.05)
    axes.set_title("per-class precision / recall")
    axes.legend(fontsize=8, loc="lower right")


def plot(
    path: Path,
    *,
    history: Sequence[EpochRecord],
    classes: Sequence[str],
    int8_eval: Evaluation,
    data: Mapping[str, Any],
) -> None:
    """report.png: loss, accuracy, int8 confusion matrix, per-class precision/recall."""
    k = len(classes)
    side = max(5.0, min(14.0, 0.35 * k + 3))
    figure = Figure(figsize=(2 * side, 2 * side * 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    (loss, acc), (matrix, bars) = figure.subplots(2, 2)
    _curves(loss, history, "loss")
    _curves(acc, history, "acc")
    _confusion(matrix, int8_eval.confusion, classes)
    _bars(bars, int8_eval, data["float"], k)
    bars.set_xticks(range(k), list(classes), rotation=90, fontsize=7)
    accuracy = data["accuracy"]
    figure.suptitle(
        f"{data['spec']['version']}: test accuracy float {accuracy['float']:.3f}, "
        f"int8 {accuracy['int8']:.3f} ({int8_eval.count} images)"
    )
    figure.savefig(path, dpi=100)
