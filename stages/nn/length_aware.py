"""Length-aware layers: what lets the classifier run its RNNs unmasked yet compute what masking computes.

A Keras mask makes every recurrent step slower on a CPU and puts conditions on cuDNN on a
GPU. These layers get the same function without one: rows are left-aligned (padding on
either side works), a forward step never looks ahead so its outputs at a review's tokens
do not depend on the padding after them, the backward direction runs on each review
reversed within its own length, and pooling reads only token steps. The contract is
``tests/test_model.py::test_same_function_as_keras_masking``: weights copied into
``Embedding(mask_zero=True) + Bidirectional`` give the same outputs.
"""

from __future__ import annotations

import keras
from keras import layers, ops


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


def bidirectional(forward: layers.Layer, backward: layers.Layer, x, lengths, name: str, reverse_name: str):
    """``Bidirectional(layer)`` for unmasked, left-aligned rows: returns (concatenated, forward, backward) outputs.

    The backward layer reads each row reversed within its length, so it starts at the
    review's last token rather than at padding; its outputs are turned back into token
    order before the concatenation (the third output keeps the backward layer's own order).
    """
    ahead = forward(x)
    behind = backward(ReverseTokens(name=f"{reverse_name}_reverse")(x, lengths))
    both = layers.Concatenate(name=name)([ahead, ReverseTokens(name=f"{reverse_name}_unreverse")(behind, lengths)])
    return both, ahead, behind


def pool(x, lengths, pooling: str, prefix: str = "", directions=None):
    """Summarise each row's token steps: ``last`` token, ``max``, ``mean`` or ``max_mean``.

    ``directions`` (forward and backward outputs of a bidirectional layer) makes ``last``
    read the forward output at the last token and the backward one at the first.
    """
    if pooling == "last":
        if directions is not None:
            forward, backward = directions
            return layers.Concatenate(name=f"{prefix}last_token")(
                [
                    LastToken(name=f"{prefix}last_forward")(forward, lengths),
                    LastToken(name=f"{prefix}last_backward")(backward, lengths),
                ]
            )
        return LastToken(name=f"{prefix}last_token")(x, lengths)
    if pooling in ("max", "mean"):
        return MaskedPooling1D(pooling, name=f"{prefix}{pooling}_over_time")(x, lengths)
    return layers.Concatenate(name=f"{prefix}max_mean")(
        [
            MaskedPooling1D("max", name=f"{prefix}max_over_time")(x, lengths),
            MaskedPooling1D("mean", name=f"{prefix}mean_over_time")(x, lengths),
        ]
    )
