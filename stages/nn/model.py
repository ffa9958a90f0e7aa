"""Builds the recurrent classifier: embedding, stacked (bi)directional RNN cells, pooling, sigmoid."""

from __future__ import annotations

import keras
from keras import layers, ops

from stages.nn import length_aware
from stages.nn.length_aware import LeftAlign, SequenceLength
from stages.params import Model

CELLS: dict[str, type[layers.Layer]] = {
    "simple_rnn": layers.SimpleRNN,
    "lstm": layers.LSTM,
    "gru": layers.GRU,
}


def _recurrent(cell: str, units: int, dropout: float, seed: int | None, name: str, sequences: bool = True):
    return CELLS[cell](units, dropout=dropout, return_sequences=sequences, seed=seed, name=name)


def build_model(
    vocab_size: int, params: Model, seed: int | None = None, prefix: str = "", textbook: bool = False
) -> keras.Model:
    """Return an uncompiled binary classifier over padded token ids (0 = padding, either side), shaped by ``params``
    (the ``model`` section); ``prefix`` starts every layer name (ensemble members need names of their own) and
    ``seed`` seeds the dropout.

    ``textbook`` builds it from stock Keras layers only: ``Embedding(mask_zero=True)``, ``Bidirectional(cell)``,
    pooling over the mask, ``Dense``, so it loads wherever Keras does. The default builds the same function
    from the length-aware layers of ``stages/nn/length_aware.py`` (cheaper on a CPU, cuDNN-eligible on a
    GPU); ``textbook_copy`` moves weights between the two, and tests/test_model.py holds them equal.
    """
    if textbook:
        return _textbook(vocab_size, params, seed, prefix)
    cell, units, dropout = params.cell, params.units, params.dropout  # choices checked by the schema
    tokens = keras.Input(shape=(None,), dtype="int32", name=f"{prefix}tokens")
    aligned = LeftAlign(name=f"{prefix}left_align")(tokens)  # length-aware: tokens first, padding after
    lengths = SequenceLength(name=f"{prefix}length")(aligned)
    x = _embedding(vocab_size, params, seed, prefix, mask_zero=False)(aligned)
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
    x = length_aware.pool(x, lengths, params.pooling, prefix, directions)  # reads only the review's own steps
    return _head(tokens, x, params, seed, prefix)


def _textbook(vocab_size: int, params: Model, seed: int | None, prefix: str) -> keras.Model:
    """``build_model(textbook=True)``: Keras masking does what the length-aware layers do."""
    cell, units, dropout = params.cell, params.units, params.dropout
    tokens = keras.Input(shape=(None,), dtype="int32", name=f"{prefix}tokens")
    x = _embedding(vocab_size, params, seed, prefix, mask_zero=True)(tokens)
    for i in range(params.layers):
        sequences = i < params.layers - 1 or params.pooling != "last"  # the last layer's final state is "last"
        name = f"{prefix}{cell}_{i + 1}"
        if params.bidirectional:
            x = layers.Bidirectional(_recurrent(cell, units, dropout, seed, name, sequences), name=name)(x)
        else:
            x = _recurrent(cell, units, dropout, seed, name, sequences)(x)
    if params.pooling != "last":  # max and mean over the token steps: keras.ops, which Keras saves as stock layers
        valid = ops.expand_dims(ops.not_equal(tokens, 0), -1)
        counts = ops.sum(ops.cast(valid, x.dtype), axis=1)
        peak = ops.where(ops.greater(counts, 0), ops.max(ops.where(valid, x, -1e9), axis=1), 0.0)
        average = ops.sum(ops.where(valid, x, 0.0), axis=1) / ops.maximum(counts, 1.0)
        x = {"max": peak, "mean": average, "max_mean": ops.concatenate([peak, average], axis=-1)}[params.pooling]
    return _head(tokens, x, params, seed, prefix)


def _embedding(vocab_size: int, params: Model, seed: int | None, prefix: str, mask_zero: bool):
    """The embedding, then (when asked) dropout of whole channels, the same for every step of a review."""
    embedding = layers.Embedding(
        vocab_size,
        params.embedding_dim,
        mask_zero=mask_zero,
        trainable=params.embedding_trainable,
        name=f"{prefix}embedding",
    )
    if not params.embedding_dropout:
        return embedding
    dropout = layers.SpatialDropout1D(params.embedding_dropout, seed=seed, name=f"{prefix}embedding_dropout")
    return lambda tokens: dropout(embedding(tokens))


def _head(tokens, x, params: Model, seed: int | None, prefix: str) -> keras.Model:
    """The optional hidden layer and the output probability."""
    if params.dense_units:
        x = layers.Dense(params.dense_units, activation="relu", name=f"{prefix}hidden")(x)
        if params.dense_dropout:
            x = layers.Dropout(params.dense_dropout, seed=seed, name=f"{prefix}hidden_dropout")(x)
    # float32 whatever the precision policy, so the probability and the loss keep their precision
    probability = layers.Dense(1, activation="sigmoid", dtype="float32", name=f"{prefix}positive")(x)
    name = f"{prefix}{'bi' if params.bidirectional else ''}{params.cell}_classifier"
    return keras.Model(tokens, probability, name=name)


def textbook_copy(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy a classifier's weights into its twin of the other branch of ``build_model`` (same params); returns
    ``target``.

    The embedding, hidden and output layers share their names; a recurrent direction is ``gru_1_forward`` in
    one branch and ``Bidirectional(name="gru_1").forward_layer`` in the other.
    """
    for layer in source.layers:
        if isinstance(layer, layers.Embedding | layers.Dense):
            target.get_layer(layer.name).set_weights(layer.get_weights())
    theirs = _directions(target)
    for name, mine in _directions(source).items():
        theirs[name].set_weights(mine.get_weights())
    return target


def _directions(model: keras.Model) -> dict[str, layers.Layer]:
    """The recurrent layers by the length-aware branch's names (``gru_1``, or ``gru_1_forward`` and ``_backward``)."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, layers.Bidirectional):
            found |= {f"{layer.name}_forward": layer.forward_layer, f"{layer.name}_backward": layer.backward_layer}
        elif isinstance(layer, tuple(CELLS.values())):
            found[layer.name] = layer
    return found


def recurrent_layers(model: keras.Model) -> list[layers.Layer]:
    """The model's recurrent layers (two per stacked layer when bidirectional)."""
    return list(_directions(model).values())


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
