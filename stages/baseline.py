"""Stage ``baseline``: the model a practitioner would pick instead of an RNN, as a reference row.

An NB-weighted bag-of-n-grams logistic regression (NBSVM-style, Wang & Manning 2012):
binary counts of the review's 1- to ``ngrams``-grams (the project's tokenizer), each
feature scaled by its naive-Bayes log-count ratio r = log((p / |p|) / (q / |q|)), with p
and q the feature's smoothed counts (``alpha``) in positive and negative training
reviews, then an L2-regularised logistic regression (inverse strength ``c``). It is
fitted on the same training split as the RNN (validation held out, for choosing ``c``)
and scored on the same test split, so every comparison says whether the recurrent
model earns its cost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages import paths
from stages.io.arrays import load_split
from stages.io.atomic import write_arrays, write_json, write_summary
from stages.io.tables import read_table
from stages.params import Baseline
from stages.scores import binary_metrics
from stages.text import tokenize

log = logging.getLogger(__name__)


def texts_and_labels(reviews: Path, prepared: Path, split: str) -> tuple[list[str], np.ndarray]:
    """The review texts and labels of one prepared split (``row`` points into the reviews table)."""
    arrays = load_split(paths.split_arrays(split, prepared))
    texts = read_table(reviews, ("text",))["text"].to_numpy()
    return texts[arrays.row].tolist(), arrays.y.astype(np.int64)


def nb_ratio(features, y: np.ndarray, alpha: float) -> np.ndarray:
    """The naive-Bayes log-count ratio of every feature (smoothed by ``alpha``)."""
    p = alpha + np.asarray(features[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(features[y == 0].sum(axis=0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


class NBLogisticRegression:
    """Binary n-gram counts scaled by the NB ratio, then logistic regression."""

    def __init__(self, ngrams: int, min_df: int, alpha: float, c: float):
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = CountVectorizer(
            tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=(1, ngrams), min_df=min_df, binary=True
        )
        self.alpha = alpha
        # liblinear's dual solver visits the reviews in a shuffled order: a fixed seed makes every run the same
        self.classifier = LogisticRegression(C=c, max_iter=1000, solver="liblinear", dual=True, random_state=0)
        self.ratio: np.ndarray | None = None

    def fit(self, texts: list[str], y: np.ndarray) -> NBLogisticRegression:
        counts = self.vectorizer.fit_transform(texts)
        self.ratio = nb_ratio(counts, y, self.alpha)
        self.classifier.fit(counts.multiply(self.ratio).tocsr(), y)
        return self

    def predict_probability(self, texts: list[str]) -> np.ndarray:
        counts = self.vectorizer.transform(texts)
        return self.classifier.predict_proba(counts.multiply(self.ratio).tocsr())[:, 1]


@dataclass(frozen=True)
class BaselinePaths(paths.StagePaths):
    """What the stage reads and writes."""

    reviews: Path = paths.REVIEWS_TABLE
    prepared: Path = paths.PREPARED
    metrics: Path = paths.BASELINE_METRICS
    predictions: Path = paths.BASELINE_PREDICTIONS  # val and test probabilities, for the blend


def run(params: Baseline, files: BaselinePaths = BaselinePaths()) -> dict:
    """The whole stage: fit on train, score val and test, write the metrics and the probabilities; returns the metrics."""
    train_texts, train_y = texts_and_labels(files.reviews, files.prepared, "train")
    began = time.perf_counter()
    model = NBLogisticRegression(params.ngrams, params.min_df, params.alpha, params.c).fit(train_texts, train_y)
    fit_s = time.perf_counter() - began
    scores, probabilities = {}, {}
    for split in ("val", "test"):
        texts, y = texts_and_labels(files.reviews, files.prepared, split)
        probabilities[split] = model.predict_probability(texts).astype(np.float32)
        scores[split] = binary_metrics(y, probabilities[split], 0.5)
    metrics = {
        "baseline": {
            "model": f"NB-weighted 1-{params.ngrams}-gram logistic regression",
            "features": len(model.vectorizer.vocabulary_),
            "train_time_s": round(fit_s, 1),
            "val": {key: scores["val"][key] for key in ("accuracy", "loss")},
            "test": scores["test"],
        }
    }
    write_arrays(files.predictions, probabilities)
    write_json(files.metrics, metrics)
    write_summary(
        files.metrics, "baseline", {"baseline": {split: scores[split]["accuracy"] for split in ("test", "val")}}
    )
    log.info(
        "baseline: %d features, val accuracy %.4f, test accuracy %.4f, %.0f s to fit",
        metrics["baseline"]["features"],
        scores["val"]["accuracy"],
        scores["test"]["accuracy"],
        fit_s,
    )
    return metrics
