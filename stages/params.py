"""The one schema of ``params.yaml``: one pydantic model per section, with types, bounds, choices and meanings.

Stages read their sections through :func:`load_sections`, which checks them first and reports
every problem at once, one line each, naming ``section.key``, the value and what is allowed.
Numbers keep YAML's two spellings: ``4.0`` reads as 4 for an integer key and ``1`` as 1.0 for a
float key; text, booleans, NaN and ``1.5`` for an integer are refused. ``--help``,
``docs/params.md`` and the ``dvc.yaml`` params lists come from these models (the tests check).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
)

from stages.errors import PipelineError

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


def _increasing(values: list[int]) -> list[int]:
    if any(v < 1 for v in values):
        raise ValueError(f"items {[v for v in values if v < 1]} are out of range, expected list of integers >= 1")
    if values != sorted(set(values)):
        raise ValueError("expected a strictly increasing list")
    return values


Int = Annotated[int, BeforeValidator(_integral)]
Float = Annotated[float, BeforeValidator(_real)]
Bool = StrictBool
Str = StrictStr
IntList = Annotated[list[Annotated[int, BeforeValidator(_integral)]], AfterValidator(_increasing)]


class Section(BaseModel):
    """One section of params.yaml: unknown keys refused, values frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Download(Section):
    """Where the aclImdb archive comes from and how it is checked."""

    url: Str = Field(
        OFFICIAL_URL, description="Where the aclImdb archive comes from: http(s) URL, file:// URL or local path."
    )
    sha256: Str = Field(OFFICIAL_SHA256, description="SHA-256 of the archive at `url`; a mismatch is an error.")
    size: Int = Field(84125825, ge=0, description="Size in bytes of the archive at `url` (0 = not checked).")
    mirror: Str = Field(
        "", description="Local copy used instead of `url` when the file exists (path or file:// URL; empty = none)."
    )
    mirror_sha256: Str = Field("", description="SHA-256 of the archive at `mirror`.")
    retries: Int = Field(4, ge=0, le=20, description="Attempts after a network error before giving up.")
    timeout_s: Float = Field(60.0, gt=0, description="Network timeout per request, in seconds.")


class Prepare(Section):
    """Tokenizing, the vocabulary, padding and the validation split."""

    vocab_size: Int = Field(
        20000, ge=3, description="Vocabulary size, including the padding (0) and out-of-vocabulary (1) ids."
    )
    skip_top: Int = Field(
        0, ge=0, description="Drop the N most frequent training words (they become out-of-vocabulary)."
    )
    max_len: Int = Field(800, ge=1, description="Tokens kept per review; longer reviews are truncated.")
    padding: Literal["pre", "post"] = Field(
        "post",
        description="Where padding goes: `post` (right) or `pre` (left); the model gives the same predictions with either.",
    )
    truncating: Literal["pre", "post"] = Field(
        "pre", description="Which end of a long review is cut: `pre` keeps the ending, `post` the beginning."
    )
    val_fraction: Float = Field(0.2, gt=0, le=0.5, description="Share of the training split held out for validation.")
    val_grouping: Literal["movie", "random"] = Field(
        "movie",
        description="How validation is drawn from train: whole `movie`s (as train and test are split: no movie on both sides) or `random` reviews stratified by label.",
    )
    seed: Int = Field(42, ge=0, description="Seed of the validation split and of `limit` sampling.")
    limit: Int = Field(0, ge=0, description="Reviews kept per split, sampled balanced (0 = all); for quick runs.")


