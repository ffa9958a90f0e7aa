"""The one schema of ``params.yaml``: every section and key, its type, range and meaning.

Stages read their own sections through :func:`load_sections`, which checks them against
this schema first and reports every problem at once. ``--help``, the README's params table
and the ``dvc.yaml`` params lists are checked against the same schema by the tests.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any

import yaml

from stages.errors import PipelineError


@dataclass(frozen=True)
class Key:
    """One param: its type, default, allowed values and a one-line description."""

    kind: type | str  # str, int, float, bool, or "int_list"
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def allowed(self) -> str:
        """Describe the allowed values in words, for errors and the params table."""
        if self.choices is not None:
            return "one of " + ", ".join(_show(c) for c in self.choices)
        kind = {"int_list": "list of integers"}.get(self.kind, getattr(self.kind, "__name__", str(self.kind)))
        low = "" if self.minimum is None else (">" if self.exclusive_minimum else ">=") + f" {_show(self.minimum)}"
        high = "" if self.maximum is None else f"<= {_show(self.maximum)}"
        bounds = " and ".join(b for b in (low, high) if b)
        return f"{kind} {bounds}".strip()

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not allowed, or None if it is."""
        if self.kind == "int_list":
            if not isinstance(value, list) or not all(_is_int(v) for v in value):
                return f"expected {self.allowed()}"
            bad = [v for v in value if not self._in_range(v)]
            if bad:
                return f"items {bad} are out of range, expected {self.allowed()}"
            if value != sorted(set(value)):
                return "expected a strictly increasing list"
            return None
        type_ok = {
            bool: lambda v: isinstance(v, bool),
            int: _is_int,
            float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
            str: lambda v: isinstance(v, str),
        }[self.kind](value)
        if not type_ok or (self.choices is not None and value not in self.choices):
            return f"expected {self.allowed()}"
        if not self._in_range(value):
            return f"expected {self.allowed()}"
        return None

    def _in_range(self, value: float) -> bool:
        below = self.minimum is not None and (
            value < self.minimum or (self.exclusive_minimum and value == self.minimum)
        )
        return not below and (self.maximum is None or value <= self.maximum)


def _is_int(value: Any) -> bool:
    """An integer, or a float with an integer value (YAML's ``4.0``, ``dvc exp run -S key=4.0``)."""
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"

