"""Plain NumPy helpers of the array vocabulary (special functions, indexing, scans).

Like `primitives.py`, which holds the records that use them, this module imports nothing
of graphdiff; code generators emit these functions' source into the modules they write,
so each one needs only NumPy (no SciPy at run time).
"""

from __future__ import annotations

import numpy as np

__all__ = ["index_text", "indexed_shape", "normalize_index", "to_python_index"]


def _erfc_tail(xp, x):
    """erfc(x) for x >= 1.5 by its continued fraction, evaluated from the 80th term back
    (relative error below 1e-14 there); `xp` is NumPy or an array-API namespace."""
    t = xp.zeros_like(x)
    for k in range(80, 0, -1):
        t = (0.5 * k) / (x + t)
    return xp.exp(-x * x) * 0.5641895835477563 / (x + t)  # 1 / sqrt(pi)


def _erf_series(xp, x):
    """erf(x) for |x| < 1.5 from 2/sqrt(pi) exp(-x²) Σ 2ⁿ x²ⁿ⁺¹ / (2n+1)!!: every term
    has the sign of x, so nothing cancels (relative error below 1e-15); `xp` is NumPy or
    an array-API namespace."""
    x2 = x * x
    term = x
    total = x
    for n in range(1, 40):
        term = term * (2.0 * x2 / (2 * n + 1))
        total = total + term
    return 1.1283791670955126 * xp.exp(-x2) * total  # 2 / sqrt(pi)


def _erf(x):
    """The error function 2/sqrt(pi) ∫₀ˣ exp(-t²) dt, in NumPy alone, in x's floating type."""
    x = np.asarray(x)
    kind = np.result_type(x.dtype, np.float16)
    x = x.astype(np.float64)
    small = np.abs(x) < 1.5
    near = _erf_series(np, np.where(small, x, 0.0))
    far = 1.0 - _erfc_tail(np, np.where(small, 1.5, np.abs(x)))
    out = np.where(small, near, np.copysign(far, x))
    return np.where(np.isnan(x), x, out).astype(kind)[()]


def _erfc(x):
    """1 - erf(x), accurate where it is tiny (x large), in NumPy alone."""
    x = np.asarray(x)
    kind = np.result_type(x.dtype, np.float16)
    x = x.astype(np.float64)
    small = np.abs(x) < 1.5
    tail = _erfc_tail(np, np.where(small, 1.5, np.abs(x)))
    out = np.where(small, 1.0 - _erf_series(np, np.where(small, x, 0.0)),
                   np.where(x > 0, tail, 2.0 - tail))
    return np.where(np.isnan(x), x, out).astype(kind)[()]


def _erfinv(y):
    """The inverse of erf on (-1, 1): Giles' approximation polished by two Halley steps on
    erf(x) = y (±inf at ±1, nan outside [-1, 1])."""
    y = np.asarray(y)
    kind = np.result_type(y.dtype, np.float16)
    y = y.astype(np.float64)
    inside = np.abs(y) < 1
    u = np.where(inside, y, 0.0)
    w = -np.log((1.0 - u) * (1.0 + u))
    a = w - 2.5
    p = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
              -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
        p = c + p * a
    b = np.sqrt(w) - 3.0
    q = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
              -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
        q = c + q * b
    x = np.where(w < 5.0, p, q) * u
    for _ in range(2):
        # Halley: f = erf(x) - y, f' = 2/sqrt(pi) exp(-x²), f'' = -2x f'
        step = (_erf(x) - u) / (1.1283791670955126 * np.exp(-x * x))
        x = x - step / (1.0 + x * step)
    out = np.where(inside, x, np.where(np.abs(y) == 1, np.copysign(np.inf, y), np.nan))
    return out.astype(kind)[()]


def _cumsum(x, axis=None, reverse=False):
    """Running sums along `axis` (of the flattened array for None), from the end if
    `reverse`: the adjoint of a running sum is the reversed running sum."""
    if not reverse:
        return np.cumsum(x, axis=axis)
    x = np.ravel(x) if axis is None else np.asarray(x)
    return np.flip(np.cumsum(np.flip(x, axis=axis or 0), axis=axis or 0), axis=axis or 0)


