"""Tests of stages/blend.py: the mix, the weight chosen on validation only, and the stage's checks."""

import json

import numpy as np
import pytest

from stages import blend
from stages.errors import PipelineError
from stages.io.arrays import load_split
from tests.tiny import make_prepared


def test_the_mix_is_a_weighted_mean_of_log_odds():
    p_rnn, p_ngram = np.array([0.9, 0.2, 0.5]), np.array([0.6, 0.7, 0.01])
    np.testing.assert_allclose(blend.mix(p_rnn, p_ngram, 1.0), p_rnn)
    np.testing.assert_allclose(blend.mix(p_rnn, p_ngram, 0.0), p_ngram)
    half = blend.mix(p_rnn, p_ngram, 0.5)
    by_hand = 1 / (1 + np.exp(-(np.log(p_rnn / (1 - p_rnn)) + np.log(p_ngram / (1 - p_ngram))) / 2))
    np.testing.assert_allclose(half, by_hand)


def test_the_weight_goes_to_the_model_that_is_right():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    right = np.where(y == 1, 0.8, 0.2)
    noise = rng.uniform(0.05, 0.95, 400)
    assert blend.choose_weight(y, right, noise, 10)[0] > 0.7
    assert blend.choose_weight(y, noise, right, 10)[0] < 0.3
    weight, curve = blend.choose_weight(y, right, noise, 4)
    assert [w for w, _ in curve] == [0.0, 0.25, 0.5, 0.75, 1.0] and weight in (0.75, 1.0)


@pytest.fixture
def predicted(tmp_path):
    prepared = make_prepared(tmp_path)
    rng = np.random.default_rng(1)
    saved = {}
    for name in ("rnn", "ngram"):
        arrays = {}
        for split in ("val", "test"):
            y = load_split(prepared / f"{split}.npz").y
            arrays[split] = np.where(y == 1, 0.7, 0.3) if name == "rnn" else rng.uniform(0.01, 0.99, len(y))
        np.savez(tmp_path / f"{name}.npz", **arrays)
        saved[name] = arrays
    files = blend.BlendPaths(prepared, tmp_path / "rnn.npz", tmp_path / "ngram.npz", tmp_path / "blend.json")
    return files, saved


def test_the_weight_is_chosen_on_validation_and_test_is_only_scored(predicted):
    files, saved = predicted
    metrics = blend.run(blend.Blend(steps=20), files)["blend"]
    assert json.loads(files.metrics.read_text())["blend"] == metrics
    assert metrics["rnn_weight"] > 0.5 and metrics["test"]["accuracy"] == 1.0
    np.savez(files.recurrent, val=saved["rnn"]["val"], test=1 - saved["rnn"]["test"])  # a test split the RNN gets wrong
    again = blend.run(blend.Blend(steps=20), files)["blend"]
    assert again["rnn_weight"] == metrics["rnn_weight"] and again["test"]["accuracy"] < 0.5


def test_missing_or_mismatched_predictions_are_one_line_errors(predicted):
    files, saved = predicted
    np.savez(files.ngram, val=saved["ngram"]["val"][:-1], test=saved["ngram"]["test"])
    with pytest.raises(PipelineError, match=r"does not hold the baseline's predictions for the prepared val split"):
        blend.run(blend.Blend(steps=5), files)
    files.recurrent.unlink()
    with pytest.raises(PipelineError, match=r"predictions .*rnn.npz not found: run `dvc repro`"):
        blend.run(blend.Blend(steps=5), files)
