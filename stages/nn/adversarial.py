"""Adversarial training on the embedding (Goodfellow et al. 2015; Miyato et al. 2017), as a Keras training step.

With ``train.adversarial: at`` each step adds to the loss on a batch the loss on the same
batch with its embedded reviews moved a small distance in the direction that raises the
loss most, as a first-order estimate: ``r = epsilon * ||e|| * g / ||g||`` per review, where
``e`` is the review's embedded sequence (its token steps), ``g`` the gradient of the loss
with respect to it, and both norms are taken over the review's steps and channels.

``at_matrix`` scales the step over the batch instead, as the embedding matrix sees it: each word's
gradient summed over its occurrences, ``r = epsilon * ||E|| * G / ||G||`` with ``E`` and ``G`` the
batch's embedding rows and their gradients, so every occurrence of a word moves alike (the
accuracy issue's probe perturbed the whole matrix this way).

Miyato et al. normalise the embeddings and use an absolute ``epsilon``, so that the model
cannot make the perturbation negligible by growing its embedding. Scaling ``r`` with the
review's own embedded norm gives the same invariance without a normalisation layer in
the saved model, which therefore is the same plain classifier whatever this setting.

With ``vat`` (virtual adversarial training, Miyato et al. 2017) each step instead adds, on
a batch of unlabeled reviews ``u``, the divergence between the model's clean prediction
and its prediction at ``e + r``, where ``r`` is the direction (found by one step of power
iteration from a random probe of relative size ``xi``) in which that divergence grows
most, scaled like AT's. It needs no labels, so it reads the unlabeled reviews; ``at_vat``
adds both losses. The VAT passes run without dropout, so the divergence measures the
model's own sensitivity to ``r``; the probe is drawn from ``(seed, optimizer step)``, so a
resumed run draws the same probes as an uninterrupted one.

The step runs the classifier's own layers in two parts that share its weights: ``front``
(tokens to aligned tokens and embedded sequence) and ``head`` (those to the probability),
so nothing is copied and the model that ``fit`` trains is the one saved.
"""

from __future__ import annotations

import types
from typing import get_args

import keras
import tensorflow as tf
from keras.src.losses.loss import unscale_loss_for_distribution  # as Keras's own train_step

from stages.params import Adversarial


def token_mask(aligned):
    """``(batch, time, 1)`` float mask: 1 at token steps, 0 at padding (id 0)."""
    return tf.cast(tf.not_equal(aligned, 0), tf.float32)[:, :, tf.newaxis]


def perturbation(gradient, embedded, aligned, epsilon: float):
    """``epsilon * ||e|| * g / ||g||`` for each review, zero at padding (norms over its token steps and channels)."""
    mask = token_mask(aligned)
    gradient = tf.cast(gradient, tf.float32) * mask
    embedded = tf.cast(embedded, tf.float32) * mask
    g_norm = tf.sqrt(tf.reduce_sum(tf.square(gradient), axis=(1, 2), keepdims=True))
    e_norm = tf.sqrt(tf.reduce_sum(tf.square(embedded), axis=(1, 2), keepdims=True))
    return epsilon * e_norm * gradient / tf.maximum(g_norm, 1e-12)


def matrix_perturbation(gradient, embedded, aligned, epsilon: float):
    """``epsilon * ||E|| * G / ||G||`` over the embedding rows ``E`` of the batch's words, ``G`` their gradient (summed
    over every occurrence), put back at each occurrence: every occurrence of a word moves alike; zero at padding."""
    dim = tf.shape(embedded)[-1]
    words, where = tf.unique(tf.reshape(aligned, [-1]))
    count = tf.size(words)
    is_word = tf.cast(tf.not_equal(words, 0), tf.float32)[:, tf.newaxis]
    rows = tf.math.unsorted_segment_sum(tf.reshape(tf.cast(gradient, tf.float32), [-1, dim]), where, count) * is_word
    vectors = tf.math.unsorted_segment_max(tf.reshape(tf.cast(embedded, tf.float32), [-1, dim]), where, count) * is_word
    moved = epsilon * tf.norm(vectors) * rows / tf.maximum(tf.norm(rows), 1e-12)
    return tf.reshape(tf.gather(moved, where), tf.shape(embedded))


STEPS = {"at": perturbation, "at_vat": perturbation, "at_matrix": matrix_perturbation}  # AT's step, by mode


def split(net: keras.Model, prefix: str = "") -> tuple[keras.Model, keras.Model]:
    """``front`` (tokens -> aligned tokens, embedded sequence) and ``head`` (those -> probability), sharing ``net``'s layers."""
    aligned = net.get_layer(f"{prefix}left_align").output
    embedded = net.get_layer(f"{prefix}embedding").output
    return keras.Model(net.input, [aligned, embedded]), keras.Model([aligned, embedded], net.output)


