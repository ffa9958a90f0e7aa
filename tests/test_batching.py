"""Tests of stages/nn/batching.py: bucketing keeps every row once and only drops padding."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.nn.batching import WIDTH_STEP, ReviewBatches, batch_rows, batch_width, chop, slice_batch


@settings(max_examples=60)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=200), st.integers(1, 17), st.booleans(), st.integers(0, 5))
def test_every_row_once_and_widths_cover_lengths(lengths, batch_size, bucket, seed):
    lengths = np.array(lengths)
    batches = batch_rows(lengths, batch_size, bucket, np.random.default_rng(seed))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(len(b) <= batch_size for b in batches)
    for rows in batches:
        width = batch_width(lengths[rows], 60)
        assert width >= min(lengths[rows].max(), 60) and (width == 60 or width % WIDTH_STEP == 0)


def test_bucketing_reduces_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 400, size=2000)
    x = np.zeros((2000, 400), dtype="int32")
    bucketed = ReviewBatches(x, np.zeros(2000), lengths, 32, "post", True, seed=1)
    plain = ReviewBatches(x, np.zeros(2000), lengths, 32, "post", False, seed=1)
    assert bucketed.mean_width() < 0.6 * plain.mean_width()
    assert plain.mean_width() == 400


def test_slice_keeps_tokens_for_both_paddings():
    post = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    pre = np.array([[0, 0, 1, 2], [0, 0, 0, 3]])
    rows = np.array([0, 1])
    assert slice_batch(post, rows, 2, "post").tolist() == [[1, 2], [3, 0]]
    assert slice_batch(pre, rows, 2, "pre").tolist() == [[1, 2], [0, 3]]


def test_epoch_order_depends_only_on_seed_and_epoch():
    lengths = np.arange(100) % 37 + 1
    x = np.zeros((100, 40), dtype="int32")
    for row, length in enumerate(lengths):
        x[row, :length] = row + 1  # each row's ids name the row
    data = ReviewBatches(x, np.arange(100) % 2, lengths, 8, "post", True, seed=3)
    first_two = [(ids.numpy(), labels.numpy()) for ids, labels in data.dataset(0, 2)]
    resumed = [(ids.numpy(), labels.numpy()) for ids, labels in data.dataset(1, 2)]
    assert len(first_two) == 2 * len(data) and len(resumed) == len(data)
    for (a, la), (b, lb) in zip(first_two[len(data) :], resumed):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    assert not all(np.array_equal(a, b) for (a, _), (b, _) in zip(first_two[: len(data)], resumed))
    seen = sorted(int(ids[0]) - 1 for batch, _ in first_two[: len(data)] for ids in batch)
    assert seen == list(range(100))  # every row once per epoch, with its own label
    for batch, labels in first_two:
        assert ((batch[:, 0] - 1) % 2 == labels).all()
        assert (batch != 0).sum(axis=1).tolist() == lengths[batch[:, 0] - 1].tolist()


def test_validation_dataset_repeats_the_same_order_and_starts_no_autotuning_thread():
    lengths = np.array([3, 1, 2, 5])
    x = np.arange(1, 21).reshape(4, 5).astype("int32")
    data = ReviewBatches(x, np.zeros(4), lengths, 2, "pre", True, seed=None)
    assert data.dataset().options().autotune.enabled is False and data.dataset(0, 2).options().autotune.enabled is False
    passes = [batch.numpy().tolist() for batch, _ in data.dataset().take(2 * len(data))]
    assert passes[: len(data)] == passes[len(data) :]
    assert [len(batch[0]) for batch in passes[: len(data)]] == [WIDTH_STEP if WIDTH_STEP <= 5 else 5] * len(data)


@settings(max_examples=40)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=20), st.integers(1, 12), st.sampled_from(["post", "pre"]))
def test_chop_cuts_each_review_into_consecutive_pieces_with_its_label(lengths, size, padding):
    width = 30
    lengths = np.array(lengths)
    x = np.zeros((len(lengths), width), dtype=np.int32)
    reviews = [list(range(2 + 100 * row, 2 + 100 * row + length)) for row, length in enumerate(lengths)]
    for row, ids in enumerate(reviews):
        if ids:
            if padding == "post":
                x[row, : len(ids)] = ids
            else:
                x[row, width - len(ids) :] = ids
    y = np.arange(len(lengths)) % 2
    pieces, labels, piece_lengths = chop(x, y, lengths, size, padding)
    assert pieces.shape[1] == size and len(pieces) == len(labels) == len(piece_lengths)
    tokens = [p[:n] if padding == "post" else p[size - n :] for p, n in zip(pieces, piece_lengths)]
    assert all(not (p[n:] if padding == "post" else p[: size - n]).any() for p, n in zip(pieces, piece_lengths))
    joined, row = {}, 0
    for review, ids in enumerate(reviews):  # pieces come in review order, each review's in token order
        count = max(-(-len(ids) // size), 1)
        assert set(labels[row : row + count]) == {y[review]}
        joined[review] = [int(t) for part in tokens[row : row + count] for t in part]
        row += count
    assert row == len(pieces) and all(joined[r] == ids for r, ids in enumerate(reviews))


def test_per_epoch_draws_that_many_batches_a_different_sample_each_epoch():
    lengths = np.arange(1, 201)
    batches = ReviewBatches(
        np.zeros((200, 200), dtype="int32"), np.zeros(200), lengths, 10, "post", True, 3, per_epoch=4
    )
    assert len(batches) == 4 and len(batches.plan(0)) == 4
    first, second = (np.concatenate([rows for rows, _ in batches.plan(e)]) for e in (0, 1))
    assert len(set(first)) == 40 and set(first) != set(second)
