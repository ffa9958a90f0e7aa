"""Tests of stages/nn/pretrained.py: a classifier starts from the language models' weights."""

import keras
import numpy as np
import pytest

from stages import paths
from stages.errors import PipelineError
from stages.nn import pretrained
from stages.nn.model import build_model
from stages.nn.pretrained import transfer
from stages.nn.saving import load
from stages.text import read_vocabulary
from tests.tiny import model_params, train_tiny


@pytest.fixture(scope="module")
def words(lm_data) -> int:
    """Size of the tiny vocabulary the language models were trained with."""
    return len(read_vocabulary(lm_data / "prepared" / "vocab.txt"))


def language_models(trained_lm):
    return {d: load(paths.language_model(d, trained_lm / "lm")) for d in ("forward", "backward")}


def test_embedding_transfers_to_every_cell(trained_lm, words):
    lms = language_models(trained_lm)
    for cell in ("simple_rnn", "lstm", "gru"):
        net = build_model(words, model_params(cell, 5, 8, bidirectional=True, pooling="max"))
        assert transfer(net, "lm_embedding", trained_lm / "lm") == ["embedding"]
        ours, theirs = (
            net.get_layer("embedding").get_weights()[0],
            lms["forward"].get_layer("embedding").get_weights()[0],
        )
        # the language model's vectors, rescaled to the spread of Keras's own initialiser: same directions
        np.testing.assert_allclose(ours, theirs * pretrained.EMBEDDING_STD / theirs.std(), rtol=1e-5)
        assert ours.std() == pytest.approx(pretrained.EMBEDDING_STD, rel=1e-4)


def test_lm_init_copies_each_direction_into_its_own_side(trained_lm, words):
    lms = language_models(trained_lm)
    net = build_model(words, model_params("gru", 8, 8, bidirectional=True, pooling="max"))
    copied = transfer(net, "lm", trained_lm / "lm")
    assert sorted(copied) == ["embedding", "gru_1_backward", "gru_1_forward"]
    factor = pretrained.EMBEDDING_STD / lms["forward"].get_layer("embedding").get_weights()[0].std()
    for side in ("forward", "backward"):
        (kernel, *rest), (lm_kernel, *lm_rest) = (
            net.get_layer(f"gru_1_{side}").get_weights(),
            lms[side].get_layer("gru_1").get_weights(),
        )
        np.testing.assert_allclose(kernel, lm_kernel / factor, rtol=1e-5)  # reads the rescaled embedding
        for ours, theirs in zip(rest, lm_rest):  # recurrent kernel and biases as they are
            np.testing.assert_array_equal(ours, theirs)
    # the transferred layers compute what the language model computed, despite the rescaled embedding
    tokens = np.random.default_rng(0).integers(2, words, size=(3, 7)).astype("int32")
    for side, ids in (("forward", tokens), ("backward", tokens[:, ::-1])):
        lm_features = keras.Model(lms[side].input, lms[side].get_layer("gru_1").output)(ids)
        ours = keras.Model(net.input, net.get_layer(f"gru_1_{side}").output)(tokens)  # it reverses by itself
        np.testing.assert_allclose(ours, lm_features, atol=1e-5)
    single = build_model(words, model_params("gru", 8, 8, pooling="last"), prefix="member_2_")
    assert transfer(single, "lm", trained_lm / "lm", prefix="member_2_") == ["member_2_embedding", "member_2_gru_1"]


def test_random_init_copies_nothing(trained_lm, words):
    net = build_model(words, model_params("gru", 8, 8))
    before = net.get_layer("embedding").get_weights()[0].copy()
    assert transfer(net, "random", trained_lm / "absent") == []
    np.testing.assert_array_equal(net.get_layer("embedding").get_weights()[0], before)


@pytest.mark.parametrize(
    ("cell", "units", "embedding_dim", "layers", "message"),
    [
        (
            "gru",
            4,
            8,
            1,
            r"the classifier has 1 x GRU\(4\) on 8 inputs, the language model 1 x GRU\(8\) on 8 inputs per direction",
        ),
        ("lstm", 8, 8, 1, r"1 x LSTM\(8\) on 8 inputs, the language model 1 x GRU\(8\)"),
        ("gru", 8, 8, 2, r"2 x GRU\(8\) on 8 inputs, the language model 1 x GRU\(8\)"),
        ("gru", 8, 16, 1, r"model.embedding_dim is 16, lm.embedding_dim 8: set both to the same value"),
    ],
)
def test_mismatch_is_a_one_line_error_naming_both_sides(trained_lm, words, cell, units, embedding_dim, layers, message):
    net = build_model(words, model_params(cell, units, embedding_dim, layers=layers, bidirectional=True))
    with pytest.raises(PipelineError, match=message) as caught:
        transfer(net, "lm", trained_lm / "lm")
    assert "\n" not in str(caught.value)


def test_missing_language_model_or_another_vocabulary_names_the_stage_to_run(trained_lm, words, tmp_path):
    with pytest.raises(PipelineError, match="run `dvc repro lm` first"):
        transfer(build_model(words, model_params("gru", 8, 8)), "lm_embedding", tmp_path)
    with pytest.raises(
        PipelineError, match=f"know {words} words but the vocabulary has {words + 5}: rerun `dvc repro lm`"
    ):
        transfer(build_model(words + 5, model_params("gru", 8, 8)), "lm_embedding", trained_lm / "lm")


@pytest.mark.slow
def test_training_from_the_language_model_runs_end_to_end(trained_lm, lm_data, tmp_path):
    model = {"units": 8, "embedding_dim": 8, "bidirectional": True, "init": "lm"}
    metrics = train_tiny(tmp_path, lm_data / "prepared", model, lm_dir=trained_lm / "lm", epochs=1)
    assert metrics["train"]["epochs_run"] == 1 and (tmp_path / "model.keras").is_file()
