"""A tiny prepared dataset (as the prepare stage writes it) for fast model tests."""

from __future__ import annotations

from pathlib import Path

from stages import prepare
from tests.synthetic import review_table

TINY_MODEL = {
    "cell": "gru",
    "bidirectional": False,
    "layers": 1,
    "units": 4,
    "embedding_dim": 8,
    "embedding_dropout": 0.0,
    "dropout": 0.0,
    "pooling": "last",
    "dense_units": 0,
    "dense_dropout": 0.0,
}
TINY_TRAIN = {
    "epochs": 2,
    "batch_size": 8,
    "optimizer": "adam",
    "learning_rate": 0.01,
    "weight_decay": 0.0,
    "lr_schedule": "constant",
    "clipnorm": 1.0,
    "patience": 0,
    "seed": 7,
    "ensemble": 1,
    "bucket_by_length": True,
    "jit_compile": "off",
    "distribute": "none",
}


def make_prepared(folder: Path, per_label: int = 20, max_len: int = 20, padding: str = "post") -> Path:
    """Run prepare on a synthetic table; return the prepared folder."""
    folder.mkdir(parents=True, exist_ok=True)
    table_path = folder / "reviews.parquet"
    review_table(per_label).to_parquet(table_path, index=False)
    prepared = folder / "prepared"
    prepare.run(table_path, prepared, folder / "prepare_stats.json", 100, 0, max_len, padding, "pre", 0.25, 3, 0)
    return prepared