class Model(Section):
    """The classifier: cell, directions, sizes, dropout, pooling and starting weights."""

    cell: Literal["simple_rnn", "lstm", "gru"] = Field(
        "gru", description="Recurrent cell: Keras `SimpleRNN`, `LSTM` or `GRU`."
    )
    bidirectional: Bool = Field(
        True, description="Add a backward layer to every recurrent layer (outputs concatenated)."
    )
    layers: Int = Field(1, ge=1, le=8, description="Stacked recurrent layers (all but the last return sequences).")
    units: Int = Field(64, ge=1, description="Units per recurrent layer (per direction).")
    embedding_dim: Int = Field(100, ge=1, description="Size of the word embedding.")
    embedding_trainable: Bool = Field(
        True, description="Train the embedding with the rest (false keeps it as it starts, e.g. from `word_vectors`)."
    )
    embedding_dropout: Float = Field(
        0.3,
        ge=0,
        le=0.9,
        description="Dropout of whole embedding channels (SpatialDropout1D) before the recurrent layers.",
    )
    dropout: Float = Field(0.3, ge=0, le=0.9, description="Input dropout of the recurrent layers.")
    pooling: Literal["last", "max", "mean", "max_mean"] = Field(
        "max",
        description="How the last layer summarises the sequence: `last` state, `max` or `mean` over time, or `max_mean` (both, concatenated).",
    )
    dense_units: Int = Field(
        0, ge=0, description="Units of an optional dense hidden layer before the output (0 = none)."
    )
    dense_dropout: Float = Field(0.0, ge=0, le=0.9, description="Dropout after the dense hidden layer.")
    init: Literal["random", "word_vectors", "lm_embedding", "lm"] = Field(
        "word_vectors",
        description="Initial weights: `random`, `word_vectors` (the embeddings stage's vectors; embedding_dim must match `embeddings.dim`), `lm_embedding` (the language models' embedding) or `lm` (embedding and recurrent layers; cell, units and layers must match `lm.*`).",
    )


class Train(Section):
    """How the classifier is trained."""

    epochs: Int = Field(2, ge=1, description="Maximum number of epochs.")
    batch_size: Int = Field(64, ge=1, description="Batch size.")
    optimizer: Literal["adam", "rmsprop", "sgd"] = Field("adam", description="Optimizer.")
    learning_rate: Float = Field(0.002, gt=0, le=10, description="Learning rate.")
    weight_decay: Float = Field(0.0, ge=0, le=1, description="Decoupled weight decay of the optimizer (0 = none).")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="Learning rate over training: `constant`, or `cosine` decay to zero over `epochs`."
    )
    clipnorm: Float = Field(1.0, ge=0, description="Clip each gradient to this norm (0 = no clipping).")
    patience: Int = Field(
        1,
        ge=0,
        description="Stop after N epochs without a lower validation loss and restore the best weights (0 = never stop early).",
    )
    seed: Int = Field(42, ge=0, description="Seed of weights, dropout and shuffling.")
    ensemble: Int = Field(
        2,
        ge=1,
        le=20,
        description="Train N models with seeds `seed`, `seed`+1, ... one after another and save one model averaging their probabilities.",
    )
    bucket_by_length: Bool = Field(
        True, description="Batch reviews of similar length together, each batch padded only to its longest review."
    )
    jit_compile: Literal["auto", "on", "off"] = Field(
        "auto",
        description="XLA compilation: `auto` (off: measured no faster on CPU, and it would block cuDNN on a GPU), `on` or `off`.",
    )
    precision: Literal["float32", "mixed_bfloat16"] = Field(
        "float32",
        description="Arithmetic of the layers: `float32`, or `mixed_bfloat16` (bfloat16 products, float32 weights: faster for large cells on CPUs with AMX; see bench/README.md).",
    )
    adversarial: Literal["none", "at", "vat", "at_vat"] = Field(
        "at",
        description="Adversarial training (Miyato et al. 2017): `none`; `at` (add the loss on embeddings perturbed along the normalised gradient of the loss); `vat` (add the divergence of predictions on unlabeled reviews under the perturbation that changes them most; reads the embeddings stage's unlabeled.npz); `at_vat` (both).",
    )
    adversarial_epsilon: Float = Field(
        0.02,
        gt=0,
        le=10,
        description="Size of the adversarial perturbation, relative to the norm of each review's embedded sequence.",
    )
    adversarial_weight: Float = Field(
        1.0, gt=0, le=100, description="Weight of the adversarial loss added to the clean loss."
    )
    vat_xi: Float = Field(
        0.001,
        gt=0,
        le=1,
        description="Size of VAT's random probe (one power-iteration step), relative to the norm of each review's embedded sequence.",
    )
    chop: Int = Field(
        0,
        ge=0,
        description="Train on consecutive pieces of this many tokens of each review, each with its review's label (Johnson & Zhang 2016; predictions read whole reviews); 0 = whole reviews.",
    )
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="tf.distribute strategy: `none`, `mirrored` (all local GPUs) or `multi_worker` (hosts from TF_CONFIG); batch_size is the global batch.",
    )


