"""Builds the recurrent classifier: embedding, stacked (bi)directional RNN cells, pooling, sigmoid."""

from __future__ import annotations

import keras
from keras import layers, ops

CELLS: dict[str, type[layers.Layer]] = {
    "simple_rnn": layers.SimpleRNN,
    "lstm": layers.LSTM,
    "gru": layers.GRU,
}


@keras.saving.register_keras_serializable(package="stages")
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Max over time of the unmasked steps (Keras's GlobalMaxPooling1D ignores the mask).

    Padded steps must not win the max; a review with no steps at all pools to zeros.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.max(inputs, axis=1)
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
        lowest = ops.full_like(inputs, -1e9)
        pooled = ops.max(ops.where(keep, inputs, lowest), axis=1)
        any_step = ops.any(keep, axis=1)
        return ops.where(any_step, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build_model(
    vocab_size: int,
    cell: str,
    units: int,
    embedding_dim: int,
    layers_count: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    embedding_dropout: float = 0.0,
    pooling: str = "last",
    dense_units: int = 0,
    dense_dropout: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """Return an uncompiled binary classifier over padded token ids (0 = padding, masked).

    LSTM and GRU keep their defaults (tanh/sigmoid, no recurrent dropout, no unroll,
    ``reset_after=True``) so that on a GPU Keras runs them with cuDNN kernels; ``prepare``
    pads on the right, which cuDNN requires with a mask.
    """
    if cell not in CELLS:
        raise ValueError(f"model.cell: {cell!r} is not allowed, expected one of {', '.join(CELLS)}")
    if pooling not in ("last", "max", "mean", "max_mean"):
        raise ValueError(f"model.pooling: {pooling!r} is not allowed, expected one of last, max, mean, max_mean")
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    # mask_zero: padding id 0 is skipped by the recurrent layers and the pooling.
    x = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(tokens)
    if embedding_dropout:
        x = layers.SpatialDropout1D(embedding_dropout, seed=seed, name="embedding_dropout")(x)
    for i in range(layers_count):
        returns_sequences = i < layers_count - 1 or pooling != "last"
        rnn = CELLS[cell](units, dropout=dropout, return_sequences=returns_sequences, seed=seed, name=f"{cell}_{i + 1}")
        if bidirectional:
            rnn = layers.Bidirectional(rnn, name=f"bidirectional_{i + 1}")
        x = rnn(x)
    if pooling == "max":
        x = MaskedGlobalMaxPooling1D(name="max_over_time")(x)
    elif pooling == "mean":
        x = layers.GlobalAveragePooling1D(name="mean_over_time")(x)  # honours the mask
    elif pooling == "max_mean":
        x = layers.Concatenate(name="max_mean")(
            [MaskedGlobalMaxPooling1D(name="max_over_time")(x), layers.GlobalAveragePooling1D(name="mean_over_time")(x)]
        )
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", name="hidden")(x)
        if dense_dropout:
            x = layers.Dropout(dense_dropout, seed=seed, name="hidden_dropout")(x)
    probability = layers.Dense(1, activation="sigmoid", name="positive")(x)
    return keras.Model(tokens, probability, name=f"{'bi' if bidirectional else ''}{cell}_classifier")


def layer_table(model: keras.Model) -> str:
    """A plain-text table of every layer with its output shape and parameter count."""
    rows = [("layer", "type", "output shape", "params")]
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = str(tuple(shape.shape)) if shape is not None else ""
        rows.append((layer.name, type(layer).__name__, shape, f"{layer.count_params():,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("-" * len(lines[0]))
    lines.append(f"total params: {model.count_params():,}")
    return "\n".join(lines) + "\n"


def load(path) -> keras.Model:
    """Load a saved ``.keras`` model in safe mode (no arbitrary code, no pickles)."""
    return keras.saving.load_model(path, safe_mode=True)
