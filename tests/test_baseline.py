"""Tests of stages/baseline.py: the NB-weighted n-gram logistic regression reference row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stages import baseline
from tests.tiny import make_prepared


def test_nb_ratio_weighs_words_by_the_label_they_come_with():
    from scipy.sparse import csr_matrix

    counts = csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]]))  # great, awful, the
    ratio = baseline.nb_ratio(counts, np.array([1, 1, 0, 0]), alpha=1.0)
    assert ratio[0] > 0 > ratio[1] and ratio[2] == pytest.approx(0.0)
    assert ratio[0] == pytest.approx(-ratio[1])


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline")
    prepared = make_prepared(folder, per_label=20)
    fitted: list[list[str]] = []
    original = baseline.NBLogisticRegression.fit

    def recording(self, texts, y):
        fitted.append(list(texts))
        return original(self, texts, y)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(baseline.NBLogisticRegression, "fit", recording)
        files = baseline.BaselinePaths(
            folder / "reviews.parquet", prepared, folder / "baseline.json", folder / "predictions.npz"
        )
        metrics = baseline.run(baseline.Baseline(ngrams=2, min_df=1, alpha=1.0, c=1.0), files)
    return folder, prepared, metrics, fitted


def test_writes_val_and_test_scores_of_a_separable_task(scored):
    folder, _, metrics, _ = scored
    assert json.loads((folder / "baseline.json").read_text()) == metrics
    result = metrics["baseline"]
    assert result["model"] == "NB-weighted 1-2-gram logistic regression" and result["features"] > 10
    assert result["test"]["accuracy"] == 1.0 and result["val"]["accuracy"] == 1.0  # sentiment words give labels away
    assert set(result["test"]) >= {"accuracy", "f1", "roc_auc", "loss"}


def test_writes_the_probabilities_it_scored_for_the_blend(scored):
    folder, prepared, metrics, _ = scored
    with np.load(folder / "predictions.npz", allow_pickle=False) as saved:
        for split in ("val", "test"):
            y = np.load(prepared / f"{split}.npz")["y"]
            assert saved[split].shape == y.shape
            assert np.mean((saved[split] >= 0.5) == y) == metrics["baseline"][split]["accuracy"]


def test_fits_on_the_training_split_only(scored):
    folder, prepared, _, fitted = scored
    table = pd.read_parquet(folder / "reviews.parquet")
    rows = {split: np.load(prepared / f"{split}.npz")["row"] for split in ("train", "val", "test")}
    [texts] = fitted  # one fit, on exactly the training rows: validation and test are only scored
    assert texts == table["text"].iloc[rows["train"]].tolist()
    assert len(texts) == len(rows["train"]) < len(table) - len(rows["test"])


def test_same_reviews_give_the_same_probabilities_whatever_the_global_random_state(scored):
    """liblinear's dual solver visits the reviews in a shuffled order: it must be seeded, not drawn from numpy's
    global generator, or two runs of the stage give different predictions and metrics."""
    folder, prepared, _, _ = scored
    texts, y = baseline.texts_and_labels(folder / "reviews.parquet", prepared, "train")
    test_texts, _ = baseline.texts_and_labels(folder / "reviews.parquet", prepared, "test")
    probabilities = []
    for state in (1, 2):
        np.random.seed(state)
        model = baseline.NBLogisticRegression(ngrams=2, min_df=1, alpha=1.0, c=1.0).fit(texts, y)
        probabilities.append(model.predict_probability(test_texts))
    np.testing.assert_array_equal(*probabilities)
