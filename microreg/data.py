"""Toy data sets on NumPy: two interleaving half circles (``make_moons``)."""

from __future__ import annotations

import numpy as np


def make_moons(n: int = 100, noise: float = 0.1, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, as scikit-learn's ``make_moons`` draws them.

    Returns ``X`` of shape (n, 2) and labels ``y`` of shape (n,), 0 for the upper moon (centred at
    (0, 0)) and 1 for the lower one (centred at (1, 0.5)), ``n // 2`` of class 0 and the rest of
    class 1, in shuffled order, with Gaussian noise of standard deviation ``noise`` added to
    every coordinate. The same seed gives the same data.
    """
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 2:
        raise ValueError(f"make_moons needs n >= 2 points (at least one per moon), got {n!r}")
    if not noise >= 0:
        raise ValueError(f"make_moons needs noise >= 0 (a standard deviation), got {noise!r}")
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    n_lower = n - n_upper
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, n_lower)
    upper = np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1)
    lower = np.stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1)
    X = np.concatenate([upper, lower])
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    order = rng.permutation(n)
    X, y = X[order], y[order]
    return X + rng.normal(0.0, noise, X.shape), y
