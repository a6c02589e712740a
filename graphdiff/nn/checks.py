"""Validation of training data: shapes, finiteness, emptiness and label ranges.

Each check raises ValueError naming the argument and the cause, so bad data is stopped at
the door instead of turning into a NaN model.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["as_inputs", "as_targets", "check_pair", "hidden_activations", "is_real"]


def is_real(value: Any) -> bool:
    """A real number: Python's int and float and NumPy's scalars (np.float32(0.01)); not bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def hidden_activations(activation: str | Sequence[str], n_hidden: int) -> tuple[str, ...]:
    """One activation name per hidden layer: a name used by every layer, or a list of them."""
    if isinstance(activation, str):
        return (activation,) * n_hidden
    names = tuple(activation)
    if len(names) != n_hidden:
        raise ValueError(f"activation lists {len(names)} name(s) {list(names)} but the network "
                         f"has {n_hidden} hidden layer(s): give one per hidden layer")
    return names


def _finite(name: str, a: np.ndarray) -> None:
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        where = ", ".join(str(int(i)) for i in bad)
        raise ValueError(f"{name} contains {a[tuple(bad)]} at index ({where}); "
                         "the data must be finite (no NaN or inf)")


def _numeric(name: str, data: Any) -> np.ndarray:
    a = np.asarray(data)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got an array of dtype {a.dtype}")
    return a


def as_inputs(X: Any, n_features: int | None = None, dtype: Any = np.float64,
              name: str = "X") -> np.ndarray:
    """X as a C-contiguous (n, n_features) array of `dtype`; a 1-d X is one feature."""
    a = _numeric(name, X)
    if a.ndim == 1 and n_features in (None, 1):
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (samples, features), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty: no samples")
    if n_features is not None and a.shape[1] != n_features:
        raise ValueError(f"{name} has {a.shape[1]} feature(s) per sample (shape {a.shape}) "
                         f"but the network takes {n_features}")
    _finite(name, a)
    return np.ascontiguousarray(a, dtype=dtype)


def as_targets(Y: Any, loss: str, n_outputs: int, dtype: Any = np.float64,
               name: str = "Y") -> np.ndarray:
    """Y in the form the loss takes: (n, k) floats, or (n,) integer classes for softmax_xent.

    mse: any finite numbers.  bce: values in [0, 1].  softmax_xent: integer labels in
    [0, k) or rows of k non-negative numbers summing to 1 (one-hot or probabilities).
    """
    a = _numeric(name, Y)
    if a.size == 0 or a.ndim == 0:
        raise ValueError(f"{name} is empty: no targets" if a.size == 0
                         else f"{name} must be an array of targets, got a scalar")
    _finite(name, a)
    if loss == "softmax_xent" and a.ndim == 1:
        if a.dtype.kind == "f" and not np.array_equal(a, np.round(a)):
            raise ValueError(f"{name} holds class labels for softmax_xent and must be "
                             "integers, or one-hot rows of shape (n, k)")
        bad = (a < 0) | (a >= n_outputs)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}[{i}] = {a[i]} is out of range: labels must be in "
                             f"[0, {n_outputs}) for a network with {n_outputs} outputs")
        return a.astype(np.intp)
    if a.ndim == 1 and n_outputs == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != n_outputs:
        raise ValueError(f"{name} has shape {a.shape} but the network has {n_outputs} "
                         f"output(s): expected ({a.shape[0]}, {n_outputs})")
    if loss == "bce" and ((a < 0) | (a > 1)).any():
        raise ValueError(f"{name} must lie in [0, 1] for bce (binary labels or "
                         f"probabilities); found values in [{a.min()}, {a.max()}]")
    if loss == "softmax_xent" and ((a < 0).any() or not np.allclose(a.sum(axis=1), 1.0)):
        raise ValueError(f"{name} rows must be one-hot or probabilities (non-negative, "
                         "summing to 1) for softmax_xent")
    return np.ascontiguousarray(a, dtype=dtype)


def check_pair(X: np.ndarray, Y: np.ndarray, names: tuple[str, str] = ("X", "Y")) -> None:
    """X and Y must have one target per sample."""
    if len(X) != len(Y):
        raise ValueError(f"{names[0]} has {len(X)} samples but {names[1]} has {len(Y)}: "
                         "they must match")
