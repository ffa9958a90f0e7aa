"""The review tables ``download`` writes (Parquet) and the stages after it read; TSV text for plot data."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from stages.errors import PipelineError
from stages.io.atomic import atomic_path

LABELED_COLUMNS = ["split", "label", "rating", "id", "movie", "text"]
UNLABELED_COLUMNS = ["id", "movie", "text"]


def write_table(table: pd.DataFrame, target: Path) -> None:
    """Write a reviews table to Parquet atomically."""
    with atomic_path(target, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False, compression="zstd")


def read_table(path: Path, columns: tuple[str, ...] = ("split", "label", "text")) -> pd.DataFrame:
    """Read a reviews table written by ``download``, requiring ``columns``."""
    if not path.is_file():
        raise PipelineError(f"reviews table {path} not found: run `dvc repro download` first")
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise PipelineError(f"reviews table {path} is unreadable ({exc}): rerun `dvc repro download`") from None
    missing = set(columns) - set(table.columns)
    if missing:
        raise PipelineError(f"reviews table {path} lacks columns {sorted(missing)}: rerun `dvc repro download`")
    return table


def tsv_text(columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    """Rows as tab-separated text under a header line (DVC's plot data)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()
