"""Stage ``evaluate``: score the trained model once on the test split.

Writes ``reports/metrics.json`` (loss, accuracy, precision, recall, F1, ROC AUC and the
threshold, under ``test``), small plot data (ROC and precision-recall curves thinned to a
few hundred points, the confusion matrix as counts, accuracy by review length) and a
Markdown table of example predictions for a person to read. The validation and test
probabilities go to ``data/predictions/rnn.npz`` for the ``blend`` stage.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics

from stages import paths
from stages.errors import PipelineError
from stages.io.arrays import Encoding, load_split
from stages.io.atomic import write_arrays, write_json, write_summary, write_text
from stages.io.tables import read_table
from stages.params import Evaluate
from stages.scores import binary_metrics
from stages.text import LABEL_NAMES, read_vocabulary

log = logging.getLogger(__name__)

CURVE_POINTS = 200
SUMMARY_KEYS = ("accuracy", "f1", "roc_auc")  # the test figures `dvc exp show` shows


def thin(frame: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """Keep at most ``points`` evenly spaced rows, always the first and last."""
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_curve(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """ROC curve (fpr, tpr, threshold) at every distinct threshold, highest first, thinned; it starts at (0, 0)."""
    fpr, tpr, thresholds = metrics.roc_curve(y, p, drop_intermediate=False)
    thresholds[0] = 1.0  # scikit-learn's +inf: no review called positive
    return thin(pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})).round(5)


def precision_recall_curve(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Precision-recall curve (recall, precision, threshold) at every distinct threshold, highest first, thinned."""
    precision, recall, thresholds = metrics.precision_recall_curve(y, p)
    frame = pd.DataFrame({"recall": recall[:-1], "precision": precision[:-1], "threshold": thresholds})
    return thin(frame.iloc[::-1]).round(5)  # without scikit-learn's closing (recall 0, precision 1) point


def confusion_counts(y: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Confusion matrix as one row per (actual, predicted) pair with its count."""
    rows = [(LABEL_NAMES[a], LABEL_NAMES[b], int(np.sum((y == a) & (predicted == b)))) for a in (0, 1) for b in (0, 1)]
    return pd.DataFrame(rows, columns=["actual", "predicted", "count"])


def accuracy_by_length(
    y: np.ndarray, predicted: np.ndarray, full_length: np.ndarray, edges: list[int], max_len: int
) -> pd.DataFrame:
    """Accuracy per review-length bucket (length before truncation), with each bucket's truncated share."""
    bounds = [0, *edges, np.inf]
    rows = []
    for low, high in zip(bounds[:-1], bounds[1:]):
        inside = (full_length > low) & (full_length <= high)
        if low == 0:
            inside |= full_length == 0
        label = f"{low + 1}-{high}" if np.isfinite(high) else f">{low}"
        count = int(inside.sum())
        rows.append(
            {
                "bucket": label,
                "reviews": count,
                "accuracy": round(float(np.mean(predicted[inside] == y[inside])), 5) if count else None,
                "truncated_share": round(float(np.mean(full_length[inside] > max_len)), 5) if count else None,
            }
        )
    return pd.DataFrame(rows)


def excerpt(text: str, limit: int = 200) -> str:
    """A one-line excerpt of a review for a Markdown table."""
    flat = re.sub(r"\s+", " ", re.sub(r"<br\s*/?>", " ", text, flags=re.IGNORECASE)).strip()
    flat = flat.replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def examples_markdown(texts: list[str], y: np.ndarray, p: np.ndarray, threshold: float, per_kind: int) -> str:
    """Markdown tables of example predictions: confidently wrong, confidently right, uncertain."""
    predicted = p >= threshold
    confidence = np.abs(p - threshold)
    wrong = np.flatnonzero(predicted != y.astype(bool))
    right = np.flatnonzero(predicted == y.astype(bool))
    kinds = {
        "Most confidently wrong": wrong[np.argsort(-confidence[wrong], kind="stable")][:per_kind],
        "Most confidently right": right[np.argsort(-confidence[right], kind="stable")][:per_kind],
        "Least certain": np.argsort(confidence, kind="stable")[:per_kind],
    }
    lines = ["# Example test predictions", "", f"Threshold {threshold:g}; probability is P(positive).", ""]
    for title, rows in kinds.items():
        lines += [f"## {title}", "", "| true | P(pos) | review |", "|---|---|---|"]
        lines += [f"| {LABEL_NAMES[int(y[i])]} | {p[i]:.3f} | {excerpt(texts[i])} |" for i in rows]
        lines.append("")
    return "\n".join(lines)


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a small plot-data CSV atomically."""
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


@dataclass(frozen=True)
class EvaluatePaths(paths.StagePaths):
    """What the stage reads (the prepared splits, the model, the review texts) and writes."""

    prepared: Path = paths.PREPARED
    model: Path = paths.MODEL
    reviews: Path = paths.REVIEWS_TABLE
    metrics: Path = paths.METRICS
    roc: Path = paths.ROC_CURVE
    precision_recall: Path = paths.PR_CURVE
    confusion: Path = paths.CONFUSION
    length_accuracy: Path = paths.LENGTH_ACCURACY
    examples: Path = paths.EXAMPLES
    predictions: Path = paths.RNN_PREDICTIONS  # val and test probabilities, for the blend


def run(params: Evaluate, files: EvaluatePaths = EvaluatePaths()) -> dict:
    """The whole stage; returns the metrics it writes."""
    from stages.nn.batching import predict_probabilities
    from stages.nn.model import vocabulary_size
    from stages.nn.saving import load

    prepared, model_path, out, threshold = files.prepared, files.model, files, params.threshold
    encoding = Encoding.load(prepared / paths.ENCODING.name)
    vocab_size = len(read_vocabulary(prepared / paths.VOCAB.name))
    test = load_split(paths.split_arrays("test", prepared), encoding.max_len, vocab_size)
    val = load_split(paths.split_arrays("val", prepared), encoding.max_len, vocab_size)
    if not model_path.is_file():
        raise PipelineError(f"model {model_path} not found: run `dvc repro train` first")
    model = load(model_path)
    model_vocab = vocabulary_size(model)
    if model_vocab != vocab_size:
        raise PipelineError(
            f"{model_path} expects a vocabulary of {model_vocab} but {prepared / 'vocab.txt'} has {vocab_size}: rerun `dvc repro train`"
        )
    probabilities = predict_probabilities(model, test.x, test.length, encoding.padding)
    val_probabilities = predict_probabilities(model, val.x, val.length, encoding.padding)
    predicted = (probabilities >= threshold).astype(int)
    metrics = {"test": binary_metrics(test.y, probabilities, threshold)}

    write_csv(out.roc, roc_curve(test.y, probabilities))
    write_csv(out.precision_recall, precision_recall_curve(test.y, probabilities))
    write_csv(out.confusion, confusion_counts(test.y, predicted))
    write_csv(
        out.length_accuracy,
        accuracy_by_length(test.y, predicted, test.full_length, list(params.length_buckets), encoding.max_len),
    )
    texts = read_table(files.reviews)["text"].to_numpy()[test.row].tolist()
    write_text(out.examples, examples_markdown(texts, test.y, probabilities, threshold, params.examples))
    write_arrays(
        out.predictions, {"val": val_probabilities.astype(np.float32), "test": probabilities.astype(np.float32)}
    )
    write_json(out.metrics, metrics)
    write_summary(out.metrics, "evaluate", {"test": {key: metrics["test"][key] for key in SUMMARY_KEYS}})
    log.info("test: %s", ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items()))
    return metrics
