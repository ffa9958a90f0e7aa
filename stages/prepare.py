"""Stage ``prepare``: tokenize the reviews, build the vocabulary, carve out validation, pad.

Outputs per split (train, val, test) an ``.npz`` of int32 arrays: ``x`` (reviews x
``max_len`` token ids), ``y`` (labels, 0 = neg, 1 = pos), ``length`` (ids kept, after
truncation), ``full_length`` (tokens before truncation) and ``row`` (row in the reviews
table, to find the text again). Also the vocabulary (one token a line), ``encoding.json``
(how texts were encoded, for ``predict``), and a stats JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from stages import paths
from stages.errors import PipelineError
from stages.io.arrays import Encoding, Split, save_split
from stages.io.atomic import write_json, write_text
from stages.io.tables import read_table
from stages.params import Prepare
from stages.text import OOV_ID, build_vocabulary, encode, pad, token_index, tokenize

log = logging.getLogger(__name__)


def sample_balanced(table: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """Keep at most ``limit`` reviews per split, half of each label (all when ``limit`` is 0)."""
    if not limit:
        return table
    parts = [
        group.sample(n=min(len(group), limit // 2 + (limit % 2 if label == 1 else 0)), random_state=seed)
        for (_, label), group in table.groupby(["split", "label"], sort=True)
    ]
    return pd.concat(parts).sort_index()


def validation_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Pick ``fraction`` of the rows of each label for validation, seeded (a stratified split)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        chosen = rng.choice(rows, size=round(len(rows) * fraction), replace=False)
        mask[chosen] = True
    return mask


def movie_validation_mask(movies: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Pick whole movies for validation, seeded, until they hold ``fraction`` of the rows.

    Train and test share no movies, but a random split puts reviews of one movie on both
    sides of train/val, which makes validation optimistic; grouping keeps every movie's
    reviews on one side, as between train and test. Rows without a movie are their own group.
    """
    groups = np.where(movies == "", np.char.add("row-", np.arange(len(movies)).astype(str)), movies)
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    target = round(len(movies) * fraction)
    taken = np.cumsum(sizes[order]) - sizes[order] < target  # add movies until the target is reached
    chosen = np.zeros(len(names), dtype=bool)
    chosen[order[taken]] = True
    return chosen[inverse]


def split_rows(table: pd.DataFrame, val_fraction: float, seed: int, val_grouping: str) -> dict[str, np.ndarray]:
    """Row positions of train, val and test; val is carved out of train, test stays untouched."""
    is_train = (table["split"] == "train").to_numpy()
    train_rows = np.flatnonzero(is_train)
    if len(train_rows) < 2:
        raise PipelineError("reviews table has too few training reviews to split off validation")
    if val_grouping == "movie":
        movies = table["movie"].to_numpy().astype(str)[train_rows]
        val = movie_validation_mask(movies, val_fraction, seed)
        if val.all() or not val.any():
            raise PipelineError(
                f"prepare.val_fraction {val_fraction} leaves no training or no validation movie: "
                "use more reviews (prepare.limit) or prepare.val_grouping: random"
            )
    else:
        val = validation_mask(table["label"].to_numpy()[train_rows], val_fraction, seed)
    return {"train": train_rows[~val], "val": train_rows[val], "test": np.flatnonzero(~is_train)}


def length_stats(lengths: np.ndarray, max_len: int) -> dict[str, float]:
    """Length percentiles (in tokens) and the share of reviews longer than ``max_len``."""
    if len(lengths) == 0:
        return {}
    p50, p90, p95, p99 = np.percentile(lengths, [50, 90, 95, 99])
    return {
        "mean": float(np.mean(lengths)),
        "p50": float(p50),
        "p90": float(p90),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(np.max(lengths)),
        "truncated_share": float(np.mean(lengths > max_len)),
    }


def split_stats(
    split_tokens: list[list[str]], encoded: list[list[int]], split: Split, index: dict, train: bool
) -> dict:
    """One split's figures: size, label balance, OOV rate, empty reviews, lengths (and, for train, vocabulary coverage)."""
    labels, lengths, full_lengths, max_len = split.y, split.length, split.full_length, split.x.shape[1]
    kept_ids = sum(lengths)
    oov = sum(ids.count(OOV_ID) for ids in encoded)
    entry = {
        "reviews": len(encoded),
        "positive_share": float(labels.mean()) if len(encoded) else 0.0,
        "oov_rate": float(oov / kept_ids) if kept_ids else 0.0,
        "empty_reviews": int(np.sum(lengths == 0)),
        "length": length_stats(full_lengths, max_len),
    }
    if train:
        all_tokens = int(full_lengths.sum())
        covered = sum(sum(1 for t in review if t in index) for review in split_tokens)
        entry["vocab_coverage"] = float(covered / all_tokens) if all_tokens else 0.0
    return entry


@dataclass(frozen=True)
class PreparePaths(paths.StagePaths):
    """What the stage reads and writes."""

    reviews: Path = paths.REVIEWS_TABLE
    prepared: Path = paths.PREPARED  # the split arrays, vocab.txt and encoding.json
    stats: Path = paths.PREPARE_STATS


def run(params: Prepare, files: PreparePaths = PreparePaths()) -> dict:
    """The whole stage: sample, split, tokenize, build the vocabulary, encode each split; returns the stats."""
    columns = ("split", "label", "text", "movie") if params.val_grouping == "movie" else ("split", "label", "text")
    table = sample_balanced(read_table(files.reviews, columns), params.limit, params.seed)
    source_rows = table.index.to_numpy()  # each review's row in the reviews table (``limit`` samples some)
    table = table.reset_index(drop=True)
    rows = split_rows(table, params.val_fraction, params.seed, params.val_grouping)
    tokens = [tokenize(text) for text in tqdm(table["text"], desc="tokenize", unit=" reviews", disable=None)]
    vocabulary = build_vocabulary((tokens[i] for i in rows["train"]), params.vocab_size, params.skip_top)
    index = token_index(vocabulary)
    labels = table["label"].to_numpy()
    stats: dict = {
        "vocab": {"size": len(vocabulary), "requested_size": params.vocab_size, "skip_top": params.skip_top},
        "splits": {},
    }
    for split, chosen in rows.items():
        split_tokens = [tokens[i] for i in chosen]
        encoded = [encode(review, index, params.max_len, params.truncating) for review in split_tokens]
        lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)
        full_lengths = np.array([len(review) for review in split_tokens], dtype=np.int64)
        arrays = Split(
            pad(encoded, params.max_len, params.padding), labels[chosen], lengths, full_lengths, source_rows[chosen]
        )
        save_split(paths.split_arrays(split, files.prepared), arrays)
        stats["splits"][split] = split_stats(split_tokens, encoded, arrays, index, split == "train")
        entry = stats["splits"][split]
        log.info(
            "%s: %d reviews, OOV rate %.3f, %.1f%% truncated",
            split,
            entry["reviews"],
            entry["oov_rate"],
            100 * entry["length"].get("truncated_share", 0),
        )
    write_text(files.prepared / paths.VOCAB.name, "\n".join(vocabulary) + "\n")
    Encoding(params.max_len, params.padding, params.truncating).save(files.prepared / paths.ENCODING.name)
    write_json(files.stats, stats)
    return stats
