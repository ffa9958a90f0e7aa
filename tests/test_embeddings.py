"""Tests of stages/embeddings.py and of ``model.init: word_vectors`` (stages/nn/pretrained.py)."""

import json

import numpy as np
import pytest

from stages import embeddings
from stages.errors import PipelineError
from stages.io.params_file import problems_in
from stages.nn import pretrained
from stages.nn.model import build_model
from stages.params import Prepare
from stages.text import OOV_TOKEN, read_vocabulary, tokenize
from tests.project import default_params
from tests.tiny import defaults, model_params, train_tiny

TINY = defaults("embeddings") | {"dim": 8, "epochs": 3, "window": 2}


@pytest.fixture(scope="module")
def vectors(lm_data, tmp_path_factory):
    """The stage run twice on the tiny data, recording the text gensim was given."""
    seen = []
    original = embeddings.train_vectors

    def recording(sentences, params):
        seen.append(sentences)
        return original(sentences, params)

    outputs = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embeddings, "train_vectors", recording)
        for run in ("a", "b"):
            files = embeddings.EmbeddingsPaths.in_folder(lm_data, tmp_path_factory.mktemp(f"vectors-{run}"))
            outputs.append((files, embeddings.run(embeddings.Embeddings(**TINY), Prepare(), files)))
    return outputs, seen[0]


def test_vectors_are_a_plain_array_aligned_with_the_vocabulary(vectors, lm_data):
    (files, metrics), _ = vectors[0][0], None
    vocabulary = read_vocabulary(lm_data / "prepared" / "vocab.txt")
    array = np.load(files.vectors, allow_pickle=False)
    assert array.shape == (len(vocabulary), 8) and array.dtype == np.float32
    assert not array[0].any() and all(row.any() for row in array[1:])  # padding is zeros, every word has a vector
    assert json.loads(files.metrics.read_text()) == metrics
    assert 0.5 < metrics["embeddings"]["vocabulary_coverage"] <= 1.0 and metrics["embeddings"]["tokens"] > 0


def test_same_params_give_the_same_vectors(vectors):
    (first, _), (second, _) = vectors[0]
    assert first.vectors.read_bytes() == second.vectors.read_bytes()


def test_no_held_out_review_reaches_the_vectors(vectors, lm_data):
    import pandas as pd

    _, sentences = vectors
    table = pd.read_parquet(lm_data / "reviews.parquet")
    val_rows = np.load(lm_data / "prepared" / "val.npz")["row"]
    held_out = list(table["text"][table["split"] == "test"]) + list(table["text"].iloc[val_rows])
    vocabulary = set(read_vocabulary(lm_data / "prepared" / "vocab.txt"))
    given = {" ".join(sentence) for sentence in sentences}
    for text in held_out:
        assert " ".join(t if t in vocabulary else OOV_TOKEN for t in tokenize(text)) not in given
    assert all(token in vocabulary for sentence in sentences for token in sentence)


def test_unlabeled_reviews_are_encoded_like_prepare_and_hold_no_held_out_review(vectors, lm_data):
    import pandas as pd

    from stages.io.arrays import Encoding, load_split
    from stages.text import encode, token_index

    files, _ = vectors[0][0]
    encoding = Encoding.load(lm_data / "prepared" / "encoding.json")
    vocabulary = read_vocabulary(lm_data / "prepared" / "vocab.txt")
    split = load_split(files.unlabeled_arrays, encoding.max_len, len(vocabulary))
    unlabeled = pd.read_parquet(lm_data / "unlabeled.parquet")["text"]
    assert 0 < len(split.y) <= len(unlabeled) and set(split.y) == {-1}
    table = pd.read_parquet(lm_data / "reviews.parquet")
    val_rows = np.load(lm_data / "prepared" / "val.npz")["row"]
    held_out = {
        " ".join(tokenize(t))
        for t in list(table["text"][table["split"] == "test"]) + list(table["text"].iloc[val_rows])
    }
    kept = [tokenize(t) for t in unlabeled if " ".join(tokenize(t)) not in held_out and tokenize(t)]
    assert len(kept) == len(split.y)
    index = token_index(vocabulary)
    for row, tokens in enumerate(kept):
        ids = encode(tokens, index, encoding.max_len, encoding.truncating)
        stored = (
            split.x[row, : split.length[row]]
            if encoding.padding == "post"
            else split.x[row, encoding.max_len - split.length[row] :]
        )
        assert stored.tolist() == ids and split.full_length[row] == len(tokens)
    assert files.unlabeled_arrays.read_bytes() == vectors[0][1][0].unlabeled_arrays.read_bytes()


def test_report_lists_the_nearest_neighbours_of_the_probe_words(vectors):
    files, _ = vectors[0][0]
    report = files.report.read_text()
    assert report.startswith("# Word vectors: nearest neighbours")
    for word in embeddings.PROBE_WORDS:
        assert f"| {word} |" in report


def test_nearest_neighbours_by_cosine():
    vocabulary = ["<pad>", "<oov>", "good", "great", "bad"]
    array = np.array([[0, 0], [0.1, 0.1], [1, 0.1], [2, 0.3], [-1, 0]], dtype=np.float32)
    assert embeddings.nearest(array, vocabulary, "good", 2) == ["great", "<oov>"]


def test_word_vectors_init_copies_them_rescaled_unless_frozen(vectors, lm_data):
    files, _ = vectors[0][0]
    array = np.load(files.vectors)
    net = build_model(len(array), model_params("gru", 4, 8))
    assert pretrained.transfer(net, "word_vectors", lm_data, vectors=files.vectors) == ["embedding"]
    copied = net.get_layer("embedding").get_weights()[0]
    assert copied.std() == pytest.approx(pretrained.EMBEDDING_STD, rel=1e-4)
    np.testing.assert_allclose(copied, array * (copied.std() / array.std()), rtol=1e-5, atol=1e-7)
    frozen = build_model(len(array), model_params("gru", 4, 8, embedding_trainable=False))
    pretrained.transfer(frozen, "word_vectors", lm_data, vectors=files.vectors)
    np.testing.assert_array_equal(frozen.get_layer("embedding").get_weights()[0], array)  # frozen: their own scale
    wrong = build_model(len(array), model_params("gru", 4, 6))
    with pytest.raises(
        PipelineError, match=r"holds \d+ vectors of 8 dimensions, but the classifier has \d+ words of 6"
    ):
        pretrained.transfer(wrong, "word_vectors", lm_data, vectors=files.vectors)
    with pytest.raises(PipelineError, match=r"needs .*missing.npy: run `dvc repro embeddings` first"):
        pretrained.transfer(net, "word_vectors", lm_data, vectors=lm_data / "missing.npy")


@pytest.mark.slow
def test_training_from_word_vectors_runs_end_to_end(vectors, lm_data, tmp_path):
    files, _ = vectors[0][0]
    model = {"init": "word_vectors", "embedding_dim": 8}
    metrics = train_tiny(tmp_path, lm_data / "prepared", model, vectors=files.vectors, epochs=1)
    assert metrics["train"]["epochs_run"] == 1


def test_the_schema_refuses_word_vectors_of_another_size():
    params = default_params()
    params["model"] |= {"init": "word_vectors", "embedding_dim": 64}
    params["embeddings"]["dim"] = 300
    assert any(p.startswith("model.embedding_dim: 64 differs from embeddings.dim 300") for p in problems_in(params))
    params["model"]["embedding_dim"] = 300
    assert not problems_in(params)