def adversarial_gradients(net, front, head, x, y, epsilon: float, weight: float, sample_weight=None, step=perturbation):
    """One batch: the clean loss and predictions, the adversarial loss, and the gradients of ``loss + weight * adv``.

    ``step`` scales the perturbation: per review (``perturbation``) or over the batch's embedding
    rows (``matrix_perturbation``).

    Two passes, each one forward and one backward: the clean pass gives the variables'
    gradients and the embedding's at once; the perturbed pass, with ``r`` held constant
    (Miyato et al.), gives the adversarial loss's. Taking the embedding's gradient inside
    the second pass's tape instead would make TensorFlow keep second-order records of the
    recurrent loop, and the step twice as slow.
    """
    variables = net.trainable_weights
    with tf.GradientTape() as tape:
        aligned, embedded = front(x, training=True)
        tape.watch(embedded)
        y_pred = head([aligned, embedded], training=True)
        loss = net.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        scaled = net.optimizer.scale_loss(loss) if net.optimizer is not None else loss
    *clean, direction = tape.gradient(scaled, [*variables, embedded])
    r = tf.stop_gradient(tf.cast(step(direction, embedded, aligned, epsilon), embedded.dtype))
    with tf.GradientTape() as tape:
        aligned, embedded = front(x, training=True)
        perturbed = head([aligned, embedded + r], training=True)
        adv = net.compute_loss(x=x, y=y, y_pred=perturbed, sample_weight=sample_weight)
        scaled = net.optimizer.scale_loss(weight * adv) if net.optimizer is not None else weight * adv
    adversarial = tape.gradient(scaled, variables)
    gradients = [_add(a, b) for a, b in zip(clean, adversarial)]
    return loss, y_pred, adv, gradients


def bernoulli_kl(p, q):
    """KL(p || q) of two Bernoulli distributions given by their probabilities, per row (``(batch, 1)`` in, ``(batch,)`` out)."""
    low = 1e-7  # as Keras's binary cross-entropy clips
    p = tf.clip_by_value(tf.cast(p, tf.float32), low, 1 - low)
    q = tf.clip_by_value(tf.cast(q, tf.float32), low, 1 - low)
    return tf.reshape(p * (tf.math.log(p) - tf.math.log(q)) + (1 - p) * (tf.math.log(1 - p) - tf.math.log(1 - q)), [-1])


def virtual_perturbation(front, head, u, epsilon: float, xi: float, seed):
    """VAT's ``r`` for the unlabeled batch ``u`` and the clean predictions it is measured against (both constants).

    ``seed`` is a stateless seed pair, so the random probe is a function of it alone.
    """
    aligned, embedded = front(u, training=False)
    clean = tf.stop_gradient(head([aligned, embedded], training=False))
    probe = tf.random.stateless_normal(tf.shape(embedded), seed, dtype=tf.float32)
    probe = tf.cast(perturbation(probe, embedded, aligned, xi), embedded.dtype)
    with tf.GradientTape() as tape:
        tape.watch(probe)
        divergence = tf.reduce_mean(bernoulli_kl(clean, head([aligned, embedded + probe], training=False)))
    direction = tape.gradient(divergence, probe)
    r = tf.stop_gradient(tf.cast(perturbation(direction, embedded, aligned, epsilon), embedded.dtype))
    return r, clean


def virtual_adversarial_loss(front, head, u, r, clean):
    """Mean KL(clean || prediction at ``e + r``) over the unlabeled batch: differentiable in the weights."""
    aligned, embedded = front(u, training=False)
    return tf.reduce_mean(bernoulli_kl(clean, head([aligned, embedded + r], training=False)))


def virtual_adversarial_gradients(net, front, head, x, y, u, epsilon, xi, weight, seed, sample_weight=None):
    """One batch: the clean loss and predictions, the VAT loss on ``u``, and the gradients of ``loss + weight * vat``."""
    r, clean = virtual_perturbation(front, head, u, epsilon, xi, seed)
    variables = net.trainable_weights
    with tf.GradientTape() as tape:
        y_pred = net(x, training=True)
        loss = net.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        vat = virtual_adversarial_loss(front, head, u, r, clean)
        total = loss + weight * vat
        scaled = net.optimizer.scale_loss(total) if net.optimizer is not None else total
    return loss, y_pred, vat, tape.gradient(scaled, variables)


def _add(a, b):
    """Sum of two gradients, either of which may be None (a variable one pass does not reach)."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):  # an embedding's rows: keep them sparse
        return tf.IndexedSlices(tf.concat([a.values, b.values], 0), tf.concat([a.indices, b.indices], 0), a.dense_shape)
    return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)


MODES = get_args(Adversarial)  # train.adversarial


def needs_unlabeled(mode: str) -> bool:
    """Whether ``mode`` reads unlabeled reviews: ``fit`` then gets ``((x, u), y)`` batches."""
    return "vat" in mode


def enable(
    net: keras.Model, epsilon: float, weight: float, prefix: str = "", mode: str = "at", xi: float = 1e-3, seed: int = 0
) -> keras.Model:
    """Make ``net.fit`` minimise ``loss + weight * (AT and/or VAT loss)``; evaluation and the saved model are unchanged.

    The ``loss`` that ``fit`` reports stays the clean loss, so histories compare across settings.
    """
    if mode not in MODES[1:]:
        raise ValueError(f"adversarial mode {mode!r}: expected one of {', '.join(MODES[1:])}")
    front, head = split(net, prefix)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        u = None
        if needs_unlabeled(mode):
            x, u = x
            step_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)])
        if mode == "vat":
            loss, y_pred, _, gradients = virtual_adversarial_gradients(
                self, front, head, x, y, u, epsilon, xi, weight, step_seed, sample_weight
            )
        else:
            loss, y_pred, _, gradients = adversarial_gradients(
                self, front, head, x, y, epsilon, weight, sample_weight, STEPS[mode]
            )
        if mode == "at_vat":
            r, clean = virtual_perturbation(front, head, u, epsilon, xi, step_seed)
            with tf.GradientTape() as tape:
                vat = weight * virtual_adversarial_loss(front, head, u, r, clean)
                scaled = self.optimizer.scale_loss(vat)
            gradients = [_add(a, b) for a, b in zip(gradients, tape.gradient(scaled, self.trainable_weights))]
        self._loss_tracker.update_state(unscale_loss_for_distribution(loss), sample_weight=tf.shape(x)[0])
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    net.train_step = types.MethodType(train_step, net)
    return net
