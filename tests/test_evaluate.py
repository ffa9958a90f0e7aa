"""Tests of stages/evaluate.py: metrics against hand-computed values, curves, buckets, examples."""

import numpy as np
import pandas as pd
import pytest

from stages import evaluate, scores


def test_binary_metrics_match_hand_computation():
    y = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1])
    m = scores.binary_metrics(y, p, 0.5)
    # tp=2 (0.9, 0.6), fp=1 (0.7), fn=1 (0.4), tn=2
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(7 / 9)  # 7 of 9 (pos, neg) pairs ranked right
    expected_loss = -np.mean(np.log([0.9, 0.6, 0.4, 0.3, 0.8, 0.9]))
    assert m["loss"] == pytest.approx(expected_loss)
    assert m["threshold"] == 0.5 and all(type(v) is float for v in m.values())


def test_roc_curve_is_monotone_thinned_and_ends_at_corners():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    roc = evaluate.roc_curve(y, p)
    assert len(roc) <= evaluate.CURVE_POINTS
    assert (roc.iloc[0][["fpr", "tpr"]] == 0).all() and (roc.iloc[-1][["fpr", "tpr"]] == 1).all()
    assert roc["fpr"].is_monotonic_increasing and roc["tpr"].is_monotonic_increasing
    area = np.trapezoid(roc["tpr"], roc["fpr"])
    assert area == pytest.approx(scores.roc_auc(y, p), abs=0.01)
    pr = evaluate.precision_recall_curve(y, p)
    assert len(pr) <= evaluate.CURVE_POINTS and pr["recall"].iloc[-1] == 1


def test_confusion_counts_and_length_buckets():
    y = np.array([1, 0, 1, 0])
    predicted = np.array([1, 1, 0, 0])
    counts = evaluate.confusion_counts(y, predicted)
    assert counts.set_index(["actual", "predicted"])["count"].to_dict() == {
        ("neg", "neg"): 1,
        ("neg", "pos"): 1,
        ("pos", "neg"): 1,
        ("pos", "pos"): 1,
    }
    buckets = evaluate.accuracy_by_length(y, predicted, np.array([50, 150, 900, 0]), [100, 200], max_len=100)
    assert buckets["bucket"].tolist() == ["1-100", "101-200", ">200"]
    assert buckets["reviews"].tolist() == [2, 1, 1]
    assert buckets["accuracy"].tolist() == [1.0, 0.0, 0.0]
    assert buckets["truncated_share"].tolist() == [0.0, 1.0, 1.0]


def test_examples_list_the_most_confidently_wrong_first():
    texts = ["great<br />film", "awful | bad", "fine", "meh"]
    markdown = evaluate.examples_markdown(texts, np.array([1, 0, 1, 0]), np.array([0.1, 0.97, 0.6, 0.45]), 0.5, 1)
    wrong = markdown.split("## Most confidently wrong")[1].split("##")[0]
    assert "awful \\| bad" in wrong and "0.970" in wrong
    assert evaluate.excerpt("great<br />film") == "great film"


def test_thin_keeps_endpoints():
    frame = pd.DataFrame({"a": range(1000)})
    thinned = evaluate.thin(frame, 10)
    assert len(thinned) == 10 and thinned["a"].iloc[0] == 0 and thinned["a"].iloc[-1] == 999
