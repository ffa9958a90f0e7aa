"""Stage ``blend``: the recurrent classifier's and the ``baseline`` stage's predictions, mixed (Mesnil et al. 2014).

The blend is ``sigmoid(w * logit(p_rnn) + (1 - w) * logit(p_ngram))``, a weighted mean of
the two models' log-odds, with the weight ``w`` chosen on the validation split (lowest
log-loss over ``steps + 1`` evenly spaced weights from 0 to 1); the test split is scored
once with that weight. It is its own row wherever results are shown, never presented as
a recurrent model: half of its evidence may come from the n-gram model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages import paths
from stages.errors import PipelineError
from stages.io.arrays import load_split
from stages.io.atomic import write_json, write_summary
from stages.params import Blend
from stages.scores import binary_metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlendPaths(paths.StagePaths):
    """What the stage reads and writes."""

    prepared: Path = paths.PREPARED
    recurrent: Path = paths.RNN_PREDICTIONS
    ngram: Path = paths.BASELINE_PREDICTIONS
    metrics: Path = paths.BLEND_METRICS


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped away from 0 and 1."""
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def mix(p_rnn: np.ndarray, p_ngram: np.ndarray, weight: float) -> np.ndarray:
    """The blend's probabilities for the recurrent model's ``weight`` (0 = n-grams only, 1 = RNN only)."""
    return 1.0 / (1.0 + np.exp(-(weight * logit(p_rnn) + (1.0 - weight) * logit(p_ngram))))


def choose_weight(y: np.ndarray, p_rnn: np.ndarray, p_ngram: np.ndarray, steps: int) -> tuple[float, list]:
    """The weight with the lowest validation log-loss (the first of equals), and every weight's loss."""
    curve = [(w, binary_metrics(y, mix(p_rnn, p_ngram, w), 0.5)["loss"]) for w in np.linspace(0.0, 1.0, steps + 1)]
    best = min(range(len(curve)), key=lambda i: (curve[i][1], i))
    return float(curve[best][0]), curve


def load_predictions(path: Path, what: str, labels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``val`` and ``test`` probabilities in ``path``, checked against the prepared splits."""
    if not path.is_file():
        raise PipelineError(f"{what} predictions {path} not found: run `dvc repro` first")
    with np.load(path, allow_pickle=False) as saved:
        found = {split: saved[split] for split in labels if split in saved}
    for split, y in labels.items():
        if split not in found or found[split].shape != y.shape:
            raise PipelineError(
                f"{path} does not hold {what} predictions for the prepared {split} split: rerun `dvc repro`"
            )
    return found


def run(params: Blend, files: BlendPaths = BlendPaths()) -> dict:
    """The whole stage: read both models' predictions, choose the weight on val, score test; returns the metrics."""
    labels = {split: load_split(paths.split_arrays(split, files.prepared)).y for split in ("val", "test")}
    rnn = load_predictions(files.recurrent, "the recurrent classifier's", labels)
    ngram = load_predictions(files.ngram, "the baseline's", labels)
    weight, _ = choose_weight(labels["val"], rnn["val"], ngram["val"], params.steps)
    val = binary_metrics(labels["val"], mix(rnn["val"], ngram["val"], weight), 0.5)
    test = binary_metrics(labels["test"], mix(rnn["test"], ngram["test"], weight), 0.5)
    metrics = {
        "blend": {
            "model": "weighted mean of the RNN's and the n-gram baseline's log-odds",
            "rnn_weight": round(weight, 6),
            "val": {key: val[key] for key in ("accuracy", "loss")},
            "test": test,
        }
    }
    write_json(files.metrics, metrics)
    write_summary(files.metrics, "blend", {"blend": {"test": test["accuracy"], "weight": round(weight, 6)}})
    log.info(
        "blend: RNN weight %.2f chosen on validation (accuracy %.4f); test accuracy %.4f",
        weight,
        val["accuracy"],
        test["accuracy"],
    )
    return metrics
