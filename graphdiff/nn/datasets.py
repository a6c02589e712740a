"""The lecture's data sets (Bishop's sinusoid, the two rings, a noisy regression) and a
seeded train/validation split.  Every generator is reproducible from its seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .checks import check_pair

__all__ = ["noisy_regression", "regression_target", "rings", "sinusoid", "split"]


def _count(n: Any, name: str = "n", least: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {n!r}")
    return int(n)


def _noise(noise: Any) -> float:
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    return float(noise)


def sinusoid(n: int = 10, noise: float = 0.3, seed: int = 0,
             spacing: str = "grid") -> tuple[np.ndarray, np.ndarray]:
    """Bishop's data: t = sin(2πx) + N(0, noise²), x on [0, 1].

    spacing="grid" puts x at n evenly spaced points (Bishop's choice); "random" draws x
    uniformly, e.g. for a validation or test set.  Returns X (n, 1) and Y (n, 1).

    >>> X, Y = sinusoid(n=10, noise=0.3, seed=0)
    >>> X.shape, Y.shape
    ((10, 1), (10, 1))
    """
    n, noise = _count(n), _noise(noise)
    rng = np.random.default_rng(seed)
    if spacing == "grid":
        x = np.linspace(0.0, 1.0, n)
    elif spacing == "random":
        x = np.sort(rng.uniform(0.0, 1.0, n))
    else:
        raise ValueError(f"spacing must be 'grid' or 'random', got {spacing!r}")
    y = np.sin(2 * np.pi * x) + noise * rng.standard_normal(n)
    return x[:, None], y[:, None]


def rings(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The two-ring topology data: class 0 is the disk A = {d(x, 0) < 1/3}, class 1 the
    annulus B = {2/3 < d(x, 0) < 1}; n // 2 points of A and the rest of B, each drawn
    uniformly in area, shuffled.  Returns X (n, 2) floats and y (n,) integer labels.

    >>> X, y = rings(100, seed=0)
    >>> X.shape, y.shape, int(y.sum())
    ((100, 2), (100,), 50)
    """
    n = _count(n, least=2)
    rng = np.random.default_rng(seed)
    n_a = n // 2
    # uniform in area: r² uniform between the squared radii
    inner, outer = np.zeros(n), np.full(n, 1.0 / 3.0)
    inner[n_a:], outer[n_a:] = 2.0 / 3.0, 1.0
    r = np.sqrt(rng.uniform(inner**2, outer**2))
    angle = rng.uniform(0.0, 2 * np.pi, n)
    X = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    y = (np.arange(n) >= n_a).astype(np.intp)
    order = rng.permutation(n)
    return X[order], y[order]


def regression_target(x: np.ndarray) -> np.ndarray:
    """The noise-free function behind `noisy_regression`: sin(πx) on [-1, 1]."""
    return np.sin(np.pi * x)


def noisy_regression(n: int = 40, noise: float = 0.3, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A 1-d regression with heavy noise, small enough to overfit: the setting of the
    early-stopping and dropout experiments.  x uniform on [-1, 1], y = regression_target(x)
    + N(0, noise²).  Returns X (n, 1), Y (n, 1).
    """
    n, noise = _count(n), _noise(noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    y = regression_target(x) + noise * rng.standard_normal(n)
    return x[:, None], y[:, None]


def split(X: Any, Y: Any, fraction: float = 0.2, seed: int = 0
          ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle and split into ((X_train, Y_train), (X_val, Y_val)), with `fraction` of the
    samples (rounded, at least one) in the second part.

    >>> (Xt, Yt), (Xv, Yv) = split(*sinusoid(10), fraction=0.3)
    >>> len(Xt), len(Xv)
    (7, 3)
    """
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim == 0 or Y.ndim == 0:
        raise ValueError("X and Y must be arrays with one row per sample")
    check_pair(X, Y)
    n = len(X)
    if not (isinstance(fraction, (int, float)) and 0.0 < fraction < 1.0):
        raise ValueError(f"fraction must be strictly between 0 and 1, got {fraction!r}")
    if n < 2:
        raise ValueError(f"cannot split {n} sample(s) into two non-empty parts")
    n_val = min(max(1, round(fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    train, val = order[n_val:], order[:n_val]
    return (X[train], Y[train]), (X[val], Y[val])
