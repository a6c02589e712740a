"""The array-API spelling of each primitive: one table beside the registry, and the helpers
generated modules call.  Only the standard's functions (no out=, no in-place updates), on
the namespace `array_api_compat` finds for the inputs: NumPy, array_api_strict, CuPy,
PyTorch, Dask.  Imports nothing of graphdiff but the registry's vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .vocabulary import _erf_series, _erfc_tail, _pad_widths, index_text

try:
    from array_api_compat import (
        array_namespace,
        device,
        is_array_api_obj,
        is_lazy_array,
        is_numpy_array,
    )
except ImportError:  # the optional extra: NumPy alone never needs it
    array_namespace = device = is_lazy_array = is_numpy_array = None

    def is_array_api_obj(value: Any) -> bool:
        """Another array library's array, recognised without array_api_compat."""
        return hasattr(value, "__array_namespace__") or \
            type(value).__module__.split(".")[0] in ("dask", "torch", "cupy", "jax")

MISSING = ("the array-API backend (and other libraries' arrays: Dask, CuPy, torch) needs "
           "array-api-compat: pip install 'graphdiff[array-api]'")


def available() -> bool:
    """Whether array_api_compat is installed (the `array-api` extra)."""
    return array_namespace is not None

__all__ = ["ARRAY_API", "FUSED", "HEAD", "spelled"]

# the head of every generated array-API module
HEAD = ("import math", "", "from array_api_compat import array_namespace, device, "
        "is_array_api_obj, is_lazy_array, is_numpy_array", "")


# --- helpers, emitted into the modules that call them ---------------------------------------

def _namespace(*values):
    """The inputs' array namespace and the inputs as its arrays: Python numbers take the
    floating type of the arrays they meet, integers become float64, and NumPy arrays met
    with another library's arrays move to it (CuPy, torch, Dask)."""
    foreign = [v for v in values if not isinstance(v, (int, float))
               and is_array_api_obj(v) and not is_numpy_array(v)]
    if foreign:
        xp, where = array_namespace(*foreign), device(foreign[0])
    else:  # NumPy arrays, or numbers only
        import array_api_compat.numpy as xp
        where = None
    out = []
    for v in values:
        if not isinstance(v, (int, float)):
            if is_numpy_array(v) or not is_array_api_obj(v):
                v = xp.asarray(v, device=where)
            if xp.isdtype(v.dtype, ("integral", "bool")):
                v = xp.astype(v, xp.float64)
        out.append(v)
    floats = [v.dtype for v in out if not isinstance(v, (int, float))]
    kind = xp.result_type(*floats) if floats else xp.float64
    return xp, [xp.asarray(float(v), dtype=kind, device=where) if isinstance(v, (int, float))
                else v for v in out]


def _size(x):
    """The number of entries (a Python int; NaN for a Dask array of unknown chunks)."""
    return math.prod(x.shape)


def _shapes(*shapes):
    """NumPy's broadcasting on shapes."""
    ndim = max(len(s) for s in shapes)
    out = []
    for k in range(ndim):
        dims = {s[len(s) - ndim + k] for s in shapes if len(s) - ndim + k >= 0} - {1}
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _unknown(n):
    """Whether a size is unknown until computed (NaN: a Dask array after a boolean mask)."""
    return n is None or isinstance(n, float) and math.isnan(n)


def _same(a, b):
    """Whether two shapes are equal, an unknown size equal to another unknown one."""
    return len(a) == len(b) and all(m == n or _unknown(m) and _unknown(n) for m, n in zip(a, b))


def _spread(xp, t, like):
    """t broadcast to the shape of `like`; on a lazy array (Dask) in like's chunks, by
    adding zeros like it: a small array broadcast to a large shape is one chunk of the
    whole shape, held in memory whole."""
    if is_lazy_array(like):
        return t + xp.zeros_like(like, dtype=t.dtype)
    return xp.broadcast_to(t, tuple(like.shape))


def _sum_to(xp, t, x, like):
    """Sum t, broadcast against `like` and x, down to the shape of x (in x's dtype)."""
    t = xp.asarray(t, dtype=x.dtype) if isinstance(t, (int, float)) else \
        xp.astype(t, x.dtype) if t.dtype != x.dtype else t
    shape = tuple(x.shape)
    full = _shapes(tuple(t.shape), tuple(getattr(like, "shape", ())), shape)
    if _size(t) == 1 and not _same(full, shape):  # a broadcast constant: its sum is a product
        t = xp.reshape(t, ()) * (math.prod(full) // max(_size(x), 1))
    elif not _same(full, shape):
        lead = len(full) - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and full[lead + i] != 1)
        spread = _spread(xp, t, like) if _same(tuple(getattr(like, "shape", ())), full) \
            else xp.broadcast_to(t, full)
        t = xp.reshape(xp.sum(spread, axis=axes), shape)
    if not _same(tuple(t.shape), shape):  # smaller than x: a fresh array of x's shape
        t = xp.asarray(_spread(xp, t, x), copy=True)
    return t


