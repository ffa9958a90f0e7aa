"""Builds the recurrent classifier: embedding, stacked (bi)directional RNN cells, pooling, sigmoid."""

from __future__ import annotations

import keras
from keras import layers

from stages.nn import length_aware
from stages.nn.length_aware import LeftAlign, SequenceLength
from stages.params import Model

CELLS: dict[str, type[layers.Layer]] = {
    "simple_rnn": layers.SimpleRNN,
    "lstm": layers.LSTM,
    "gru": layers.GRU,
}


def _recurrent(cell: str, units: int, dropout: float, seed: int | None, name: str) -> layers.Layer:
    return CELLS[cell](units, dropout=dropout, return_sequences=True, seed=seed, name=name)


def build_model(vocab_size: int, params: Model, seed: int | None = None, prefix: str = "") -> keras.Model:
    """Return an uncompiled binary classifier over padded token ids (0 = padding, either side), shaped by ``params``
    (the ``model`` section).

    No Keras mask: the recurrent layers run unmasked over left-aligned rows, which gives
    the same outputs at every token step as masking (a forward step never looks ahead,
    and the backward direction runs on each row reversed within its length), while the
    pooling reads only token steps. An unmasked step is cheaper on a CPU, and on a GPU
    LSTM and GRU keep their defaults (tanh/sigmoid, no recurrent dropout, no unroll,
    ``reset_after=True``) so that Keras runs them with cuDNN kernels. ``prefix`` starts
    every layer name (ensemble members need names of their own); ``seed`` seeds the dropout.
    """
    cell, units, dropout, pooling = params.cell, params.units, params.dropout, params.pooling
    if cell not in CELLS:
        raise ValueError(f"model.cell: {cell!r} is not allowed, expected one of {', '.join(CELLS)}")
    tokens = keras.Input(shape=(None,), dtype="int32", name=f"{prefix}tokens")
    aligned = LeftAlign(name=f"{prefix}left_align")(tokens)  # length-aware: tokens first, padding after
    lengths = SequenceLength(name=f"{prefix}length")(aligned)
    x = layers.Embedding(
        vocab_size, params.embedding_dim, trainable=params.embedding_trainable, name=f"{prefix}embedding"
    )(aligned)
    if params.embedding_dropout:  # drops whole embedding channels, the same for every step of a review
        x = layers.SpatialDropout1D(params.embedding_dropout, seed=seed, name=f"{prefix}embedding_dropout")(x)
    directions = None
    for i in range(params.layers):  # stacked layers all return sequences; pooling summarises the last
        name = f"{prefix}{cell}_{i + 1}"
        if params.bidirectional:  # Bidirectional(cell), as two length-aware directions
            forward = _recurrent(cell, units, dropout, seed, f"{name}_forward")
            backward = _recurrent(cell, units, dropout, seed, f"{name}_backward")
            x, *directions = length_aware.bidirectional(
                forward, backward, x, lengths, name=f"{prefix}bidirectional_{i + 1}", reverse_name=name
            )
        else:
            x = _recurrent(cell, units, dropout, seed, name)(x)
    x = length_aware.pool(x, lengths, pooling, prefix, directions)  # reads only the review's own steps
    if params.dense_units:
        x = layers.Dense(params.dense_units, activation="relu", name=f"{prefix}hidden")(x)
        if params.dense_dropout:
            x = layers.Dropout(params.dense_dropout, seed=seed, name=f"{prefix}hidden_dropout")(x)
    # float32 whatever the precision policy, so the probability and the loss keep their precision
    probability = layers.Dense(1, activation="sigmoid", dtype="float32", name=f"{prefix}positive")(x)
    return keras.Model(tokens, probability, name=f"{prefix}{'bi' if params.bidirectional else ''}{cell}_classifier")


def recurrent_layers(model: keras.Model) -> list[layers.Layer]:
    """The model's recurrent layers in order (two per stacked layer when bidirectional)."""
    return [layer for layer in model.layers if isinstance(layer, tuple(CELLS.values()))]


def vocabulary_size(model: keras.Model) -> int:
    """Token ids the model accepts: the input size of its embedding (an ensemble's first member's)."""
    for layer in model.layers:
        if isinstance(layer, layers.Embedding):
            return layer.input_dim
        if isinstance(layer, keras.Model):
            return vocabulary_size(layer)
    raise ValueError(f"model {model.name!r} has no embedding layer")


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
