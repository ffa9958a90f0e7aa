"""Stage ``plot``: PNG figures of training curves, confusion matrix, ROC, accuracy by length, language-model loss.

``dvc plots diff`` shows these images side by side across revisions; the interactive
versions come from the plot data declared at the top of ``dvc.yaml``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from stages import paths  # noqa: E402
from stages.errors import PipelineError  # noqa: E402
from stages.io.atomic import atomic_path  # noqa: E402
from stages.params import Plot  # noqa: E402
from stages.text import LABEL_NAMES  # noqa: E402

log = logging.getLogger(__name__)

FIGURES = ("loss", "accuracy", "confusion", "roc", "precision_recall", "length_accuracy", "lm_loss")


def read_data(path: Path, sep: str = ",") -> pd.DataFrame:
    """Read a plot-data file, naming the stage to rerun when it is missing or empty."""
    try:
        frame = pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise PipelineError(f"{path} not found: run `dvc repro` up to the stage that writes it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path} is malformed ({exc}): rerun the stage that writes it") from None
    if frame.empty:
        raise PipelineError(f"{path} holds no rows: rerun the stage that writes it")
    return frame


def training_curve(history: pd.DataFrame, metric: str) -> plt.Figure:
    """Training and validation ``metric`` per epoch, as the Keras tutorials plot them."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history["epoch"], history[metric], "o-", label=f"training {metric}")
    ax.plot(history["epoch"], history[f"val_{metric}"], "s--", label=f"validation {metric}")
    ax.set(title=f"Training and validation {metric}", xlabel="epoch", ylabel=metric)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def language_model_curve(history: pd.DataFrame) -> plt.Figure:
    """Sampled-softmax training loss of the forward and backward language models over the tokens trained."""
    fig, ax = plt.subplots(figsize=(6, 4))
    millions = history["tokens"] / 1e6
    ax.plot(millions, history["forward_loss"], label="forward")
    ax.plot(millions, history["backward_loss"], "--", label="backward")
    ax.set(title="Language models: training loss (sampled softmax)", xlabel="tokens trained (millions)", ylabel="loss")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def confusion_figure(counts: pd.DataFrame) -> plt.Figure:
    """Confusion matrix heat map with counts in the cells."""
    labels = list(LABEL_NAMES)
    matrix = (
        counts.pivot(index="actual", columns="predicted", values="count")
        .reindex(index=labels, columns=labels)
        .fillna(0)
    )
    fig, ax = plt.subplots(figsize=(4.5, 4))
    image = ax.imshow(matrix.to_numpy(), cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        color = "white" if value > matrix.to_numpy().max() / 2 else "black"
        ax.text(j, i, f"{int(value):,}", ha="center", va="center", color=color)
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix (test)",
    )
    fig.colorbar(image, ax=ax)
    return fig


def curve_figure(frame: pd.DataFrame, x: str, y: str, title: str, diagonal: bool) -> plt.Figure:
    """A single curve (ROC or precision-recall) on the unit square."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(frame[x], frame[y])
    if diagonal:
        ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(title=title, xlabel=x, ylabel=y, xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    return fig


def length_figure(frame: pd.DataFrame) -> plt.Figure:
    """Test accuracy per review-length bucket, with how many reviews each holds."""
    frame = frame.dropna(subset=["accuracy"])
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar(
        frame["bucket"],
        frame["accuracy"],
        color=["tab:orange" if t > 0 else "tab:blue" for t in frame["truncated_share"]],
    )
    for bar, count in zip(bars, frame["reviews"]):
        ax.annotate(
            f"n={count:,}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8
        )
    low = max(0.0, float(frame["accuracy"].min()) - 0.1)
    ax.set(
        title="Test accuracy by review length (orange: truncated)",
        xlabel="tokens before truncation",
        ylabel="accuracy",
        ylim=(low, 1),
    )
    return fig


def save(fig: plt.Figure, target: Path, dpi: int) -> None:
    """Save a figure as PNG atomically and close it."""
    with atomic_path(target, suffix=".png") as tmp:
        fig.tight_layout()
        fig.savefig(tmp, dpi=dpi, format="png", metadata={"Software": None})  # no version stamp: stable bytes
    plt.close(fig)


@dataclass(frozen=True)
class PlotPaths(paths.StagePaths):
    """What the stage reads and writes."""

    plot_data: Path = paths.PLOT_DATA  # the curves, counts and histories the other stages wrote
    figures: Path = paths.FIGURES


def run(params: Plot, files: PlotPaths = PlotPaths()) -> list[Path]:
    """The whole stage: read the plot data, write one PNG per figure; returns them."""
    plot_data, figures = files.plot_data, files.figures
    history = read_data(plot_data / paths.HISTORY.name, sep="\t")
    roc = read_data(plot_data / paths.ROC_CURVE.name)
    pr = read_data(plot_data / paths.PR_CURVE.name)
    made = {
        "loss": training_curve(history, "loss"),
        "accuracy": training_curve(history, "accuracy"),
        "confusion": confusion_figure(read_data(plot_data / paths.CONFUSION.name)),
        "roc": curve_figure(roc, "fpr", "tpr", "ROC curve (test)", diagonal=True),
        "precision_recall": curve_figure(pr, "recall", "precision", "Precision-recall (test)", diagonal=False),
        "length_accuracy": length_figure(read_data(plot_data / paths.LENGTH_ACCURACY.name)),
        "lm_loss": language_model_curve(read_data(plot_data / paths.LM_HISTORY.name, sep="\t")),
    }
    written = []
    for name in FIGURES:
        target = figures / f"{name}.png"
        save(made[name], target, params.dpi)
        written.append(target)
    log.info("wrote %d figures to %s", len(written), figures)
    return written
