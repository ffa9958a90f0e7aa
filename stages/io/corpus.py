"""The unlabeled-plus-training text that pretraining reads (language models, word vectors), with no held-out review in it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages import paths
from stages.io.arrays import load_split
from stages.io.tables import read_table
from stages.text import tokenize

log = logging.getLogger(__name__)


@dataclass
class PretrainingText:
    """Tokenized reviews: those pretraining may read, and the validation reviews it is measured on."""

    train: list[list[str]]
    val: list[list[str]]
    stats: dict


def pretraining_text(reviews: Path, unlabeled: Path, prepared: Path, limit: int = 0) -> PretrainingText:
    """The training split (validation excluded) and the unlabeled reviews, less every copy of a held-out review.

    A review is left out when its tokens equal those of a test or validation review (the
    unlabeled reviews hold copies of test reviews, and the official training split holds
    some too). "Test" means every review of the official test split, also those that
    ``prepare.limit`` left out of this run's test arrays. Reviews keep table order,
    training reviews first. ``limit`` > 0 (a quick run's ``prepare.limit``) keeps that many
    unlabeled reviews, evenly spaced through the table; the training reviews are those
    ``prepare`` kept.
    """
    table = read_table(reviews, ("split", "label", "text"))
    extra = read_table(unlabeled, ("id", "text"))
    if 0 < limit < len(extra):
        extra = extra.iloc[np.linspace(0, len(extra) - 1, limit).round().astype(int)]
    rows = {split: load_split(paths.split_arrays(split, prepared)).row for split in ("train", "val")}
    texts = table["text"].to_numpy()

    def tokens_of(items, what):
        return [tokenize(text) for text in tqdm(items, desc=f"tokenize {what}", unit=" reviews", disable=None)]

    every_test_review = np.flatnonzero((table["split"] == "test").to_numpy())
    held_out_tokens = {"test": tokens_of(texts[every_test_review], "test"), "val": tokens_of(texts[rows["val"]], "val")}
    held_out = {split: {" ".join(tokens) for tokens in token_lists} for split, token_lists in held_out_tokens.items()}
    sources = {"train": tokens_of(texts[rows["train"]], "train"), "unlabeled": tokens_of(extra["text"], "unlabeled")}
    stats: dict = {"reviews": {}, "left_out": {}}
    kept: list[list[str]] = []
    for name, token_lists in sources.items():
        joined = [" ".join(tokens) for tokens in token_lists]
        copies = {split: sum(text in held_out[split] for text in joined) for split in held_out}
        keep = [tokens for tokens, text in zip(token_lists, joined) if not any(text in h for h in held_out.values())]
        stats["reviews"][name] = len(keep)
        stats["left_out"][name] = {f"copies_of_{split}": count for split, count in copies.items()}
        kept += keep
    for name, count in stats["left_out"].items():
        log.info("%s: left out %s", name, ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in count.items()))
    return PretrainingText(kept, held_out_tokens["val"], stats)
