"""Tests of stages/commands/statistics.py against cases whose answer is known by hand."""

import numpy as np
import pytest
from scipy import stats

from stages.commands import statistics


def test_interval_of_one_model_matches_the_binomial_quantiles():
    # 80 of 100 reviews right: a resampled accuracy is Binomial(100, 0.8) / 100
    correct = np.array([1] * 80 + [0] * 20)
    samples = statistics.resampled_accuracies({"a": correct[None, :]}, resamples=20_000, seed=1)["a"]
    low, high = statistics.interval(samples, 0.95)
    assert low == pytest.approx(stats.binom.ppf(0.025, 100, 0.8) / 100, abs=0.011)  # 0.72
    assert high == pytest.approx(stats.binom.ppf(0.975, 100, 0.8) / 100, abs=0.011)  # 0.88
    assert samples.mean() == pytest.approx(0.8, abs=0.002)


def test_seed_to_seed_variation_widens_the_interval():
    # seed 1 gets the first 700 of 1,000 reviews right, seed 2 the first 900: drawing two seeds with
    # replacement gives (1, 1) a quarter of the time, mean 0.7, and (2, 2) a quarter, mean 0.9, so
    # the interval reaches from about 0.7 to about 0.9 (plus the reviews' own small sampling error)
    seeds = np.zeros((2, 1000))
    seeds[0, :700] = seeds[1, :900] = 1
    samples = statistics.resampled_accuracies({"a": seeds}, resamples=4000)["a"]
    low, high = statistics.interval(samples)
    assert low == pytest.approx(0.7, abs=0.03) and high == pytest.approx(0.9, abs=0.03)
    assert np.mean(np.abs(samples - 0.8) < 0.05) == pytest.approx(0.5, abs=0.05)  # mixed draws: half of them
    same = statistics.resampled_accuracies({"a": seeds[[1, 1]]}, resamples=4000)["a"]
    assert statistics.interval(same)[1] - statistics.interval(same)[0] < 0.05  # identical seeds: reviews only


def test_paired_test_of_identical_and_of_clearly_different_predictions():
    same = np.array([1, 0] * 50)
    samples = statistics.resampled_accuracies({"a": same[None], "b": same[None]}, resamples=2000)
    assert statistics.paired_p_value(samples["a"] - samples["b"]) == 1.0
    # b is right on 10 reviews where a is wrong and never the other way round: a resample shows
    # a at least as good only when it draws none of those 10, chance 0.9 ** 100 = 2.7e-5
    a, b = np.ones(100), np.ones(100)
    a[:10] = 0
    samples = statistics.resampled_accuracies({"a": a[None], "b": b[None]}, resamples=10_000)
    differences = samples["a"] - samples["b"]
    assert differences.mean() == pytest.approx(-0.10, abs=0.002)
    assert statistics.paired_p_value(differences) == pytest.approx(2 / 10_001, rel=1.5)  # (0 or 1 + 1) / (B + 1)


def test_paired_p_value_never_claims_zero_and_is_two_sided():
    assert statistics.paired_p_value(np.full(9, 0.01)) == pytest.approx(2 * 1 / 10)
    assert statistics.paired_p_value(np.full(9, -0.01)) == pytest.approx(2 * 1 / 10)
    assert statistics.paired_p_value(np.array([-1, 1, -1, 1, 0])) == 1.0


def test_holm_adjustment_by_hand():
    adjusted = statistics.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    # sorted a, c, b: 3 x 0.01, then max(0.03, 2 x 0.03), then max(0.06, 1 x 0.04)
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert statistics.holm({"a": 0.6, "b": 0.7}) == {"a": 1.0, "b": 1.0}
    assert statistics.holm({}) == {}


def test_variants_scored_on_different_reviews_are_refused():
    with pytest.raises(ValueError, match="different numbers of reviews"):
        statistics.resampled_accuracies({"a": np.ones((1, 5)), "b": np.ones((1, 6))})
