"""Tests of stages/nn/adversarial.py: the perturbation, the loss, and training with it."""

import json

import numpy as np
import pytest
import tensorflow as tf

from stages.errors import PipelineError
from stages.io.arrays import Split, load_split, save_split
from stages.io.params_file import problems_in
from stages.nn import adversarial, checkpoint
from stages.nn.model import build_model
from stages.nn.saving import load
from tests.project import default_params
from tests.tiny import assert_same_run, make_prepared, model_params, train_tiny


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("adversarial"))


@pytest.fixture(scope="module")
def unlabeled(prepared):
    """An unlabeled-reviews file as the embeddings stage writes it: here the training reviews reversed, labels -1."""
    train = load_split(prepared / "train.npz")
    path = prepared.parent / "unlabeled.npz"
    save_split(
        path,
        Split(
            train.x[::-1],
            np.full(len(train.y), -1),
            train.length[::-1],
            train.full_length[::-1],
            np.arange(len(train.y)),
        ),
    )
    return path


def bce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def test_perturbation_has_the_requested_norm_and_spares_padding():
    rng = np.random.default_rng(0)
    aligned = np.array([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]], dtype=np.int32)
    embedded = rng.normal(size=(2, 5, 3)).astype(np.float32)
    gradient = rng.normal(size=(2, 5, 3)).astype(np.float32)
    r = adversarial.perturbation(gradient, embedded, aligned, 0.1).numpy()
    assert np.all(r[0, 3:] == 0) and np.all(r[1, 2:] == 0)
    for row, length in enumerate((3, 2)):
        wanted = 0.1 * np.linalg.norm(embedded[row, :length])
        assert np.linalg.norm(r[row]) == pytest.approx(wanted, rel=1e-5)
        g = gradient[row, :length].ravel()
        assert np.dot(r[row, :length].ravel(), g) / (np.linalg.norm(r[row]) * np.linalg.norm(g)) == pytest.approx(1.0)


def tiny_split():
    """A bare bidirectional GRU(4) over 30 ids, compiled, and its ``front`` and ``head``."""
    net = build_model(30, model_params("gru", 4, 6, bidirectional=True, pooling="max"), seed=3)
    net.compile(optimizer="sgd", loss="binary_crossentropy")
    return net, *adversarial.split(net)


def test_adversarial_loss_equals_a_hand_computed_one():
    """The gradient by another route (the embedding matrix: every token occurs once) and the loss by numpy."""
    net, front, head = tiny_split()
    x = np.array([[3, 4, 5, 6, 0, 0], [7, 8, 9, 10, 11, 12], [13, 14, 0, 0, 0, 0]], dtype=np.int32)
    y = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    loss, _, adv, gradients = adversarial.adversarial_gradients(net, front, head, x, y[:, None], 0.3, 2.0)

    matrix = net.get_layer("embedding").embeddings
    with tf.GradientTape() as tape:
        clean = tf.keras.losses.binary_crossentropy(y[:, None], net(x, training=True))
        clean = tf.reduce_mean(clean)
    g_matrix = tf.convert_to_tensor(tape.gradient(clean, matrix)).numpy()
    weights = matrix.numpy()
    moved = weights.copy()
    for row in range(len(x)):
        ids = x[row][x[row] > 0]
        g, e = g_matrix[ids], weights[ids]
        moved[ids] = e + 0.3 * np.linalg.norm(e) * g / np.linalg.norm(g)
    p_clean = net.predict(x, verbose=0)[:, 0]
    matrix.assign(moved)
    p_moved = net.predict(x, verbose=0)[:, 0]
    assert float(loss) == pytest.approx(bce(y, p_clean), rel=1e-5)
    assert float(adv) == pytest.approx(bce(y, p_moved), rel=1e-4)
    assert float(adv) > float(loss)  # uphill, as the gradient says
    assert len(gradients) == len(net.trainable_weights) and all(g is not None for g in gradients)


def test_matrix_adversarial_loss_moves_every_occurrence_of_a_word_alike_by_the_requested_norm():
    """``at_matrix``: the step on the embedding matrix's rows (words repeat within and across reviews), by hand."""
    net, front, head = tiny_split()
    x = np.array([[3, 4, 3, 6, 0, 0], [7, 4, 9, 7, 7, 12], [13, 3, 0, 0, 0, 0]], dtype=np.int32)
    y = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    loss, _, adv, _ = adversarial.adversarial_gradients(
        net, front, head, x, y[:, None], 0.3, 1.0, step=adversarial.matrix_perturbation
    )

    matrix = net.get_layer("embedding").embeddings
    with tf.GradientTape() as tape:
        clean = tf.reduce_mean(tf.keras.losses.binary_crossentropy(y[:, None], net(x, training=True)))
    g = tf.convert_to_tensor(tape.gradient(clean, matrix)).numpy()
    words = np.unique(x[x > 0])
    weights = matrix.numpy()
    step = 0.3 * np.linalg.norm(weights[words]) * g[words] / np.linalg.norm(g[words])
    aligned, embedded = (t.numpy() for t in front(x))
    r = adversarial.matrix_perturbation(np.ones_like(embedded), embedded, aligned, 0.3).numpy()
    assert not r[aligned == 0].any()  # padding stays
    np.testing.assert_allclose(r[0, 0], r[0, 2])  # one move per word, wherever it occurs
    moved = weights.copy()
    moved[words] += step
    p_clean = net.predict(x, verbose=0)[:, 0]
    matrix.assign(moved)
    p_moved = net.predict(x, verbose=0)[:, 0]
    assert np.linalg.norm(step) == pytest.approx(0.3 * np.linalg.norm(weights[words]), rel=1e-5)
    assert float(loss) == pytest.approx(bce(y, p_clean), rel=1e-5)
    assert float(adv) == pytest.approx(bce(y, p_moved), rel=1e-4)
    assert float(adv) > float(loss)


