"""Scores of predicted probabilities against labels, shared by ``evaluate`` and ``baseline``."""

from __future__ import annotations

import numpy as np
from sklearn import metrics


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Loss, accuracy, precision, recall, F1 and ROC AUC of probabilities ``p`` for labels ``y``."""
    y = y.astype(bool)
    predicted = p >= threshold
    tp = int(np.sum(predicted & y))
    fp = int(np.sum(predicted & ~y))
    fn = int(np.sum(~predicted & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "loss": log_loss(y, p),
        "accuracy": float(np.mean(predicted == y)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
        "roc_auc": roc_auc(y, p),
        "threshold": float(threshold),
    }


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities ``p``, clipped to [1e-7, 1 - 1e-7] as Keras clips them."""
    return float(metrics.log_loss(np.asarray(y).astype(int), np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when ``y`` holds one class only."""
    y = np.asarray(y).astype(bool)
    return float(metrics.roc_auc_score(y, p)) if y.any() and not y.all() else float("nan")
