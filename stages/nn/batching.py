"""Batches for training and inference: optionally bucketed by length, each padded only to its longest review."""

from __future__ import annotations

import math

import numpy as np

WIDTH_STEP = 8  # batch widths are rounded up to a multiple of this...
XLA_WIDTH_STEP = 64  # ...or of this under XLA, which compiles once per distinct shape
BUCKET_SPAN = 32  # bucketing sorts windows of this many batches, so batches stay well mixed


def batch_rows(lengths: np.ndarray, batch_size: int, bucket: bool, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Split row positions into batches for one pass.

    With ``rng`` the rows are shuffled (and, when bucketing, the batches too); without it
    they keep their order, or are sorted by length when bucketing (for inference).
    Bucketing sorts rows by length within windows of ``BUCKET_SPAN`` batches, so each
    batch holds reviews of similar length.
    """
    count = len(lengths)
    order = rng.permutation(count) if rng is not None else np.arange(count)
    if bucket:
        window = batch_size * BUCKET_SPAN if rng is not None else max(count, 1)
        order = (
            np.concatenate(
                [
                    part[np.argsort(lengths[part], kind="stable")]
                    for part in np.array_split(order, math.ceil(count / window) or 1)
                ]
            )
            if count
            else order
        )
    batches = [order[i : i + batch_size] for i in range(0, count, batch_size)]
    if bucket and rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def batch_width(lengths: np.ndarray, max_len: int, step: int = WIDTH_STEP) -> int:
    """Columns a batch needs: its longest review rounded up to a multiple of ``step``, at most ``max_len``."""
    longest = int(lengths.max()) if len(lengths) else 1
    return min(max_len, max(step, math.ceil(longest / step) * step))


def slice_batch(x: np.ndarray, rows: np.ndarray, width: int, padding: str) -> np.ndarray:
    """The rows' token ids cut to ``width`` columns, dropping only padding."""
    return x[rows, :width] if padding == "post" else x[rows, x.shape[1] - width :]


class ReviewBatches:
    """(ids, labels) batches of one split; each epoch's order comes from ``(seed, epoch)``.

    Deriving each epoch's order from the seed and the epoch number alone makes the
    batches deterministic, and a run that resumes at epoch N sees exactly the batches an
    uninterrupted run would. Without a seed the order is fixed (for validation).
    """

    def __init__(
        self,
        x,
        y,
        lengths,
        batch_size: int,
        padding: str,
        bucket: bool,
        seed: int | None,
        step: int = WIDTH_STEP,
        per_epoch: int | None = None,
    ):
        self.x, self.y, self.lengths = x, np.asarray(y, dtype="float32"), lengths
        self.batch_size, self.padding, self.bucket, self.seed, self.step = batch_size, padding, bucket, seed, step
        self.per_epoch = per_epoch  # batches drawn per epoch (a different sample each epoch); None = all

    def plan(self, epoch: int) -> list[tuple[np.ndarray, int]]:
        """Row positions and padded width of every batch of ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch]) if self.seed is not None else None
        batches = batch_rows(self.lengths, self.batch_size, self.bucket, rng)[: self.per_epoch]
        full = self.x.shape[1]
        return [(rows, batch_width(self.lengths[rows], full, self.step) if self.bucket else full) for rows in batches]

    def __len__(self) -> int:
        return min(math.ceil(len(self.lengths) / self.batch_size), self.per_epoch or math.inf)

    def dataset(self, first_epoch: int = 0, last_epoch: int | None = None):
        """A ``tf.data.Dataset`` of ``(ids, labels)`` batches, built in-graph (no Python per batch).

        It holds epochs ``first_epoch`` to ``last_epoch - 1`` in order (for training), or,
        when ``last_epoch`` is None, the plan of ``first_epoch`` repeated forever (for
        validation, whose order is fixed).
        """
        import tensorflow as tf

        epochs = [first_epoch] if last_epoch is None else range(first_epoch, last_epoch)
        plans = [batch for epoch in epochs for batch in self.plan(epoch)]
        rows = np.zeros((len(plans), self.batch_size), dtype=np.int64)
        sizes = np.array([len(batch_rows_) for batch_rows_, _ in plans], dtype=np.int64)
        widths = np.array([width for _, width in plans], dtype=np.int64)
        for i, (batch_rows_, _) in enumerate(plans):
            rows[i, : len(batch_rows_)] = batch_rows_
        x, y = tf.constant(self.x), tf.constant(self.y)
        full, from_right = self.x.shape[1], self.padding == "pre"

        def take(batch_rows_, size, width):
            chosen = batch_rows_[:size]
            ids = tf.gather(x, chosen)
            ids = ids[:, full - width :] if from_right else ids[:, :width]
            return ids, tf.gather(y, chosen)

        data = tf.data.Dataset.from_tensor_slices((rows, sizes, widths)).map(
            take
        )  # sequential: the order is the plan's
        if last_epoch is None:
            data = data.repeat()
        return data.prefetch(2).with_options(fixed_pipeline())

    def mean_width(self, epoch: int = 0) -> float:
        """Average padded width of the batches, a measure of the work bucketing saves."""
        plan = self.plan(epoch)
        return float(np.mean([width for _, width in plan])) if plan else 0.0


def fixed_pipeline():
    """``tf.data`` options without autotuning: nothing here is ``AUTOTUNE``d (one ``map`` in plan order,
    two batches prefetched), and the autotuner's thread can hold up the destruction of a finished
    iterator, stalling whatever runs next (docs/design.md, "Training")."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def with_unlabeled(labeled, unlabeled):
    """``((ids, unlabeled ids), labels)`` batches: each labeled batch beside one unlabeled batch (VAT's input)."""
    import tensorflow as tf

    return tf.data.Dataset.zip((labeled, unlabeled)).map(lambda a, b: ((a[0], b[0]), a[1]))


def chop(x: np.ndarray, y: np.ndarray, lengths: np.ndarray, size: int, padding: str):
    """Every review cut into consecutive pieces of ``size`` tokens (the last one shorter), each with its review's label.

    Training on the pieces (``train.chop``; Johnson & Zhang 2016) makes the recurrent loop
    ``size`` steps long whatever the review's length; predictions still read whole reviews.
    Returns the pieces' ids (``size`` columns, padded on the same side as ``x``), labels and lengths.
    """
    full = x.shape[1]
    counts = np.maximum(-(-lengths // size), 1)
    pieces = np.zeros((int(counts.sum()), size), dtype=x.dtype)
    piece_lengths = np.empty(len(pieces), dtype=np.int64)
    row = 0
    for ids, length in zip(x, lengths):
        tokens = ids[:length] if padding == "post" else ids[full - length :]
        for start in range(0, max(int(length), 1), size):
            part = tokens[start : start + size]
            if padding == "post":
                pieces[row, : len(part)] = part
            else:
                pieces[row, size - len(part) :] = part
            piece_lengths[row] = len(part)
            row += 1
    return pieces, np.repeat(np.asarray(y), counts), piece_lengths


def predict_probabilities(model, x: np.ndarray, lengths: np.ndarray, padding: str, batch_size: int = 256) -> np.ndarray:
    """Positive-class probabilities of every row, in row order, batching rows of similar length."""
    out = np.empty(len(x), dtype=np.float64)
    for rows in batch_rows(lengths, batch_size, bucket=True, rng=None):
        batch = slice_batch(x, rows, batch_width(lengths[rows], x.shape[1]), padding)
        out[rows] = np.asarray(model.predict_on_batch(batch), dtype=np.float64).reshape(-1)
    return out