def kl(p, q):
    p, q = np.clip(p, 1e-7, 1 - 1e-7), np.clip(q, 1e-7, 1 - 1e-7)
    return float(np.mean(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))))


def test_vat_loss_equals_a_hand_computed_one_and_its_perturbation_has_the_requested_norm():
    net, front, head = tiny_split()
    u = np.array([[3, 4, 5, 6, 0, 0], [7, 8, 9, 10, 11, 12], [13, 14, 0, 0, 0, 0]], dtype=np.int32)
    seed = tf.constant([5, 0], tf.int64)
    r, clean = adversarial.virtual_perturbation(front, head, u, 2.0, 1e-3, seed)
    vat = float(adversarial.virtual_adversarial_loss(front, head, u, r, clean))
    aligned, embedded = (t.numpy() for t in front(u))
    r = r.numpy()
    for row in range(len(u)):
        tokens = aligned[row] > 0
        assert not r[row, ~tokens].any()
        assert np.linalg.norm(r[row]) == pytest.approx(2.0 * np.linalg.norm(embedded[row, tokens]), rel=1e-5)
    again, _ = adversarial.virtual_perturbation(front, head, u, 2.0, 1e-3, seed)
    other, _ = adversarial.virtual_perturbation(front, head, u, 2.0, 1e-3, tf.constant([6, 0], tf.int64))
    np.testing.assert_array_equal(again.numpy(), r)  # the probe is a function of the seed
    assert not np.allclose(other.numpy(), r)

    matrix = net.get_layer("embedding").embeddings  # every token occurs once: moving its row moves that step
    p_clean = net.predict(u, verbose=0)[:, 0]
    np.testing.assert_allclose(clean.numpy()[:, 0], p_clean, rtol=1e-6)
    moved = matrix.numpy().copy()
    for row in range(len(u)):
        for step in np.flatnonzero(aligned[row] > 0):
            moved[aligned[row, step]] += r[row, step]
    matrix.assign(moved)
    p_moved = net.predict(u, verbose=0)[:, 0]
    # float32 probabilities; a KL above 1e-6 means predictions moved by about 1e-3, far above their resolution
    assert vat == pytest.approx(kl(p_clean, p_moved), rel=1e-3) and vat > 1e-6


@pytest.mark.slow
def test_none_ignores_the_adversarial_knobs_and_at_and_vat_change_training(tmp_path, prepared, unlabeled):
    def weights(name, **overrides):
        train_tiny(tmp_path / name, prepared, unlabeled=unlabeled, **overrides)
        return load(tmp_path / name / "model.keras").get_weights()

    plain = weights("none")
    knobs = weights("none-knobs", adversarial_epsilon=3.0, adversarial_weight=7.0, vat_xi=0.5)
    at = weights("at", adversarial="at", adversarial_epsilon=0.5)
    both = weights("at_vat", adversarial="at_vat", adversarial_epsilon=0.5)
    matrix = weights("at_matrix", adversarial="at_matrix", adversarial_epsilon=0.5)
    assert all(np.array_equal(a, b) for a, b in zip(plain, knobs))
    assert not all(np.array_equal(a, b) for a, b in zip(plain, at))
    assert not all(np.array_equal(a, b) for a, b in zip(at, both))
    assert not all(np.array_equal(a, b) for a, b in zip(at, matrix))
    saved = load(tmp_path / "at" / "model.keras")
    assert [type(layer).__name__ for layer in saved.layers] == [
        type(layer).__name__ for layer in load(tmp_path / "none" / "model.keras").layers
    ]  # the saved model is the plain classifier


@pytest.mark.slow
def test_virtual_adversarial_training_resumes_as_an_uninterrupted_run(tmp_path, prepared, unlabeled, monkeypatch):
    """VAT's unlabeled batches and random probes resume too (AT with an ensemble: test_train.py's ensemble test)."""
    settings = {"adversarial": "vat", "adversarial_epsilon": 0.5, "ensemble": 1, "epochs": 2}
    model = {"dropout": 0.2}  # dropout: its random masks resume too

    def run(name):
        return train_tiny(
            tmp_path / name, prepared, model, state_dir=tmp_path / f"state-{name}", unlabeled=unlabeled, **settings
        )

    straight = run("straight")
    original = checkpoint.Checkpoint.on_epoch_end

    def interrupting(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt  # after the first epoch

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint.Checkpoint, "on_epoch_end", interrupting)
        with pytest.raises(PipelineError, match="interrupted after"):
            run("resumed")
    resumed = run("resumed")
    assert_same_run(straight, resumed, tmp_path / "straight" / "model.keras", tmp_path / "resumed" / "model.keras")
    assert "val_loss" in json.loads((tmp_path / "resumed" / "live" / "metrics.json").read_text())


def test_the_schema_refuses_at_with_multi_worker():
    params = default_params()
    params["train"] |= {"adversarial": "at", "distribute": "multi_worker"}
    assert any(
        p.startswith("train.adversarial: 'at' does not run with train.distribute multi_worker")
        for p in problems_in(params)
    )
    params["train"]["distribute"] = "mirrored"
    assert not problems_in(params)
