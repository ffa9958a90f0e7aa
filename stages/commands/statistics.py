"""Error bars and significance for ``stages compare``: a two-level bootstrap, paired between variants.

Every variant is scored on the same test reviews by several seeds. A resample draws ``n`` of the
``n`` test reviews with replacement (the same draw for every variant, which pairs them) and, for
each variant, as many of its seeds as it has, with replacement (independently per variant); the
variant's statistic is its accuracy on the drawn reviews averaged over the drawn seeds. So the
spread of the resamples holds both the test set's sampling error and the seed-to-seed variation
(with three seeds, the seed part is a coarse estimate).

- :func:`interval`: the percentile interval of that seed-mean accuracy.
- :func:`paired_p_value`: a two-sided bootstrap p-value of the difference between two variants on
  the same resamples, with the usual ``(k + 1) / (B + 1)`` so that a finite number of resamples
  never claims ``p = 0``.
- :func:`holm`: Holm's step-down adjustment, since every variant is tested against the best one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def resampled_accuracies(
    correct: Mapping[str, np.ndarray], resamples: int = 10_000, seed: int = 0, chunk: int = 250
) -> dict[str, np.ndarray]:
    """Each variant's seed-mean accuracy on ``resamples`` two-level bootstrap draws (reviews, then seeds).

    ``correct[name]`` is a (seeds, reviews) array of 0/1: whether seed ``s`` got review ``i`` right.
    Every variant sees the same review draws (one generator, ``seed``). Returns ``{name: array}``.
    """
    if not correct:
        return {}
    names = list(correct)
    grids = {name: np.atleast_2d(np.asarray(correct[name], dtype=np.float32)) for name in names}
    sizes = {grid.shape[1] for grid in grids.values()}
    if len(sizes) != 1:
        raise ValueError(f"variants were scored on different numbers of reviews: {sorted(sizes)}")
    n = sizes.pop()
    rng = np.random.default_rng(seed)
    out = {name: np.empty(resamples) for name in names}
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)]).astype(np.float32)
        for name, grid in grids.items():
            per_seed = grid @ counts.T / n  # (seeds, size): each seed's accuracy on each drawn set of reviews
            seeds = len(grid)
            drawn = rng.integers(0, seeds, (size, seeds))  # each resample's seeds, with replacement
            out[name][start : start + size] = np.take_along_axis(per_seed.T, drawn, axis=1).mean(axis=1)
    return out


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval holding ``level`` of the bootstrap samples."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def paired_p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value that a paired difference is zero, from its resampled values."""
    differences = np.asarray(differences)
    below, above = int((differences <= 0).sum()), int((differences >= 0).sum())
    return min(1.0, 2 * (min(below, above) + 1) / (differences.size + 1))


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (family-wise error control over every comparison made)."""
    order = sorted(p_values, key=p_values.get)
    m, running, adjusted = len(order), 0.0, {}
    for rank, name in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted
