"""Stage ``embeddings``: word vectors of the reviews' own text (gensim Word2Vec or FastText), aligned to vocab.txt.

The text is what the language models read (``stages/io/corpus.py``: the training split
without validation, plus the unlabeled reviews, less every copy of a validation or test
review). Words outside ``vocab.txt`` are read as ``<oov>``, so gensim learns one vector
per classifier id and the out-of-vocabulary token gets a vector of its own. The output
is a plain ``float32`` array, row ``i`` the vector of vocabulary id ``i`` (padding is
zeros), saved with ``numpy.save`` (gensim's own format pickles, and is never written).
``model.init: word_vectors`` starts the classifier's embedding from it.

Its second output, ``unlabeled.npz``, holds the unlabeled part of that text encoded as
``prepare`` encodes a split (same vocabulary, ``max_len``, truncation and padding; labels
-1): the reviews that virtual adversarial training (``train.adversarial: vat``) reads.

Determinism: gensim repeats its vectors only with one worker thread and a fixed hash
of words (it seeds each word's starting vector with ``hash(word)``, which Python
randomises per process), so the stage passes a stable hash and ``workers: 1`` is the
default; more workers are faster but no longer repeatable.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages import paths
from stages.errors import PipelineError
from stages.io.arrays import Encoding, Split, save_split
from stages.io.atomic import atomic_path, write_json, write_text
from stages.io.corpus import pretraining_text
from stages.params import Embeddings, Prepare
from stages.text import OOV_TOKEN, PAD_ID, encode, pad, read_vocabulary, token_index

log = logging.getLogger(__name__)


# Words whose nearest neighbours the report lists.
PROBE_WORDS = (
    *("awful", "great", "boring", "masterpiece", "disappointing", "funny"),  # sentiment
    *("horror", "comedy", "documentary", "musical", "western"),  # genres
    *("hitchcock", "spielberg", "kubrick", "streep"),  # names
    *("dvd", "sequel", "plot"),  # film words
)
NEIGHBOURS = 8


@dataclass(frozen=True)
class EmbeddingsPaths(paths.StagePaths):
    """What the stage reads and writes."""

    reviews: Path = paths.REVIEWS_TABLE
    unlabeled: Path = paths.UNLABELED_TABLE
    prepared: Path = paths.PREPARED
    vectors: Path = paths.WORD_VECTORS
    unlabeled_arrays: Path = paths.UNLABELED_ARRAYS
    report: Path = paths.EMBEDDINGS_REPORT
    metrics: Path = paths.EMBEDDINGS_METRICS

    @classmethod
    def in_folder(cls, data: Path, out: Path) -> EmbeddingsPaths:
        """Inputs from a test folder (``reviews.parquet``, ``unlabeled.parquet``, ``prepared/``), outputs in ``out``."""
        return cls(
            data / "reviews.parquet",
            data / "unlabeled.parquet",
            data / "prepared",
            out / "vectors.npy",
            out / "unlabeled.npz",
            out / "embeddings.md",
            out / "embeddings_metrics.json",
        )


def run(params: Embeddings, prepare: Prepare, files: EmbeddingsPaths = EmbeddingsPaths()) -> dict:
    """The whole stage: read the pretraining text, train the vectors, align them to the vocabulary, report.

    Of ``prepare`` it reads ``limit`` only: a quick run's limit also shrinks the unlabeled reviews read here.
    """
    vocabulary = read_vocabulary(files.prepared / paths.VOCAB.name)
    text = pretraining_text(files.reviews, files.unlabeled, files.prepared, prepare.limit)
    sentences = in_vocabulary(text.train, vocabulary)
    began = time.perf_counter()
    keyed = train_vectors(sentences, params)
    seconds = time.perf_counter() - began
    vectors, covered = aligned(keyed, vocabulary, params.seed)
    with atomic_path(files.vectors, suffix=".npy") as tmp:
        np.save(tmp, vectors)
    unlabeled = [tokens for tokens in text.train[text.stats["reviews"]["train"] :] if tokens]  # training reviews first
    save_split(
        files.unlabeled_arrays, encoded(unlabeled, vocabulary, Encoding.load(files.prepared / paths.ENCODING.name))
    )
    tokens = sum(len(s) for s in sentences)
    metrics = {
        "embeddings": {
            "tokens": tokens,
            "reviews": len(sentences),
            "wall_time_s": round(seconds, 1),
            "tokens_per_s": round(tokens * params.epochs / seconds, 1) if seconds else 0.0,
            "vocabulary_coverage": round(covered / max(len(vocabulary) - 1, 1), 5),
        }
    }
    write_text(files.report, neighbours_markdown(vectors, vocabulary, params, metrics["embeddings"]))
    write_json(files.metrics, metrics)
    log.info(
        "%s vectors of %d dimensions: %s tokens, %.0f s, %.1f%% of the vocabulary covered",
        params.method,
        params.dim,
        f"{tokens:,}",
        seconds,
        100 * metrics["embeddings"]["vocabulary_coverage"],
    )
    return metrics


def in_vocabulary(reviews: list[list[str]], vocabulary: list[str]) -> list[list[str]]:
    """Each review's tokens with every word outside the vocabulary replaced by ``<oov>``."""
    known = set(vocabulary)
    return [[token if token in known else OOV_TOKEN for token in review] for review in reviews]


