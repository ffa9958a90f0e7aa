"""Tests of stages/model.py: every cell variant builds, trains, saves and reloads in safe mode."""

import itertools

import keras
import numpy as np
import pytest

from stages.model import CELLS, build_model, layer_table, load


def test_parameter_counts_match_textbook_arithmetic():
    model = build_model(10_000, "simple_rnn", 32, 32)
    counts = {layer.name: layer.count_params() for layer in model.layers}
    assert counts["embedding"] == 320_000  # 10000 * 32
    assert counts["simple_rnn_1"] == (32 + 32 + 1) * 32  # 2,080
    assert counts["positive"] == 33  # 32 weights + 1 bias
    assert "320,000" in layer_table(model) and "total params: 322,113" in layer_table(model)


def test_lstm_gru_and_bidirectional_counts():
    lstm = build_model(1000, "lstm", 16, 8)
    assert lstm.get_layer("lstm_1").count_params() == 4 * (8 + 16 + 1) * 16
    gru = build_model(1000, "gru", 16, 8)
    assert gru.get_layer("gru_1").count_params() == 3 * (8 + 16 + 2) * 16  # reset_after: two biases
    bi = build_model(1000, "gru", 16, 8, bidirectional=True, dense_units=10)
    assert bi.get_layer("bidirectional_1").count_params() == 2 * 3 * (8 + 16 + 2) * 16
    assert bi.get_layer("hidden").count_params() == 32 * 10 + 10


@pytest.mark.parametrize(("cell", "bidirectional", "layers"), list(itertools.product(CELLS, [False, True], [1, 2])))
def test_every_variant_trains_saves_and_reloads_identically(tmp_path, cell, bidirectional, layers):
    keras.utils.set_random_seed(0)
    model = build_model(50, cell, 4, 6, layers_count=layers, bidirectional=bidirectional, pooling="max", dense_units=3)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = np.random.default_rng(0).integers(1, 50, size=(8, 12)).astype("int32")
    x[4:, 6:] = 0  # right padding, masked
    model.train_on_batch(x, np.array([0, 1] * 4, dtype="float32"))
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = load(path)
    np.testing.assert_array_equal(model.predict_on_batch(x), reloaded.predict_on_batch(x))
    stacked = [layer for layer in model.layers if "rnn" in layer.name or "lstm" in layer.name or "gru" in layer.name
               or layer.name.startswith("bidirectional")]  # fmt: skip
    assert len(stacked) == layers


def test_padding_does_not_change_prediction():
    keras.utils.set_random_seed(1)
    for pooling in ("last", "max", "mean", "max_mean"):
        model = build_model(30, "lstm", 4, 4, bidirectional=True, pooling=pooling)
        short = np.array([[5, 6, 7]], dtype="int32")
        padded = np.array([[5, 6, 7, 0, 0, 0, 0]], dtype="int32")
        np.testing.assert_allclose(model.predict_on_batch(short), model.predict_on_batch(padded), rtol=1e-5, atol=1e-6)


def test_unknown_cell_is_a_clear_error():
    with pytest.raises(
        ValueError, match="model.cell: 'transformer' is not allowed, expected one of simple_rnn, lstm, gru"
    ):
        build_model(10, "transformer", 4, 4)


def test_cudnn_eligible_settings_are_kept():
    model = build_model(100, "gru", 8, 8, bidirectional=True, dropout=0.3)
    layer = model.get_layer("bidirectional_1").forward_layer
    assert layer.cell.recurrent_dropout == 0 and layer.cell.reset_after and not layer.unroll
    assert layer.cell.activation.__name__ == "tanh" and layer.cell.use_bias
