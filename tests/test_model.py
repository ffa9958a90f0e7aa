"""Tests of stages/nn/model.py: every cell variant builds, trains, saves and reloads in safe mode."""

import keras
import numpy as np
import pytest

from stages.nn.model import CELLS, build_model, layer_table, recurrent_layers, textbook_copy
from stages.nn.saving import ZIP_EPOCH, load, save
from stages.train import build_training_variables
from tests.tiny import model_params


def test_parameter_counts_match_textbook_arithmetic():
    model = build_model(10_000, model_params("simple_rnn", 32, 32))
    counts = {layer.name: layer.count_params() for layer in model.layers}
    assert counts["embedding"] == 320_000  # 10000 * 32
    assert counts["simple_rnn_1"] == (32 + 32 + 1) * 32  # 2,080
    assert counts["positive"] == 33  # 32 weights + 1 bias
    assert "320,000" in layer_table(model) and "total params: 322,113" in layer_table(model)


def test_lstm_gru_and_bidirectional_counts():
    lstm = build_model(1000, model_params("lstm", 16, 8))
    assert lstm.get_layer("lstm_1").count_params() == 4 * (8 + 16 + 1) * 16
    gru = build_model(1000, model_params("gru", 16, 8))
    assert gru.get_layer("gru_1").count_params() == 3 * (8 + 16 + 2) * 16  # reset_after: two biases
    bi = build_model(1000, model_params("gru", 16, 8, bidirectional=True, dense_units=10))
    directions = [bi.get_layer(f"gru_1_{side}").count_params() for side in ("forward", "backward")]
    assert directions == [3 * (8 + 16 + 2) * 16] * 2
    assert bi.get_layer("hidden").count_params() == 32 * 10 + 10


@pytest.mark.slow
# Each cell one-directional with one layer and bidirectional with two (stacked): both directions and depths per cell.
@pytest.mark.parametrize(
    ("cell", "bidirectional", "layers"), [(c, b, 2 if b else 1) for c in CELLS for b in (False, True)]
)
def test_every_variant_trains_saves_and_reloads_identically(tmp_path, cell, bidirectional, layers):
    keras.utils.set_random_seed(0)
    model = build_model(
        50, model_params(cell, 4, 6, layers=layers, bidirectional=bidirectional, pooling="max", dense_units=3)
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    build_training_variables(model)  # as train does: the training step traced once
    x = np.random.default_rng(0).integers(1, 50, size=(8, 12)).astype("int32")
    x[4:, 6:] = 0  # right padding
    model.train_on_batch(x, np.array([0, 1] * 4, dtype="float32"))
    path = tmp_path / "m.keras"
    save(model, path)
    reloaded = load(path)
    np.testing.assert_array_equal(model.predict_on_batch(x), reloaded.predict_on_batch(x))
    assert len(recurrent_layers(model)) == layers * (2 if bidirectional else 1)


@pytest.mark.slow
def test_saved_file_depends_only_on_the_model(tmp_path):
    """No save time inside: the same weights give the same bytes, so DVC skips evaluate after an unchanged train."""
    import json
    import time
    import zipfile

    keras.utils.set_random_seed(0)
    model = build_model(50, model_params("gru", 4, 6, bidirectional=True))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    build_training_variables(model)
    model.train_on_batch(np.ones((2, 5), dtype="int32"), np.array([0, 1], dtype="float32"))
    save(model, tmp_path / "a.keras")
    with zipfile.ZipFile(tmp_path / "a.keras") as archive:
        assert {info.date_time for info in archive.infolist()} == {ZIP_EPOCH}
        metadata = json.loads(archive.read("metadata.json"))
        config = archive.read("config.json").decode()
    assert metadata["date_saved"] == "1980-01-01@00:00:00" and metadata["keras_version"] == keras.__version__
    shared = [int(part.split(",")[0].split("}")[0]) for part in config.split('"shared_object_id": ')[1:]]
    assert shared and set(shared) == set(range(1, max(shared) + 1))  # not memory addresses, which vary by process
    time.sleep(2.1)  # past the 2-second resolution of zip times
    save(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    np.testing.assert_array_equal(load(tmp_path / "b.keras").get_weights()[0], model.get_weights()[0])


@pytest.mark.slow
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_on_either_side_does_not_change_prediction(bidirectional):
    keras.utils.set_random_seed(1)
    for pooling in ("last", "max", "mean", "max_mean"):
        model = build_model(30, model_params("lstm", 4, 4, layers=2, bidirectional=bidirectional, pooling=pooling))
        short = model.predict_on_batch(np.array([[5, 6, 7]], dtype="int32"))
        for padded in ([5, 6, 7, 0, 0, 0, 0], [0, 0, 0, 0, 5, 6, 7]):
            np.testing.assert_allclose(model.predict_on_batch(np.array([padded], dtype="int32")), short, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize(
    ("pooling", "bidirectional", "layers"),
    [
        ("last", True, 1),
        ("mean", True, 1),
        ("max", True, 2),
        ("max_mean", False, 1),
        ("last", False, 2),
    ],
)
def test_same_function_as_keras_masking(cell, pooling, bidirectional, layers):
    """The length-aware layers compute what Embedding(mask_zero=True) + Bidirectional(cell) compute, padding on
    either side; the textbook twin holds only stock Keras layers."""
    keras.utils.set_random_seed(2)
    shape = model_params(cell, 6, 5, layers=layers, bidirectional=bidirectional, pooling=pooling, dense_units=3)
    ours = build_model(40, shape)
    textbook = textbook_copy(ours, build_model(40, shape, textbook=True))
    assert not [layer for layer in textbook.layers if type(layer).__module__.startswith("stages")]
    x = np.random.default_rng(3).integers(1, 40, size=(6, 9)).astype("int32")
    for row, length in enumerate([9, 7, 5, 3, 1, 8]):
        x[row, length:] = 0
    pre = np.stack([np.roll(row, 9 - int((row > 0).sum())) for row in x])  # the same reviews, padded in front
    for batch in (x, pre):
        np.testing.assert_allclose(ours.predict_on_batch(batch), textbook.predict_on_batch(batch), atol=1e-5)


def test_cudnn_eligible_settings_are_kept():
    model = build_model(100, model_params("gru", 8, 8, bidirectional=True, dropout=0.3))
    layer = model.get_layer("gru_1_forward")
    assert layer.cell.recurrent_dropout == 0 and layer.cell.reset_after and not layer.unroll
    assert layer.cell.activation.__name__ == "tanh" and layer.cell.use_bias
