"""The schema of ``params.yaml``: one pydantic model per section, and one for the whole file.

Each section's fields give the type, bounds, choices and (as attribute docstrings) the meaning
of its keys; ``Params`` adds the rules between sections as model validators. Numbers keep
YAML's two spellings: ``4.0`` reads as 4 for an integer key and ``1`` as 1.0 for a float key;
text, booleans, NaN and ``1.5`` for an integer are refused. Reading a file and reporting every
problem at once, one line each, is ``stages/io/params_file.py``, which also names the sections each
stage reads; ``--help``, ``docs/params.md`` and the ``dvc.yaml`` params lists are generated from these models.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"


def _integral(value: Any) -> int:
    """An integer, or a float with an integer value (YAML's ``4.0``, ``dvc exp run -S key=4.0``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not an integer")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError("not an integer")
    return int(value)


def _real(value: Any) -> float:
    """A finite number, as a float (Keras refuses an integer learning rate)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def rule(message: str) -> PydanticCustomError:
    """A broken rule, reported as written (``stages/io/params_file.py`` names the key)."""
    return PydanticCustomError("rule", message)


def _increasing(values: list[int]) -> list[int]:
    if any(v < 1 for v in values):
        raise rule(f"items {[v for v in values if v < 1]} are out of range, expected list of integers >= 1")
    if values != sorted(set(values)):
        raise rule("expected a strictly increasing list")
    return values


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def _sha256(text: str) -> str:
    if not _is_sha256(text):
        raise rule("expected a SHA-256 (64 hex digits)")
    return text


Int = Annotated[int, BeforeValidator(_integral)]
Float = Annotated[float, BeforeValidator(_real)]
Bool = StrictBool
Str = StrictStr
IntList = Annotated[list[Annotated[int, BeforeValidator(_integral)]], AfterValidator(_increasing)]
Cell = Literal["simple_rnn", "lstm", "gru"]
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}  # weight matrices per step of each cell (FLOP and cost estimates)
Side = Literal["pre", "post"]
Adversarial = Literal["none", "at", "at_matrix", "vat", "at_vat"]  # train.adversarial (stages/nn/adversarial.py)


class Section(BaseModel):
    """One section of params.yaml: unknown keys refused, values frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)


class Download(Section):
    """Where the aclImdb archive comes from and how it is checked."""

    url: Str = OFFICIAL_URL
    """Where the aclImdb archive comes from: http(s) URL, file:// URL or local path."""
    sha256: Annotated[Str, AfterValidator(_sha256)] = OFFICIAL_SHA256
    """SHA-256 of the archive at `url`; a mismatch is an error."""
    size: Int = Field(84125825, ge=0)
    """Size in bytes of the archive at `url` (0 = not checked)."""
    mirror: Str = ""
    """Local copy used instead of `url` when the file exists (path or file:// URL; empty = none)."""
    mirror_sha256: Str = ""
    """SHA-256 of the archive at `mirror`."""
    retries: Int = Field(4, ge=0, le=20)
    """Attempts after a network error before giving up."""
    timeout_s: Float = Field(60.0, gt=0)
    """Network timeout per request, in seconds."""

    @model_validator(mode="after")
    def _mirror_checked(self) -> Self:
        if self.mirror and not _is_sha256(self.mirror_sha256):
            raise rule(f"download.mirror_sha256: {self.mirror_sha256!r} is not a SHA-256, expected 64 hex digits")
        return self


class Prepare(Section):
    """Tokenizing, the vocabulary, padding and the validation split."""

    vocab_size: Int = Field(20000, ge=3)
    """Vocabulary size, including the padding (0) and out-of-vocabulary (1) ids."""
    skip_top: Int = Field(0, ge=0)
    """Drop the N most frequent training words (they become out-of-vocabulary)."""
    max_len: Int = Field(800, ge=1)
    """Tokens kept per review; longer reviews are truncated."""
    padding: Side = "post"
    """Where padding goes: `post` (right) or `pre` (left); the model gives the same predictions with either."""
    truncating: Side = "pre"
    """Which end of a long review is cut: `pre` keeps the ending, `post` the beginning."""
    val_fraction: Float = Field(0.2, gt=0, le=0.5)
    """Share of the training split held out for validation."""
    val_grouping: Literal["movie", "random"] = "movie"
    """How validation is drawn from train: whole `movie`s (as train and test are split: no movie on both sides) or `random` reviews stratified by label."""
    seed: Int = Field(42, ge=0)
    """Seed of the validation split and of `limit` sampling."""
    limit: Int = Field(0, ge=0)
    """Reviews kept per split, sampled balanced (0 = all); for quick runs."""