def _index_add(t, x, index):
    """Zeros shaped like x with t added at x[index] (a basic index: no entry twice)."""
    out = np.zeros(np.shape(x), dtype=np.result_type(t, x))
    out[index] += t
    return out


def _take(x, i):
    """x[i] for an array i of integers (any float holding integers) or of booleans (a mask)."""
    i = np.asarray(i)
    if i.dtype == np.bool_:
        return np.asarray(x)[i]
    idx = i.astype(np.intp)
    if np.any(idx != i):
        raise IndexError("an index array must hold integers (or booleans, a mask)")
    return np.asarray(x)[idx]


def _take_add(t, x, i):
    """Zeros shaped like x with t added at x[i], twice where i repeats an entry."""
    i = np.asarray(i)
    out = np.zeros(np.shape(x), dtype=np.result_type(t, x))
    np.add.at(out, i if i.dtype == np.bool_ else i.astype(np.intp), t)
    return out


# --- basic indices as parameters ----------------------------------------------------------
# A basic index (ints, slices, None for a new axis, Ellipsis) is kept as a hashable tuple
# whose items are ints, None, Ellipsis or ("slice", start, stop, step): a parameter value the
# store can hash and the printers can write back as Python subscript syntax.

def normalize_index(key, op="getitem"):
    """A basic NumPy index as the hashable tuple described above; TypeError otherwise."""
    items = key if isinstance(key, tuple) and not _is_slice_item(key) else (key,)
    out = []
    for item in items:
        if isinstance(item, slice):
            item = ("slice", item.start, item.stop, item.step)
        if _is_slice_item(item):
            parts = tuple(_index_int(op, v, allow_none=True) for v in item[1:])
            if parts[2] == 0:
                raise ValueError(f"{op}: slice step cannot be zero")
            out.append(("slice",) + parts)
        elif item is None or item is Ellipsis:
            out.append(item)
        else:
            out.append(_index_int(op, item))
    if sum(item is Ellipsis for item in out) > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
    return tuple(out)


def _is_slice_item(item):
    return isinstance(item, tuple) and len(item) == 4 and item[0] == "slice"


def _index_int(op, v, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float,
                                                             np.floating)) or v != int(v):
        raise TypeError(f"{op}: indices must be integers, slices, None or '...', got {v!r}")
    return int(v)


def to_python_index(key):
    """The normalized tuple back as a NumPy index (slices and all)."""
    return tuple(slice(*item[1:]) if _is_slice_item(item) else item for item in key)


def index_text(key):
    """Python subscript syntax of a normalized index: '1:3, :', '0', '..., None'."""
    def part(item):
        if item is Ellipsis:
            return "..."
        if item is None:
            return "None"
        if _is_slice_item(item):
            start, stop, step = ("" if v is None else str(v) for v in item[1:])
            return f"{start}:{stop}" + (f":{step}" if step else "")
        return str(item)
    return ", ".join(part(item) for item in key) if key else "()"


def indexed_shape(shape, key, op="getitem"):
    """The shape of x[key] for x of `shape` (None entries: symbolic sizes)."""
    key = list(key)
    consumed = sum(1 for item in key if item is not None and item is not Ellipsis)
    if consumed > len(shape):
        raise IndexError(f"{op}: too many indices ({consumed}) for shape "
                         f"{_shape_text(shape)}")
    if Ellipsis in key:
        k = key.index(Ellipsis)
        key[k:k + 1] = [("slice", None, None, None)] * (len(shape) - consumed)
    else:
        key += [("slice", None, None, None)] * (len(shape) - consumed)
    out, dim = [], 0
    for item in key:
        if item is None:
            out.append(1)
            continue
        n = shape[dim]
        dim += 1
        if _is_slice_item(item):
            out.append(None if n is None else len(range(*slice(*item[1:]).indices(n))))
        elif n is not None and not -n <= item < n:
            raise IndexError(f"{op}: index {item} is out of bounds for axis {dim - 1} "
                             f"of size {n} (shape {_shape_text(shape)})")
    return tuple(out)


def _shape_text(shape):
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


# --- permutations, diagonals, repeats and padding (plain NumPy, emitted as helpers) -----------