class LM(Section):
    """The forward and backward language models of the training and unlabeled text (never val or test)."""

    cell: Literal["simple_rnn", "lstm", "gru"] = Field("gru", description="Recurrent cell of the language models.")
    units: Int = Field(128, ge=1, description="Units per recurrent layer of each direction.")
    layers: Int = Field(1, ge=1, le=4, description="Stacked recurrent layers of each direction.")
    embedding_dim: Int = Field(
        64,
        ge=1,
        description="Size of the word embedding (shared by both directions; model.embedding_dim must match to transfer it).",
    )
    window: Int = Field(
        64,
        ge=2,
        description="Tokens per training window (truncated backpropagation through time; each window starts from a zero state).",
    )
    batch_size: Int = Field(128, ge=1, description="Windows per training step.")
    learning_rate: Float = Field(0.002, gt=0, le=10, description="Adam learning rate.")
    clipnorm: Float = Field(1.0, ge=0, description="Clip each gradient to this norm (0 = no clipping).")
    sampled: Int = Field(
        512,
        ge=0,
        description="Classes of the sampled softmax used for training (0 = the full softmax over the vocabulary).",
    )
    epochs: Float = Field(
        0.25, gt=0, le=100, description="Training budget in passes over the language model's text (fractions allowed)."
    )
    eval_tokens: Int = Field(
        200000, ge=0, description="Validation tokens scored with the full softmax for perplexity (0 = all)."
    )
    seed: Int = Field(42, ge=0, description="Seed of the weights, the window order and the sampled classes.")


class Embeddings(Section):
    """Word vectors of the language models' text (never val or test), aligned to vocab.txt."""

    method: Literal["word2vec", "fasttext"] = Field(
        "word2vec", description="gensim's `Word2Vec` or `FastText` (subword vectors)."
    )
    dim: Int = Field(
        100, ge=1, description="Dimensions of each word vector (model.embedding_dim must match to start from them)."
    )
    architecture: Literal["cbow", "skipgram"] = Field(
        "cbow", description="`cbow` (predict a word from its context) or `skipgram` (the context from the word)."
    )
    window: Int = Field(5, ge=1, description="Context words on each side.")
    epochs: Int = Field(5, ge=1, le=100, description="Passes over the text.")
    min_count: Int = Field(
        1, ge=1, description="Ignore words seen fewer times; vocabulary words below it get a random vector."
    )
    negative: Int = Field(5, ge=1, le=100, description="Negative samples per word.")
    workers: Int = Field(
        1, ge=1, le=64, description="Worker threads; more are faster, but only 1 gives the same vectors every run."
    )
    seed: Int = Field(42, ge=0, description="Seed of the starting vectors and the sampling.")


class Baseline(Section):
    """The reference row: NB-weighted bag-of-n-grams logistic regression (NBSVM-style)."""

    ngrams: Int = Field(3, ge=1, le=3, description="Longest n-gram of the bag of n-grams (1 = words only).")
    min_df: Int = Field(1, ge=1, description="Keep n-grams seen in at least this many training reviews.")
    alpha: Float = Field(1.0, gt=0, description="Smoothing of the naive-Bayes counts behind each feature's weight.")
    c: Float = Field(
        1.0, gt=0, description="Inverse L2 regularisation strength of the logistic regression (chosen on validation)."
    )


class Blend(Section):
    """The RNN's and the baseline's log-odds mixed, the weight chosen on validation."""

    steps: Int = Field(
        100,
        ge=1,
        le=100000,
        description="Weights tried for the RNN's share of the log-odds, evenly from 0 to 1 (steps + 1 of them); the one with the lowest validation log-loss is kept.",
    )


class Evaluate(Section):
    """Scoring the model once on the test split."""

    threshold: Float = Field(0.5, gt=0, le=1, description="Probability above which a review is called positive.")
    length_buckets: IntList = Field(
        [100, 200, 400, 800],
        description="Upper bounds (in tokens, before truncation) of the review-length buckets for accuracy by length.",
    )
    examples: Int = Field(
        5,
        ge=0,
        le=100,
        description="Example predictions listed per kind (confidently wrong, confidently right, uncertain).",
    )


class Plot(Section):
    """The PNG figures."""

    dpi: Int = Field(100, ge=30, le=600, description="Resolution of the PNG figures.")


SECTIONS: dict[str, type[Section]] = {
    "download": Download, "prepare": Prepare, "model": Model, "train": Train, "lm": LM,
    "embeddings": Embeddings, "baseline": Baseline, "blend": Blend, "evaluate": Evaluate, "plot": Plot,
}  # fmt: skip

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
    "export": ("model",),
}

