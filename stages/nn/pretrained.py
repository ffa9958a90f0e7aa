"""Start a classifier from pretrained weights instead of random ones (``model.init``).

- ``random``: Keras's initialisers, as before the language model existed.
- ``word_vectors``: the embeddings stage's word vectors (``data/embeddings/vectors.npy``).
- ``lm_embedding``: the embedding the language models learned (it fits every cell).
- ``lm``: the embedding and the recurrent layers: the forward language model's layers go
  to the classifier's forward direction, the backward model's to its backward direction.
  The classifier's recurrent layers must then have the shapes of the language model's
  (same cell, units and layers); a mismatch is a one-line error naming both sides.
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages import paths
from stages.errors import PipelineError

log = logging.getLogger(__name__)

# Standard deviation the transferred embedding is rescaled to: that of Keras's default
# embedding initialiser, uniform(-0.05, 0.05). None keeps the language model's own scale.
EMBEDDING_STD: float | None = 0.1 / 12**0.5


def transfer(net, init: str, lm_dir: Path, prefix: str = "", vectors: Path = paths.WORD_VECTORS) -> list[str]:
    """Copy pretrained weights into ``net`` as ``init`` says; return the layers copied."""
    if init == "random":
        return []
    embedding = net.get_layer(f"{prefix}embedding")
    if init == "word_vectors":
        return [from_word_vectors(embedding, vectors)]
    models = language_models(init, lm_dir)
    factor = from_language_model(embedding, models["forward"].get_layer("embedding"), init, lm_dir)
    copied = [embedding.name]
    if init == "lm":
        copied += recurrent_from_language_models(net, models, factor)
    log.info("model.init %s: copied %s from the language models in %s", init, ", ".join(copied), lm_dir)
    return copied


def language_models(init: str, lm_dir: Path) -> dict:
    """The forward and backward language models that ``model.init: init`` copies from."""
    from stages.nn.saving import load

    models = {}
    for direction in ("forward", "backward"):
        path = paths.language_model(direction, lm_dir)
        if not path.is_file():
            raise PipelineError(f"model.init: {init} needs the language model {path}: run `dvc repro lm` first")
        models[direction] = load(path)
    return models


def from_language_model(embedding, source, init: str, lm_dir: Path) -> float:
    """Copy the language model's embedding, rescaled to ``EMBEDDING_STD``; return the factor applied."""
    (words, dim), (lm_words, lm_dim) = embedding.embeddings.shape, source.embeddings.shape
    if words != lm_words:
        raise PipelineError(
            f"model.init: {init}: the language models in {lm_dir} know {lm_words:,} words but the vocabulary has "
            f"{words:,}: rerun `dvc repro lm`"
        )
    if dim != lm_dim:
        raise PipelineError(
            f"model.init: {init} needs the language model's embedding size: model.embedding_dim is {dim}, "
            f"lm.embedding_dim {lm_dim}: set both to the same value"
        )
    vectors = source.get_weights()[0]
    factor = EMBEDDING_STD / float(vectors.std()) if EMBEDDING_STD else 1.0
    embedding.set_weights([vectors * factor])
    return factor


def recurrent_from_language_models(net, models: dict, factor: float) -> list[str]:
    """Copy each direction's recurrent layers, bottom up, into the classifier's; return the layers copied."""
    from stages.nn.model import recurrent_layers

    targets = recurrent_layers(net)
    sources = {direction: recurrent_layers(model) for direction, model in models.items()}
    depth = {direction: 0 for direction in sources}
    copied = []
    for layer in targets:
        direction = "backward" if layer.name.endswith("_backward") else "forward"
        stack = sources[direction]
        lm_layer = stack[depth[direction]] if depth[direction] < len(stack) else None
        depth[direction] += 1
        if lm_layer is None or not _same_shapes(layer, lm_layer):
            raise PipelineError(
                f"model.init: lm needs recurrent layers shaped like the language model's: the classifier has "
                f"{describe([t for t in targets if not t.name.endswith('_backward')])}, the language model "
                f"{describe(sources['forward'])} per direction: "
                "set model.cell, model.units and model.layers like lm.* (a bidirectional stack transfers "
                "only one layer), or use model.init: lm_embedding"
            )
        weights = lm_layer.get_weights()
        if depth[direction] == 1:  # the first layer reads the rescaled embedding: undo the scale in its kernel
            weights[0] = weights[0] / factor
        layer.set_weights(weights)
        copied.append(layer.name)
    return copied


def from_word_vectors(embedding, path: Path) -> str:
    """Set ``embedding`` to the word vectors in ``path`` (rescaled to Keras's spread if it trains); return its name."""
    import numpy as np

    if not path.is_file():
        raise PipelineError(f"model.init: word_vectors needs {path}: run `dvc repro embeddings` first")
    vectors = np.load(path, allow_pickle=False)
    (words, dim) = embedding.embeddings.shape
    if vectors.shape != (words, dim):
        raise PipelineError(
            f"model.init: word_vectors: {path} holds {vectors.shape[0]:,} vectors of {vectors.shape[1]} dimensions, "
            f"but the classifier has {words:,} words of {dim}: set model.embedding_dim like embeddings.dim and rerun "
            "`dvc repro embeddings`"
        )
    # a trained embedding is rescaled to Keras's spread, so that Adam's steps (the same absolute size
    # whatever the scale) move it as fast as a random one; a frozen one keeps the vectors' own scale
    factor = EMBEDDING_STD / float(vectors.std()) if EMBEDDING_STD and embedding.trainable else 1.0
    embedding.set_weights([vectors * factor])
    log.info("model.init word_vectors: %s from %s (scaled by %.3f)", embedding.name, path, factor)
    return embedding.name


def _same_shapes(layer, other) -> bool:
    return type(layer) is type(other) and [w.shape for w in layer.weights] == [w.shape for w in other.weights]


def describe(layers) -> str:
    """Recurrent layers in words, e.g. ``2 x GRU(32)``."""
    if not layers:
        return "no recurrent layer"
    first = layers[0]
    return f"{len(layers)} x {type(first).__name__}({first.units}) on {first.weights[0].shape[0]} inputs"
