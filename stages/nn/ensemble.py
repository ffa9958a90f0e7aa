"""``train.ensemble``: one model averaging several members' probabilities, and its summary figures."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from stages.nn.checkpoint import HISTORY_KEYS


def average_members(members: list[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' probabilities (an ensemble).

    The members must have distinct layer names (``build_model``'s ``prefix``); they stay
    whole sub-models, so the saved file loads in safe mode like a single model.
    """
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    mean = layers.Average(name="mean_probability")([member(tokens) for member in members])
    return keras.Model(tokens, mean, name=f"ensemble_of_{len(members)}")


def mean_history(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per-epoch mean over the members that ran each epoch (members may stop early at different epochs)."""
    epochs = max(len(history["loss"]) for history in histories)
    return {
        key: [float(np.mean([h[key][e] for h in histories if e < len(h[key])])) for e in range(epochs)]
        for key in HISTORY_KEYS
    }
