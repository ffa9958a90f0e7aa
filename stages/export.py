"""Stage ``export``: the trained classifier for projects that do not install this package.

Writes ``data/export/``: ``classifier.keras``, the same classifier rebuilt from stock Keras
layers only (``build_model(textbook=True)``, weights copied, an ensemble's members averaged),
which ``keras.saving.load_model`` opens in safe mode anywhere Keras is installed;
``saved_model/``, the same as a TensorFlow SavedModel for serving (signature ``serve``:
int32 token ids in, P(positive) out); and what turns text into token ids: ``vocab.txt``,
``encoding.json`` (length, padding and truncation) and ``tokenizer.json`` (the tokenizer's
rules as Python ``re`` patterns). Before writing, the stock model's probabilities on
validation reviews must match the trained model's.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from stages import paths, text
from stages.errors import PipelineError
from stages.io.arrays import Encoding, load_split
from stages.io.atomic import atomic_folder, write_json
from stages.nn.model import build_model, textbook_copy, vocabulary_size
from stages.nn.saving import load, save
from stages.params import Model

log = logging.getLogger(__name__)

CHECKED_REVIEWS = 256  # validation reviews both models must score alike
TOLERANCE = 1e-5


@dataclass(frozen=True)
class ExportPaths(paths.StagePaths):
    """What the stage reads (the trained model, the prepared vocabulary and splits) and writes."""

    model: Path = paths.MODEL
    prepared: Path = paths.PREPARED
    export: Path = paths.EXPORT


def run(params: Model, files: ExportPaths = ExportPaths()) -> dict:
    """The whole stage: rebuild the classifier from stock layers, check it, write it and its text encoding."""
    if not files.model.is_file():
        raise PipelineError(f"model {files.model} not found: run `dvc repro train` first")
    trained = load(files.model)
    stock = stock_twin(trained, params)
    encoding = Encoding.load(files.prepared / paths.ENCODING.name)
    difference = largest_difference(trained, stock, files.prepared, encoding)
    with atomic_folder(files.export) as folder:
        save(stock, folder / "classifier.keras")
        stock.export(str(folder / "saved_model"), format="tf_saved_model", verbose=False)
        shutil.copyfile(files.prepared / paths.VOCAB.name, folder / paths.VOCAB.name)
        shutil.copyfile(files.prepared / paths.ENCODING.name, folder / paths.ENCODING.name)
        write_json(folder / "tokenizer.json", text.tokenizer_rules())
    log.info(
        "exported %s as stock Keras and a SavedModel to %s (largest difference %.1e)",
        trained.name,
        files.export,
        difference,
    )
    return {"largest_difference": difference}


def stock_twin(trained: keras.Model, params: Model) -> keras.Model:
    """``trained`` rebuilt from stock Keras layers with its weights: one textbook model per ensemble member."""
    members = [layer for layer in trained.layers if isinstance(layer, keras.Model)] or [trained]
    vocab_size = vocabulary_size(trained)
    twins = []
    for member in members:
        prefix = next(layer.name for layer in member.layers if isinstance(layer, keras.layers.Embedding))
        prefix = prefix.removesuffix("embedding")
        twins.append(textbook_copy(member, build_model(vocab_size, params, prefix=prefix, textbook=True)))
    if len(twins) == 1:
        return twins[0]
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    mean = keras.layers.Average(name="mean_probability")([twin(tokens) for twin in twins])
    return keras.Model(tokens, mean, name=f"ensemble_of_{len(twins)}")


def largest_difference(trained: keras.Model, stock: keras.Model, prepared: Path, encoding: Encoding) -> float:
    """The largest gap between the two models' probabilities on the first validation reviews; refuse a real one."""
    val = load_split(paths.split_arrays("val", prepared), encoding.max_len)
    x = val.x[:CHECKED_REVIEWS]
    gap = float(np.max(np.abs(trained.predict_on_batch(x) - stock.predict_on_batch(x)), initial=0.0))
    if not gap <= TOLERANCE:
        raise PipelineError(
            f"the stock Keras model differs from {paths.MODEL} by {gap:.2e} on validation reviews (at most "
            f"{TOLERANCE:.0e} expected): do model.* in params.yaml still describe the trained model? rerun `dvc repro`"
        )
    return gap