SCHEMA: dict[str, dict[str, Key]] = {
    "download": {
        "url": Key(str, OFFICIAL_URL, "Where the aclImdb archive comes from: http(s) URL, file:// URL or local path."),
        "sha256": Key(str, OFFICIAL_SHA256, "SHA-256 of the archive at `url`; a mismatch is an error."),
        "size": Key(int, 84125825, "Size in bytes of the archive at `url` (0 = not checked).", minimum=0),
        "mirror": Key(
            str, "", "Local copy used instead of `url` when the file exists (path or file:// URL; empty = none)."
        ),
        "mirror_sha256": Key(str, "", "SHA-256 of the archive at `mirror`."),
        "retries": Key(int, 4, "Attempts after a network error before giving up.", minimum=0, maximum=20),
        "timeout_s": Key(float, 60.0, "Network timeout per request, in seconds.", minimum=0, exclusive_minimum=True),
    },
    "prepare": {
        "vocab_size": Key(
            int, 20000, "Vocabulary size, including the padding (0) and out-of-vocabulary (1) ids.", minimum=3
        ),
        "skip_top": Key(int, 0, "Drop the N most frequent training words (they become out-of-vocabulary).", minimum=0),
        "max_len": Key(int, 800, "Tokens kept per review; longer reviews are truncated.", minimum=1),
        "padding": Key(
            str,
            "post",
            "Where padding goes: `post` (right) or `pre` (left); the model gives the same predictions with either.",
            choices=("pre", "post"),
        ),
        "truncating": Key(
            str,
            "pre",
            "Which end of a long review is cut: `pre` keeps the ending, `post` the beginning.",
            choices=("pre", "post"),
        ),
        "val_fraction": Key(
            float,
            0.2,
            "Share of the training split held out for validation.",
            minimum=0,
            maximum=0.5,
            exclusive_minimum=True,
        ),
        "val_grouping": Key(
            str,
            "movie",
            "How validation is drawn from train: whole `movie`s (as train and test are split: no movie on both sides) or `random` reviews stratified by label.",
            choices=("movie", "random"),
        ),
        "seed": Key(int, 42, "Seed of the validation split and of `limit` sampling.", minimum=0),
        "limit": Key(int, 0, "Reviews kept per split, sampled balanced (0 = all); for quick runs.", minimum=0),
    },
    "model": {
        "cell": Key(
            str, "gru", "Recurrent cell: Keras `SimpleRNN`, `LSTM` or `GRU`.", choices=("simple_rnn", "lstm", "gru")
        ),
        "bidirectional": Key(bool, True, "Add a backward layer to every recurrent layer (outputs concatenated)."),
        "layers": Key(int, 1, "Stacked recurrent layers (all but the last return sequences).", minimum=1, maximum=8),
        "units": Key(int, 32, "Units per recurrent layer (per direction).", minimum=1),
        "embedding_dim": Key(int, 100, "Size of the word embedding.", minimum=1),
        "embedding_trainable": Key(
            bool, True, "Train the embedding with the rest (false keeps it as it starts, e.g. from `word_vectors`)."
        ),
        "embedding_dropout": Key(
            float,
            0.3,
            "Dropout of whole embedding channels (SpatialDropout1D) before the recurrent layers.",
            minimum=0,
            maximum=0.9,
        ),
        "dropout": Key(float, 0.3, "Input dropout of the recurrent layers.", minimum=0, maximum=0.9),
        "pooling": Key(
            str,
            "max",
            "How the last layer summarises the sequence: `last` state, `max` or `mean` over time, or `max_mean` (both, concatenated).",
            choices=("last", "max", "mean", "max_mean"),
        ),
        "dense_units": Key(int, 0, "Units of an optional dense hidden layer before the output (0 = none).", minimum=0),
        "dense_dropout": Key(float, 0.0, "Dropout after the dense hidden layer.", minimum=0, maximum=0.9),
        "init": Key(
            str,
            "word_vectors",
            "Initial weights: `random`, `word_vectors` (the embeddings stage's vectors; embedding_dim must match `embeddings.dim`), `lm_embedding` (the language models' embedding) or `lm` (embedding and recurrent layers; cell, units and layers must match `lm.*`).",
            choices=("random", "word_vectors", "lm_embedding", "lm"),
        ),
    },
    "train": {
        "epochs": Key(int, 2, "Maximum number of epochs.", minimum=1),
        "batch_size": Key(int, 64, "Batch size.", minimum=1),
        "optimizer": Key(str, "adam", "Optimizer.", choices=("adam", "rmsprop", "sgd")),
        "learning_rate": Key(float, 0.002, "Learning rate.", minimum=0, exclusive_minimum=True, maximum=10),
        "weight_decay": Key(float, 0.0, "Decoupled weight decay of the optimizer (0 = none).", minimum=0, maximum=1),
        "lr_schedule": Key(
            str,
            "constant",
            "Learning rate over training: `constant`, or `cosine` decay to zero over `epochs`.",
            choices=("constant", "cosine"),
        ),
        "clipnorm": Key(float, 1.0, "Clip each gradient to this norm (0 = no clipping).", minimum=0),
        "patience": Key(
            int,
            1,
            "Stop after N epochs without a lower validation loss and restore the best weights (0 = never stop early).",
            minimum=0,
        ),
        "seed": Key(int, 42, "Seed of weights, dropout and shuffling.", minimum=0),
        "ensemble": Key(
            int,
            3,
            "Train N models with seeds `seed`, `seed`+1, ... one after another and save one model averaging their probabilities.",
            minimum=1,
            maximum=20,
        ),
        "bucket_by_length": Key(
            bool, True, "Batch reviews of similar length together, each batch padded only to its longest review."
        ),
        "jit_compile": Key(
            str,
            "auto",
            "XLA compilation: `auto` (off: measured no faster on CPU, and it would block cuDNN on a GPU), `on` or `off`.",
            choices=("auto", "on", "off"),
        ),
        "precision": Key(
            str,
            "float32",
            "Arithmetic of the layers: `float32`, or `mixed_bfloat16` (bfloat16 products, float32 weights: faster for large cells on CPUs with AMX; see bench/README.md).",
            choices=("float32", "mixed_bfloat16"),
        ),
        "adversarial": Key(
            str,
            "at",
            "Adversarial training (Miyato et al. 2017): `none`; `at` (add the loss on embeddings perturbed along the normalised gradient of the loss); `vat` (add the divergence of predictions on unlabeled reviews under the perturbation that changes them most; reads the embeddings stage's unlabeled.npz); `at_vat` (both).",
            choices=("none", "at", "vat", "at_vat"),
        ),
        "adversarial_epsilon": Key(
            float,
            0.02,
            "Size of the adversarial perturbation, relative to the norm of each review's embedded sequence.",
            minimum=0,
            exclusive_minimum=True,
            maximum=10,
        ),
        "adversarial_weight": Key(
            float,
            1.0,
            "Weight of the adversarial loss added to the clean loss.",
            minimum=0,
            exclusive_minimum=True,
            maximum=100,
        ),
        "vat_xi": Key(
            float,
            0.001,
            "Size of VAT's random probe (one power-iteration step), relative to the norm of each review's embedded sequence.",
            minimum=0,
            exclusive_minimum=True,
            maximum=1,
        ),
        "chop": Key(
            int,
            0,
            "Train on consecutive pieces of this many tokens of each review, each with its review's label (Johnson & Zhang 2016; predictions read whole reviews); 0 = whole reviews.",
            minimum=0,
        ),
        "distribute": Key(
            str,
            "none",
            "tf.distribute strategy: `none`, `mirrored` (all local GPUs) or `multi_worker` (hosts from TF_CONFIG); batch_size is the global batch.",
            choices=("none", "mirrored", "multi_worker"),
        ),
    },
    "lm": {
        "cell": Key(str, "gru", "Recurrent cell of the language models.", choices=("simple_rnn", "lstm", "gru")),
        "units": Key(int, 128, "Units per recurrent layer of each direction.", minimum=1),
        "layers": Key(int, 1, "Stacked recurrent layers of each direction.", minimum=1, maximum=4),
        "embedding_dim": Key(
            int,
            64,
            "Size of the word embedding (shared by both directions; model.embedding_dim must match to transfer it).",
            minimum=1,
        ),
        "window": Key(
            int,
            64,
            "Tokens per training window (truncated backpropagation through time; each window starts from a zero state).",
            minimum=2,
        ),
        "batch_size": Key(int, 128, "Windows per training step.", minimum=1),
        "learning_rate": Key(float, 0.002, "Adam learning rate.", minimum=0, exclusive_minimum=True, maximum=10),
        "clipnorm": Key(float, 1.0, "Clip each gradient to this norm (0 = no clipping).", minimum=0),
        "sampled": Key(
            int,
            512,
            "Classes of the sampled softmax used for training (0 = the full softmax over the vocabulary).",
            minimum=0,
        ),
        "epochs": Key(
            float,
            0.25,
            "Training budget in passes over the language model's text (fractions allowed).",
            minimum=0,
            exclusive_minimum=True,
            maximum=100,
        ),
        "eval_tokens": Key(
            int, 200000, "Validation tokens scored with the full softmax for perplexity (0 = all).", minimum=0
        ),
        "seed": Key(int, 42, "Seed of the weights, the window order and the sampled classes.", minimum=0),
    },
    "embeddings": {
        "method": Key(
            str, "word2vec", "gensim's `Word2Vec` or `FastText` (subword vectors).", choices=("word2vec", "fasttext")
        ),
        "dim": Key(
            int, 100, "Dimensions of each word vector (model.embedding_dim must match to start from them).", minimum=1
        ),
        "architecture": Key(
            str,
            "cbow",
            "`cbow` (predict a word from its context) or `skipgram` (the context from the word).",
            choices=("cbow", "skipgram"),
        ),
        "window": Key(int, 5, "Context words on each side.", minimum=1),
        "epochs": Key(int, 5, "Passes over the text.", minimum=1, maximum=100),
        "min_count": Key(
            int, 1, "Ignore words seen fewer times; vocabulary words below it get a random vector.", minimum=1
        ),
        "negative": Key(int, 5, "Negative samples per word.", minimum=1, maximum=100),
        "workers": Key(
            int,
            1,
            "Worker threads; more are faster, but only 1 gives the same vectors every run.",
            minimum=1,
            maximum=64,
        ),
        "seed": Key(int, 42, "Seed of the starting vectors and the sampling.", minimum=0),
    },
    "baseline": {
        "ngrams": Key(int, 2, "Longest n-gram of the bag of n-grams (1 = words only).", minimum=1, maximum=3),
        "min_df": Key(int, 1, "Keep n-grams seen in at least this many training reviews.", minimum=1),
        "alpha": Key(
            float,
            1.0,
            "Smoothing of the naive-Bayes counts behind each feature's weight.",
            minimum=0,
            exclusive_minimum=True,
        ),
        "c": Key(
            float,
            1.0,
            "Inverse L2 regularisation strength of the logistic regression (chosen on validation).",
            minimum=0,
            exclusive_minimum=True,
        ),
    },
    "blend": {
        "steps": Key(
            int,
            100,
            "Weights tried for the RNN's share of the log-odds, evenly from 0 to 1 (steps + 1 of them); the one with the lowest validation log-loss is kept.",
            minimum=1,
            maximum=100000,
        ),
    },
    "evaluate": {
        "threshold": Key(
            float,
            0.5,
            "Probability above which a review is called positive.",
            minimum=0,
            maximum=1,
            exclusive_minimum=True,
        ),
        "length_buckets": Key(
            "int_list",
            [100, 200, 400, 800],
            "Upper bounds (in tokens, before truncation) of the review-length buckets for accuracy by length.",
            minimum=1,
        ),
        "examples": Key(
            int,
            5,
            "Example predictions listed per kind (confidently wrong, confidently right, uncertain).",
            minimum=0,
            maximum=100,
        ),
    },
    "plot": {
        "dpi": Key(int, 100, "Resolution of the PNG figures.", minimum=30, maximum=600),
    },
}