class Model(Section):
    """The classifier: cell, directions, sizes, dropout, pooling and starting weights."""

    cell: Cell = "gru"
    """Recurrent cell: Keras `SimpleRNN`, `LSTM` or `GRU`."""
    bidirectional: Bool = True
    """Add a backward layer to every recurrent layer (outputs concatenated)."""
    layers: Int = Field(1, ge=1, le=8)
    """Stacked recurrent layers (all but the last return sequences)."""
    units: Int = Field(64, ge=1)
    """Units per recurrent layer (per direction)."""
    embedding_dim: Int = Field(100, ge=1)
    """Size of the word embedding."""
    embedding_trainable: Bool = True
    """Train the embedding with the rest (false keeps it as it starts, e.g. from `word_vectors`)."""
    embedding_dropout: Float = Field(0.3, ge=0, le=0.9)
    """Dropout of whole embedding channels (SpatialDropout1D) before the recurrent layers."""
    dropout: Float = Field(0.3, ge=0, le=0.9)
    """Input dropout of the recurrent layers."""
    pooling: Literal["last", "max", "mean", "max_mean"] = "max"
    """How the last layer summarises the sequence: `last` state, `max` or `mean` over time, or `max_mean` (both, concatenated)."""
    dense_units: Int = Field(0, ge=0)
    """Units of an optional dense hidden layer before the output (0 = none)."""
    dense_dropout: Float = Field(0.0, ge=0, le=0.9)
    """Dropout after the dense hidden layer."""
    init: Literal["random", "word_vectors", "lm_embedding", "lm"] = "word_vectors"
    """Initial weights: `random`, `word_vectors` (the embeddings stage's vectors; embedding_dim must match `embeddings.dim`), `lm_embedding` (the language models' embedding) or `lm` (embedding and recurrent layers; cell, units and layers must match `lm.*`)."""


class Train(Section):
    """How the classifier is trained."""

    epochs: Int = Field(2, ge=1)
    """Maximum number of epochs."""
    batch_size: Int = Field(128, ge=1)
    """Batch size."""
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    """Optimizer."""
    learning_rate: Float = Field(0.004, gt=0, le=10)
    """Learning rate."""
    weight_decay: Float = Field(0.0, ge=0, le=1)
    """Decoupled weight decay of the optimizer (0 = none)."""
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    """Learning rate over training: `constant`, or `cosine` decay to zero over `epochs`."""
    clipnorm: Float = Field(1.0, ge=0)
    """Clip each gradient to this norm (0 = no clipping)."""
    patience: Int = Field(1, ge=0)
    """Stop after N epochs without a lower validation loss and restore the best weights (0 = never stop early)."""
    seed: Int = Field(42, ge=0)
    """Seed of weights, dropout and shuffling."""
    ensemble: Int = Field(2, ge=1, le=20)
    """Train N models with seeds `seed`, `seed`+1, ... one after another and save one model averaging their probabilities."""
    bucket_by_length: Bool = True
    """Batch reviews of similar length together, each batch padded only to its longest review."""
    jit_compile: Literal["auto", "on", "off"] = "auto"
    """XLA compilation: `auto` (off: measured no faster on CPU, and it would block cuDNN on a GPU), `on` or `off`."""
    precision: Literal["float32", "mixed_bfloat16"] = "float32"
    """Arithmetic of the layers: `float32`, or `mixed_bfloat16` (bfloat16 products, float32 weights: faster for large cells on CPUs with AMX; see bench/README.md)."""
    adversarial: Adversarial = "at"
    """Adversarial training (Miyato et al. 2017): `none`; `at` (add the loss on embeddings perturbed along the normalised gradient of the loss); `at_matrix` (the same step normalised over the batch's embedding rows: every occurrence of a word moves alike); `vat` (add the divergence of predictions on unlabeled reviews under the perturbation that changes them most; reads the embeddings stage's unlabeled.npz); `at_vat` (both)."""
    adversarial_epsilon: Float = Field(0.02, gt=0, le=10)
    """Size of the adversarial perturbation, relative to the norm of each review's embedded sequence (`at_matrix`: of the batch's embedding rows)."""
    adversarial_weight: Float = Field(1.0, gt=0, le=100)
    """Weight of the adversarial loss added to the clean loss."""
    vat_xi: Float = Field(0.001, gt=0, le=1)
    """Size of VAT's random probe (one power-iteration step), relative to the norm of each review's embedded sequence."""
    chop: Int = Field(0, ge=0)
    """Train on consecutive pieces of this many tokens of each review, each with its review's label (Johnson & Zhang 2016; predictions read whole reviews); 0 = whole reviews."""
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"
    """tf.distribute strategy: `none`, `mirrored` (all local GPUs) or `multi_worker` (hosts from TF_CONFIG); batch_size is the global batch."""

    @model_validator(mode="after")
    def _adversarial_runs(self) -> Self:
        if self.distribute == "multi_worker" and self.adversarial != "none":
            raise rule(
                f"train.adversarial: {self.adversarial!r} does not run with train.distribute multi_worker "
                "(its custom training step is not checked there): use none or mirrored, or train.adversarial: none"
            )
        return self


