"""Seeding: the one place the classifier and the language models make TensorFlow repeat itself."""

from __future__ import annotations


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow's ops deterministic.

    Keras refuses XLA while op determinism is on, so an XLA run only seeds (XLA on CPU was
    measured to repeat its results exactly; see tests/test_train.py).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
