"""Builds the recurrent classifier: embedding, stacked (bi)directional RNN cells, pooling, sigmoid."""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from pathlib import Path

import keras
from keras import layers, ops

CELLS: dict[str, type[layers.Layer]] = {
    "simple_rnn": layers.SimpleRNN,
    "lstm": layers.LSTM,
    "gru": layers.GRU,
}


def _register(cls):
    return keras.saving.register_keras_serializable(package="stages")(cls)


@_register
class LeftAlign(layers.Layer):
    """Moves each row's tokens to the start of the row, whatever the padding side.

    Token id 0 appears only as padding, so a row's tokens are one contiguous run; rolling
    the row left by the position of its first token makes ``pre`` padding look like
    ``post`` padding, which is what the length-aware layers below expect.
    """

    def call(self, tokens):
        import tensorflow as tf

        first = tf.argmax(tf.cast(tf.not_equal(tokens, 0), tf.int32), axis=1, output_type=tf.int32)

        def roll_rows():
            width = tf.shape(tokens)[1]
            positions = (tf.range(width)[tf.newaxis, :] + first[:, tf.newaxis]) % width
            return tf.gather(tokens, positions, batch_dims=1)

        # right-padded batches (the pipeline's own) skip the gather
        return tf.cond(tf.reduce_any(first > 0), roll_rows, lambda: tokens)

    def compute_output_shape(self, input_shape):
        return input_shape


@_register
class SequenceLength(layers.Layer):
    """Number of tokens (non-zero ids) of each row."""

    def call(self, tokens):
        return ops.sum(ops.cast(ops.not_equal(tokens, 0), "int32"), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)


def _valid_steps(values, lengths):
    """Boolean ``(batch, time)``: which steps of ``values`` hold a token."""
    steps = ops.expand_dims(ops.arange(ops.shape(values)[1]), 0)
    return ops.less(steps, ops.expand_dims(ops.cast(lengths, steps.dtype), 1))


@_register
class ReverseTokens(layers.Layer):
    """Reverses each row's first ``length`` steps and leaves the padding after them in place.

    The backward direction runs on this, so it starts at a review's last token rather than
    at padding; applied twice it gives the row back.
    """

    def call(self, values, lengths):
        import tensorflow as tf  # its reverse_sequence has a cheap gradient; Keras ops has no equivalent

        return tf.reverse_sequence(values, ops.cast(lengths, "int64"), seq_axis=1, batch_axis=0)

    def compute_output_shape(self, values_shape, lengths_shape=None):
        return values_shape


@_register
class LastToken(layers.Layer):
    """Output at each row's last token (zeros for an empty row)."""

    def call(self, values, lengths):
        # a one-hot weighted sum: dense ops whose gradient is cheaper than a gather's
        pick = ops.one_hot(ops.cast(lengths, "int32") - 1, ops.shape(values)[1], dtype=values.dtype)
        return ops.sum(values * ops.expand_dims(pick, -1), axis=1)

    def compute_output_shape(self, values_shape, lengths_shape=None):
        return (values_shape[0], values_shape[2])


