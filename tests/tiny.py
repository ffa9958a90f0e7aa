"""A tiny prepared dataset (as the prepare stage writes it) for fast model tests."""

from __future__ import annotations

from pathlib import Path

from stages import prepare
from stages.io.params_file import SCHEMA
from tests.synthetic import review_table


def defaults(section: str) -> dict:
    """A params section with every key at its schema default."""
    return {key: spec.default for key, spec in SCHEMA[section].items()}


# The real sections shrunk to a tiny CPU run; every other key keeps its default.
TINY_MODEL = defaults("model") | {
    "bidirectional": False,
    "units": 4,
    "embedding_dim": 8,
    "embedding_dropout": 0.0,
    "dropout": 0.0,
    "pooling": "last",
    "init": "random",  # no language model in these tests
}
TINY_BIDIRECTIONAL = TINY_MODEL | {"bidirectional": True, "pooling": "max"}  # the session's tiny classifier
TINY_TRAIN = defaults("train") | {
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 0.01,
    "lr_schedule": "constant",  # the tiny model learns in two epochs only at a steady rate
    "patience": 0,
    "seed": 7,
    "jit_compile": "off",
    "ensemble": 1,  # one model unless a test asks for more
    "adversarial": "none",  # Keras's own training step unless a test asks for adversarial training
}


def make_prepared(
    folder: Path, per_label: int = 20, max_len: int = 20, padding: str = "post", table=None, vocab_size: int = 100
) -> Path:
    """Run prepare on a synthetic table (``review_table(per_label)`` unless ``table`` is given), written to
    ``folder/reviews.parquet``; return the prepared folder."""
    folder.mkdir(parents=True, exist_ok=True)
    table_path = folder / "reviews.parquet"
    (review_table(per_label) if table is None else table).to_parquet(table_path, index=False)
    prepared = folder / "prepared"
    params = prepare.Prepare(
        vocab_size=vocab_size, max_len=max_len, padding=padding, val_fraction=0.25, val_grouping="random", seed=3
    )
    prepare.run(params, prepare.PreparePaths(table_path, prepared, folder / "prepare_stats.json"))
    return prepared


def train_tiny(
    folder: Path,
    prepared: Path,
    model: dict | None = None,
    state_dir: Path | None = None,
    lm_dir: Path | None = None,
    vectors: Path | None = None,
    unlabeled: Path | None = None,
    **train_overrides,
) -> dict:
    """Run the train stage with the tiny params (``model`` and ``train_overrides`` changing some keys).

    Writes ``model.keras``, ``history.tsv``, ``metrics.json``, ``summary.txt`` and ``live/`` into ``folder``
    and keeps its resumable state in ``folder/state`` unless ``state_dir`` says otherwise.
    """
    from stages import paths, train

    folder.mkdir(parents=True, exist_ok=True)
    files = train.TrainPaths(
        prepared=prepared,
        lm_dir=lm_dir or paths.LM,
        vectors=vectors or paths.WORD_VECTORS,
        unlabeled=unlabeled or paths.UNLABELED_ARRAYS,
        model=folder / "model.keras",
        history=folder / "history.tsv",
        metrics=folder / "metrics.json",
        summary=folder / "summary.txt",
        live=folder / "live",
        state=state_dir or folder / "state",
    )
    return train.run(train.Model(**(TINY_MODEL | (model or {}))), train.Train(**(TINY_TRAIN | train_overrides)), files)


def lm_params(**overrides):
    """The ``lm`` section shrunk to a tiny CPU run (every other key at its default)."""
    from stages.params import LM

    tiny = {
        "units": 8,
        "embedding_dim": 8,
        "window": 8,
        "batch_size": 4,
        "learning_rate": 0.01,
        "sampled": 10,
        "epochs": 2.0,
        "eval_tokens": 0,
        "seed": 1,
    }
    return LM(**(defaults("lm") | tiny | overrides))


def run_tiny_lm(data: Path, out: Path, **overrides) -> dict:
    """Run the lm stage with the tiny params (``overrides`` changing some keys) on a test folder's
    ``reviews.parquet``, ``unlabeled.parquet`` and ``prepared/``; write ``lm/``, its reports and ``state/`` into ``out``."""
    from stages import lm
    from stages.params import Prepare

    inputs = (data / "reviews.parquet", data / "unlabeled.parquet", data / "prepared")
    outputs = ("lm", "lm_metrics.json", "lm_history.tsv", "generations.md", "state")
    return lm.run(lm_params(**overrides), Prepare(), lm.LMPaths(*inputs, *(out / name for name in outputs)))


def model_params(cell: str, units: int, embedding_dim: int, **overrides):
    """A ``model`` section for ``build_model`` in unit tests: the bare network (one direction, one layer, no dropout,
    last-token pooling, random init) unless ``overrides`` say otherwise."""
    from stages.params import Model

    bare = dict(
        bidirectional=False,
        layers=1,
        embedding_dropout=0.0,
        dropout=0.0,
        pooling="last",
        dense_units=0,
        dense_dropout=0.0,
        init="random",
        embedding_trainable=True,
    )
    return Model(**(bare | {"cell": cell, "units": units, "embedding_dim": embedding_dim} | overrides))


def assert_same_run(metrics_a: dict, metrics_b: dict, model_a: Path, model_b: Path) -> None:
    """Two runs agree on every metric but the timings, and on every weight."""
    import numpy as np

    from stages.nn.saving import load

    drop = ("wall_time_s", "samples_per_s")
    assert {k: v for k, v in metrics_a["train"].items() if k not in drop} == {
        k: v for k, v in metrics_b["train"].items() if k not in drop
    }
    for a, b in zip(load(model_a).get_weights(), load(model_b).get_weights()):
        np.testing.assert_array_equal(a, b)