def _sort_by(t, key, axis=-1):
    """t's entries in the order that sorts `key` along `axis` (sort(x) is _sort_by(x, x))."""
    order = np.argsort(key, axis=axis, kind="stable")
    return np.take_along_axis(np.asarray(t), order, axis=axis)


def _unsort_by(t, key, axis=-1):
    """The inverse permutation of _sort_by: t's entries put back where key's came from."""
    order = np.argsort(key, axis=axis, kind="stable")
    out = np.empty(np.shape(order), dtype=np.result_type(t, 0.0))
    np.put_along_axis(out, order, np.broadcast_to(t, np.shape(order)), axis=axis)
    return out


def _diagonal_add(t, x, offset=0, axis1=0, axis2=1):
    """Zeros shaped like x with t written on the diagonal that np.diagonal(x, ...) reads."""
    out = np.zeros(np.shape(x), dtype=np.result_type(t, x))
    view = np.moveaxis(out, (axis1, axis2), (-2, -1))
    i = np.arange(np.shape(t)[-1])
    rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
    view[..., rows, cols] = t
    return out


def _unrepeat(t, repeats=1, axis=0):
    """Sums of each run of `repeats` entries along `axis` (the adjoint of np.repeat)."""
    t = np.asarray(t)
    return np.add.reduceat(t, np.arange(0, t.shape[axis], repeats), axis=axis)