# Single keys a stage reads from another stage's section: a quick run's `prepare.limit`
# also shrinks the unlabeled text that pretraining reads.
BORROWED_KEYS: dict[str, tuple[str, ...]] = {"lm": ("prepare.limit",), "embeddings": ("prepare.limit",)}


@dataclass(frozen=True)
class Key:
    """One key as the docs and errors describe it, read off its section's model."""

    kind: type | str  # str, int, float, bool, or "int_list"
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def allowed(self) -> str:
        """The allowed values in words, for errors and the params table."""
        if self.choices is not None:
            return "one of " + ", ".join(_show(c) for c in self.choices)
        kind = "list of integers" if self.kind == "int_list" else self.kind.__name__
        low = "" if self.minimum is None else (">" if self.exclusive_minimum else ">=") + f" {_show(self.minimum)}"
        high = "" if self.maximum is None else f"<= {_show(self.maximum)}"
        return f"{kind} {' and '.join(b for b in (low, high) if b)}".strip()


def _key(field) -> Key:
    annotation, bounds = field.annotation, {}
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds["minimum"] = rule.ge
        elif isinstance(rule, annotated_types.Gt):
            bounds |= {"minimum": rule.gt, "exclusive_minimum": True}
        elif isinstance(rule, annotated_types.Le):
            bounds["maximum"] = rule.le
    if get_origin(annotation) is Literal:
        return Key(str, field.default, field.description, choices=get_args(annotation))
    base = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if get_origin(base) is list:
        return Key("int_list", field.default, field.description, minimum=1)
    return Key(base, field.default, field.description, **bounds)


SCHEMA: dict[str, dict[str, Key]] = {
    name: {key: _key(field) for key, field in model.model_fields.items()} for name, model in SECTIONS.items()
}


def _show(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


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
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise PipelineError(f"params file {path} must be a mapping of sections, found {type(data).__name__}")
    return data


def section_problems(section: str, values: Any) -> list[str]:
    """Every problem of one section's values: missing, unknown and refused keys, one line each."""
    if values is None:
        return [f"{section}: section missing"]
    if not isinstance(values, dict):
        return [f"{section}: expected a mapping of keys, found {values!r}"]
    schema = SCHEMA[section]
    problems = [
        f"{section}.{key}: unknown key, expected one of {', '.join(schema)}" for key in values if key not in schema
    ]
    problems += [f"{section}.{key}: missing ({spec.allowed()}, e.g. {_show(spec.default)})"
                 for key, spec in schema.items() if key not in values]  # fmt: skip
    try:
        SECTIONS[section](**{key: value for key, value in values.items() if key in schema})
    except ValidationError as exc:
        for key in dict.fromkeys(str(error["loc"][0]) for error in exc.errors()):
            spec, value = schema[key], values[key]
            why = next(e for e in exc.errors() if str(e["loc"][0]) == key)
            custom = spec.kind == "int_list" and why["type"] == "value_error" and "error" in why.get("ctx", {})
            reason = str(why["ctx"]["error"]) if custom else f"expected {spec.allowed()}"
            problems.append(f"{section}.{key}: {value!r} is not allowed, {reason}")
    return problems


def problems_in(data: dict[str, Any], sections: tuple[str, ...] | None = None) -> list[str]:
    """List every problem of ``data`` against the schema, for ``sections`` (default: all)."""
    problems: list[str] = []
    if sections is None:
        sections = tuple(SECTIONS)
        problems += [f"{name}: unknown section, expected one of {', '.join(SECTIONS)}" for name in data
                     if name not in SECTIONS]  # fmt: skip
    for section in sections:
        problems += section_problems(section, data.get(section))
    return problems + _cross_checks(data, sections)


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

    The same rule as ``stages/nn/pretrained.py`` applies when training, but checked here the
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
    """Read and check ``sections`` of the params file; raise one error listing all problems.

    Values come back in their key's type: ``1`` is ``1.0`` for a float key, ``4.0`` is ``4`` for an int key.
    """
    data = read_params_file(path)
    problems = problems_in(data, sections)
    if problems:
        raise PipelineError(f"{path}: " + "; ".join(problems))
    return {section: SECTIONS[section](**data[section]).model_dump() for section in sections}


def section_class(section: str) -> type[Section]:
    """The model of ``section`` (``ModelParams`` etc. in the stages): build it from the section's checked values."""
    return SECTIONS[section]


def validate_file(path: str | os.PathLike[str]) -> list[str]:
    """Check the whole params file: every section, unknown sections and keys included."""
    return problems_in(read_params_file(path))


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