class LM(Section):
    """The forward and backward language models of the training and unlabeled text (never val or test)."""

    cell: Cell = "gru"
    """Recurrent cell of the language models."""
    units: Int = Field(128, ge=1)
    """Units per recurrent layer of each direction."""
    layers: Int = Field(1, ge=1, le=4)
    """Stacked recurrent layers of each direction."""
    embedding_dim: Int = Field(64, ge=1)
    """Size of the word embedding (shared by both directions; model.embedding_dim must match to transfer it)."""
    window: Int = Field(64, ge=2)
    """Tokens per training window (truncated backpropagation through time; each window starts from a zero state)."""
    batch_size: Int = Field(128, ge=1)
    """Windows per training step."""
    learning_rate: Float = Field(0.002, gt=0, le=10)
    """Adam learning rate."""
    clipnorm: Float = Field(1.0, ge=0)
    """Clip each gradient to this norm (0 = no clipping)."""
    sampled: Int = Field(512, ge=0)
    """Classes of the sampled softmax used for training (0 = the full softmax over the vocabulary)."""
    epochs: Float = Field(0.25, gt=0, le=100)
    """Training budget in passes over the language model's text (fractions allowed)."""
    eval_tokens: Int = Field(200000, ge=0)
    """Validation tokens scored with the full softmax for perplexity (0 = all)."""
    seed: Int = Field(42, ge=0)
    """Seed of the weights, the window order and the sampled classes."""


class Embeddings(Section):
    """Word vectors of the language models' text (never val or test), aligned to vocab.txt."""

    method: Literal["word2vec", "fasttext"] = "word2vec"
    """gensim's `Word2Vec` or `FastText` (subword vectors)."""
    dim: Int = Field(100, ge=1)
    """Dimensions of each word vector (model.embedding_dim must match to start from them)."""
    architecture: Literal["cbow", "skipgram"] = "cbow"
    """`cbow` (predict a word from its context) or `skipgram` (the context from the word)."""
    window: Int = Field(5, ge=1)
    """Context words on each side."""
    epochs: Int = Field(5, ge=1, le=100)
    """Passes over the text."""
    min_count: Int = Field(1, ge=1)
    """Ignore words seen fewer times; vocabulary words below it get a random vector."""
    negative: Int = Field(5, ge=1, le=100)
    """Negative samples per word."""
    workers: Int = Field(1, ge=1, le=64)
    """Worker threads; more are faster, but only 1 gives the same vectors every run."""
    seed: Int = Field(42, ge=0)
    """Seed of the starting vectors and the sampling."""