def _untile(t, x):
    """t, a tiling of x (np.tile), summed tile over tile down to x's shape."""
    t = np.asarray(t)
    shape = (1,) * (t.ndim - np.ndim(x)) + np.shape(x)
    parts = [d for n, m in zip(t.shape, shape) for d in (n // m, m)]
    summed = t.reshape(parts).sum(axis=tuple(range(0, 2 * t.ndim, 2)))
    return summed.reshape(np.shape(x))


def _pad_widths(ndim, pad_width):
    w = (pad_width,) if isinstance(pad_width, int) else tuple(pad_width)
    if len(w) == 1:
        w = w * 2
    if len(w) == 2:
        return [tuple(w)] * ndim
    if len(w) != 2 * ndim:
        raise ValueError(f"pad: pad_width {pad_width} is not one width, (before, after), or "
                         f"a (before, after) pair for each of {ndim} axes")
    return [tuple(w[2 * k: 2 * k + 2]) for k in range(ndim)]


def _pad(x, pad_width=0):
    """x with zeros around it: pad_width is one width, (before, after) for every axis, or
    (before0, after0, before1, after1, ...)."""
    x = np.asarray(x)
    return np.pad(x, _pad_widths(x.ndim, pad_width))


def _unpad(t, pad_width=0):
    """The middle of t without the padding _pad added (the adjoint of _pad)."""
    t = np.asarray(t)
    return t[tuple(slice(b, t.shape[k] - a) for k, (b, a) in
                   enumerate(_pad_widths(t.ndim, pad_width)))]


# --- joins, splits and contractions whose sizes are read when they run -----------------------

def _split(x, sections=1, axis=0, part=0):
    """The part-th of np.split(x, sections, axis): equal parts, or cut at indices."""
    x = np.asarray(x)
    if isinstance(sections, int):
        n = x.shape[axis]
        if sections <= 0 or n % sections:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into "
                             f"{sections} equal parts")
        bounds = [n // sections * k for k in range(sections + 1)]
    else:
        bounds = [0, *sections, x.shape[axis]]
    index = [slice(None)] * x.ndim
    index[axis] = slice(bounds[part], max(bounds[part], bounds[part + 1]))
    return x[tuple(index)]


def _join_sizes(xs, join="concatenate", axis=0):
    """The axis a join works along and each operand's size there (vectors are one row of
    vstack and joined end to end by hstack, as NumPy does)."""
    if join == "vstack":
        return 0, [1 if np.ndim(x) <= 1 else np.shape(x)[0] for x in xs]
    if join == "hstack":
        axis = 0 if np.ndim(xs[0]) <= 1 else 1
        return axis, [max(np.size(x), 1) if np.ndim(x) == 0 else np.shape(x)[axis] for x in xs]
    return axis, [np.shape(x)[axis] for x in xs]


def _unjoin(t, *xs, part=0, join="concatenate", axis=0):
    """The piece of t, a join of xs, that came from xs[part], in xs[part]'s shape (the
    adjoint of a join, for sizes known only when it runs)."""
    t = np.asarray(t)
    axis, sizes = _join_sizes(xs, join, axis)
    lo = sum(sizes[:part])
    index = [slice(None)] * t.ndim
    index[axis] = slice(lo, lo + sizes[part])
    return t[tuple(index)].reshape(np.shape(xs[part]))


def _einsum_embed(t, x, embed="->"):
    """Zeros shaped like x with t written where einsum reads x: for spec 'i->ii' t goes on
    the diagonal; x's letters missing from t's are broadcast (the adjoint of an einsum of
    one operand, spec reversed)."""
    src, dst = embed.split("->")
    out = np.zeros(np.shape(x), dtype=np.result_type(t, x))
    letters = "".join(dict.fromkeys(dst))
    view = np.einsum(f"{dst}->{letters}", out)  # a writable view of the (generalized) diagonal
    kept = "".join(c for c in letters if c in src)
    t = np.einsum(f"{src}->{kept}", t)  # t's axes in the order of x's letters
    view[...] = np.reshape(t, [np.shape(t)[kept.index(c)] if c in kept else 1 for c in letters])
    return out


def _undiag(t, a, k=0):
    """The adjoint of np.diag(a, k) for a vector or a matrix a: t's k-th diagonal, or zeros
    shaped like a with t on that diagonal."""
    if np.ndim(a) == 1:
        return np.diagonal(t, k)
    out = np.zeros(np.shape(a), dtype=np.result_type(t, a))
    i = np.arange(np.shape(t)[-1])
    rows, cols = (i, i + k) if k >= 0 else (i - k, i)
    out[rows, cols] = t
    return out


def _contraction(op, na, nb, axes=2):
    """The einsum spec of a bilinear product of operands of na and nb dimensions."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    a = letters[:na]
    b = list(letters[na:na + nb])
    if op == "tensordot":
        if isinstance(axes, int):
            axes = (tuple(range(na - axes, na)), tuple(range(axes)))
        ax_a = [k % na for k in axes[0]]
        ax_b = [k % nb for k in axes[1]]
        for i, j in zip(ax_a, ax_b):
            b[j] = a[i]
        b = "".join(b)
        return f"{a},{b}->" + "".join(c for k, c in enumerate(a) if k not in ax_a) + \
            "".join(c for k, c in enumerate(b) if k not in ax_b)
    if op == "inner":
        b = "".join(b[:-1]) + a[-1]
        return f"{a},{b}->{a[:-1]}{b[:-1]}"
    # dot: the last axis of a meets b's second to last (or only)
    rest = "".join(b[:-1])
    right = rest[:-1] + a[-1] + rest[-1:] if nb >= 2 else a[-1]
    return f"{a},{right}->{a[:-1]}{rest}"


def _adjoint_spec(spec, first):
    """The einsum spec of one operand's adjoint from the output's adjoint and the other."""
    ins, out = spec.split("->")
    a, b = ins.split(",")
    return f"{out},{b}->{a}" if first else f"{a},{out}->{b}"


def _bilinear_adjoint(t, y, like, product="tensordot", axes=2, first=True):
    """The adjoint of the first (or second) operand `like` of op(a, b) — tensordot, inner,
    dot or kron — given the output's adjoint t and the other operand y, for shapes known
    only when it runs."""
    op = product
    t, y = np.asarray(t), np.asarray(y)
    kind = np.result_type(t, y)
    if op == "matmul":
        return _matmul_adjoint(np, t, y, np.shape(like), first).astype(kind, copy=False)
    if op == "kron":  # kron(a, b)[i p, j q] = a[i, j] b[p, q]
        a_shape, b_shape = (np.shape(like), y.shape) if first else (y.shape, np.shape(like))
        parts = t.reshape([d for pair in zip(a_shape, b_shape) for d in pair])
        if len(a_shape) == 1:
            spec = "ip,p->i" if first else "ip,i->p"
        else:
            spec = "ipjq,pq->ij" if first else "ipjq,ij->pq"
        return np.einsum(spec, parts, y).astype(kind, copy=False)
    if op == "dot" and (np.ndim(like) == 0 or y.ndim == 0):  # a product with a number
        prod = t * y
        return np.sum(prod) if np.ndim(like) == 0 else prod.astype(kind, copy=False)
    na, nb = (np.ndim(like), y.ndim) if first else (y.ndim, np.ndim(like))
    spec = _adjoint_spec(_contraction(op, na, nb, axes), first)
    return np.asarray(np.einsum(spec, t, y) if first else np.einsum(spec, y, t))


def _matmul_adjoint(xp, t, y, like_shape, first):
    """The adjoint of a (`first`) or b of a @ b from the product's adjoint t and the other
    operand y, for any ranks (1-D operands, broadcast stacks): the operand the adjoint is
    for is summed over the axes it was broadcast along.  `xp` is NumPy or an array-API
    namespace."""
    na, nb = (len(like_shape), y.ndim) if first else (y.ndim, len(like_shape))
    # NumPy before 2.0 has no matrix_transpose
    transpose = getattr(xp, "matrix_transpose", None) or (lambda x: xp.swapaxes(x, -1, -2))
    # the product as of matrices: a 1-D operand is a row (a) or a column (b), whose axis
    # the product dropped
    if nb == 1:
        t = xp.expand_dims(t, axis=-1)
    if na == 1:
        t = xp.expand_dims(t, axis=-2)
    if first:
        b = xp.expand_dims(y, axis=-1) if nb == 1 else y
        g = t @ transpose(b)
        g = g[..., 0, :] if na == 1 else g
    else:
        a = xp.expand_dims(y, axis=0) if na == 1 else y
        g = transpose(a) @ t
        g = g[..., :, 0] if nb == 1 else g
    extra = g.ndim - len(like_shape)
    if extra:
        g = xp.sum(g, axis=tuple(range(extra)))
    ones = tuple(k for k, d in enumerate(like_shape) if d == 1 and g.shape[k] != 1)
    return xp.sum(g, axis=ones, keepdims=True) if ones else g


def _linear_scan(a, b, axis=0, reverse=False):
    """h[j] = a[j] h[j-1] + b[j] along `axis` from h[-1] = 0 (from the end if `reverse`:
    h[j] = a[j] h[j+1] + b[j]): the recurrence behind running products, whose
    derivatives are recurrences of the same kind, so every order is exact with zeros."""
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    out = np.empty(b.shape, dtype=np.result_type(a, b, 0.0))
    h = np.zeros(b.shape[1:], dtype=out.dtype)
    for j in (range(b.shape[0] - 1, -1, -1) if reverse else range(b.shape[0])):
        h = a[j] * h + b[j]
        out[j] = h
    return np.moveaxis(out, 0, axis)


def _spherical_jn(z, n=0):
    """The spherical Bessel function j_n(z) (j_0(z) = sin(z)/z, 1 at 0), in NumPy alone,
    in z's floating type."""
    z = np.asarray(z)
    kind = np.result_type(z.dtype, np.float16)
    return _jn_terms(np, z.astype(np.float64), n).astype(kind)[()]


def _jn_terms(xp, z, n):
    """j_n(z) in namespace xp: its power series where |z| < n + 2 (no cancellation there),
    else the upward recurrence j_{k+1} = (2k+1)/z j_k - j_{k-1} from j_0 and j_1, which is
    stable for |z| > n."""
    near = xp.abs(z) < n + 2
    s = xp.where(near, z, xp.zeros_like(z))
    # z^n / (2n+1)!! Σ (-z²/2)^k / (k! (2n+3)(2n+5)...(2n+2k+1))
    term = xp.ones_like(s)
    total = xp.ones_like(s)
    for k in range(1, 60):
        term = term * (-0.5 * s * s) / (k * (2 * n + 2 * k + 1))
        total = total + term
    lead = xp.ones_like(s)
    for k in range(1, n + 1):
        lead = lead * s / (2 * k + 1)
    f = xp.where(near, xp.full_like(z, n + 2.0), z)
    prev, cur = xp.sin(f) / f, xp.sin(f) / (f * f) - xp.cos(f) / f
    for k in range(1, n):
        prev, cur = cur, (2 * k + 1) / f * cur - prev
    return xp.where(near, lead * total, prev if n == 0 else cur)
