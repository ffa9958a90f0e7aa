"""The tokenizer and vocabulary encoding shared by ``prepare``, ``evaluate`` and ``predict``.

Tokenization rules, in order:

1. HTML line breaks (``<br />``, ``<br/>``, ``<br>``, any case) become spaces;
2. the text is lowercased (``str.lower``, Unicode aware);
3. tokens are words (runs of Unicode letters and digits, with inner apostrophes kept:
   ``don't``, ``rock'n'roll``) or single punctuation/symbol characters (``!``, ``?``, ``.``).
   Whitespace, underscores and control characters separate tokens and are dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from stages.errors import PipelineError

PAD_ID = 0
OOV_ID = 1
PAD_TOKEN = "<pad>"
OOV_TOKEN = "<oov>"
LABEL_NAMES = ("neg", "pos")  # label 0 and 1, as the aclImdb folders name them
RESERVED = (PAD_TOKEN, OOV_TOKEN)

_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s\x00-\x1f\x7f-\x9f]")


def tokenizer_rules() -> dict:
    """The tokenizer as data: Python ``re`` patterns and the reserved ids (for a project without this package)."""
    return {
        "line_break": {"pattern": _LINE_BREAK.pattern, "flags": "IGNORECASE", "replace_with": " "},
        "lowercase": True,
        "token": {"pattern": _TOKEN.pattern, "use": "re.findall on the text after line breaks and lowercasing"},
        "pad_id": PAD_ID,
        "oov_id": OOV_ID,
    }


def tokenize(text: str) -> list[str]:
    """Split a review into lowercase word and punctuation tokens (see the module docstring)."""
    return _TOKEN.findall(_LINE_BREAK.sub(" ", text).lower())


def build_vocabulary(token_lists: Iterable[Sequence[str]], vocab_size: int, skip_top: int = 0) -> list[str]:
    """Return the vocabulary: reserved tokens, then the most frequent words.

    ``vocab_size`` counts the reserved padding and out-of-vocabulary entries. The
    ``skip_top`` most frequent words are left out (they map to out-of-vocabulary), as
    ``keras.datasets.imdb.load_data(skip_top=...)`` does. Ties in frequency are broken
    alphabetically so the vocabulary is deterministic.
    """
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    words = [word for word, _ in ranked[skip_top : skip_top + vocab_size - len(RESERVED)]]
    return [*RESERVED, *words]


def token_index(vocabulary: Sequence[str]) -> dict[str, int]:
    """Map each vocabulary token to its id (its line number in ``vocab.txt``)."""
    return {token: i for i, token in enumerate(vocabulary)}


def encode(tokens: Sequence[str], index: dict[str, int], max_len: int, truncating: str) -> list[int]:
    """Map tokens to ids (unknown ones to OOV), keeping ``max_len`` from the chosen end."""
    kept = tokens[-max_len:] if truncating == "pre" else tokens[:max_len]
    get = index.get
    return [get(token, OOV_ID) for token in kept]


def pad(sequences: Sequence[Sequence[int]], max_len: int, padding: str) -> np.ndarray:
    """Pad id sequences (already at most ``max_len`` long) with PAD_ID into an int32 matrix."""
    out = np.full((len(sequences), max_len), PAD_ID, dtype=np.int32)
    for row, ids in enumerate(sequences):
        if not ids:
            continue
        if padding == "post":
            out[row, : len(ids)] = ids
        else:
            out[row, max_len - len(ids) :] = ids
    return out


def read_vocabulary(path: Path) -> list[str]:
    """Read ``vocab.txt`` (one token a line, line number = id) and check its reserved head."""
    try:
        tokens = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise PipelineError(f"vocabulary {path} not found: run `dvc repro prepare` first") from None
    if tokens and tokens[-1] == "":
        tokens.pop()
    if tuple(tokens[: len(RESERVED)]) != RESERVED:
        raise PipelineError(f"vocabulary {path} does not start with {', '.join(RESERVED)}: rerun `dvc repro prepare`")
    return tokens