def _broadcast_like(xp, t, x, axis=None, keepdims=False, mean=False):
    """t, a reduction of x over `axis`, expanded back to x's shape (divided by the number
    of entries each output summed, for a mean)."""
    t = xp.asarray(t, dtype=x.dtype) if isinstance(t, (int, float)) else \
        xp.astype(t, xp.result_type(t, x))
    if mean:
        t = t / (_size(x) // max(_size(t), 1))
    if axis is not None and not keepdims:
        axes = axis if isinstance(axis, tuple) else (axis,)
        for a in sorted(a % x.ndim for a in axes):
            t = xp.expand_dims(t, axis=a)
    return _spread(xp, t, x)


def _logsumexp(xp, x, axis=-1, keepdims=False):
    """log(sum(exp(x))) over `axis`, shifted by the maximum so it never overflows."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = xp.squeeze(out, axis=axis if axis is not None else tuple(range(out.ndim)))
    return out


def _softmax(xp, x, axis=-1):
    """exp(x) / sum(exp(x)) over `axis`, shifted by the maximum so it never overflows."""
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _log_softmax(xp, x, axis=-1):
    """x - logsumexp(x) over `axis`, computed without overflow."""
    return x - _logsumexp(xp, x, axis=axis, keepdims=True)


def _transpose(xp, a):
    """a with its axes reversed."""
    return xp.permute_dims(a, tuple(range(a.ndim - 1, -1, -1)))


def _outer(xp, a, b):
    """The outer product of two vectors."""
    return xp.reshape(a, (-1, 1)) * xp.reshape(b, (1, -1))


def _class_labels(xp, y, k):
    """Integer class labels as indices, refusing (where the values are at hand, not in a
    lazy array) any label that is not an integer in [0, k)."""
    idx = xp.astype(y, xp.int64)
    if not is_lazy_array(y):
        bad = (xp.astype(idx, y.dtype) != y) | (idx < 0) | (idx >= k)
        if bool(xp.any(bad)):
            raise ValueError(f"class labels must be integers in [0, {k}) ({k} classes)")
    return idx


def _one_hot(xp, labels, like):
    """Integer class labels as one-hot rows shaped like `like`."""
    k = like.shape[-1]
    idx = _class_labels(xp, labels, k)
    hot = xp.expand_dims(idx, axis=-1) == xp.arange(k, device=device(like))
    return xp.astype(hot, xp.result_type(like, xp.float32))


def _residual(xp, p, t):
    """p - t, refusing shapes that broadcast to a shape neither has."""
    d = p - t
    if tuple(d.shape) not in (tuple(p.shape), tuple(t.shape)):
        raise ValueError(f"mse: outputs of shape {tuple(p.shape)} and targets of shape "
                         f"{tuple(t.shape)} broadcast to {tuple(d.shape)}; give them one shape")
    return d


def _mse(xp, p, t):
    """mean((p - t)**2): mean squared error."""
    d = _residual(xp, p, t)
    return xp.sum(d * d) / _size(d)


def _mse_grad(xp, p, t):
    """d/dp of _mse: 2 (p - t) / size."""
    d = _residual(xp, p, t)
    return d * (2 / _size(d))


def _mse_and_grad(xp, p, t):
    """_mse and _mse_grad of the same arguments, from one difference."""
    d = _residual(xp, p, t)
    return xp.sum(d * d) / _size(d), d * (2 / _size(d))


def _bce_with_logits(xp, z, y):
    """mean(softplus(z) - y z): binary cross-entropy of logits z, without overflow."""
    return (xp.sum(xp.logaddexp(0.0, z)) - xp.sum(y * z)) / _size(z)


def _bce_with_logits_grad(xp, z, y):
    """d/dz of _bce_with_logits: (sigmoid(z) - y) / size."""
    return (xp.exp(-xp.logaddexp(0.0, -z)) - y) / _size(z)


def _bce_with_logits_and_grad(xp, z, y):
    """_bce_with_logits and its gradient, sharing softplus(z): sigmoid(z) = exp(z - softplus(z))."""
    sp = xp.logaddexp(0.0, z)
    value = (xp.sum(sp) - xp.sum(y * z)) / _size(z)
    return value, (xp.exp(z - sp) - y) / _size(z)


def _picked(xp, z, y):
    """For integer labels y: each row's score of its label, and the labels as one-hot rows."""
    k = z.shape[-1]
    hot = xp.expand_dims(_class_labels(xp, y, k), axis=-1) == xp.arange(k, device=device(z))
    return xp.sum(xp.where(hot, z, 0.0), axis=-1), xp.astype(hot, z.dtype)


def _softmax_xent(xp, z, y):
    """mean over rows of logsumexp(z) sum(y) - sum(y z); y one-hot rows or integer labels."""
    lse = _logsumexp(xp, z, axis=-1)
    if y.ndim == z.ndim - 1:
        picked, _ = _picked(xp, z, y)
        return xp.sum(lse - picked) / max(_size(lse), 1)
    return xp.mean(lse * xp.sum(y, axis=-1) - xp.sum(y * z, axis=-1))


def _softmax_xent_grad(xp, z, y):
    """d/dz of _softmax_xent: (softmax(z) sum(y) - y) / rows."""
    e = _softmax(xp, z, axis=-1)
    rows = _size(z) // z.shape[-1]
    if y.ndim == z.ndim - 1:
        return (e - _picked(xp, z, y)[1]) / rows
    return (e * xp.sum(y, axis=-1, keepdims=True) - y) / rows


def _softmax_xent_and_grad(xp, z, y):
    """_softmax_xent and _softmax_xent_grad of the same arguments."""
    return _softmax_xent(xp, z, y), _softmax_xent_grad(xp, z, y)


def _where(xp, c, a, b):
    """a where c is nonzero, else b; two numbers take the condition's float type."""
    kind = c.dtype if xp.isdtype(c.dtype, "real floating") else xp.float64
    a = xp.asarray(a, dtype=kind, device=device(c)) if isinstance(a, (int, float)) else a
    return xp.where(xp.astype(c, xp.bool), a, b)


def _owned(a):
    """A copy of a result that could share memory with an input or another result."""
    return array_namespace(a).asarray(a, copy=True)


def _constant(xp, value, *like):
    """A number of the inputs' floating type (an output that needs no input's values)."""
    floats = [v for v in like if xp.isdtype(v.dtype, "real floating")]
    where = device(like[0]) if like else None
    return xp.asarray(value, dtype=xp.result_type(*floats, 0.0) if floats else xp.float64,
                      device=where)


def _jacobian(xp, tangents, args, wrt, single_out, single_wrt):
    """Jacobian blocks d out_i / d args[w], each of shape out_i.shape + args[w].shape,
    built column by column: `tangents(*args, *directions)` along each basis direction of
    each differentiated input in turn (one of them 1, everything else 0)."""
    zeros = [xp.zeros_like(args[w]) for w in wrt]
    blocks = []  # per differentiated input, a block per output
    for k, w in enumerate(wrt):
        x = args[w]
        n = math.prod(x.shape)
        columns = []
        for j in range(n):
            e = xp.reshape(xp.astype(xp.arange(n, device=device(x)) == j, x.dtype), x.shape)
            columns.append(tangents(*args, *zeros[:k], e, *zeros[k + 1:]))
        if not columns:  # an empty input: the outputs' shapes from one evaluation
            blocks.append([xp.zeros(tuple(t.shape) + tuple(x.shape), dtype=t.dtype,
                                    device=device(t)) for t in tangents(*args, *zeros)])
            continue
        blocks.append([_block(xp, column, tuple(x.shape)) for column in zip(*columns)])
    rows = [[b[i] for b in blocks] for i in range(len(blocks[0]))] if blocks else []
    rows = [r[0] if single_wrt else tuple(r) for r in rows]
    return rows[0] if single_out and rows else tuple(rows)


def _block(xp, column, shape):
    """The tangents along each basis direction of an input of `shape`, as one array of
    shape (the output's shape + shape)."""
    return xp.reshape(xp.stack(column, axis=-1), tuple(column[0].shape) + shape)


# --- helpers of the array vocabulary (issue 11's primitives), from the standard's functions -----

def _as_array(xp, v, like):
    """v as an array of like's floating type and device (a number from a literal)."""
    if isinstance(v, (int, float)):
        return xp.asarray(v, dtype=like.dtype, device=device(like))
    return v


def _cbrt(xp, x):
    """The real cube root: |x|**(1/3) with x's sign, polished by one Newton step (the power
    of a rounded 1/3 alone is off by up to ~1e-14 relative at large |x|)."""
    y = xp.sign(x) * xp.abs(x) ** (1 / 3)
    ok = xp.isfinite(y) & (y != 0)
    safe = xp.where(ok, y, 1.0)
    return xp.where(ok, safe - (safe - x / (safe * safe)) / 3, y)


def _sinc(xp, x):
    """sin(pi x) / (pi x), 1 at 0 (NumPy's sinc)."""
    zero = x == 0
    y = math.pi * xp.where(zero, 1.0, x)
    return xp.where(zero, 1.0, xp.sin(y) / y)


def _fmax(xp, x, y):
    """The maximum ignoring nan: the other argument where one is nan."""
    x, y = _as_array(xp, x, y), _as_array(xp, y, x)
    return xp.where(xp.isnan(y), x, xp.where(xp.isnan(x), y, xp.maximum(x, y)))


def _fmin(xp, x, y):
    """The minimum ignoring nan: the other argument where one is nan."""
    x, y = _as_array(xp, x, y), _as_array(xp, y, x)
    return xp.where(xp.isnan(y), x, xp.where(xp.isnan(x), y, xp.minimum(x, y)))


def _logaddexp2(xp, x, y):
    """log2(2**x + 2**y) = max + log2(1 + 2**-|x - y|), without overflow."""
    d = xp.where(x == y, 0.0, -xp.abs(x - y))  # equal infinities: 0, not nan
    return xp.maximum(x, y) + xp.log1p(2.0 ** d) * 1.4426950408889634  # 1 / log(2)


def _erf(xp, x):
    """The error function, computed in float64 and returned in x's floating type."""
    kind = x.dtype
    x = xp.astype(x, xp.float64)
    small = xp.abs(x) < 1.5
    near = _erf_series(xp, xp.where(small, x, 0.0))
    far = 1.0 - _erfc_tail(xp, xp.where(small, 1.5, xp.abs(x)))
    out = xp.where(small, near, xp.copysign(far, x))
    return xp.astype(xp.where(xp.isnan(x), x, out), kind)


def _erfc(xp, x):
    """1 - erf(x), accurate where it is tiny (x large)."""
    kind = x.dtype
    x = xp.astype(x, xp.float64)
    small = xp.abs(x) < 1.5
    tail = _erfc_tail(xp, xp.where(small, 1.5, xp.abs(x)))
    out = xp.where(small, 1.0 - _erf_series(xp, xp.where(small, x, 0.0)),
                   xp.where(x > 0, tail, 2.0 - tail))
    return xp.astype(xp.where(xp.isnan(x), x, out), kind)


def _erfinv(xp, y):
    """The inverse of erf on (-1, 1): Winitzki's closed form (relative error below 2e-3)
    polished by three Halley steps on erf(x) = y, each tripling the correct digits
    (±inf at ±1, nan outside [-1, 1])."""
    kind = y.dtype
    y = xp.astype(y, xp.float64)
    inside = xp.abs(y) < 1
    u = xp.where(inside, y, 0.0)
    w = xp.log1p(-u * u)  # log(1 - y²)
    c = 4.330746750799873 + 0.5 * w  # 2/(pi a) + w/2, a = 0.147
    x = xp.copysign(xp.sqrt(xp.sqrt(c * c - w / 0.147) - c), u)
    for _ in range(3):
        # Halley: f = erf(x) - y, f' = 2/sqrt(pi) exp(-x²), f'' = -2x f'
        step = (_erf(xp, x) - u) / (1.1283791670955126 * xp.exp(-x * x))
        x = x - step / (1.0 + x * step)
    edge = xp.where(xp.abs(y) == 1, xp.copysign(xp.full_like(y, math.inf), y), math.nan)
    return xp.astype(xp.where(inside, x, edge), kind)


def _cumsum(xp, x, axis=None, reverse=False):
    """Running sums along `axis` (of the flattened array for None), from the end if
    `reverse`: the adjoint of a running sum is the reversed running sum."""
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    if not reverse:
        return xp.cumulative_sum(x, axis=axis)
    return xp.flip(xp.cumulative_sum(xp.flip(x, axis=axis), axis=axis), axis=axis)


def _cumprod(xp, x, axis=None):
    """Running products along `axis` (of the flattened array for None)."""
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    return xp.cumulative_prod(x, axis=axis)


def _reshape(xp, x, shape):
    """x's entries in `shape`, through the flat vector when neither shape is one: Dask
    reshapes only by merging whole axes or splitting one."""
    if x.ndim > 1 and len(shape) > 1:
        x = xp.reshape(x, (-1,))
    return xp.reshape(x, shape)


def _repeat(xp, x, repeats=1, axis=None):
    """Each entry repeated `repeats` times along `axis` (of the flattened array for None)."""
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    return xp.repeat(x, repeats, axis=axis)


def _reshape_like(xp, t, x):
    """t's entries in x's shape."""
    return _reshape(xp, _as_array(xp, t, x), tuple(x.shape))


def _squeeze(xp, x, axis=None):
    """x without its axes of size 1 (all of them for None)."""
    if axis is None:
        axis = tuple(k for k, n in enumerate(x.shape) if n == 1)
    return xp.squeeze(x, axis=axis) if axis != () else x


def _expand_dims(xp, x, axis=0):
    """x with new axes of size 1 at `axis` (an int or a tuple), as NumPy places them."""
    axes = axis if isinstance(axis, tuple) else (axis,)
    nd = x.ndim + len(axes)
    for a in sorted(k % nd for k in axes):
        x = xp.expand_dims(x, axis=a)
    return x


def _moveaxis(xp, x, source=0, destination=-1):
    """x with axis `source` moved to position `destination`."""
    nd = x.ndim
    order = [k for k in range(nd) if k != source % nd]
    order.insert(destination % nd, source % nd)
    return xp.permute_dims(x, tuple(order))


def _swapaxes(xp, x, axis1=0, axis2=1):
    """x with two axes exchanged."""
    order = list(range(x.ndim))
    i, j = axis1 % x.ndim, axis2 % x.ndim
    order[i], order[j] = order[j], order[i]
    return xp.permute_dims(x, tuple(order))


def _getitem(xp, x, index):
    """x[index] for a basic index, its slices first brought within x's shape (the
    standard leaves bounds outside an axis unspecified)."""
    index = list(index)
    consumed = sum(1 for item in index if item is not None and item is not Ellipsis)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index[k:k + 1] = [slice(None)] * (x.ndim - consumed)
    out, dim = [], 0
    for item in index:
        if isinstance(item, slice):
            r = range(*item.indices(x.shape[dim]))
            item = slice(0, 0) if not r else slice(r.start, r.stop if r.stop >= 0 else None,
                                                   r.step)
        dim += item is not None
        out.append(item)
    return x[tuple(out) + (Ellipsis,)]


def _index_add(xp, t, x, index):
    """Zeros shaped like x with t added at x[index] (a basic index: no entry twice): t
    given x's axes, then spread along each selected axis by a take of its entries and
    zeros elsewhere, one axis at a time."""
    t = _as_array(xp, t, x)
    kind = xp.result_type(t, x)
    index = list(index)
    consumed = sum(1 for item in index if item is not None and item is not Ellipsis)
    k = index.index(Ellipsis) if Ellipsis in index else len(index)
    index[k:k + 1] = [slice(None)] * (x.ndim - consumed)
    picked, spread = [], []  # the shape of x[index], and of t with x's axes
    dim = 0
    for item in index:
        if item is None:
            picked.append(1)
            continue
        n = x.shape[dim]
        dim += 1
        if isinstance(item, slice):
            picked.append(len(range(*item.indices(n))))
            spread.append(picked[-1])
        else:
            spread.append(1)
    t = xp.reshape(xp.broadcast_to(xp.astype(t, kind), tuple(picked)), tuple(spread))
    where = device(x)
    for axis, item in enumerate(i for i in index if i is not None):
        n = x.shape[axis]
        along = (1,) * axis + (n,) + (1,) * (x.ndim - axis - 1)
        pos = xp.arange(n, dtype=xp.int64, device=where)
        if not isinstance(item, slice):
            t = xp.where(xp.reshape(pos == item % n, along), t, 0.0)
            continue
        start, stop, step = item.indices(n)
        r = range(start, stop, step)
        if r == range(n):
            continue
        if not r:
            t = xp.zeros(tuple(t.shape[:axis]) + (n,) + tuple(t.shape[axis + 1:]), dtype=kind,
                         device=where)
            continue
        # position p holds entry j = (p - start) / step of t, where that is a whole j in range
        d = pos - start
        j = d // step
        hit = (d % step == 0) & (j >= 0) & (j < len(r))
        t = xp.where(xp.reshape(hit, along), xp.take(t, xp.where(hit, j, 0), axis=axis), 0.0)
    return t


def _flat_positions(xp, x, i):
    """An index array i (floats holding integers) as int64 positions along x's first
    axis, negative ones counted from the end; refused where the values are at hand and
    one is not a whole number in range."""
    n = x.shape[0]
    idx = xp.reshape(xp.astype(i, xp.int64), (-1,))
    if not is_lazy_array(i):
        flat = xp.reshape(i, (-1,))
        if bool(xp.any(xp.astype(idx, flat.dtype) != flat)):
            raise IndexError("an index array must hold integers (or booleans, a mask)")
        if bool(xp.any((idx < -n) | (idx >= n))):
            raise IndexError(f"an index is out of bounds for an axis of size {n}")
    return xp.where(idx < 0, idx + n, idx)


def _take(xp, x, i):
    """x[i] for an array i of integers (any float holding integers) or of booleans (a mask)."""
    if i.dtype == xp.bool:
        return x[i]
    picked = xp.take(x, _flat_positions(xp, x, i), axis=0)
    return xp.reshape(picked, tuple(i.shape) + tuple(x.shape[1:]))


def _take_add(xp, t, x, i):
    """Zeros shaped like x with t added at x[i], summed where i repeats an entry.  A mask:
    the k-th selected entry takes t's k-th row (ranks by a running count).  Integers: the
    rows sorted by position and summed within each run of one position by a segmented
    scan (log2 m rounds of adding the row s places back when it has the same position),
    each position taking the last sum of its run; O(m log m), no scatter."""
    t = _as_array(xp, t, x)
    kind = xp.result_type(t, x)
    where = device(x)
    if i.dtype == xp.bool:
        rest = tuple(x.shape[i.ndim:])
        hit = xp.reshape(i, (-1,))
        rank = xp.cumulative_sum(xp.astype(hit, xp.int64))  # 1 for the first selected
        rows = xp.reshape(xp.astype(t, kind), (-1,) + rest)
        if any(_unknown(n) for n in rows.shape) and hasattr(rows, "compute_chunk_sizes"):
            # Dask takes from an array only once its chunk sizes are known: here they
            # depend on the mask's values, so they are computed (the standard has no
            # scatter to write t into place without a take)
            rows = rows.compute_chunk_sizes()
        rows = xp.concat((xp.zeros((1,) + rest, dtype=kind, device=where), rows), axis=0)
        return xp.reshape(xp.take(rows, xp.where(hit, rank, 0), axis=0), tuple(x.shape))
    n, rest = x.shape[0], tuple(x.shape[1:])
    idx = _flat_positions(xp, x, i)
    m = idx.shape[0]
    if m == 0:
        return xp.zeros(tuple(x.shape), dtype=kind, device=where)
    rows = xp.reshape(xp.broadcast_to(xp.astype(t, kind), tuple(i.shape) + rest), (m,) + rest)
    order = xp.argsort(idx, stable=True)
    keys, rows = xp.take(idx, order), xp.take(rows, order, axis=0)
    ones = (1,) * len(rest)
    s = 1
    while s < m:
        same = xp.reshape(keys[s:] == keys[:-s], (m - s,) + ones)
        rows = xp.concat((rows[:s, ...], rows[s:, ...] + xp.where(same, rows[:-s, ...], 0.0)),
                         axis=0)
        s *= 2
    pos = xp.arange(n, dtype=xp.int64, device=where)
    lo = xp.searchsorted(keys, pos, side="left")
    hi = xp.searchsorted(keys, pos, side="right")
    last = xp.take(rows, xp.where(hi > lo, hi - 1, 0), axis=0)
    return xp.where(xp.reshape(hi > lo, (n,) + ones), last, 0.0)


def _gather_along(xp, t, order, axis):
    """t's entries picked along `axis` by `order` (integers of t's shape), from take on
    the flattened array: take_along_axis, which not every namespace has."""
    axis = axis % order.ndim
    nd = order.ndim
    perm = tuple(k for k in range(nd) if k != axis) + (axis,)
    t, order = xp.permute_dims(t, perm), xp.permute_dims(order, perm)
    shape = tuple(order.shape)
    n = shape[-1]
    rows = math.prod(shape[:-1])
    start = xp.reshape(xp.arange(rows, dtype=order.dtype, device=device(order)) * n, (-1, 1))
    flat = xp.reshape(xp.reshape(order, (rows, n)) + start, (-1,))
    picked = xp.reshape(xp.take(xp.reshape(t, (-1,)), flat), shape)
    return xp.permute_dims(picked, tuple(perm.index(k) for k in range(nd)))


def _sort_by(xp, t, key, axis=-1):
    """t's entries in the order that sorts `key` along `axis` (stable: ties keep order)."""
    order = xp.argsort(key, axis=axis, stable=True)
    t = xp.broadcast_to(_as_array(xp, t, key), tuple(key.shape))
    return _gather_along(xp, t, order, axis)


def _unsort_by(xp, t, key, axis=-1):
    """The inverse permutation of _sort_by: t's entries put back where key's came from."""
    order = xp.argsort(key, axis=axis, stable=True)
    back = xp.argsort(order, axis=axis, stable=True)
    t = xp.broadcast_to(_as_array(xp, t, key), tuple(key.shape))
    return _gather_along(xp, t, back, axis)


def _last_two(x, axis1, axis2):
    """The permutation that moves axes axis1 and axis2 of x to the end, in that order."""
    i, j = axis1 % x.ndim, axis2 % x.ndim
    return tuple(k for k in range(x.ndim) if k not in (i, j)) + (i, j)


def _diagonal(xp, x, offset=0, axis1=0, axis2=1):
    """The diagonal of axes axis1 and axis2 as the last axis (NumPy's diagonal): a take of
    the entries i*m + i + offset of the two axes flattened."""
    x = xp.permute_dims(x, _last_two(x, axis1, axis2))
    n, m = x.shape[-2], x.shape[-1]
    size = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    r = xp.arange(size, dtype=xp.int64, device=device(x))
    rows, cols = (r, r + offset) if offset >= 0 else (r - offset, r)
    flat = xp.reshape(x, tuple(x.shape[:-2]) + (n * m,))
    return xp.take(flat, rows * m + cols, axis=flat.ndim - 1)


def _diagonal_add(xp, t, x, offset=0, axis1=0, axis2=1):
    """Zeros shaped like x with t on the diagonal that _diagonal(x, ...) reads: entry
    (r, r + offset) takes t[..., r] (offset >= 0), entry (c - offset, c) takes t[..., c]."""
    t = _as_array(xp, t, x)
    kind = xp.result_type(t, x)
    perm = _last_two(x, axis1, axis2)
    shape = tuple(x.shape[k] for k in perm)
    n, m = shape[-2:]
    where = device(x)
    rows = xp.reshape(xp.arange(n, dtype=xp.int64, device=where), (n, 1))
    cols = xp.reshape(xp.arange(m, dtype=xp.int64, device=where), (1, m))
    size = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    t = xp.broadcast_to(xp.astype(t, kind), shape[:-2] + (size,))
    along = n if offset >= 0 else m  # t padded with zeros to the rows (or columns)
    t = xp.concat((t, xp.zeros(shape[:-2] + (along - size,), dtype=kind, device=where)),
                  axis=len(shape) - 2)
    t = xp.expand_dims(t, axis=t.ndim if offset >= 0 else t.ndim - 1)
    out = xp.where(cols - rows == offset, t, 0.0)
    return xp.permute_dims(out, tuple(perm.index(k) for k in range(x.ndim)))


def _trace(xp, x, offset=0, axis1=0, axis2=1):
    """The sum of a diagonal."""
    return xp.sum(_diagonal(xp, x, offset, axis1, axis2), axis=-1)


def _diag(xp, v, k=0):
    """A vector as the k-th diagonal of a square matrix, or a matrix's k-th diagonal."""
    if v.ndim != 1:
        return _diagonal(xp, v, offset=k)
    n = v.shape[0] + abs(k)
    where = device(v)
    rows = xp.reshape(xp.arange(n, dtype=xp.int64, device=where), (n, 1))
    cols = xp.reshape(xp.arange(n, dtype=xp.int64, device=where), (1, n))
    padded = xp.concat((v, xp.zeros((abs(k),), dtype=v.dtype, device=where)))
    values = xp.reshape(padded, (n, 1) if k >= 0 else (1, n))  # entry (r, r + k) is v[r]
    return xp.where(cols - rows == k, values, 0.0)


def _triangle(xp, x, k, lower):
    """x with zeros above (lower) or below the k-th diagonal of its last two axes."""
    n, m = x.shape[-2], x.shape[-1]
    where = device(x)
    rows = xp.reshape(xp.arange(n, dtype=xp.int64, device=where), (n, 1))
    cols = xp.reshape(xp.arange(m, dtype=xp.int64, device=where), (1, m))
    keep = cols - rows <= k if lower else cols - rows >= k
    return xp.where(keep, x, 0.0)


def _cross(xp, a, b):
    """The cross product of 3-vectors along the last axis, broadcast."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return xp.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), axis=-1)


def _dot(xp, a, b):
    """NumPy's dot: a product with a 0-d operand, else the last axis of a with the second
    to last (or only) axis of b."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return xp.tensordot(a, b, axes=((a.ndim - 1,), (max(b.ndim - 2, 0),)))


def _inner(xp, a, b):
    """The sum over the last axes of a and b."""
    return xp.tensordot(a, b, axes=((a.ndim - 1,), (b.ndim - 1,)))


def _kron(xp, a, b):
    """The Kronecker product of two vectors or two matrices: (a ⊗ b)[i p + r] = a[i] b[r]."""
    if a.ndim == 1:
        return xp.reshape(a[:, None] * b[None, :], (-1,))
    (m, n), (p, q) = a.shape, b.shape
    return xp.reshape(a[:, None, :, None] * b[None, :, None, :], (m * p, n * q))


def _band(xp, n, m, k, dtype):
    """Ones on the k-th diagonal of an n-by-m matrix, zeros elsewhere (what eye(n, m, k)
    gives, built from comparisons: Dask's eye loses chunks when rechunked)."""
    rows = xp.reshape(xp.arange(n), (n, 1))
    cols = xp.reshape(xp.arange(m), (1, m))
    return xp.astype(cols - rows == k, dtype)


def _einsum(xp, spec, *xs):
    """Einstein summation of any number of operands: an index repeated within one operand
    takes its diagonal (through a 0/1 mask), then the operands are contracted pairwise from
    the left, each pair keeping the indices still needed (`_einsum2`)."""
    ins, out = spec.split("->")
    terms, xs = ins.split(","), list(xs)
    for k, letters in enumerate(terms):
        while len(set(letters)) < len(letters):
            c = next(c for c in letters if letters.count(c) > 1)
            i = letters.index(c)
            j = letters.index(c, i + 1)
            x = xs[k]
            rest = [a for a in range(x.ndim) if a not in (i, j)]
            x = xp.permute_dims(x, tuple(rest + [i, j]))
            xs[k] = xp.sum(x * _band(xp, x.shape[-2], x.shape[-1], 0, x.dtype), axis=-1)
            terms[k] = letters = "".join(letters[a] for a in rest) + c
    while len(xs) > 1:
        later = "".join(terms[2:]) + out
        keep = "".join(dict.fromkeys(c for c in terms[0] + terms[1] if c in later))
        xs[:2] = [_einsum2(xp, f"{terms[0]},{terms[1]}->{keep}", xs[0], xs[1])]
        terms[:2] = [keep]
    x, letters = xs[0], terms[0]
    alone = tuple(k for k, c in enumerate(letters) if c not in out)
    if alone:
        x = xp.sum(x, axis=alone)
        letters = "".join(c for c in letters if c in out)
    if letters == out:
        return x
    return xp.permute_dims(x, tuple(letters.index(c) for c in out))


def _einsum2(xp, spec, a, b):
    """Einstein summation of two operands (no index repeated within one): indices of one
    operand that appear nowhere else summed first; then the shared indices of the output
    as a batch, the contracted ones as the inner axis of one matmul."""
    ins, out = spec.split("->")
    left, right = ins.split(",")
    for name, letters, other in (("a", left, right), ("b", right, left)):
        alone = tuple(k for k, c in enumerate(letters) if c not in other and c not in out)
        if alone:
            kept = "".join(c for c in letters if c in other or c in out)
            if name == "a":
                a, left = xp.sum(a, axis=alone), kept
            else:
                b, right = xp.sum(b, axis=alone), kept
    size = dict(zip(left, a.shape))
    size.update(zip(right, b.shape))
    batch = [c for c in left if c in right and c in out]
    inner = [c for c in left if c in right and c not in out]
    free_a = [c for c in left if c not in right]
    free_b = [c for c in right if c not in left]
    lead = tuple(size[c] for c in batch)
    a = xp.permute_dims(a, tuple(left.index(c) for c in batch + free_a + inner))
    b = xp.permute_dims(b, tuple(right.index(c) for c in batch + inner + free_b))
    rows, depth, cols = (math.prod(size[c] for c in part) for part in (free_a, inner, free_b))
    product = xp.reshape(a, lead + (rows, depth)) @ xp.reshape(b, lead + (depth, cols))
    have = batch + free_a + free_b
    product = xp.reshape(product, tuple(size[c] for c in have))
    return xp.permute_dims(product, tuple(have.index(c) for c in out))


def _hstack(xp, *xs):
    """The columns of each array in turn (vectors joined end to end)."""
    return xp.concat(xs, axis=0 if xs[0].ndim == 1 else 1)


def _vstack(xp, *xs):
    """The rows of each array in turn (vectors are rows)."""
    return xp.concat(tuple(xp.reshape(v, (1, -1)) if v.ndim < 2 else v for v in xs), axis=0)


def _unrepeat(xp, t, repeats=1, axis=0):
    """Sums of each run of `repeats` entries along `axis` (the adjoint of repeat)."""
    a = axis % t.ndim
    shape = tuple(t.shape)
    return xp.sum(xp.reshape(t, shape[:a] + (shape[a] // repeats, repeats) + shape[a + 1:]),
                  axis=a + 1)


def _tile(xp, x, reps=1):
    """x repeated as tiles (reps: an int or one count per axis, as NumPy's tile)."""
    return xp.tile(x, (reps,) if isinstance(reps, int) else tuple(reps))


def _untile(xp, t, x):
    """t, a tiling of x, summed tile over tile down to x's shape."""
    shape = (1,) * (t.ndim - x.ndim) + tuple(x.shape)
    parts = tuple(d for n, m in zip(t.shape, shape) for d in (n // m, m))
    summed = xp.sum(xp.reshape(t, parts), axis=tuple(range(0, 2 * t.ndim, 2)))
    return xp.reshape(summed, tuple(x.shape))


def _pad(xp, x, pad_width=0):
    """x with zeros around it (see _pad_widths), joined on one axis at a time."""
    for k, (before, after) in enumerate(_pad_widths(x.ndim, pad_width)):
        if before or after:
            edge = tuple(x.shape[:k]), tuple(x.shape[k + 1:])
            parts = (xp.zeros(edge[0] + (before,) + edge[1], dtype=x.dtype, device=device(x)),
                     x, xp.zeros(edge[0] + (after,) + edge[1], dtype=x.dtype, device=device(x)))
            x = xp.concat(parts, axis=k)
    return x


def _unpad(xp, t, pad_width=0):
    """The middle of t without the padding _pad added (the adjoint of _pad)."""
    return t[tuple(slice(b, t.shape[k] - a) for k, (b, a) in
                   enumerate(_pad_widths(t.ndim, pad_width))) + (Ellipsis,)]


# --- the table ------------------------------------------------------------------------------

def _call(fn: str, arity: int = 1) -> str:
    return f"xp.{fn}(" + ", ".join(f"{{{i}}}" for i in range(arity)) + ")"


def _reduce(fn: str) -> Callable[..., str]:
    def template(a, axis=None, keepdims=False, opts=""):
        return f"xp.{fn}({a}{opts})"
    return template


def _where_template(c: str, a: str, b: str, opts: str = "") -> str:
    if _number(a) and _number(b):
        return f"_where(xp, {c}, {a}, {b})"
    return f"xp.where(xp.astype({c}, xp.bool), {a}, {b})"


def _number(text: str) -> bool:
    try:
        float(text.strip("()"))
        return True
    except ValueError:
        return False


def _moments_template(fn: str) -> Callable[..., str]:
    """var and std: NumPy's ddof is the standard's `correction`."""
    def template(a, axis=None, keepdims=False, ddof=0.0, opts=""):
        extra = "".join(f", {k}={v!r}" for k, v, default in (
            ("axis", axis, None), ("correction", ddof, 0.0), ("keepdims", keepdims, False))
            if v != default)
        return f"xp.{fn}({a}{extra})"
    return template


def _index_literal(index: tuple) -> str:
    """A normalized basic index (see vocabulary.normalize_index) as a Python tuple."""
    items = ["..." if i is Ellipsis else f"slice({i[1]!r}, {i[2]!r}, {i[3]!r})"
             if isinstance(i, tuple) else repr(i) for i in index]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _getitem_template(a: str, index: tuple = (), opts: str = "") -> str:
    # slices with bounds go through _getitem, which brings them within the axis
    if any(isinstance(i, tuple) and (i[1] is not None or i[2] is not None) for i in index):
        return f"_getitem(xp, {a}, {_index_literal(index)})"
    if Ellipsis not in index:  # the standard asks for every axis, or an ellipsis
        index = index + (Ellipsis,)
    return f"{a}[{index_text(index)}]"


# name -> (template, helpers): a template as in the registry's `numpy` field, in `xp.`
ARRAY_API: dict[str, tuple[str | Callable[..., str], tuple[Callable[..., Any], ...]]] = {
    "add": ("{0} + {1}", ()), "sub": ("{0} - {1}", ()), "mul": ("{0} * {1}", ()),
    "div": ("{0} / {1}", ()), "pow": ("{0} ** {1}", ()), "neg": ("-{0}", ()),
    **{name: (_call(name), ()) for name in (
        "exp", "log", "sqrt", "square", "sin", "cos", "tan", "sinh", "cosh", "tanh",
        "log1p", "expm1", "log2", "log10", "abs", "sign")},
    **{name: (_call(name[:1] + name[3:]), ()) for name in (
        "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh")},
    "arctan2": (_call("atan2", 2), ()),
    **{name: (_call(name, 2), ()) for name in ("hypot", "logaddexp", "minimum", "maximum")},
    "sum_to": ("_sum_to(xp, {0}, {1}, {2})",
               (_size, _shapes, _unknown, _same, _spread, _sum_to)),
    "matmul": ("{0} @ {1}", ()),
    "outer": ("_outer(xp, {0}, {1})", (_outer,)),
    "transpose": (lambda a, axes=None, opts="": f"_transpose(xp, {a})" if axes is None
                  else f"xp.permute_dims({a}, {tuple(axes)!r})", (_transpose,)),
    "sum": (_reduce("sum"), ()),
    "mean": (_reduce("mean"), ()),
    "size": ("_size({0})", (_size,)),
    "broadcast_like": ("_broadcast_like(xp, {0}, {1}{opts})", (_size, _spread, _broadcast_like)),
    "logsumexp": ("_logsumexp(xp, {0}{opts})", (_logsumexp,)),
    "softmax": ("_softmax(xp, {0}{opts})", (_softmax,)),
    "log_softmax": ("_log_softmax(xp, {0}{opts})", (_logsumexp, _log_softmax)),
    "one_hot": ("_one_hot(xp, {0}, {1})", (_class_labels, _one_hot)),
    "where": (_where_template, (_where,)),
    "mse": ("_mse(xp, {0}, {1})", (_size, _residual, _mse)),
    "mse_grad": ("_mse_grad(xp, {0}, {1})", (_size, _residual, _mse_grad)),
    "bce_with_logits": ("_bce_with_logits(xp, {0}, {1})", (_size, _bce_with_logits)),
    "bce_with_logits_grad": ("_bce_with_logits_grad(xp, {0}, {1})",
                             (_size, _bce_with_logits_grad)),
    "softmax_xent": ("_softmax_xent(xp, {0}, {1})",
                     (_size, _logsumexp, _class_labels, _picked, _softmax_xent)),
    "softmax_xent_grad": ("_softmax_xent_grad(xp, {0}, {1})",
                          (_size, _softmax, _class_labels, _picked, _softmax_xent_grad)),
    "identity": ("{0}", ()),
    "binary_step": ("xp.astype({0} >= 0, {0}.dtype)", ()),
    "sigmoid": ("xp.exp(-xp.logaddexp(0.0, -{0}))", ()),
    "softsign": ("{0} / (1 + xp.abs({0}))", ()),
    "isru": ("{0} / xp.sqrt(1 + {alpha} * {0} * {0})", ()),
    "relu": ("xp.maximum({0}, 0.0)", ()),
    "leaky_relu": ("xp.where({0} >= 0, {0}, {alpha} * {0})", ()),
    "prelu": ("xp.where({0} >= 0, {0}, {1} * {0})", ()),
    "softplus": ("xp.logaddexp(0.0, {0})", ()),
    **{name: (_call(name), ()) for name in ("ceil", "floor", "round")},
    "reciprocal": ("1 / {0}", ()), "rsqrt": ("1 / xp.sqrt({0})", ()),
    "deg2rad": ("{0} * 0.017453292519943295", ()),
    "rad2deg": ("{0} * 57.29577951308232", ()),
    "mod": ("{0} % {1}", ()),
    "equal": ("{0} == {1}", ()), "not_equal": ("{0} != {1}", ()),
    "greater": ("{0} > {1}", ()), "greater_equal": ("{0} >= {1}", ()),
    "less": ("{0} < {1}", ()), "less_equal": ("{0} <= {1}", ()),
    "gelu_tanh": ("0.5 * {0} * (1 + xp.tanh(0.7978845608028654 * ({0} + 0.044715 * {0}**3)))",
                  ()),
    # --- issue 11's vocabulary: the standard's functions, or helpers built from them ---
    "cbrt": ("_cbrt(xp, {0})", (_cbrt,)),
    "sinc": ("_sinc(xp, {0})", (_sinc,)),
    "exp2": ("2.0 ** {0}", ()),
    "fmax": ("_fmax(xp, {0}, {1})", (_as_array, _fmax)),
    "fmin": ("_fmin(xp, {0}, {1})", (_as_array, _fmin)),
    "clip": ("xp.minimum(xp.maximum({0}, {1}), {2})", ()),
    "logaddexp2": ("_logaddexp2(xp, {0}, {1})", (_logaddexp2,)),
    "erf": ("_erf(xp, {0})", (_erf_series, _erfc_tail, _erf)),
    "erfc": ("_erfc(xp, {0})", (_erf_series, _erfc_tail, _erfc)),
    "erfinv": ("_erfinv(xp, {0})", (_erf_series, _erfc_tail, _erf, _erfinv)),
    "gelu": ("0.5 * {0} * (1 + _erf(xp, {0} * 0.7071067811865476))",
             (_erf_series, _erfc_tail, _erf)),
    **{name: (_reduce(name), ()) for name in ("max", "min", "prod")},
    "var": (_moments_template("var"), ()),
    "std": (_moments_template("std"), ()),
    "cumsum": ("_cumsum(xp, {0}{opts})", (_cumsum,)),
    "cumprod": ("_cumprod(xp, {0}{opts})", (_cumprod,)),
    "reshape": ("_reshape(xp, {0}, {shape})", (_reshape,)),
    "reshape_like": ("_reshape_like(xp, {0}, {1})", (_as_array, _reshape, _reshape_like)),
    "ravel": ("xp.reshape({0}, (-1,))", ()),
    "squeeze": ("_squeeze(xp, {0}{opts})", (_squeeze,)),
    "expand_dims": ("_expand_dims(xp, {0}, {axis})", (_expand_dims,)),
    "swapaxes": ("_swapaxes(xp, {0}, {axis1}, {axis2})", (_swapaxes,)),
    "moveaxis": ("_moveaxis(xp, {0}, {source}, {destination})", (_moveaxis,)),
    "flip": ("xp.flip({0}{opts})", ()),
    "broadcast_to": ("xp.broadcast_to({0}, {shape})", ()),
    "getitem": (_getitem_template, (_getitem,)),
    "index_add": (lambda t, x, index=(), opts="":
                  f"_index_add(xp, {t}, {x}, {_index_literal(index)})",
                  (_as_array, _index_add)),
    "take": ("_take(xp, {0}, {1})", (_flat_positions, _take)),
    "take_add": ("_take_add(xp, {0}, {1}, {2})",
                 (_as_array, _unknown, _flat_positions, _take_add)),
    "einsum": (lambda *xs, spec="", opts="": f"_einsum(xp, {spec!r}, {', '.join(xs)})",
               (_band, _einsum2, _einsum)),
    "concatenate": (lambda *xs, axis=0, opts="": f"xp.concat(({', '.join(xs)},), axis={axis})",
                    ()),
    "stack": (lambda *xs, axis=0, opts="": f"xp.stack(({', '.join(xs)},), axis={axis})", ()),
    "cross": ("_cross(xp, {0}, {1})", (_cross,)),
    "roll": ("xp.roll({0}, {shift}, axis={axis})", ()),
    "tril": ("_triangle(xp, {0}, {k}, lower=True)", (_triangle,)),
    "triu": ("_triangle(xp, {0}, {k}, lower=False)", (_triangle,)),
    "diff": ("xp.diff({0}, axis={axis}, n={n})", ()),
    "sort": ("xp.sort({0}, axis={axis}, stable=True)", ()),
    "sort_by": ("_sort_by(xp, {0}, {1}, axis={axis})", (_as_array, _gather_along, _sort_by)),
    "unsort_by": ("_unsort_by(xp, {0}, {1}, axis={axis})",
                  (_as_array, _gather_along, _unsort_by)),
    "diagonal": ("_diagonal(xp, {0}{opts})", (_last_two, _diagonal)),
    "diagonal_add": ("_diagonal_add(xp, {0}, {1}{opts})", (_as_array, _last_two, _diagonal_add)),
    "trace": ("_trace(xp, {0}{opts})", (_last_two, _diagonal, _trace)),
    "repeat": ("_repeat(xp, {0}, {repeats}, {axis})", (_repeat,)),
    "unrepeat": ("_unrepeat(xp, {0}{opts})", (_unrepeat,)),
    "tile": ("_tile(xp, {0}, {reps})", (_tile,)),
    "untile": ("_untile(xp, {0}, {1})", (_untile,)),
    "pad": ("_pad(xp, {0}, {pad_width})", (_pad_widths, _pad)),
    "unpad": ("_unpad(xp, {0}, {pad_width})", (_pad_widths, _unpad)),
    "tensordot": ("xp.tensordot({0}, {1}, axes={axes})", ()),
    "inner": ("_inner(xp, {0}, {1})", (_inner,)),
    "dot": ("_dot(xp, {0}, {1})", (_dot,)),
    "kron": ("_kron(xp, {0}, {1})", (_kron,)),
    "vstack": (lambda *xs, opts="": f"_vstack(xp, {', '.join(xs)})", (_vstack,)),
    "hstack": (lambda *xs, opts="": f"_hstack(xp, {', '.join(xs)})", (_hstack,)),
    "diag": ("_diag(xp, {0}{opts})", (_last_two, _diagonal, _diag)),
}

# a loss whose value and gradient both appear: one helper (see primitives.FUSED_LOSSES),
# after the helpers it calls
FUSED: dict[str, tuple[Callable[..., Any], ...]] = {
    "mse": (_size, _residual, _mse_and_grad),
    "bce_with_logits": (_size, _bce_with_logits_and_grad),
    "softmax_xent": (_size, _logsumexp, _softmax, _class_labels, _picked, _softmax_xent,
                     _softmax_xent_grad, _softmax_xent_and_grad),
}


def spelled(name: str) -> tuple[str | Callable[..., str], tuple[Callable[..., Any], ...]]:
    """A primitive's array-API template and helpers; a ValueError naming a primitive that
    has none (a user primitive: its implementation is NumPy's)."""
    try:
        return ARRAY_API[name]
    except KeyError:
        raise ValueError(f"primitive {name!r} has no array-API spelling (graphdiff.array_api."
                         f"ARRAY_API); compile it with backend='numpy'") from None



# --- issue 11's last gaps (the vocab branch): spellings of the primitives it added ---------------

# pure Python (or namespace-generic), emitted as they are
from .vocabulary import _adjoint_spec, _contraction, _jn_terms, _matmul_adjoint


def _spherical_jn(xp, z, n=0):
    """j_n(z) in the array API (graphdiff.vocabulary._jn_terms, in z's namespace)."""
    return _jn_terms(xp, z, n)


def _split(xp, x, sections=1, axis=0, part=0):
    """The part-th of NumPy's split(x, sections, axis), as a slice."""
    n = x.shape[axis]
    if isinstance(sections, int):
        if n % sections:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into "
                             f"{sections} equal parts")
        bounds = [n // sections * k for k in range(sections + 1)]
    else:
        bounds = [0, *sections, n]
    index = [slice(None)] * x.ndim
    index[axis] = slice(bounds[part], bounds[part + 1])
    return x[tuple(index)]


def _unjoin(xp, t, *xs, part=0, join="concatenate", axis=0):
    """The piece of a join t that came from xs[part], in its shape."""
    if join == "vstack":
        axis, sizes = 0, [1 if x.ndim <= 1 else x.shape[0] for x in xs]
    elif join == "hstack":
        axis = 0 if xs[0].ndim <= 1 else 1
        sizes = [x.shape[axis] for x in xs]
    else:
        sizes = [x.shape[axis] for x in xs]
    lo = sum(sizes[:part])
    index = [slice(None)] * t.ndim
    index[axis] = slice(lo, lo + sizes[part])
    return xp.reshape(t[tuple(index)], tuple(xs[part].shape))


def _contract(xp, spec, a, b):
    """einsum of two operands whose shared indices are all summed (the adjoints' specs):
    a tensordot, then the output's axes put in order (the standard has no einsum)."""
    ins, out = spec.split("->")
    left, right = ins.split(",")
    shared = [c for c in left if c in right]
    t = xp.tensordot(a, b, axes=([left.index(c) for c in shared],
                                 [right.index(c) for c in shared]))
    free = [c for c in left if c not in shared] + [c for c in right if c not in shared]
    return xp.permute_dims(t, tuple(free.index(c) for c in out)) if out else t


def _bilinear_adjoint(xp, t, y, like, product="tensordot", axes=2, first=True):
    """The adjoint of one operand of tensordot, inner, dot or kron, sizes read when it runs
    (as graphdiff.vocabulary._bilinear_adjoint)."""
    if product == "matmul":
        return _matmul_adjoint(xp, t, y, like.shape, first)
    if product == "kron":
        a_shape, b_shape = (like.shape, y.shape) if first else (y.shape, like.shape)
        parts = xp.reshape(t, tuple(d for pair in zip(a_shape, b_shape) for d in pair))
        if len(a_shape) == 1:
            return _contract(xp, "ip,p->i" if first else "ip,i->p", parts, y)
        return _contract(xp, "ipjq,pq->ij" if first else "ipjq,ij->pq", parts, y)
    if product == "dot" and (like.ndim == 0 or y.ndim == 0):
        return xp.sum(t * y) if like.ndim == 0 else t * y
    na, nb = (like.ndim, y.ndim) if first else (y.ndim, like.ndim)
    spec = _adjoint_spec(_contraction(product, na, nb, axes), first)
    return _contract(xp, spec, t, y) if first else _contract(xp, spec, y, t)


def _undiag(xp, t, a, k=0):
    """The adjoint of diag(a, k): t's k-th diagonal, or a matrix with t on it."""
    if a.ndim == 1:
        n, m = t.shape
        length = min(n, m - k) if k >= 0 else min(n + k, m)
        rows = xp.sum(t * _band(xp, n, m, k, t.dtype), axis=1)
        return rows[:length] if k >= 0 else rows[-k:-k + length]
    n, m = a.shape
    mask = _band(xp, n, m, k, t.dtype)
    if k >= 0:
        col = xp.concat([t, xp.zeros((n - t.shape[0],), dtype=t.dtype)])
        return mask * col[:, None]
    row = xp.concat([t, xp.zeros((m - t.shape[0],), dtype=t.dtype)])
    return mask * row[None, :]


def _einsum_embed(xp, t, x, embed="->"):
    """Zeros shaped like x with t where einsum reads x (as the NumPy helper), by masks."""
    src, dst = embed.split("->")
    letters = "".join(dict.fromkeys(dst))
    kept = [c for c in letters if c in src]
    if t.ndim:
        t = xp.permute_dims(t, tuple(src.index(c) for c in kept))
    first = {c: dst.index(c) for c in letters}
    out = xp.reshape(t, tuple(t.shape[kept.index(c)] if c in kept and first[c] == p else 1
                              for p, c in enumerate(dst)))
    for p, c in enumerate(dst):
        if first[c] != p:  # a repeated index: only its diagonal
            size = x.shape[p]
            out = out * xp.reshape(_band(xp, size, size, 0, t.dtype),
                                   tuple(size if q in (first[c], p) else 1
                                         for q in range(len(dst))))
    return out + xp.zeros(tuple(x.shape), dtype=t.dtype)


def _linear_scan(xp, a, b, axis=0, reverse=False):
    """h[j] = a[j] h[j-1] + b[j] along `axis` (from the end if `reverse`), as the NumPy
    helper; rows gathered and stacked (no in-place updates in the standard)."""
    a, b = xp.broadcast_arrays(a, b)
    nd = b.ndim
    axis = axis % nd
    order = (axis,) + tuple(k for k in range(nd) if k != axis)
    a, b = xp.permute_dims(a, order), xp.permute_dims(b, order)
    h = xp.zeros_like(b[0, ...])
    rows = []
    for j in (range(b.shape[0] - 1, -1, -1) if reverse else range(b.shape[0])):
        h = a[j, ...] * h + b[j, ...]
        rows.append(h)
    out = xp.stack(rows[::-1] if reverse else rows, axis=0)
    return xp.permute_dims(out, tuple(order.index(k) for k in range(nd)))


def _split_template(x, sections=1, axis=0, part=0, opts=""):
    return f"_split(xp, {x}, {sections!r}, axis={axis}, part={part})"


def _unjoin_template(t, *xs, part=0, join="concatenate", axis=0, opts=""):
    return f"_unjoin(xp, {t}, {', '.join(xs)}{opts})"


ARRAY_API.update({
    "spherical_jn": ("_spherical_jn(xp, {0}{opts})", (_jn_terms, _spherical_jn)),
    "split": (_split_template, (_split,)),
    "unjoin": (_unjoin_template, (_unjoin,)),
    "bilinear_adjoint": ("_bilinear_adjoint(xp, {0}, {1}, {2}{opts})",
                         (_contraction, _adjoint_spec, _contract, _matmul_adjoint,
                          _bilinear_adjoint)),
    "undiag": ("_undiag(xp, {0}, {1}{opts})", (_band, _undiag)),
    "einsum_embed": ("_einsum_embed(xp, {0}, {1}, {embed})", (_band, _einsum_embed)),
    "linear_scan": ("_linear_scan(xp, {0}, {1}{opts})", (_linear_scan,)),
})
