"""Scores of predicted probabilities against labels, shared by ``evaluate`` and ``baseline``."""

from __future__ import annotations

import numpy as np
import pandas as pd


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Loss, accuracy, precision, recall, F1 and ROC AUC of probabilities ``p`` for labels ``y``."""
    y = y.astype(bool)
    predicted = p >= threshold
    tp = int(np.sum(predicted & y))
    fp = int(np.sum(predicted & ~y))
    fn = int(np.sum(~predicted & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    return {
        "loss": float(-np.mean(np.where(y, np.log(clipped), np.log(1 - clipped)))),
        "accuracy": float(np.mean(predicted == y)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
        "roc_auc": roc_auc(y, p),
        "threshold": float(threshold),
    }


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve via the rank statistic (ties count half)."""
    positives, negatives = int(y.sum()), int((~y.astype(bool)).sum())
    if not positives or not negatives:
        return float("nan")
    ranks = pd.Series(p).rank(method="average").to_numpy()
    return float((ranks[y.astype(bool)].sum() - positives * (positives + 1) / 2) / (positives * negatives))