# Which params sections each stage reads; dvc.yaml lists exactly these keys.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "download": ("download",),
    "prepare": ("prepare",),
    "lm": ("lm",),
    "embeddings": ("embeddings",),
    "train": ("model", "train"),
    "baseline": ("baseline",),
    "evaluate": ("evaluate",),
    "blend": ("blend",),
    "plot": ("plot",),
}


def read_params_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a params YAML file safely; a missing or malformed file is a PipelineError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"params file {path} not found: run from the project root or pass --params") from None
    except UnicodeDecodeError:
        raise PipelineError(f"params file {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise PipelineError(f"params file {path} is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PipelineError(f"params file {path} must be a mapping of sections, found {type(data).__name__}")
    return data


def problems_in(data: dict[str, Any], sections: tuple[str, ...] | None = None) -> list[str]:
    """List every problem of ``data`` against the schema, for ``sections`` (default: all)."""
    problems: list[str] = []
    if sections is None:
        sections = tuple(SCHEMA)
        problems += [
            f"{name}: unknown section, expected one of {', '.join(SCHEMA)}" for name in data if name not in SCHEMA
        ]
    for section in sections:
        values = data.get(section)
        if values is None:
            problems.append(f"{section}: section missing")
            continue
        if not isinstance(values, dict):
            problems.append(f"{section}: expected a mapping of keys, found {values!r}")
            continue
        schema = SCHEMA[section]
        for key in values:
            if key not in schema:
                problems.append(f"{section}.{key}: unknown key, expected one of {', '.join(schema)}")
        for key, spec in schema.items():
            if key not in values:
                problems.append(f"{section}.{key}: missing ({spec.allowed()}, e.g. {_show(spec.default)})")
                continue
            why = spec.check(values[key])
            if why:
                problems.append(f"{section}.{key}: {values[key]!r} is not allowed, {why}")
    problems += _cross_checks(data, sections)
    return problems


def _cross_checks(data: dict[str, Any], sections: tuple[str, ...]) -> list[str]:
    """Checks beyond one value's type and range."""
    problems = _transfer_checks(data) if {"model", "lm"} <= set(sections) else []
    problems += _word_vector_checks(data) if {"model", "embeddings"} <= set(sections) else []
    train = data.get("train")
    multi_worker = isinstance(train, dict) and train.get("distribute") == "multi_worker"
    if "train" in sections and multi_worker and train.get("adversarial", "none") != "none":
        problems.append(
            f"train.adversarial: {train['adversarial']!r} does not run with train.distribute multi_worker "
            "(its custom training step is not checked there): use none or mirrored, or train.adversarial: none"
        )
    download = data.get("download")
    if "download" in sections and isinstance(download, dict):
        for key in ("sha256", "mirror_sha256"):
            digest = download.get(key)
            if key == "mirror_sha256" and not download.get("mirror"):
                continue
            if isinstance(digest, str) and not _is_sha256(digest):
                problems.append(f"download.{key}: {digest!r} is not a SHA-256, expected 64 hex digits")
    return problems


def _word_vector_checks(data: dict[str, Any]) -> list[str]:
    """``model.init: word_vectors`` copies the embeddings stage's vectors: the sizes must agree."""
    model, embeddings = data.get("model"), data.get("embeddings")
    if not isinstance(model, dict) or not isinstance(embeddings, dict) or model.get("init") != "word_vectors":
        return []
    if model.get("embedding_dim") != embeddings.get("dim"):
        return [
            f"model.embedding_dim: {model.get('embedding_dim')!r} differs from embeddings.dim "
            f"{embeddings.get('dim')!r}, but model.init word_vectors copies those vectors: "
            "set both to the same value, or model.init: random"
        ]
    return []


def _transfer_checks(data: dict[str, Any]) -> list[str]:
    """``model.init`` from the language models needs a classifier shaped to receive their weights.

    The same rule as ``stages/pretrained.py`` applies when training, but checked here the
    whole file is refused before any stage runs (and before DVC removes any output).
    """
    model, lm = data.get("model"), data.get("lm")
    if not isinstance(model, dict) or not isinstance(lm, dict) or model.get("init") not in ("lm_embedding", "lm"):
        return []
    init, problems = model["init"], []
    if model.get("embedding_dim") != lm.get("embedding_dim"):
        problems.append(
            f"model.embedding_dim: {model.get('embedding_dim')!r} differs from lm.embedding_dim "
            f"{lm.get('embedding_dim')!r}, but model.init {init} copies the language models' embedding: "
            "set both to the same value, or model.init: random"
        )
    if init == "lm":
        mismatched = [key for key in ("cell", "units") if model.get(key) != lm.get(key)]
        layers, lm_layers = model.get("layers"), lm.get("layers")
        too_deep = isinstance(layers, int) and isinstance(lm_layers, int) and layers > lm_layers
        if too_deep or (model.get("bidirectional") and layers != 1):
            mismatched.append("layers")
        if mismatched:
            ours = ", ".join(f"model.{key} {model.get(key)!r}" for key in mismatched)
            theirs = ", ".join(f"lm.{key} {lm.get(key)!r}" for key in mismatched)
            problems.append(
                f"model.init: lm copies the language models' recurrent layers, but {ours} do not fit {theirs}: "
                "use the same cell and units and at most lm.layers layers (one when bidirectional), "
                "or model.init: lm_embedding"
            )
    return problems


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def load_sections(stage: str, path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read and check the params sections that ``stage`` reads; raise one error listing all problems."""
    return load_sections_of(STAGE_SECTIONS[stage], path)


def load_sections_of(sections: tuple[str, ...], path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read and check ``sections`` of the params file; raise one error listing all problems."""
    data = read_params_file(path)
    problems = problems_in(data, sections)
    if problems:
        raise PipelineError(f"{path}: " + "; ".join(problems))
    return {section: _coerced(section, data[section]) for section in sections}


def _coerced(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """The section's values in their schema's type: ``1`` is ``1.0`` for a float key, ``4.0`` is ``4`` for an int key."""
    convert = {float: float, int: int, "int_list": lambda items: [int(item) for item in items]}
    return {key: convert.get(SCHEMA[section][key].kind, _same)(value) for key, value in values.items()}


def _same(value: Any) -> Any:
    return value


_PYTHON_TYPES = {str: str, int: int, float: float, bool: bool, "int_list": list[int]}


def section_class(section: str, doc: str = "") -> type:
    """A frozen dataclass with one field per key of ``section``, in schema order (``ModelParams`` etc.).

    Stages take one such object per section, built once from the validated values, so a
    function's signature says which section it reads and a new key needs no code listing it.
    """
    fields = [(key, _PYTHON_TYPES[spec.kind]) for key, spec in SCHEMA[section].items()]
    name = "".join(part.title() for part in section.split("_")) + "Params"
    cls = make_dataclass(name, fields, frozen=True)
    cls.__doc__ = doc or f"The ``{section}`` section of params.yaml (fields: the schema's keys)."
    return cls


def validate_file(path: str | os.PathLike[str]) -> list[str]:
    """Check the whole params file: every section, unknown sections and keys included."""
    return problems_in(read_params_file(path))


# Single keys a stage reads from another stage's section: a quick run's `prepare.limit`
# also shrinks the unlabeled text that pretraining reads.
BORROWED_KEYS: dict[str, tuple[str, ...]] = {"lm": ("prepare.limit",), "embeddings": ("prepare.limit",)}


def dvc_params(stage: str) -> list[str]:
    """The ``section.key`` names ``stage`` reads, as dvc.yaml must list them."""
    own = [f"{section}.{key}" for section in STAGE_SECTIONS[stage] for key in SCHEMA[section]]
    return own + list(BORROWED_KEYS.get(stage, ()))


def borrowed(stage: str, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The values of ``stage``'s borrowed keys (checked with their sections), by key name (``limit``)."""
    values = {}
    for name in BORROWED_KEYS.get(stage, ()):
        section, key = name.split(".")
        values[key] = load_sections_of((section,), path)[section][key]
    return values


def params_table() -> str:
    """The README's params table in Markdown, generated from the schema."""
    rows = ["| key | default | allowed | what it does |", "|---|---|---|---|"]
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            default = spec.default if spec.default != "" else '""'
            rows.append(f"| `{section}.{key}` | `{_show(default)}` | {spec.allowed()} | {spec.help} |")
    return "\n".join(rows)


def params_doc() -> str:
    """The whole ``docs/params.md``: a short introduction and the table."""
    return "\n".join([
        "# Params",
        "",
        "Every key of `params.yaml`, generated from the schema in `stages/params.py` by",
        "`stages params-table --write` (a test keeps this file in sync). Each stage reads only its own",
        "section(s), and `dvc.yaml` lists exactly those keys, so changing one reruns only the stages that",
        "read it. `stages validate` checks a whole file; every stage checks its sections before any work.",
        "",
        params_table(),
        "",
    ])  # fmt: skip


def stage_help(stage: str) -> str:
    """The params a stage reads, one per line, for its ``--help``."""
    lines = [f"Reads these params from params.yaml ({', '.join(STAGE_SECTIONS[stage])}):"]
    for section in STAGE_SECTIONS[stage]:
        for key, spec in SCHEMA[section].items():
            lines.append(f"{section}.{key}: {spec.help} [{spec.allowed()}]")
    for name in BORROWED_KEYS.get(stage, ()):
        section, key = name.split(".")
        lines.append(
            f"{name}: also limits the unlabeled reviews read here (0 = all) [{SCHEMA[section][key].allowed()}]"
        )
    return "\n\n".join(lines)
