"""Tests of stages/text.py: tokenizer, vocabulary, encoding and padding."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stages.text import OOV_ID, PAD_ID, RESERVED, build_vocabulary, encode, pad, token_index, tokenize


def test_tokenize_documented_rules():
    assert tokenize("Great movie!<br /><br />I DON'T regret it... 10/10") == [
        "great",
        "movie",
        "!",
        "i",
        "don't",
        "regret",
        "it",
        ".",
        ".",
        ".",
        "10",
        "/",
        "10",
    ]


def test_tokenize_line_break_variants_and_unicode():
    assert tokenize("a<BR>b<br/>c<br   />d") == ["a", "b", "c", "d"]
    assert tokenize("Amélie était GÉNIALE") == ["amélie", "était", "géniale"]
    assert tokenize("snake_case\tand\x00control") == ["snake", "case", "and", "control"]


@given(st.text())
def test_tokenize_is_deterministic_and_yields_no_empty_or_blank_tokens(text):
    tokens = tokenize(text)
    assert tokens == tokenize(text)
    assert all(token and not any(ch.isspace() for ch in token) for token in tokens)


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=20), max_size=6))
def test_line_breaks_never_survive(pieces):
    with_breaks = "<br />".join(pieces)
    assert tokenize(with_breaks) == tokenize(" ".join(pieces))


def test_vocabulary_reserved_ids_frequency_order_and_ties():
    docs = [["b", "a", "c"], ["a", "c"], ["a", "d", "e"]]
    vocab = build_vocabulary(docs, vocab_size=5)
    assert vocab[:2] == list(RESERVED)
    assert vocab[2:] == ["a", "c", "b"]  # a:3, c:2, then b/d/e tie at 1: alphabetical


def test_vocabulary_skip_top_drops_most_frequent():
    docs = [["the", "the", "the", "good", "good", "bad"]]
    assert build_vocabulary(docs, vocab_size=10, skip_top=1) == [*RESERVED, "good", "bad"]


def test_encode_maps_unknown_to_oov_and_truncates_from_chosen_end():
    index = token_index([*RESERVED, "a", "b"])
    tokens = ["a", "x", "b", "a"]
    assert encode(tokens, index, 10, "pre") == [2, OOV_ID, 3, 2]
    assert encode(tokens, index, 2, "pre") == [3, 2]  # keeps the ending
    assert encode(tokens, index, 2, "post") == [2, OOV_ID]  # keeps the beginning


def test_pad_post_and_pre():
    out = pad([[5, 6], [], [7, 8, 9]], 3, "post")
    assert out.dtype == np.int32
    assert out.tolist() == [[5, 6, 0], [0, 0, 0], [7, 8, 9]]
    assert pad([[5, 6]], 3, "pre").tolist() == [[0, 5, 6]]


@given(
    st.lists(st.lists(st.integers(2, 50), max_size=12), max_size=8),
    st.integers(1, 12),
    st.sampled_from(["pre", "post"]),
    st.sampled_from(["pre", "post"]),
)
def test_encode_then_pad_keeps_every_kept_id_in_order(docs, max_len, padding, truncating):
    vocab = [*RESERVED, *[f"w{i}" for i in range(2, 51)]]
    index = token_index(vocab)
    encoded = [encode([vocab[i] for i in doc], index, max_len, truncating) for doc in docs]
    matrix = pad(encoded, max_len, padding)
    assert matrix.shape == (len(docs), max_len)
    for row, ids, doc in zip(matrix, encoded, docs):
        assert len(ids) == min(len(doc), max_len)
        assert [int(v) for v in row if v != PAD_ID] == ids
        if ids and padding == "post":
            assert row[0] != PAD_ID
        if ids and padding == "pre":
            assert row[-1] != PAD_ID
