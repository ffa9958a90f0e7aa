"""Tests of stages/lm.py: the sampled loss, the held-out text, resume, and the stage's outputs."""

import json
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from stages import lm, paths
from stages.errors import PipelineError
from stages.nn import checkpoint, language_model
from stages.nn.saving import load
from stages.text import read_vocabulary, token_index, tokenize
from tests.tiny import lm_params, run_tiny_lm


def test_full_softmax_loss_is_the_cross_entropy_over_every_word_but_padding():
    rng = np.random.default_rng(0)
    features, kernel = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(4, 9)).astype("float32")
    bias, targets = rng.normal(size=9).astype("float32"), np.array([1, 2, 3, 8, 5, 2])
    logits = features @ kernel + bias
    logits[:, 0] = -np.inf
    expected = np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(6), targets])
    loss = language_model.next_word_loss(features, targets, kernel, bias, sampled=0, seed=[0, 0])
    assert float(loss) == pytest.approx(expected, rel=1e-5)


SAMPLED_CASE = {"vocab": 40, "units": 8, "sampled": 10, "seed": (5, 6)}


def sampled_case(targets_from):
    """Features, output layer and targets for the sampled-loss tests, plus the candidates the seed draws."""
    rng = np.random.default_rng(1)
    case = SAMPLED_CASE
    features = tf.constant(rng.normal(size=(64, case["units"])).astype("float32"))
    kernel = tf.Variable(rng.normal(size=(case["units"], case["vocab"])).astype("float32"))
    bias = tf.Variable(rng.normal(size=case["vocab"]).astype("float32"))
    seed = tf.constant(case["seed"], tf.int64)
    candidates = language_model.log_uniform_candidates(case["sampled"], case["vocab"], seed).numpy()
    targets = tf.constant(rng.choice(targets_from(candidates), size=64))
    return features, kernel, bias, targets, seed, candidates


def test_sampled_loss_and_its_gradients_equal_tensorflows_sampled_softmax_loss():
    """The XLA-compiled sampled softmax is a faster ``tf.nn.sampled_softmax_loss`` (the textbook one): same loss and gradients."""
    vocab, sampled = SAMPLED_CASE["vocab"], SAMPLED_CASE["sampled"]
    ids = np.arange(1, vocab)

    def once_or_never(candidates):  # TensorFlow masks only one copy of a candidate drawn twice (below)
        counts = np.bincount(candidates, minlength=vocab)
        return ids[counts[1:] <= 1]

    features, kernel, bias, targets, seed, candidates = sampled_case(once_or_never)
    assert np.isin(targets.numpy(), candidates).any()  # accidental hits are exercised

    results = []
    for compiled in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(features)
            value = language_model.next_word_loss(features, targets, kernel, bias, sampled, seed, compiled)
        results.append([value, *(tf.convert_to_tensor(g) for g in tape.gradient(value, [features, kernel, bias]))])
    for expected, actual in zip(*results):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)


def test_sampled_loss_leaves_every_copy_of_the_true_word_out_of_the_candidates():
    """Where the sampler draws the true word more than once, no copy of it counts against it."""
    vocab, sampled = SAMPLED_CASE["vocab"], SAMPLED_CASE["sampled"]
    features, kernel, bias, targets, seed, candidates = sampled_case(lambda c: np.unique(c[np.bincount(c)[c] > 1]))
    assert len(np.unique(candidates)) < len(candidates)  # the case has duplicates, and every target is one
    logq = lambda ids: np.log(sampled * language_model.log_uniform_probability(tf.constant(ids), vocab).numpy())  # noqa: E731
    f, w, b, t = features.numpy(), kernel.numpy(), bias.numpy(), targets.numpy()
    true = (f * w[:, t].T).sum(axis=1) + b[t] - logq(t)
    others = f @ w[:, candidates] + b[candidates] - logq(candidates)
    others[t[:, None] == candidates[None, :]] = -np.inf
    logits = np.concatenate([true[:, None], others], axis=1)
    expected = np.log(np.exp(logits).sum(axis=1)) - true
    actual = language_model.next_word_loss(features, targets, kernel, bias, sampled, seed)
    assert float(actual) == pytest.approx(expected.mean(), rel=1e-5)


