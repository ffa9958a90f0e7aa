"""The prepared arrays: how ``prepare`` writes each split and how every later stage reads it back.

One ``.npz`` per split (``train``, ``val``, ``test``) holds int32 arrays: ``x`` (reviews x
``max_len`` token ids), ``y`` (labels, 0 = neg, 1 = pos), ``length`` (ids kept, after
truncation), ``full_length`` (tokens before truncation) and ``row`` (row in the reviews
table, to find the text again). ``encoding.json`` says how texts became ids.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stages.errors import PipelineError
from stages.io.atomic import atomic_path, write_json

FIELDS = ("x", "y", "length", "full_length", "row")


@dataclass(frozen=True)
class Encoding:
    """How texts become id sequences; saved beside the vocabulary so ``predict`` matches ``prepare``."""

    max_len: int
    padding: str
    truncating: str

    def save(self, path: Path) -> None:
        """Write as JSON atomically."""
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> Encoding:
        """Read what :meth:`save` wrote; a missing or malformed file is a PipelineError."""
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise PipelineError(f"{path} not found: run `dvc repro prepare` first") from None
        except (ValueError, TypeError) as exc:
            raise PipelineError(f"{path} is malformed ({exc}): rerun `dvc repro prepare`") from None


@dataclass(frozen=True)
class Split:
    """One split's arrays as ``prepare`` wrote them."""

    x: np.ndarray
    y: np.ndarray
    length: np.ndarray
    full_length: np.ndarray
    row: np.ndarray


def save_split(path: Path, split: Split) -> None:
    """Write one split's arrays atomically as an uncompressed ``.npz`` of int32 (no pickles)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **{name: np.asarray(getattr(split, name)).astype(np.int32) for name in FIELDS})


def load_split(path: Path, max_len: int | None = None, vocab_size: int | None = None) -> Split:
    """Load a split's ``.npz`` (no pickles) and check it against the encoding and vocabulary."""
    try:
        with np.load(path, allow_pickle=False) as data:
            split = Split(*(data[key] for key in FIELDS))
    except FileNotFoundError:
        raise PipelineError(f"{path} not found: run `dvc repro prepare` first") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise PipelineError(f"{path} is truncated or not a prepare output ({exc}): rerun `dvc repro prepare`") from None
    rows = len(split.x)
    if split.x.ndim != 2 or any(len(a) != rows for a in (split.y, split.length, split.full_length, split.row)):
        raise PipelineError(f"{path} has arrays of inconsistent shapes: rerun `dvc repro prepare`")
    if max_len is not None and split.x.shape[1] != max_len:
        raise PipelineError(
            f"{path} has {split.x.shape[1]} columns but encoding.json says max_len {max_len}: rerun `dvc repro prepare`"
        )
    if vocab_size is not None and rows and (split.x.min() < 0 or split.x.max() >= vocab_size):
        raise PipelineError(f"{path} holds token ids outside the vocabulary of {vocab_size}: rerun `dvc repro prepare`")
    return split
