"""Training on Dask arrays, for data that never has to fit in memory: full-batch methods
compute each loss and gradient as one Dask computation over the chunks (the generated
array-API step on Dask arrays); mini-batch methods draw their batches chunk by chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ChunkBatches", "ChunkedStep", "as_chunked_pair", "is_chunked"]


def is_chunked(*values: Any) -> bool:
    """Whether any value is a Dask array (without importing Dask when none is)."""
    return any(type(v).__module__.startswith("dask.") and hasattr(v, "chunks") for v in values)


def as_chunked_pair(X: Any, Y: Any, n_in: int, n_out: int, loss: str, dtype: Any,
                    names: tuple[str, str] = ("X", "Y")) -> tuple[Any, Any]:
    """X and Y as Dask arrays of the model's dtype, rows chunked alike, each row in one
    chunk; checked by shape only (their values are read while training)."""
    import dask.array as da

    X, Y = da.asarray(X), da.asarray(Y)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"{names[0]} has shape {X.shape} but the network has {n_in} "
                         f"input(s): expected (n, {n_in})")
    if Y.ndim == 1 and not (loss == "softmax_xent" or n_out == 1) or Y.ndim > 2:
        raise ValueError(f"{names[1]} has shape {Y.shape}: expected ({Y.shape[0]}, {n_out})")
    if Y.ndim == 1 and loss != "softmax_xent":
        Y = Y[:, None]
    if Y.ndim == 2 and Y.shape[1] != n_out:
        raise ValueError(f"{names[1]} has shape {Y.shape} but the network has {n_out} "
                         f"output(s): expected ({Y.shape[0]}, {n_out})")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"{names[0]} has {X.shape[0]} rows but {names[1]} has {Y.shape[0]}")
    X = X.astype(dtype).rechunk({1: -1})
    Y = Y.astype(dtype).rechunk({0: X.chunks[0]} | ({1: -1} if Y.ndim == 2 else {}))
    return X, Y


class ChunkedStep:
    """The model's step on Dask arrays: `step(params, X, Y, masks) -> (loss, grads)` as one
    Dask computation over the chunks (the array-API module of the same graph, so the
    parameters travel to the chunks and partial sums come back)."""

    def __init__(self, step: Any):
        self.compiled = step.compiled.for_backend("array_api")
        self.source, self.graph = self.compiled.source, step.graph

    def __call__(self, params: list[np.ndarray], X: Any, Y: Any,
                 masks: Any = None) -> tuple[float, list[np.ndarray]]:
        import dask

        if masks is not None:
            raise ValueError("dropout is not available on Dask arrays")
        value, grads = self.compiled(X, Y, *params)
        value, *grads = dask.compute(value, *grads)
        return float(value), [np.asarray(g, dtype=p.dtype) for g, p in zip(grads, params)]


class ChunkBatches:
    """Each pass over Dask arrays (X, Y) in batches of `size` rows, drawn chunk by chunk:
    the chunks in a random order (with `rng`; None: in order), each loaded alone and its
    rows shuffled, so only one chunk is ever in memory.  A batch does not cross chunks.
    With `size` None (or all rows): the whole arrays, once, for a `ChunkedStep`."""

    def __init__(self, X: Any, Y: Any, size: int | None, rng: Any):
        self.X, self.Y, self.rng = X, Y, rng
        self.size = len(X) if size is None else size

    def __iter__(self):
        import dask

        if self.size >= len(self.X):
            yield self.X, self.Y
            return
        blocks = len(self.X.chunks[0])
        order = self.rng.permutation(blocks) if self.rng is not None else range(blocks)
        for b in order:
            xc, yc = dask.compute(self.X.blocks[b], self.Y.blocks[b])
            if yc.ndim == 1:  # class labels, as the NumPy step takes them
                yc = yc.astype(np.intp)
            rows = self.rng.permutation(len(xc)) if self.rng is not None else None
            for start in range(0, len(xc), self.size):
                if rows is None:
                    yield xc[start:start + self.size], yc[start:start + self.size]
                else:
                    r = rows[start:start + self.size]
                    yield xc[r], yc[r]