def test_log_uniform_sampler_draws_words_with_the_probabilities_it_reports():
    vocab = 50
    ids = language_model.log_uniform_candidates(200_000, vocab, seed=[3, 4]).numpy()
    assert ids.min() >= 1 and ids.max() <= vocab - 1  # padding is never drawn
    np.testing.assert_array_equal(
        ids[:100], language_model.log_uniform_candidates(200_000, vocab, seed=[3, 4]).numpy()[:100]
    )
    expected = language_model.log_uniform_probability(tf.range(vocab, dtype=tf.int64), vocab).numpy()
    assert expected[0] == 0 and expected.sum() == pytest.approx(1.0, abs=1e-5)
    observed = np.bincount(ids, minlength=vocab) / len(ids)
    np.testing.assert_allclose(observed[1:], expected[1:], atol=0.004)  # the logQ correction uses these


@pytest.mark.slow
def test_training_on_the_sampled_loss_lowers_the_full_softmax_loss_like_the_full_one():
    """On text with structure, a sampled softmax (12 of 60 classes) learns what the full softmax learns."""
    rng = np.random.default_rng(0)
    chain = rng.permutation(np.arange(2, 60))  # each word is followed by one fixed word, 90% of the time
    ids = [2]
    for _ in range(4000):
        ids.append(int(chain[ids[-1] - 2]) if rng.random() < 0.9 else int(rng.integers(2, 60)))
    text = np.array(ids, dtype=np.int32)
    scores = {}
    for sampled in (0, 12):
        trainer = lm.Trainer(60, lm_params(sampled=sampled, units=16, embedding_dim=16, batch_size=16))
        starts = lm.window_starts(len(text), 8)
        for step in range(150):
            order = lm.epoch_order(len(starts), 1, step // (len(starts) // 16))
            chosen = starts[order[(step % (len(starts) // 16)) * 16 :][:16]]
            trainer.train_step(lm.batch_windows(text, chosen, 8), step)
        scores[sampled] = trainer.perplexity(text, 0)["forward"]
    assert scores[0] < 6 and scores[12] < 6  # uniform guessing would be 58
    assert scores[12] < 1.5 * scores[0]


def test_no_held_out_review_reaches_the_training_text(lm_data):
    corpus = lm.build_corpus(lm_data / "reviews.parquet", lm_data / "unlabeled.parquet", lm_data / "prepared")
    assert corpus.stats["left_out"] == {
        "train": {"copies_of_test": 1, "copies_of_val": 0},
        "unlabeled": {"copies_of_test": 2, "copies_of_val": 1},
    }
    import pandas as pd

    table = pd.read_parquet(lm_data / "reviews.parquet")
    index = token_index(read_vocabulary(lm_data / "prepared" / "vocab.txt"))
    stream = corpus.train.tobytes()
    val_rows = np.load(lm_data / "prepared" / "val.npz")["row"]
    held_out = list(table["text"][table["split"] == "test"]) + list(table["text"].iloc[val_rows])
    for text in held_out:
        ids = np.array([index.get(t, 1) for t in tokenize(text)], dtype=np.int32)
        assert ids.tobytes() not in stream
    assert corpus.stats["tokens"]["val"] == len(corpus.val) > 0


def test_stage_writes_models_metrics_curve_and_generations(trained_lm):
    metrics = json.loads((trained_lm / "lm_metrics.json").read_text())
    assert set(metrics["lm"]["val_perplexity"]) == {"forward", "backward"}
    assert all(1 < p < 60 for p in metrics["lm"]["val_perplexity"].values())
    assert metrics["lm"]["tokens_trained"] > 0 and metrics["lm"]["tokens_per_s"] > 0
    history = (trained_lm / "lm_history.tsv").read_text().splitlines()
    assert history[0].split("\t") == list(lm.HISTORY_COLUMNS) and len(history) > 2
    forward = load(paths.language_model("forward", trained_lm / "lm"))  # safe mode
    backward = load(paths.language_model("backward", trained_lm / "lm"))
    assert [type(layer).__name__ for layer in forward.layers] == ["InputLayer", "Embedding", "GRU", "Dense"]
    np.testing.assert_array_equal(
        forward.get_layer("embedding").get_weights()[0], backward.get_layer("embedding").get_weights()[0]
    )
    assert not np.array_equal(forward.get_layer("gru_1").get_weights()[0], backward.get_layer("gru_1").get_weights()[0])
    assert (trained_lm / "generations.md").read_text().count("**") >= 2


@pytest.mark.slow
def test_interrupted_training_resumes_to_the_same_models(lm_data, tmp_path, monkeypatch):
    whole = run_tiny_lm(lm_data, tmp_path / "whole", epochs=3.0)
    real_batch = lm.batch_windows
    calls = []

    def interrupt_at_step_5(*args):
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGINT)  # recorded by the handler; training stops after this step
        return real_batch(*args)

    monkeypatch.setattr(lm, "batch_windows", interrupt_at_step_5)
    with pytest.raises(PipelineError, match="interrupted at step 5 .* to resume"):
        run_tiny_lm(lm_data, tmp_path / "resumed", epochs=3.0)
    assert not (tmp_path / "resumed" / "lm").exists()
    monkeypatch.setattr(lm, "batch_windows", real_batch)
    resumed = run_tiny_lm(lm_data, tmp_path / "resumed", epochs=3.0)
    drop = ("wall_time_s", "tokens_per_s")
    assert {k: v for k, v in resumed["lm"].items() if k not in drop} == {
        k: v for k, v in whole["lm"].items() if k not in drop
    }
    assert (tmp_path / "resumed" / "lm_history.tsv").read_text() == (tmp_path / "whole" / "lm_history.tsv").read_text()
    for direction in language_model.DIRECTIONS:
        a = load(paths.language_model(direction, tmp_path / "whole" / "lm")).get_weights()
        b = load(paths.language_model(direction, tmp_path / "resumed" / "lm")).get_weights()
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert not (tmp_path / "resumed" / "state").exists()


def test_state_of_other_params_is_not_resumed(lm_data, tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text(json.dumps({"fingerprint": "other", "step": 3, "variables_file": "x.npz"}))
    (state / "x.npz").write_bytes(b"")
    assert checkpoint.load_state(state, "mine", lm.LMState) is None and not state.exists()


def test_text_shorter_than_one_batch_is_a_clear_error(lm_data, tmp_path):
    with pytest.raises(PipelineError, match="lower lm.batch_size or lm.window"):
        run_tiny_lm(lm_data, tmp_path, batch_size=10_000)


def test_flops_per_token_counts_both_directions_and_the_softmax_classes():
    params = lm_params(cell="lstm", units=256, embedding_dim=128, sampled=512, layers=1)
    recurrent = 2 * 4 * 256 * (128 + 256)
    assert language_model.flops_per_token(params, 20_000) == 2 * 3 * (recurrent + 2 * 256 * 513)
    full = lm_params(cell="lstm", units=256, embedding_dim=128, sampled=0, layers=1)
    assert language_model.flops_per_token(full, 20_000) == 2 * 3 * (recurrent + 2 * 256 * 20_000)


def test_a_quick_runs_limit_shrinks_the_unlabeled_text(lm_data):
    full = lm.build_corpus(lm_data / "reviews.parquet", lm_data / "unlabeled.parquet", lm_data / "prepared")
    quick = lm.build_corpus(lm_data / "reviews.parquet", lm_data / "unlabeled.parquet", lm_data / "prepared", limit=5)
    assert quick.stats["reviews"]["unlabeled"] <= 5 < full.stats["reviews"]["unlabeled"]
    assert quick.stats["reviews"]["train"] == full.stats["reviews"]["train"]  # prepare.limit already sampled train
    assert 0 < len(quick.train) < len(full.train)
