"""The array-API spelling of each primitive: one table beside the registry, and the helpers
generated modules call.  Only the standard's functions (no out=, no in-place updates), on
the namespace `array_api_compat` finds for the inputs: NumPy, array_api_strict, CuPy,
PyTorch, Dask.  Imports nothing of graphdiff but the registry's vocabulary.
"""

from __future__ import annotations

import math
from typing import Any, Callable

try:
    from array_api_compat import array_namespace, device, is_array_api_obj, is_lazy_array, \
        is_numpy_array
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


def _sum_to(xp, t, x, like):
    """Sum t, broadcast against `like` and x, down to the shape of x (in x's dtype)."""
    t = xp.asarray(t, dtype=x.dtype) if isinstance(t, (int, float)) else \
        xp.astype(t, x.dtype) if t.dtype != x.dtype else t
    shape = tuple(x.shape)
    like = like.shape if hasattr(like, "shape") else ()
    full = _shapes(tuple(t.shape), tuple(like), shape)
    if _size(t) == 1 and full != shape:  # a broadcast constant: its sum is a product
        t = xp.reshape(t, ()) * (math.prod(full) // max(_size(x), 1))
    elif full != shape:
        lead = len(full) - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and full[lead + i] != 1)
        t = xp.reshape(xp.sum(xp.broadcast_to(t, full), axis=axes), shape)
    if tuple(t.shape) != shape:  # smaller than x: a fresh array of x's shape
        t = xp.asarray(xp.broadcast_to(t, shape), copy=True)
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
    return xp.broadcast_to(t, tuple(x.shape))


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
    "sum_to": ("_sum_to(xp, {0}, {1}, {2})", (_size, _shapes, _sum_to)),
    "matmul": ("{0} @ {1}", ()),
    "outer": ("_outer(xp, {0}, {1})", (_outer,)),
    "transpose": ("_transpose(xp, {0})", (_transpose,)),
    "sum": (_reduce("sum"), ()),
    "mean": (_reduce("mean"), ()),
    "size": ("_size({0})", (_size,)),
    "broadcast_like": ("_broadcast_like(xp, {0}, {1}{opts})", (_size, _broadcast_like)),
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


def _band(xp, n, m, k, dtype):
    """Ones on the k-th diagonal of an n-by-m matrix, zeros elsewhere (what eye(n, m, k)
    gives, built from comparisons: Dask's eye loses chunks when rechunked)."""
    rows = xp.reshape(xp.arange(n), (n, 1))
    cols = xp.reshape(xp.arange(m), (1, m))
    return xp.astype(cols - rows == k, dtype)


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
