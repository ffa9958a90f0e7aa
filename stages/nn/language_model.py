"""The language models: forward and backward next-word models sharing an embedding and output layer, their
sampled and full softmax losses, and their FLOP count (what the ``lm`` stage trains)."""

from __future__ import annotations

import functools
import math

from stages.params import GATES

DIRECTIONS = ("forward", "backward")


def build_language_models(vocab_size: int, cell: str, units: int, layers: int, embedding_dim: int):
    """The forward and the backward model: ``Embedding -> RNN x layers -> Dense(vocab_size)`` (logits).

    They share the embedding and the output layer; each has recurrent layers of its own,
    named as the classifier names a unidirectional stack (``lstm_1``, ``lstm_2``, ...), so
    their weights transfer by name.
    """
    import keras
    from keras import layers as kl

    from stages.nn.model import CELLS

    embedding = kl.Embedding(vocab_size, embedding_dim, name="embedding")
    next_word = kl.Dense(vocab_size, name="next_word")  # logits; softmax in the loss
    models = []
    for direction in DIRECTIONS:
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
        x = embedding(tokens)
        for i in range(layers):
            x = CELLS[cell](units, return_sequences=True, name=f"{cell}_{i + 1}")(x)
        models.append(keras.Model(tokens, next_word(x), name=f"{direction}_{cell}_lm"))
    return models


def encoder(model):
    """The model up to its last recurrent layer: features whose product with ``next_word`` gives the logits."""
    import keras

    return keras.Model(model.inputs, model.layers[-2].output)


def log_uniform_candidates(count: int, vocab_size: int, seed):
    """``count`` word ids drawn with replacement from P(c) = log((c + 1) / c) / log(V), c in 1..V-1.

    Ids are ranked by frequency, so this approximates Zipf's law; padding (id 0) is never a
    word and never drawn. Stateless: the same ``seed`` (a pair of ints) draws the same ids.
    """
    import tensorflow as tf

    u = tf.random.stateless_uniform([count], seed=seed, dtype=tf.float64)
    ids = tf.clip_by_value(tf.cast(tf.floor(tf.exp(u * math.log(vocab_size))), tf.int64), 1, vocab_size - 1)
    return ids


def log_uniform_probability(ids, vocab_size: int):
    """P(id) under :func:`log_uniform_candidates` (0 for padding)."""
    import tensorflow as tf

    c = tf.cast(tf.maximum(ids, 1), tf.float64)
    p = tf.math.log((c + 1.0) / c) / math.log(vocab_size)
    return tf.cast(tf.where(ids > 0, p, 0.0), tf.float32)


def next_word_loss(features, targets, kernel, bias, sampled: int, seed, compiled: bool = True):
    """Mean next-word cross-entropy: sampled softmax over ``sampled`` classes, or the full softmax when 0.

    ``features`` are (tokens, units), ``targets`` (tokens,), ``kernel`` and ``bias`` the
    output layer's (units, V) and (V,). The sampled loss is :func:`textbook_sampled_loss`;
    ``compiled`` computes the same with :func:`sampled_cross_entropy` under XLA, which is
    faster on a CPU (``bench/benchmark.py --only lm`` measures both; ``bench/README.md``).
    """
    import tensorflow as tf

    vocab_size = kernel.shape[-1]
    targets = tf.cast(targets, tf.int64)
    if not sampled or sampled >= vocab_size - 1:
        return tf.reduce_mean(full_cross_entropy(features, targets, kernel, bias))
    candidates = log_uniform_candidates(sampled, vocab_size, seed)  # outside XLA, which draws other numbers
    if not compiled:
        return tf.reduce_mean(textbook_sampled_loss(features, targets, kernel, bias, candidates))
    loss = compiled_sampled_cross_entropy()
    return tf.reduce_mean(loss(features, targets, tf.convert_to_tensor(kernel), tf.convert_to_tensor(bias), candidates))


def textbook_sampled_loss(features, targets, kernel, bias, candidates):
    """Per-token sampled softmax as TensorFlow provides it: ``tf.nn.sampled_softmax_loss`` on the given candidates.

    One difference from :func:`sampled_cross_entropy`: where the sampler draws the true
    word more than once, TensorFlow removes only one copy from the candidates.
    """
    import tensorflow as tf

    vocab_size, sampled = kernel.shape[-1], candidates.shape[0]
    return tf.nn.sampled_softmax_loss(
        weights=tf.transpose(kernel),
        biases=bias,
        labels=targets[:, None],
        inputs=features,
        num_sampled=sampled,
        num_classes=vocab_size,
        sampled_values=(
            candidates,
            sampled * log_uniform_probability(targets[:, None], vocab_size),
            sampled * log_uniform_probability(candidates, vocab_size),
        ),
        remove_accidental_hits=True,
    )


def sampled_cross_entropy(features, targets, kernel, bias, candidates):
    """Per-token sampled-softmax cross-entropy: the true word against the log-uniform ``candidates``.

    Each logit has the log of its class's expected count among the candidates subtracted
    (the standard correction), and candidates equal to the true word are masked out
    ("accidental hits"), as :func:`textbook_sampled_loss` does (tests/test_lm.py holds the two
    equal, loss and gradients). Written with gathers and one product so that XLA can fuse the
    softmax; TensorFlow's own op spends most of its time in an unfused softmax on a CPU.
    """
    import tensorflow as tf

    vocab_size, sampled = kernel.shape[-1], candidates.shape[0]
    true_logits = tf.reduce_sum(features * tf.transpose(tf.gather(kernel, targets, axis=1)), axis=1)
    true_logits += tf.gather(bias, targets) - tf.math.log(sampled * log_uniform_probability(targets, vocab_size))
    sampled_logits = tf.matmul(features, tf.gather(kernel, candidates, axis=1)) + tf.gather(bias, candidates)
    sampled_logits -= tf.math.log(sampled * log_uniform_probability(candidates, vocab_size))
    hits = tf.equal(targets[:, None], candidates[None, :])
    sampled_logits = tf.where(hits, tf.constant(-1e9, sampled_logits.dtype), sampled_logits)
    logits = tf.concat([true_logits[:, None], sampled_logits], axis=1)
    return tf.reduce_logsumexp(logits, axis=1) - true_logits


@functools.cache
def compiled_sampled_cross_entropy():
    """:func:`sampled_cross_entropy` under XLA, built once per process (so it is traced once per shape)."""
    import tensorflow as tf

    return tf.function(sampled_cross_entropy, jit_compile=True)


def full_cross_entropy(features, targets, kernel, bias):
    """Per-token cross-entropy under the full softmax over every word (padding excluded: it is never a word)."""
    import tensorflow as tf

    logits = tf.matmul(features, kernel) + bias
    logits = tf.concat([tf.fill([tf.shape(logits)[0], 1], -1e9), logits[:, 1:]], axis=1)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(targets, tf.int32), logits=logits)


def flops_per_token(params, vocab_size: int) -> int:
    """Multiply-adds x 2 per training token, both directions, forward and backward pass (backward = 2x forward).

    The softmax counts the classes training scores: the sampled ones and the true word, or
    the whole vocabulary when ``sampled`` is 0.
    """
    recurrent = 0
    width = params.embedding_dim
    for _ in range(params.layers):
        recurrent += 2 * GATES[params.cell] * params.units * (width + params.units)
        width = params.units
    classes = params.sampled + 1 if params.sampled and params.sampled < vocab_size - 1 else vocab_size
    softmax = 2 * params.units * classes
    return 2 * 3 * (recurrent + softmax)