class Baseline(Section):
    """The reference row: NB-weighted bag-of-n-grams logistic regression (NBSVM-style)."""

    ngrams: Int = Field(3, ge=1, le=3)
    """Longest n-gram of the bag of n-grams (1 = words only)."""
    min_df: Int = Field(1, ge=1)
    """Keep n-grams seen in at least this many training reviews."""
    alpha: Float = Field(1.0, gt=0)
    """Smoothing of the naive-Bayes counts behind each feature's weight."""
    c: Float = Field(1.0, gt=0)
    """Inverse L2 regularisation strength of the logistic regression (chosen on validation)."""


class Blend(Section):
    """The RNN's and the baseline's log-odds mixed, the weight chosen on validation."""

    steps: Int = Field(100, ge=1, le=100000)
    """Weights tried for the RNN's share of the log-odds, evenly from 0 to 1 (steps + 1 of them); the one with the lowest validation log-loss is kept."""


class Evaluate(Section):
    """Scoring the model once on the test split."""

    threshold: Float = Field(0.5, gt=0, le=1)
    """Probability above which a review is called positive."""
    length_buckets: IntList = [100, 200, 400, 800]
    """Upper bounds (in tokens, before truncation) of the review-length buckets for accuracy by length."""
    examples: Int = Field(5, ge=0, le=100)
    """Example predictions listed per kind (confidently wrong, confidently right, uncertain)."""


class Plot(Section):
    """The PNG figures."""

    dpi: Int = Field(100, ge=30, le=600)
    """Resolution of the PNG figures."""


SECTIONS: dict[str, type[Section]] = {
    "download": Download,
    "prepare": Prepare,
    "model": Model,
    "train": Train,
    "lm": LM,
    "embeddings": Embeddings,
    "baseline": Baseline,
    "blend": Blend,
    "evaluate": Evaluate,
    "plot": Plot,
}


class Params(BaseModel):
    """The sections read together (the whole file, or one stage's), and the rules between them.

    A rule applies when the sections it names are read: a stage is refused for what it reads,
    ``stages validate`` for the whole file, before any stage runs (and before DVC removes outputs).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    download: Download | None = None
    prepare: Prepare | None = None
    model: Model | None = None
    train: Train | None = None
    lm: LM | None = None
    embeddings: Embeddings | None = None
    baseline: Baseline | None = None
    blend: Blend | None = None
    evaluate: Evaluate | None = None
    plot: Plot | None = None

    @model_validator(mode="after")
    def _word_vectors_fit(self) -> Self:
        """``model.init: word_vectors`` copies the embeddings stage's vectors: the sizes must agree."""
        model, embeddings = self.model, self.embeddings
        if model and embeddings and model.init == "word_vectors" and model.embedding_dim != embeddings.dim:
            raise rule(
                f"model.embedding_dim: {model.embedding_dim!r} differs from embeddings.dim {embeddings.dim!r}, but "
                "model.init word_vectors copies those vectors: set both to the same value, or model.init: random"
            )
        return self

    @model_validator(mode="after")
    def _language_models_fit(self) -> Self:
        """``model.init`` from the language models needs a classifier shaped to receive their weights
        (``stages/nn/pretrained.py`` applies the same rule when it copies them)."""
        model, lm = self.model, self.lm
        if not model or not lm or model.init not in ("lm_embedding", "lm"):
            return self
        if model.embedding_dim != lm.embedding_dim:
            raise rule(
                f"model.embedding_dim: {model.embedding_dim!r} differs from lm.embedding_dim {lm.embedding_dim!r}, "
                f"but model.init {model.init} copies the language models' embedding: set both to the same value, "
                "or model.init: random"
            )
        mismatched = [key for key in ("cell", "units") if getattr(model, key) != getattr(lm, key)]
        if model.layers > lm.layers or (model.bidirectional and model.layers != 1):
            mismatched.append("layers")
        if model.init == "lm" and mismatched:
            ours = ", ".join(f"model.{key} {getattr(model, key)!r}" for key in mismatched)
            theirs = ", ".join(f"lm.{key} {getattr(lm, key)!r}" for key in mismatched)
            raise rule(
                f"model.init: lm copies the language models' recurrent layers, but {ours} do not fit {theirs}: "
                "use the same cell and units and at most lm.layers layers (one when bidirectional), "
                "or model.init: lm_embedding"
            )
        return self
