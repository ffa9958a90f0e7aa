"""Command ``predict``: label new reviews with the trained model, using prepare's exact tokenizer and vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages import paths
from stages.errors import PipelineError
from stages.io.arrays import Encoding
from stages.text import LABEL_NAMES, encode, pad, read_vocabulary, token_index, tokenize


@dataclass(frozen=True)
class Prediction:
    """One review's verdict."""

    label: str
    probability: float  # P(positive)
    tokens: int  # tokens before truncation
    unknown_share: float  # share of kept tokens not in the vocabulary


class Predictor:
    """The trained model with the vocabulary and encoding it was trained on."""

    def __init__(self, model_path: Path = paths.MODEL, prepared: Path = paths.PREPARED):
        from stages.nn.model import vocabulary_size
        from stages.nn.saving import load

        self.encoding = Encoding.load(prepared / paths.ENCODING.name)
        self.index = token_index(read_vocabulary(prepared / paths.VOCAB.name))
        if not model_path.is_file():
            raise PipelineError(f"model {model_path} not found: run `dvc repro train` (or `make repro`) first")
        try:
            self.model = load(model_path)
        except Exception as exc:  # Keras raises many types for a damaged file
            raise PipelineError(f"model {model_path} cannot be loaded ({exc}): rerun `dvc repro train`") from None
        model_vocab = vocabulary_size(self.model)
        if model_vocab != len(self.index):
            raise PipelineError(
                f"model expects {model_vocab} tokens but the vocabulary has {len(self.index)}: rerun `dvc repro train`"
            )

    def predict(self, texts: list[str], threshold: float = 0.5) -> list[Prediction]:
        """Probabilities and labels for ``texts``; an empty or wordless text is a PipelineError."""
        from stages.nn.batching import predict_probabilities

        if not texts:
            raise PipelineError("no review given: pass text arguments, --file PATH, or pipe reviews on stdin")
        token_lists = []
        for number, text in enumerate(texts, start=1):
            tokens = tokenize(text)
            if not tokens:
                what = "empty" if not text.strip() else "without any word or punctuation"
                raise PipelineError(f"review {number} is {what}: give some review text")
            token_lists.append(tokens)
        encoded = [
            encode(tokens, self.index, self.encoding.max_len, self.encoding.truncating) for tokens in token_lists
        ]
        x = pad(encoded, self.encoding.max_len, self.encoding.padding)
        lengths = np.array([len(ids) for ids in encoded])
        probabilities = predict_probabilities(self.model, x, lengths, self.encoding.padding)
        return [
            Prediction(
                label=LABEL_NAMES[int(p >= threshold)],
                probability=float(p),
                tokens=len(tokens),
                unknown_share=float(ids.count(1) / len(ids)),
            )
            for p, tokens, ids in zip(probabilities, token_lists, encoded)
        ]


def decode_utf8(data: bytes, source: str) -> str:
    """Decode input bytes as UTF-8, or raise a PipelineError naming the source and byte offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def check_argument(text: str, what: str) -> str:
    """Refuse a command-line argument that was not valid UTF-8 (Python keeps such bytes as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PipelineError(f"{what} is not UTF-8 text") from None
    return text


def reviews_from_lines(text: str) -> list[str]:
    """One review per non-blank line."""
    return [line for line in text.splitlines() if line.strip()]


def gather_reviews(texts: list[str], file: Path | None, stdin) -> list[str]:
    """The reviews to score: the text arguments, the lines of ``file`` (``-`` = stdin), or piped lines on ``stdin``."""
    if texts and file is not None:
        raise PipelineError("give reviews either as arguments or with --file, not both")
    if file is not None:
        source = "stdin" if str(file) == "-" else str(file)
        try:
            data = stdin.buffer.read() if source == "stdin" else file.read_bytes()
        except FileNotFoundError:
            raise PipelineError(f"review file {file} not found") from None
        return reviews_from_lines(decode_utf8(data, source))
    if texts:
        return [check_argument(text, f"review {number}") for number, text in enumerate(texts, start=1)]
    if not stdin.isatty():
        return reviews_from_lines(decode_utf8(stdin.buffer.read(), "stdin"))
    raise PipelineError("no review given: pass text arguments, --file PATH, or pipe reviews on stdin")