def encoded(reviews: list[list[str]], vocabulary: list[str], encoding: Encoding) -> Split:
    """Tokenized reviews as a split's arrays, encoded like ``prepare``'s (labels -1: unknown)."""
    index = token_index(vocabulary)
    ids = [encode(tokens, index, encoding.max_len, encoding.truncating) for tokens in reviews]
    count = len(reviews)
    return Split(
        pad(ids, encoding.max_len, encoding.padding),
        np.full(count, -1),
        np.array([len(i) for i in ids]),
        np.array([len(tokens) for tokens in reviews]),
        np.arange(count),
    )


def stable_hash(word: str) -> int:
    """A hash of a word that is the same in every process (Python's ``hash`` of a string is not)."""
    return zlib.crc32(word.encode("utf-8"))


def train_vectors(sentences: list[list[str]], params: Embeddings):
    """Train gensim's model as ``params`` say; return its ``KeyedVectors`` (never saved in gensim's own format)."""
    from gensim.models import FastText, Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    if not any(sentences):
        raise PipelineError("the pretraining text is empty: word vectors need reviews (check prepare.limit)")

    class Progress(CallbackAny2Vec):
        def __init__(self, bar):
            self.bar = bar

        def on_epoch_end(self, model):
            self.bar.update()

    method = {"word2vec": Word2Vec, "fasttext": FastText}[params.method]
    logging.getLogger("gensim").setLevel(logging.WARNING)  # the progress bar says how far it is
    with tqdm(total=params.epochs, desc=f"{params.method} epochs", unit=" epochs", disable=None) as bar:
        model = method(
            sentences=sentences,
            vector_size=params.dim,
            window=params.window,
            min_count=params.min_count,
            sg=int(params.architecture == "skipgram"),
            negative=params.negative,
            epochs=params.epochs,
            workers=params.workers,
            seed=params.seed,
            hashfxn=stable_hash,
            callbacks=[Progress(bar)],
        )
    return model.wv


def aligned(keyed, vocabulary: list[str], seed: int) -> tuple[np.ndarray, int]:
    """Row ``i`` = the vector of vocabulary id ``i``; padding is zeros; words gensim dropped get small random vectors.

    Returns the array and how many vocabulary words (padding excluded) had a trained vector.
    """
    vectors = np.zeros((len(vocabulary), keyed.vector_size), dtype=np.float32)
    spread = float(np.std(keyed.vectors)) if len(keyed.vectors) else 1.0
    rng = np.random.default_rng(seed)
    covered = 0
    for i, word in enumerate(vocabulary):
        if i == PAD_ID:
            continue
        if word in keyed.key_to_index:
            vectors[i] = keyed[word]
            covered += 1
        else:  # below embeddings.min_count: a random start at the trained vectors' spread
            vectors[i] = rng.normal(0.0, spread, keyed.vector_size)
    return vectors, covered


def nearest(vectors: np.ndarray, vocabulary: list[str], word: str, count: int = NEIGHBOURS) -> list[str]:
    """The ``count`` words whose vectors are closest in cosine to ``word``'s (itself and padding excluded)."""
    index = vocabulary.index(word)
    norms = np.linalg.norm(vectors, axis=1)
    similarity = vectors @ vectors[index] / np.maximum(norms * norms[index], 1e-12)
    similarity[[PAD_ID, index]] = -np.inf
    return [vocabulary[i] for i in np.argsort(-similarity, kind="stable")[:count]]


def neighbours_markdown(vectors: np.ndarray, vocabulary: list[str], params: Embeddings, figures: dict) -> str:
    """``reports/embeddings.md``: what the vectors learned, as nearest neighbours a reviewer can read."""
    lines = [
        "# Word vectors: nearest neighbours",
        "",
        f"{params.method} ({params.architecture}), {params.dim} dimensions, window {params.window}, "
        f"{params.epochs} epochs over {figures['tokens']:,} tokens of training and unlabeled reviews "
        f"(no validation or test text); cosine similarity. Generated by `stages embeddings`.",
        "",
        "| word | nearest neighbours |",
        "|---|---|",
    ]
    known = set(vocabulary)
    for word in PROBE_WORDS:
        found = ", ".join(nearest(vectors, vocabulary, word)) if word in known else "(not in the vocabulary)"
        lines.append(f"| {word} | {found} |")
    return "\n".join(lines) + "\n"
