"""Tiny synthetic aclImdb archives and review tables for fast tests."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pandas as pd

POSITIVE_WORDS = ["great", "wonderful", "superb", "loved", "brilliant"]
NEGATIVE_WORDS = ["awful", "boring", "terrible", "hated", "dull"]
FILLER = ["the", "movie", "was", "a", "plot", "and", "actors", "film"]


def review_text(label: int, i: int) -> str:
    """A short review whose sentiment words give away its label; lengths vary with ``i``."""
    words = POSITIVE_WORDS if label else NEGATIVE_WORDS
    body = " ".join(FILLER[(i + k) % len(FILLER)] + " " + words[(i + k) % len(words)] for k in range(1 + i % 7))
    return f"This {body}!<br /><br />Rated {'high' if label else 'low'}."


def held_out_text(i: int) -> str:
    """A test review: the training words in orders no training review uses, so any copy of it is recognisable."""
    words = POSITIVE_WORDS + NEGATIVE_WORDS + FILLER
    return " ".join(words[(i * 7 + k * (3 + i % 5)) % len(words)] for k in range(12 + i % 9)) + f" {i % 10}."


def add_file(tar: tarfile.TarFile, name: str, data: bytes, **info: object) -> None:
    """Add a regular file (or, with ``type=...``, a special member) to an open tar."""
    member = tarfile.TarInfo(name)
    member.size = len(data)
    for key, value in info.items():
        setattr(member, key, value)
    tar.addfile(member, io.BytesIO(data) if member.isreg() else None)


def write_archive(
    path: Path,
    per_folder: int = 4,
    unsup: int = 2,
    extra: list[tuple[str, bytes, dict]] | None = None,
    skip_folders: tuple[str, ...] = (),
) -> str:
    """Write an aclImdb-shaped ``.tar.gz`` and return its SHA-256."""
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for folder, label in (("neg", 0), ("pos", 1)):
                if f"{split}/{folder}" in skip_folders:
                    continue
                urls = []
                for i in range(per_folder):
                    rating = 9 if label else 2
                    add_file(tar, f"aclImdb/{split}/{folder}/{i}_{rating}.txt", review_text(label, i).encode())
                    urls.append(f"http://www.imdb.com/title/tt{1000 + i // 2:07d}/usercomments")
                add_file(tar, f"aclImdb/{split}/urls_{folder}.txt", ("\n".join(urls) + "\n").encode())
        for i in range(unsup):
            add_file(tar, f"aclImdb/train/unsup/{i}_0.txt", b"unlabeled review")
        for name, data, info in extra or []:
            add_file(tar, name, data, **info)
    return sha256(path)


def sha256(path: Path) -> str:
    """SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def review_table(per_label: int = 20) -> pd.DataFrame:
    """A reviews table as ``download`` writes it, with ``per_label`` reviews per split and label."""
    rows = [
        (split, label, 9 if label else 2, i, f"tt{i:07d}", review_text(label, i))
        for split in ("test", "train")
        for label in (0, 1)
        for i in range(per_label)
    ]
    table = pd.DataFrame(rows, columns=["split", "label", "rating", "id", "movie", "text"])
    return table.astype({"label": "int8", "rating": "int8", "id": "int32"})