@_register
class MaskedPooling1D(layers.Layer):
    """Max or mean over each row's token steps; padding steps never count, an empty row pools to zeros."""

    def __init__(self, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean"):
            raise ValueError(f"mode: {mode!r} is not allowed, expected max or mean")
        self.mode = mode

    def call(self, values, lengths):
        keep = ops.expand_dims(_valid_steps(values, lengths), -1)
        counts = ops.expand_dims(ops.cast(lengths, values.dtype), -1)
        if self.mode == "mean":
            total = ops.sum(ops.where(keep, values, ops.zeros_like(values)), axis=1)
            return total / ops.maximum(counts, 1.0)
        pooled = ops.max(ops.where(keep, values, ops.full_like(values, -1e9)), axis=1)
        return ops.where(ops.greater(counts, 0), pooled, ops.zeros_like(pooled))

    def compute_output_shape(self, values_shape, lengths_shape=None):
        return (values_shape[0], values_shape[2])

    def get_config(self):
        return super().get_config() | {"mode": self.mode}


def _recurrent(cell: str, units: int, dropout: float, seed: int | None, name: str) -> layers.Layer:
    return CELLS[cell](units, dropout=dropout, return_sequences=True, seed=seed, name=name)


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
    prefix: str = "",
) -> keras.Model:
    """Return an uncompiled binary classifier over padded token ids (0 = padding, either side).

    No Keras mask: the recurrent layers run unmasked over left-aligned rows, which gives
    the same outputs at every token step as masking (a forward step never looks ahead,
    and the backward direction runs on each row reversed within its length), while the
    pooling reads only token steps. An unmasked step is cheaper on a CPU, and on a GPU
    LSTM and GRU keep their defaults (tanh/sigmoid, no recurrent dropout, no unroll,
    ``reset_after=True``) so that Keras runs them with cuDNN kernels. ``prefix`` starts
    every layer name (ensemble members need names of their own).
    """
    if cell not in CELLS:
        raise ValueError(f"model.cell: {cell!r} is not allowed, expected one of {', '.join(CELLS)}")
    if pooling not in ("last", "max", "mean", "max_mean"):
        raise ValueError(f"model.pooling: {pooling!r} is not allowed, expected one of last, max, mean, max_mean")
    tokens = keras.Input(shape=(None,), dtype="int32", name=f"{prefix}tokens")
    aligned = LeftAlign(name=f"{prefix}left_align")(tokens)
    lengths = SequenceLength(name=f"{prefix}length")(aligned)
    x = layers.Embedding(vocab_size, embedding_dim, name=f"{prefix}embedding")(aligned)
    if embedding_dropout:
        x = layers.SpatialDropout1D(embedding_dropout, seed=seed, name=f"{prefix}embedding_dropout")(x)
    for i in range(layers_count):
        name = f"{prefix}{cell}_{i + 1}"
        if bidirectional:
            forward = _recurrent(cell, units, dropout, seed, f"{name}_forward")(x)
            backward = _recurrent(cell, units, dropout, seed, f"{name}_backward")(
                ReverseTokens(name=f"{name}_reverse")(x, lengths)
            )
            x = layers.Concatenate(name=f"{prefix}bidirectional_{i + 1}")(
                [forward, ReverseTokens(name=f"{name}_unreverse")(backward, lengths)]
            )
        else:
            x = _recurrent(cell, units, dropout, seed, name)(x)
    if pooling == "last":
        if bidirectional:  # the backward direction ends at the review's first token
            x = layers.Concatenate(name=f"{prefix}last_token")(
                [
                    LastToken(name=f"{prefix}last_forward")(forward, lengths),
                    LastToken(name=f"{prefix}last_backward")(backward, lengths),
                ]
            )
        else:
            x = LastToken(name=f"{prefix}last_token")(x, lengths)
    elif pooling in ("max", "mean"):
        x = MaskedPooling1D(pooling, name=f"{prefix}{pooling}_over_time")(x, lengths)
    else:
        x = layers.Concatenate(name=f"{prefix}max_mean")(
            [
                MaskedPooling1D("max", name=f"{prefix}max_over_time")(x, lengths),
                MaskedPooling1D("mean", name=f"{prefix}mean_over_time")(x, lengths),
            ]
        )
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", name=f"{prefix}hidden")(x)
        if dense_dropout:
            x = layers.Dropout(dense_dropout, seed=seed, name=f"{prefix}hidden_dropout")(x)
    probability = layers.Dense(1, activation="sigmoid", name=f"{prefix}positive")(x)
    return keras.Model(tokens, probability, name=f"{prefix}{'bi' if bidirectional else ''}{cell}_classifier")


def average_members(members: list[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' probabilities (an ensemble).

    The members must have distinct layer names (``build_model``'s ``prefix``); they stay
    whole sub-models, so the saved file loads in safe mode like a single model.
    """
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    mean = layers.Average(name="mean_probability")([member(tokens) for member in members])
    return keras.Model(tokens, mean, name=f"ensemble_of_{len(members)}")


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


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
SAVED_DATE = datetime.datetime(*ZIP_EPOCH).strftime("%Y-%m-%d@%H:%M:%S")  # Keras's date_saved format


def save(model: keras.Model, path) -> None:
    """Save ``model`` as a ``.keras`` file whose bytes depend only on the model.

    Keras stamps the wall-clock time into ``metadata.json`` (``date_saved``) and into every
    zip entry, and numbers shared objects in ``config.json`` by their memory address; the
    times are set to the zip epoch and the numbers to 1, 2, ... in order of appearance,
    so the same params give a byte-identical file and DVC skips the stages after an
    unchanged model.
    """
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                data = json.dumps(json.loads(data) | {"date_saved": SAVED_DATE}).encode()
            elif info.filename == "config.json":
                data = json.dumps(_renumber_shared_objects(json.loads(data), {})).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            archive.writestr(fixed, data)
    Path(path).write_bytes(buffer.getvalue())


def _renumber_shared_objects(node, numbers: dict):
    """``node`` with every ``shared_object_id`` replaced by its order of first appearance."""
    if isinstance(node, dict):
        if "shared_object_id" in node:
            node["shared_object_id"] = numbers.setdefault(node["shared_object_id"], len(numbers) + 1)
        for value in node.values():
            _renumber_shared_objects(value, numbers)
    elif isinstance(node, list):
        for value in node:
            _renumber_shared_objects(value, numbers)
    return node


def load(path) -> keras.Model:
    """Load a saved ``.keras`` model in safe mode (no arbitrary code, no pickles)."""
    return keras.saving.load_model(path, safe_mode=True)
