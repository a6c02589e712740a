"""The one registry of primitives: each primitive is one frozen record holding everything the
rest of graphdiff needs (evaluation, partials as graph-building rules, notation, SymPy, metadata).

This module imports nothing else from graphdiff: a partial rule receives handles to its
arguments and output and builds its result with their operators and `call`.
"""

from __future__ import annotations

import itertools
import keyword
import math
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .vocabulary import (_adjoint_spec, _bilinear_adjoint, _contraction, _cumsum,
                         _diagonal_add, _einsum_embed, _erf, _erf_series, _erfc, _erfc_tail,
                         _erfinv, _index_add, _jn_terms, _join_sizes, _linear_scan,
                         _matmul_adjoint, _pad,
                         _pad_widths, _sort_by, _spherical_jn, _split, _take, _take_add,
                         _undiag, _unjoin, _unpad, _unrepeat, _unsort_by, _untile, index_text,
                         indexed_shape, normalize_index, to_python_index)

__all__ = ["Activation", "Primitive", "REGISTRY", "CONSTANTS", "call", "lookup", "activations",
           "register", "unregister"]


@dataclass(frozen=True)
class Activation:
    """The columns of the lecture's activation-function table."""

    title: str
    equation: str  # LaTeX of f(x), as the lecture writes it
    derivative: str  # LaTeX of f'(x)
    range: str  # LaTeX
    continuity: str  # "C^\\infty", "C^0", ...
    monotonic: str
    derivative_monotonic: str
    identity_near_origin: str


@dataclass(frozen=True)
class Primitive:
    """One primitive operation.

    `partials[i](*args, out, **params)` returns d(out)/d(args[i]) built from the handles it
    is given (graph nodes when differentiating a graph, NumPy values when evaluating), or a
    plain number.  Elementwise primitives have partials; others have `vjp` and `jvp`.  Infix operators carry `symbol` and `prec` (Python's precedence); the rest
    print as function calls.  `numpy` is the code template the code generator emits.
    """

    name: str
    arity: int
    impl: Callable[..., Any]
    partials: tuple[Callable[..., Any], ...]
    numpy: str | Callable[..., str]  # a format template, or a function of the same fields
    latex: str
    sympy: str | Callable[..., Any]
    symbol: str | None = None
    prec: int = 5
    params: tuple[tuple[str, float], ...] = ()
    aliases: tuple[str, ...] = ()
    activation: Activation | None = None
    doc: str = ""
    differentiable: bool = True
    commutative: bool = False
    # Rules for primitives that are not elementwise (their `partials` are empty):
    # vjp(bar, *args, out, **params) -> one adjoint contribution per argument (None: none);
    # jvp(tangents, *args, out, **params) -> the output's tangent (tangents[i] None: zero).
    vjp: Callable[..., Any] | None = None
    jvp: Callable[..., Any] | None = None
    # Plain NumPy functions the `numpy` template calls; code generators emit their source.
    helpers: tuple[Callable[..., Any], ...] = ()
    # True for elementwise primitives (NumPy broadcasting); None: those with partials
    elementwise: bool | None = None
    # shape(*arg_shapes, **params) -> output shape; None means elementwise broadcasting.
    # A shape is a tuple of ints and None (a symbolic size, e.g. the batch), or None
    # altogether when unknown (expressions parsed from text work on any shape).
    shape: Callable[..., Any] | None = None
    # The NumPy spelling may return its first argument itself or a view of it: "same"
    # (that argument, a reshaped or transposed view: writable as the argument is) or
    # "broadcast" (a read-only broadcast of it).  Such an argument is never written in
    # place, and a result that might share memory is copied before it is returned.
    view: str | None = None
    # The NumPy spelling returns a 0-d ndarray (or a Python number) for 0-d arguments
    # where NumPy's own operations give a NumPy scalar (np.where, np.size): a 0-d result
    # is unwrapped before it is returned.
    zero_d_array: bool = False
    # False for primitives that read only their arguments' shapes (size): a result made
    # of constants and such is a number of the inputs' type, not an array
    reads_values: bool = True
    # Python syntax that is neither a call nor an infix operator (x[1:3]): a function of
    # the argument texts and the parameters, like a callable `numpy` template
    syntax: Callable[..., str] | None = None
    # Any number of arguments, `arity` the fewest (concatenate, einsum); `arguments`, if
    # given, says how many the parameters call for (einsum's spec names its operands)
    variadic: bool = False
    arguments: Callable[..., int] | None = None
    # A primitive with several results (split): parts(**params) counts them; each node is
    # one of them, chosen by the parameter `part`
    parts: Callable[..., int] | None = None

    def check_count(self, n: int, params: dict[str, Any]) -> None:
        """A TypeError unless `n` arguments suit this primitive and its parameters."""
        want = self.arguments(**params) if self.arguments is not None else None
        if want is not None and n != want:
            raise TypeError(f"{self.name}() takes {want} operand{'s' if want != 1 else ''} "
                            f"for these parameters ({n} given)")
        if n == self.arity or self.variadic and n > self.arity:
            return
        least = f"{self.arity} or more" if self.variadic else str(self.arity)
        raise TypeError(f"{self.name}() takes {least} argument"
                        f"{'s' if least != '1' else ''} ({n} given)")

    @property
    def is_elementwise(self) -> bool:
        """Elementwise with broadcasting: its adjoints are summed back to broadcast args."""
        return self.elementwise if self.elementwise is not None else len(self.partials) > 0

    def evaluate(self, *args: Any, **params: Any) -> Any:
        return self.impl(*args, **self.resolve_params(params))

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Fill in defaults and reject parameters this primitive does not have."""
        known = dict(self.params)
        unknown = set(given) - set(known)
        if unknown:
            names = ", ".join(sorted(unknown))
            raise TypeError(f"{self.name}() got unknown parameter(s) {names}; "
                            f"it takes {', '.join(known) or 'none'}")
        for key, value in given.items():
            known[key] = _param_value(self.name, key, value, known[key])
        return known

    def out_shape(self, shapes: list[Any], params: dict[str, Any]) -> Any:
        """The output's static shape from the arguments' shapes (None: unknown)."""
        if self.shape is not None:
            if any(s is None for s in shapes):
                return None
            return self.shape(*shapes, **params)
        return broadcast_shapes(*shapes, op=self.name)


def _param_value(op: str, key: str, value: Any, default: Any) -> Any:
    """A parameter converted to its default's kind: axis-like (int, tuple of ints or
    None), flag (bool) or number (float); anything else is a TypeError naming it."""
    def integral(v: Any) -> int:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                 np.floating)) \
                or float(v) != int(v):
            raise TypeError(f"{op}() parameter {key} must be an integer, got {v!r}")
        return int(v)

    if isinstance(default, _Index):
        return normalize_index(value, op)
    if isinstance(default, str):
        return _STRINGS[key](op, key, value)
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_, int, float)) or value not in (0, 1):
            raise TypeError(f"{op}() parameter {key} must be True or False, got {value!r}")
        return bool(value)
    if default is None or isinstance(default, (int, tuple)):
        if value is None:
            return None
        if isinstance(value, (tuple, list)):  # axes, or pairs of axes: ((1, 0), (0, 1))
            return tuple(tuple(integral(w) for w in v) if isinstance(v, (tuple, list))
                         else integral(v) for v in value)
        return integral(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{op}() parameter {key} must be a number, got {value!r}")
    return float(value)


def _dim_text(shape: Any) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def broadcast_shapes(*shapes: Any, op: str = "broadcast") -> Any:
    """NumPy's broadcasting on static shapes; None dims are symbolic sizes (the batch)."""
    if any(s is None for s in shapes):
        return None
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(ndim):
        dims = {s[len(s) - ndim + k] for s in shapes if len(s) - ndim + k >= 0}
        dims.discard(1)
        if len(dims) > 1:
            texts = " and ".join(_dim_text(s) for s in shapes)
            raise ValueError(f"{op}: shapes {texts} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _reduced_shape(shape: Any, axis: Any, keepdims: bool, op: str) -> Any:
    if axis is None:
        return tuple(1 for _ in shape) if keepdims else ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    nd = len(shape)
    norm = set()
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"{op}: axis {a} is out of range for shape {_dim_text(shape)}")
        norm.add(a % nd)
    return tuple((1 if keepdims else None) if i in norm else d for i, d in enumerate(shape)
                 if keepdims or i not in norm)


# Python's operator precedence, used by every printer: larger binds tighter.
PREC_ADD, PREC_MUL, PREC_UNARY, PREC_POW, PREC_ATOM = 1, 2, 3, 4, 5
PREC_CMP = 0  # comparisons: below arithmetic, and never chained


def call(name: str, *args: Any, **params: Any) -> Any:
    """Apply primitive `name`: builds a node if any argument is a graph handle, else evaluates.

    Handles are recognised by an `apply` method, so this module never imports the graph.
    """
    prim = lookup(name)
    if prim.variadic and len(args) >= 1 and isinstance(args[0], str) and \
            any(isinstance(v, str) for _, v in prim.params):
        # einsum("ij,jk->ik", a, b): NumPy writes the specification first
        key = next(k for k, v in prim.params if isinstance(v, str))
        args, params = args[1:], {**params, key: args[0]}
    if prim.variadic and len(args) >= 1 and isinstance(args[0], (list, tuple)):
        # concatenate([a, b, c], axis=1): NumPy takes the operands as one sequence
        args = (*args[0], *args[1:])
    if not prim.variadic and len(args) > prim.arity:
        # split(x, 3): extra positional values fill the parameters in order, as in the text
        names = [k for k, _ in prim.params if k not in params]
        params = {**params, **dict(zip(names, args[prim.arity:]))}
        args = args[:prim.arity] + args[prim.arity + len(names):]
    if prim.parts is not None and "part" not in params:
        # split(x, 3): every part, as np.split gives them
        count = prim.parts(**{k: v for k, v in prim.resolve_params(params).items()
                              if k != "part"})
        return [call(name, *args, part=k, **params) for k in range(count)]
    for a in args:
        if hasattr(a, "apply") and not isinstance(a, np.ndarray):
            return a.apply(name, *args, **params)
    result = prim.evaluate(*args, **params)
    if all(type(a) in (int, float) for a in args) and np.ndim(result) == 0:
        # numbers in, a Python number out: weakly typed, as a constant in generated code
        # (a float64 scalar would widen the float32 arrays it meets)
        return float(result)
    return result


def _step(x: Any) -> Any:
    return call("binary_step", x)


def _is_zero(x: Any) -> Any:
    """1 where x == 0, else 0: -|x| >= 0."""
    return _step(-call("abs", x))


def _binary_step(x: Any) -> np.ndarray:
    # x's own dtype: result_type(0.5, float16) is float16, since Python floats are weak
    x = np.asarray(x)
    return (x >= 0).astype(np.result_type(x.dtype, np.float16))


def _sigmoid(x: Any) -> np.ndarray:
    # exp(-log(1 + exp(-x))) never overflows, and keeps float32 as float32
    return np.exp(-np.logaddexp(0.0, -x))


def _sum_to(t, x, like):
    """Sum t, broadcast against `like` and x, down to the shape of x (in x's dtype)."""
    if type(t) is np.ndarray and type(x) is np.ndarray and type(like) is np.ndarray and \
            x.ndim == 0 and t.dtype is x.dtype and x.dtype.kind == "f" and t.shape == like.shape:
        # a scalar input's gradient, the common last step: the same sum as below (the
        # same reduction, bit for bit) without its broadcasting checks
        return np.add.reduce(t, axis=None)
    kind = getattr(x, "dtype", None)
    # a gradient has its input's floating type, as in JAX (a float64 constant met on the
    # way, such as np.where(c, 1.0, 0.0), does not widen it)
    t = np.asarray(t, dtype=kind if kind is not None and kind.kind == "f"
                   else np.result_type(t, x))
    shape = np.shape(x)
    full = np.broadcast_shapes(t.shape, np.shape(like), shape)
    if t.size == 1 and full != shape:  # a broadcast constant: its sum is a product
        count = np.prod(full, dtype=np.int64) // np.prod(shape, dtype=np.int64)
        t = t.reshape(()) * t.dtype.type(count)
    elif full != shape:
        lead = len(full) - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and full[lead + i] != 1)
        t = np.broadcast_to(t, full).sum(axis=axes).reshape(shape)
    if t.shape != shape:  # smaller than x: a fresh array, never a read-only broadcast
        t = np.broadcast_to(t, shape).copy()
    return t[()] if t.ndim == 0 else t  # a NumPy scalar, as NumPy's own operations give


# --- tensor helpers: plain NumPy, emitted into generated modules that use them ------------

def _broadcast_like(t, x, axis=None, keepdims=False, mean=False):
    """t, a reduction of x over `axis`, expanded back to x's shape (divided by the number
    of entries each output summed, for a mean); a read-only broadcast view."""
    t = np.asarray(t, dtype=np.result_type(t, x))
    if mean:
        t = t / (np.size(x) // max(np.size(t), 1))
    if axis is not None and not keepdims:
        t = np.expand_dims(t, axis)
    return np.broadcast_to(t, np.shape(x))


def _logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) over `axis`, shifted by the maximum so it never overflows."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out[()] if out.ndim == 0 else out  # a NumPy scalar, as NumPy's reductions give


def _softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) over `axis`, shifted by the maximum so it never overflows."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    """x - logsumexp(x) over `axis`, computed without overflow."""
    return x - _logsumexp(x, axis=axis, keepdims=True)


def _one_hot(labels, like):
    """Integer class labels as one-hot rows shaped like `like` (labels must be in range)."""
    labels = np.asarray(labels)
    k = _classes(like, "one_hot", labels)
    idx = labels.astype(np.intp)
    if np.any(idx != labels) or np.any(idx < 0) or np.any(idx >= k):
        raise ValueError(f"class labels must be integers in [0, {k}), got values from "
                         f"{labels.min()} to {labels.max()}")
    out = np.zeros(np.shape(like), dtype=np.result_type(like, np.float32))
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return out


def _matmul_shape(a, b):
    if len(a) > 2 and len(b) >= 2 or len(b) > 2 and len(a) >= 2:  # stacks of matrices
        if a[-1] != b[-2]:
            raise ValueError(f"matmul: shapes {_dim_text(a)} and {_dim_text(b)} do not align "
                             f"(inner sizes {a[-1]} and {b[-2]})")
        return broadcast_shapes(a[:-2], b[:-2], op="matmul") + (a[-2], b[-1])
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        raise ValueError(f"matmul: takes 1-D or 2-D operands, or stacks of matrices (2-D "
                         f"and up), got shapes {_dim_text(a)} and {_dim_text(b)}")
    n, m = a[-1], b[0]
    if n != m:  # two symbolic sizes are the same batch
        raise ValueError(f"matmul: shapes {_dim_text(a)} and {_dim_text(b)} do not align "
                         f"(inner sizes {'N' if n is None else n} and "
                         f"{'N' if m is None else m})")
    return a[:-1] + b[1:]


def _vector(op, shape):
    if len(shape) != 1:
        raise ValueError(f"{op}: takes vectors, got shape {_dim_text(shape)}")
    return shape


def _transpose_axes(a, axes):
    nd = len(a)
    if axes is None:
        return tuple(range(nd))[::-1]
    if sorted(k % nd if -nd <= k < nd else k for k in axes) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the "
                         f"{nd} axes of shape {_dim_text(a)}")
    return tuple(k % nd for k in axes)


def _transpose_template(a, axes=None, opts=""):
    return f"{a}.T" if axes is None else f"np.transpose({a}, {axes!r})"


def _inverse_axes(axes):
    return None if axes is None else tuple(int(k) for k in np.argsort(axes))


def _one_hot_shape(labels, like):
    if labels != like[:-1]:
        raise ValueError(f"one_hot: labels of shape {_dim_text(labels)} do not match "
                         f"scores of shape {_dim_text(like)} (expected {_dim_text(like[:-1])})")
    return like


def _along_axis(op):
    def rule(a, axis):
        _reduced_shape(a, axis, True, op)  # checks the axis
        return a
    return rule


def _matmul_vjp(bar, a, b, out):
    bar = _exact(bar, out)
    if a.shape is None or b.shape is None:  # ranks known only when it runs
        return (call("bilinear_adjoint", bar, b, a, product="matmul", first=True),
                call("bilinear_adjoint", bar, a, b, product="matmul", first=False))
    na, nb = len(a.shape), len(b.shape)
    if na > 2 or nb > 2:  # stacks: each adjoint summed over the batch axes it was broadcast on
        ga = bar @ call("swapaxes", b, axis1=-1, axis2=-2)
        gb = call("swapaxes", a, axis1=-1, axis2=-2) @ bar
        return call("sum_to", ga, a, ga), call("sum_to", gb, b, gb)
    if na == 2 and nb == 2:
        return bar @ call("transpose", b), call("transpose", a) @ bar
    if na == 1 and nb == 1:
        return bar * b, bar * a
    if na == 2:
        return call("outer", bar, b), call("transpose", a) @ bar
    return b @ bar, call("outer", a, bar)


def _where_template(c: str, a: str, b: str, opts: str = "") -> str:
    if _is_literal(a) and _is_literal(b):
        # two numbers take the condition's float type: np.where(c, 1.0, 0.0) is float64
        # whatever c is (an adjoint 1 selected by a float32 mask would widen the gradient)
        kind = f"{c}.dtype.type"
        return f"np.where({c}, {kind}({a}), {kind}({b}))"
    return f"np.where({c}, {a}, {b})"


def _is_literal(text: str) -> bool:
    return text.lstrip("-(").rstrip(")").replace(".", "", 1).replace("e-", "", 1) \
        .replace("e+", "", 1).isdigit()


def _size(a):
    """The number of entries, as a number of a's floating type (float64 for others)."""
    a = np.asarray(a)
    return (a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)).type(a.size)


def _add_tangents(*terms):
    present = [t for t in terms if t is not None]
    total = present[0]
    for t in present[1:]:
        total = total + t
    return total


def _reduce_template(a, axis=None, keepdims=False, opts=""):
    # the ufunc's own reduce: np.sum adds about a microsecond of Python per call, which
    # is most of a reduction over a small batch
    return f"np.add.reduce({a}, axis={axis!r}{', keepdims=True' if keepdims else ''})"


def _reduce_params(shape_rule):
    def rule(x, axis=None, keepdims=False, **_):
        return _reduced_shape(x, axis, keepdims, shape_rule)
    return rule


def _exact(bar, out):
    """An adjoint given the exact shape of its node (adjoints may arrive broadcast-smaller)."""
    return call("sum_to", bar, out, out)


def _expand(t, x, axis, keepdims, mean=False, out=None):
    if out is not None:
        t = _exact(t, out)
    return call("broadcast_like", t, x, axis=axis, keepdims=keepdims, mean=mean)


def _broadcast_like_vjp(bar, t, x, out, axis, keepdims, mean):
    if axis is None and len(t.shape or ()) > 0:
        return call("sum_to", bar, t, bar), None
    return call("mean" if mean else "sum", bar, axis=axis, keepdims=keepdims), None


# --- losses: means over the batch, stable for any logits ------------------------------------

def _residual(p, t):
    """p - t, refusing shapes that broadcast to a shape neither has ((3, 1) against (3,)
    would silently compare every output with every target)."""
    d = np.subtract(p, t)
    if np.shape(d) != np.shape(p) and np.shape(d) != np.shape(t):
        raise ValueError(f"mse: outputs of shape {np.shape(p)} and targets of shape "
                         f"{np.shape(t)} broadcast to {np.shape(d)}; give them one shape")
    return d


def _mse(p, t):
    """mean((p - t)**2): mean squared error, summed with one dot product."""
    d = _residual(p, t)
    return np.vdot(d, d) / np.size(d)


def _mse_grad(p, t):
    """d/dp of _mse: 2 (p - t) / size."""
    d = _residual(p, t)
    if isinstance(d, np.ndarray):
        d *= 2 / np.size(d)  # d is ours: scale it in place
        return d
    return d * 2


def _mse_and_grad(p, t):
    """_mse and _mse_grad of the same arguments, from one difference."""
    d = _residual(p, t)
    value = np.vdot(d, d) / np.size(d)
    if isinstance(d, np.ndarray):
        d *= 2 / np.size(d)
        return value, d
    return value, d * 2


def _bce_with_logits(z, y):
    """mean(softplus(z) - y z): binary cross-entropy of logits z, without overflow."""
    return (np.sum(np.logaddexp(0.0, z)) - np.vdot(y, z)) / np.size(z)


def _bce_with_logits_grad(z, y):
    """d/dz of _bce_with_logits: (sigmoid(z) - y) / size."""
    return (np.exp(-np.logaddexp(0.0, -z)) - y) / np.size(z)


def _bce_with_logits_and_grad(z, y):
    """_bce_with_logits and its gradient, sharing softplus(z): sigmoid(z) = exp(z - softplus(z))."""
    sp = np.logaddexp(0.0, z)
    value = (np.sum(sp) - np.vdot(y, z)) / np.size(z)
    # sp is ours to overwrite (a NumPy scalar for 0-d z, which cannot take out=)
    sig = np.exp(np.subtract(z, sp, out=sp), out=sp) if isinstance(sp, np.ndarray) \
        else np.exp(z - sp)
    return value, (sig - y) / np.size(z)


def _class_labels(y, k):
    """Integer class labels as indices, refusing any label that is not an integer in
    [0, k): a fractional or out-of-range label would pick a wrong score silently."""
    y = np.asarray(y)
    with np.errstate(invalid="ignore"):  # nan and inf are refused just below
        idx = y.astype(np.intp)
    bad = (idx != y) | (idx < 0) | (idx >= k)
    if np.any(bad):
        raise ValueError(f"softmax_xent: class label {float(y[bad].flat[0]):g} is not an integer "
                         f"in [0, {k}) ({k} classes)")
    return idx


def _classes(z, op, y):
    """The number of classes (z's last axis), refusing scores without one and labels or
    targets of a shape that does not fit."""
    z_shape, y_shape = np.shape(z), np.shape(y)
    if not z_shape:
        raise ValueError(f"{op}: scores need a class axis (the last), got a scalar")
    if y_shape not in (z_shape, z_shape[:-1]):
        raise ValueError(f"{op}: labels or targets of shape {y_shape} do not fit scores of "
                         f"shape {z_shape} (expected {z_shape[:-1]} or {z_shape})")
    return z_shape[-1]


def _softmax_xent(z, y):
    """mean over rows of logsumexp(z) sum(y) - sum(y z); y one-hot rows or integer labels."""
    _classes(z, "softmax_xent", y)
    m = np.max(z, axis=-1, keepdims=True)
    lse = np.log(np.add.reduce(np.exp(z - m), axis=-1)) + m[..., 0]
    if np.ndim(y) == np.ndim(z) - 1:
        idx = _class_labels(y, np.shape(z)[-1])
        if np.ndim(z) == 2:  # rows of scores: plain fancy indexing is the fastest pick
            picked = z[np.arange(len(idx)), idx]
        else:
            picked = np.take_along_axis(z, idx[..., None], -1)[..., 0]
        return np.add.reduce(lse - picked, axis=None) / np.size(lse)
    return np.mean(lse * np.sum(y, axis=-1) - np.sum(y * z, axis=-1))


def _softmax_xent_grad(z, y):
    """d/dz of _softmax_xent: (softmax(z) sum(y) - y) / rows."""
    _classes(z, "softmax_xent", y)
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    e /= np.add.reduce(e, axis=-1, keepdims=True)
    rows = np.size(z) // np.shape(z)[-1]
    if np.ndim(y) == np.ndim(z) - 1:
        idx = _class_labels(y, np.shape(z)[-1])
        if np.ndim(z) == 2:
            e[np.arange(len(idx)), idx] -= 1
        else:
            idx = idx[..., None]
            np.put_along_axis(e, idx, np.take_along_axis(e, idx, -1) - 1, axis=-1)
    else:
        e *= np.sum(y, axis=-1, keepdims=True)
        e -= y
    e /= rows
    return e


def _softmax_xent_and_grad(z, y):
    """_softmax_xent and _softmax_xent_grad of the same arguments, sharing the exponentials."""
    _classes(z, "softmax_xent", y)
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    total = np.add.reduce(e, axis=-1, keepdims=True)
    lse = np.log(total[..., 0]) + m[..., 0]
    e /= total
    rows = np.size(z) // np.shape(z)[-1]
    if np.ndim(y) == np.ndim(z) - 1:
        idx = _class_labels(y, np.shape(z)[-1])
        if np.ndim(z) == 2:
            at = np.arange(len(idx))
            value = np.add.reduce(lse - z[at, idx], axis=None) / np.size(lse)
            e[at, idx] -= 1
        else:
            idx = idx[..., None]
            picked = np.take_along_axis(z, idx, -1)[..., 0]
            value = np.add.reduce(lse - picked, axis=None) / np.size(lse)
            np.put_along_axis(e, idx, np.take_along_axis(e, idx, -1) - 1, axis=-1)
    else:
        mass = np.sum(y, axis=-1)
        value = np.mean(lse * mass - np.sum(y * z, axis=-1))
        e *= mass[..., None]
        e -= y
    e /= rows
    return value, e


# a loss whose value and gradient (of the same arguments) both appear in a graph is
# computed by one helper that shares the work, as a hand-written training step does
FUSED_LOSSES: dict[str, tuple[str, Callable[..., Any]]] = {
    "mse": ("mse_grad", _mse_and_grad),
    "bce_with_logits": ("bce_with_logits_grad", _bce_with_logits_and_grad),
    "softmax_xent": ("softmax_xent_grad", _softmax_xent_and_grad),
}


def _xent_target_vjp(bar, z, y):
    """d softmax_xent / d y for one-hot or soft targets: -log_softmax(z) / rows."""
    if z.shape is None or y.shape is None:
        raise ValueError("differentiating softmax_xent needs logits and targets of known "
                         "shapes (integer labels or one-hot rows?); declare them with "
                         "gd.tensor(name, shape)")
    if len(y.shape) < len(z.shape):
        return None  # integer labels: no derivative
    return -bar * call("log_softmax", z, axis=-1) / (call("size", z) / z.shape[-1])


def _xent_target_jvp(dot, z, y):
    vjp = _xent_target_vjp(1.0, z, y)
    return None if vjp is None else call("sum", vjp * dot)


def _residual_shape(p, t):
    full = broadcast_shapes(p, t, op="mse")
    if full != p and full != t:
        raise ValueError(f"mse: outputs of shape {_dim_text(p)} and targets of shape "
                         f"{_dim_text(t)} broadcast to {_dim_text(full)}; give them one shape")
    return full


def _loss_shape(op):
    def rule(z, y):
        if y != z and y != z[:-1] or (y != z and op != "softmax_xent"):
            raise ValueError(f"{op}: targets of shape {_dim_text(y)} do not match outputs "
                             f"of shape {_dim_text(z)}")
        return ()
    return rule


def _no_second_derivative(op):
    def rule(*args, **kw):
        raise NotImplementedError(f"second derivatives through {op} are not supported; "
                                  f"write the loss with elementary operations instead")
    return rule


def _leaky(x: Any, alpha: float) -> np.ndarray:
    return np.where(x >= 0, x, alpha * x)


_ACTIVATIONS = {
    "identity": Activation("Identity", "f(x) = x", "f'(x) = 1", r"(-\infty, \infty)",
                           r"C^\infty", "Yes", "Yes", "Yes"),
    "binary_step": Activation(
        "Binary step",
        r"f(x) = \begin{cases} 0 & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
        r"f'(x) = \begin{cases} 0 & \text{for } x \neq 0 \\ ? & \text{for } x = 0 \end{cases}",
        r"\{0, 1\}", "C^{-1}", "Yes", "No", "No"),
    "sigmoid": Activation("Logistic (a.k.a. Soft step)", r"f(x) = \frac{1}{1 + e^{-x}}",
                          "f'(x) = f(x)(1 - f(x))", "(0, 1)", r"C^\infty", "Yes", "No", "No"),
    "tanh": Activation("TanH", r"f(x) = \tanh(x) = \frac{2}{1 + e^{-2x}} - 1",
                       "f'(x) = 1 - f(x)^2", "(-1, 1)", r"C^\infty", "Yes", "No", "Yes"),
    "arctan": Activation("ArcTan", r"f(x) = \tan^{-1}(x)", r"f'(x) = \frac{1}{x^2 + 1}",
                         r"\left(-\frac{\pi}{2}, \frac{\pi}{2}\right)", r"C^\infty",
                         "Yes", "No", "Yes"),
    "softsign": Activation("Softsign", r"f(x) = \frac{x}{1 + |x|}",
                           r"f'(x) = \frac{1}{(1 + |x|)^2}", "(-1, 1)", "C^1",
                           "Yes", "No", "Yes"),
    "isru": Activation(
        "Inverse square root unit (ISRU)", r"f(x) = \frac{x}{\sqrt{1 + \alpha x^2}}",
        r"f'(x) = \left(\frac{1}{\sqrt{1 + \alpha x^2}}\right)^3",
        r"\left(-\frac{1}{\sqrt{\alpha}}, \frac{1}{\sqrt{\alpha}}\right)", r"C^\infty",
        "Yes", "No", "Yes"),
    "relu": Activation(
        "Rectified linear unit (ReLU)",
        r"f(x) = \begin{cases} 0 & \text{for } x < 0 \\ x & \text{for } x \geq 0 \end{cases}",
        r"f'(x) = \begin{cases} 0 & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
        r"[0, \infty)", "C^0", "Yes", "Yes", "No"),
    "leaky_relu": Activation(
        "Leaky rectified linear unit (Leaky ReLU)",
        r"f(x) = \begin{cases} 0.01x & \text{for } x < 0 \\ x & \text{for } x \geq 0 \end{cases}",
        r"f'(x) = \begin{cases} 0.01 & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
        r"(-\infty, \infty)", "C^0", "Yes", "Yes", "No"),
    "prelu": Activation(
        "Parametric rectified linear unit (PReLU)",
        r"f(\alpha, x) = \begin{cases} \alpha x & \text{for } x < 0 \\ x & \text{for } x \geq 0 \end{cases}",
        r"f'(\alpha, x) = \begin{cases} \alpha & \text{for } x < 0 \\ 1 & \text{for } x \geq 0 \end{cases}",
        r"(-\infty, \infty)", "C^0", r"Yes iff $\alpha \geq 0$", "Yes",
        r"Yes iff $\alpha = 1$"),
    # beyond the lecture's ten: GELU, exact and in its tanh approximation
    "gelu": Activation(
        "Gaussian error linear unit (GELU)",
        r"f(x) = x \Phi(x) = \frac{x}{2}\left(1 + \operatorname{erf}\left(\frac{x}{\sqrt{2}}"
        r"\right)\right)",
        r"f'(x) = \Phi(x) + x \phi(x)", r"\approx [-0.16997, \infty)", r"C^\infty", "No", "No",
        "No"),
    "gelu_tanh": Activation(
        "GELU, tanh approximation",
        r"f(x) = \frac{x}{2}\left(1 + \tanh\left(\sqrt{2/\pi}\,(x + 0.044715 x^3)\right)\right)",
        r"f'(x) = \frac{1 + t}{2} + \frac{x}{2}(1 - t^2)\sqrt{2/\pi}\,(1 + 0.134145 x^2)"
        r"\text{ with } t = \tanh\left(\sqrt{2/\pi}\,(x + 0.044715 x^3)\right)",
        r"\approx [-0.17004, \infty)", r"C^\infty", "No", "No", "No"),
}


def _p(name: str, arity: int, impl: Callable[..., Any], partials: tuple, *,
       numpy: str | None = None, latex: str | None = None,
       sympy: str | Callable[..., Any] | None = None, **kw: Any) -> Primitive:
    """Build a record; function-style primitives get NumPy/LaTeX/SymPy names by default."""
    call_args = ", ".join(f"{{{i}}}" for i in range(arity))
    return Primitive(
        name=name, arity=arity, impl=impl, partials=partials,
        numpy=numpy if numpy is not None else f"np.{name}({call_args})",
        latex=latex if latex is not None else rf"\operatorname{{{name}}}",
        sympy=sympy if sympy is not None else name,
        activation=_ACTIVATIONS.get(name), **kw)


_LOG2, _LOG10 = math.log(2.0), math.log(10.0)

_PRIMITIVES = [
    # --- arithmetic (infix) -------------------------------------------------------------
    _p("add", 2, np.add, (lambda x, y, out: 1, lambda x, y, out: 1),
       numpy="{0} + {1}", latex="+", sympy=lambda sp, x, y: x + y,
       symbol="+", prec=PREC_ADD, commutative=True, doc="x + y"),
    _p("sub", 2, np.subtract, (lambda x, y, out: 1, lambda x, y, out: -1),
       numpy="{0} - {1}", latex="-", sympy=lambda sp, x, y: x - y,
       symbol="-", prec=PREC_ADD, doc="x - y"),
    _p("mul", 2, np.multiply, (lambda x, y, out: y, lambda x, y, out: x),
       numpy="{0} * {1}", latex=r"\cdot", sympy=lambda sp, x, y: x * y,
       symbol="*", prec=PREC_MUL, commutative=True, doc="x * y"),
    _p("div", 2, np.true_divide, (lambda x, y, out: 1 / y, lambda x, y, out: -x * y**-2),
       numpy="{0} / {1}", latex="/", sympy=lambda sp, x, y: x / y,
       symbol="/", prec=PREC_MUL, doc="x / y"),
    # JAX's conventions at x = 0: d/dx x**0 = 0 (not 0 * 0**-1) and d/dy 0**y = 0 (not
    # 0 * log(0)), at every order: the rules select, so their own derivatives do too
    _p("pow", 2, np.power,
       (lambda x, y, out: call("where", _is_zero(y), 0.0, y * x ** (y - 1)),
        lambda x, y, out: out * call("log", call("where", _is_zero(x), 1.0, x))),
       numpy="{0} ** {1}", latex="^", sympy=lambda sp, x, y: x**y,
       symbol="**", prec=PREC_POW, doc="x ** y"),
    _p("neg", 1, np.negative, (lambda x, out: -1,),
       numpy="-{0}", latex="-", sympy=lambda sp, x: -x,
       symbol="-", prec=PREC_UNARY, doc="-x"),
    # --- elementary functions -----------------------------------------------------------
    _p("exp", 1, np.exp, (lambda x, out: out,), latex=r"\exp", doc="e**x"),
    _p("log", 1, np.log, (lambda x, out: 1 / x,), latex=r"\log", aliases=("ln",),
       doc="natural logarithm"),
    _p("sqrt", 1, np.sqrt, (lambda x, out: 0.5 / out,), latex=r"\sqrt", doc="square root"),
    _p("square", 1, np.square, (lambda x, out: 2 * x,), sympy=lambda sp, x: x**2, doc="x**2"),
    _p("sin", 1, np.sin, (lambda x, out: call("cos", x),), latex=r"\sin"),
    _p("cos", 1, np.cos, (lambda x, out: -call("sin", x),), latex=r"\cos"),
    _p("tan", 1, np.tan, (lambda x, out: 1 + out**2,), latex=r"\tan"),
    _p("arcsin", 1, np.arcsin, (lambda x, out: (1 - x**2) ** -0.5,), latex=r"\arcsin",
       sympy="asin", aliases=("asin",)),
    _p("arccos", 1, np.arccos, (lambda x, out: -((1 - x**2) ** -0.5),), latex=r"\arccos",
       sympy="acos", aliases=("acos",)),
    _p("arctan", 1, np.arctan, (lambda x, out: 1 / (x**2 + 1),), latex=r"\arctan",
       sympy="atan", aliases=("atan",)),
    _p("sinh", 1, np.sinh, (lambda x, out: call("cosh", x),), latex=r"\sinh"),
    _p("cosh", 1, np.cosh, (lambda x, out: call("sinh", x),), latex=r"\cosh"),
    # (1 - y)(1 + y), not 1 - y²: relative accuracy near y = ±1
    _p("tanh", 1, np.tanh, (lambda x, out: (1 - out) * (1 + out),), latex=r"\tanh"),
    _p("arcsinh", 1, np.arcsinh, (lambda x, out: (x**2 + 1) ** -0.5,),
       latex=r"\operatorname{arsinh}", sympy="asinh", aliases=("asinh",)),
    _p("arccosh", 1, np.arccosh, (lambda x, out: (x**2 - 1) ** -0.5,),
       latex=r"\operatorname{arcosh}", sympy="acosh", aliases=("acosh",)),
    _p("arctanh", 1, np.arctanh, (lambda x, out: 1 / (1 - x**2),),
       latex=r"\operatorname{artanh}", sympy="atanh", aliases=("atanh",)),
    _p("log1p", 1, np.log1p, (lambda x, out: 1 / (1 + x),),
       sympy=lambda sp, x: sp.log(1 + x), doc="log(1 + x), accurate near 0"),
    _p("expm1", 1, np.expm1, (lambda x, out: out + 1,),
       sympy=lambda sp, x: sp.exp(x) - 1, doc="exp(x) - 1, accurate near 0"),
    _p("log2", 1, np.log2, (lambda x, out: 1 / (x * _LOG2),), latex=r"\log_2",
       sympy=lambda sp, x: sp.log(x, 2)),
    _p("log10", 1, np.log10, (lambda x, out: 1 / (x * _LOG10),), latex=r"\log_{10}",
       sympy=lambda sp, x: sp.log(x, 10)),
    _p("abs", 1, np.abs, (lambda x, out: call("sign", x),), latex=r"\operatorname{abs}",
       sympy="Abs", doc="|x|; derivative sign(x)"),
    _p("sign", 1, np.sign, (lambda x, out: 0,), sympy="sign", differentiable=False,
       doc="-1, 0 or 1; derivative 0 almost everywhere"),
    # x / hypot, with 0 at the origin (as abs has at 0), not 0/0
    _p("hypot", 2, np.hypot,
       (lambda x, y, out: x / call("where", call("equal", out, 0.0), 1.0, out),
        lambda x, y, out: y / call("where", call("equal", out, 0.0), 1.0, out)),
       sympy=lambda sp, x, y: sp.sqrt(x**2 + y**2), commutative=True,
       doc="sqrt(x**2 + y**2); derivative 0 at the origin (as abs at 0)"),
    _p("arctan2", 2, np.arctan2,
       (lambda y, x, out: x / (x**2 + y**2), lambda y, x, out: -y / (x**2 + y**2)),
       sympy="atan2", aliases=("atan2",), doc="angle of the point (x, y); arguments (y, x)"),
    _p("logaddexp", 2, np.logaddexp,
       (lambda x, y, out: call("exp", x - out), lambda x, y, out: call("exp", y - out)),
       sympy=lambda sp, x, y: sp.log(sp.exp(x) + sp.exp(y)), commutative=True,
       doc="log(exp(x) + exp(y))"),
    # ties go to the first argument, so the two partials always add up to 1
    _p("minimum", 2, np.minimum,
       (lambda x, y, out: _step(y - x), lambda x, y, out: 1 - _step(y - x)),
       sympy="Min"),
    _p("maximum", 2, np.maximum,
       (lambda x, y, out: _step(x - y), lambda x, y, out: 1 - _step(x - y)),
       sympy="Max"),
    # --- broadcasting ---------------------------------------------------------------------
    # Reverse mode reduces each gradient to its input's shape with this primitive; it is
    # linear in t, and x and like only lend their shapes.
    _p("sum_to", 3, _sum_to, (), numpy="_sum_to({0}, {1}, {2})", elementwise=False,
       latex=r"\operatorname{sum\_to}", sympy=lambda sp, t, x, like: t,
       vjp=lambda bar, t, x, like, out: (call("sum_to", bar, t, like), None, None),
       jvp=lambda dots, t, x, like, out: (None if dots[0] is None
                                          else call("sum_to", _exact(dots[0], t), x, like)),
       shape=lambda t, x, like: x, view="same",
       helpers=(_sum_to,), doc="sum t (broadcast to like's shape) down to x's shape"),
    # --- tensors --------------------------------------------------------------------------
    _p("matmul", 2, np.matmul, (), numpy="{0} @ {1}", latex=r"\,", symbol="@",
       prec=PREC_MUL, sympy=lambda sp, a, b: a * b, shape=_matmul_shape, vjp=_matmul_vjp,
       jvp=lambda dots, a, b, out: _add_tangents(
           None if dots[0] is None else _exact(dots[0], a) @ b,
           None if dots[1] is None else a @ _exact(dots[1], b)),
       doc="matrix product of 1-D or 2-D operands, or of stacks of matrices (broadcast)"),
    _p("outer", 2, np.outer, (), sympy=lambda sp, a, b: a * b,
       shape=lambda a, b: _vector("outer", a) + _vector("outer", b),
       vjp=lambda bar, a, b, out: (_exact(bar, out) @ b, a @ _exact(bar, out)),
       jvp=lambda dots, a, b, out: _add_tangents(
           None if dots[0] is None else call("outer", _exact(dots[0], a), b),
           None if dots[1] is None else call("outer", a, _exact(dots[1], b))),
       doc="outer product of two vectors"),
    _p("transpose", 1, np.transpose, (), numpy=_transpose_template,
       latex=r"\operatorname{transpose}", sympy=lambda sp, a, axes=None: a,
       params=(("axes", None),),
       shape=lambda a, axes=None: tuple(a[k] for k in _transpose_axes(a, axes)),
       vjp=lambda bar, a, out, axes: (
           call("transpose", _exact(bar, out), axes=_inverse_axes(axes)),),
       jvp=lambda dots, a, out, axes: call("transpose", _exact(dots[0], a), axes=axes),
       view="same", zero_d_array=True,
       doc="axes permuted (reversed for None: a.T)"),
    _p("sum", 1, np.sum, (), numpy=_reduce_template, latex=r"\sum",
       sympy=lambda sp, a, axis=None, keepdims=False: a,
       params=(("axis", None), ("keepdims", False)), shape=_reduce_params("sum"),
       # a total's adjoint reaches every entry: broadcasting does that for elementwise
       # consumers, and other rules ask for exact shapes themselves
       vjp=lambda bar, a, out, axis, keepdims: (
           bar if axis is None else _expand(bar, a, axis, keepdims, out=out),),
       jvp=lambda dots, a, out, axis, keepdims: call("sum", _exact(dots[0], a), axis=axis,
                                                     keepdims=keepdims),
       doc="sum over an axis (or all entries)"),
    # np.mean costs microseconds of Python per call: a total over a count is cheaper
    _p("mean", 1, np.mean, (), numpy=lambda a, axis=None, keepdims=False, opts="": (
           f"{_reduce_template(a)} / np.size({a})" if axis is None and not keepdims
           else f"np.mean({a}{opts})"),
       sympy=lambda sp, a, axis=None, keepdims=False: a,
       params=(("axis", None), ("keepdims", False)), shape=_reduce_params("mean"),
       vjp=lambda bar, a, out, axis, keepdims: (
           bar / call("size", a) if axis is None
           else _expand(bar, a, axis, keepdims, True, out=out),),
       jvp=lambda dots, a, out, axis, keepdims: call("mean", _exact(dots[0], a), axis=axis,
                                                      keepdims=keepdims),
       doc="mean over an axis (or all entries)"),
    # in its argument's floating type: a count that meets a float32 array keeps it float32
    # however it is combined (np.where(c, 0, 1/size) of two Python numbers is float64)
    _p("size", 1, _size, (lambda a, out: 0,), numpy="{0}.dtype.type({0}.size)",
       sympy=lambda sp, a: sp.Integer(1), shape=lambda a: (), differentiable=False,
       zero_d_array=True, reads_values=False,
       doc="the number of entries"),
    _p("broadcast_like", 2, _broadcast_like, (), numpy="_broadcast_like({0}, {1}{opts})",
       sympy=lambda sp, t, x, axis=None, keepdims=False, mean=False: t,
       params=(("axis", None), ("keepdims", False), ("mean", False)),
       shape=lambda t, x, **_: x, vjp=_broadcast_like_vjp,
       jvp=lambda dots, t, x, out, axis, keepdims, mean: (
           None if dots[0] is None else _expand(dots[0], x, axis, keepdims, mean)),
       view="broadcast", helpers=(_broadcast_like,),
       doc="a reduction expanded back to x's shape"),
    _p("logsumexp", 1, _logsumexp, (), numpy="_logsumexp({0}{opts})",
       latex=r"\operatorname{logsumexp}",
       sympy=lambda sp, a, axis=-1, keepdims=False: sp.log(sp.exp(a)),
       params=(("axis", -1), ("keepdims", False)), shape=_reduce_params("logsumexp"),
       vjp=lambda bar, a, out, axis, keepdims: (
           _expand(bar, a, axis, keepdims, out=out)
           * call("exp", a - _expand(out, a, axis, keepdims)),),
       jvp=lambda dots, a, out, axis, keepdims: call(
           "sum", call("exp", a - _expand(out, a, axis, keepdims)) * dots[0], axis=axis,
           keepdims=keepdims),
       helpers=(_logsumexp,), doc="log(sum(exp(x))) over an axis, without overflow"),
    _p("softmax", 1, _softmax, (), numpy="_softmax({0}{opts})", latex=r"\operatorname{softmax}",
       sympy=lambda sp, a, axis=-1: sp.exp(a) / sp.exp(a), params=(("axis", -1),),
       shape=_along_axis("softmax"),
       vjp=lambda bar, a, out, axis: (
           out * (bar - _expand(call("sum", bar * out, axis=axis), a, axis, False)),),
       jvp=lambda dots, a, out, axis: out * (
           dots[0] - _expand(call("sum", dots[0] * out, axis=axis), a, axis, False)),
       helpers=(_softmax,), doc="exp(x) / sum(exp(x)) over an axis, without overflow"),
    _p("log_softmax", 1, _log_softmax, (), numpy="_log_softmax({0}{opts})",
       latex=r"\operatorname{log\_softmax}", sympy=lambda sp, a, axis=-1: a - a,
       params=(("axis", -1),),
       shape=_along_axis("log_softmax"),
       vjp=lambda bar, a, out, axis: (
           bar - call("exp", out) * _expand(call("sum", _exact(bar, out), axis=axis), a, axis,
                                            False),),
       jvp=lambda dots, a, out, axis: dots[0] - _expand(
           call("sum", call("exp", out) * dots[0], axis=axis), a, axis, False),
       helpers=(_logsumexp, _log_softmax), doc="x - logsumexp(x) over an axis"),
    _p("one_hot", 2, _one_hot, (), numpy="_one_hot({0}, {1})",
       sympy=lambda sp, labels, like: labels,
       shape=_one_hot_shape,
       vjp=lambda bar, labels, like, out: (None, None),
       jvp=lambda dots, labels, like, out: None, differentiable=False,
       helpers=(_classes, _one_hot), doc="integer labels as one-hot rows shaped like `like`"),
    # rules select the adjoint itself (np.where(c, bar, 0.0) keeps bar's dtype, where a
    # partial np.where(c, 1.0, 0.0) would be float64)
    _p("where", 3, lambda c, a, b: np.where(c, a, b), (), elementwise=True,
       vjp=lambda bar, c, a, b, out: (None, call("where", c, bar, 0.0),
                                      call("where", c, 0.0, bar)),
       jvp=lambda dots, c, a, b, out: call("where", c, 0.0 if dots[1] is None else dots[1],
                                           0.0 if dots[2] is None else dots[2]),
       numpy=_where_template,
       zero_d_array=True,
       sympy=lambda sp, c, a, b: sp.Piecewise((a, sp.Ne(c, 0)), (b, True)),
       doc="a where c is nonzero, else b"),
    # --- losses (means, so a batch's size does not change the learning rate) --------------
    _p("mse", 2, _mse, (), numpy="_mse({0}, {1})", latex=r"\operatorname{MSE}",
       sympy=lambda sp, p, t: (p - t) ** 2, shape=lambda p, t: _residual_shape(p, t) and (),
       vjp=lambda bar, p, t, out: (bar * call("mse_grad", p, t), -(bar * call("mse_grad", p, t))),
       jvp=lambda dots, p, t, out: _add_tangents(
           None if dots[0] is None else call("sum", call("mse_grad", p, t) * dots[0]),
           None if dots[1] is None else -call("sum", call("mse_grad", p, t) * dots[1])),
       helpers=(_residual, _mse), doc="mean((p - t)**2): mean squared error"),
    _p("mse_grad", 2, _mse_grad, (), numpy="_mse_grad({0}, {1})", sympy=lambda sp, p, t: p - t,
       shape=_residual_shape, elementwise=False,
       # linear in p - t: the derivative is 2 / size, what the output's size says
       vjp=lambda bar, p, t, out: (bar * (2 / call("size", out)), -(bar * (2 / call("size", out)))),
       jvp=lambda dots, p, t, out: (2 / call("size", out)) * _add_tangents(
           dots[0], None if dots[1] is None else -dots[1]),
       helpers=(_residual, _mse_grad), doc="2 (p - t) / size: the gradient of mse"),
    _p("bce_with_logits", 2, _bce_with_logits, (), numpy="_bce_with_logits({0}, {1})",
       latex=r"\operatorname{BCE}", sympy=lambda sp, z, y: sp.log(1 + sp.exp(z)) - y * z,
       shape=_loss_shape("bce_with_logits"),
       vjp=lambda bar, z, y, out: (bar * call("bce_with_logits_grad", z, y),
                                   bar * (-z / call("size", z))),
       jvp=lambda dots, z, y, out: _add_tangents(
           None if dots[0] is None else call("sum", call("bce_with_logits_grad", z, y) * dots[0]),
           None if dots[1] is None else call("sum", -z * dots[1]) / call("size", z)),
       helpers=(_bce_with_logits,), doc="mean(softplus(z) - y z): cross-entropy of logits"),
    _p("bce_with_logits_grad", 2, _bce_with_logits_grad, (),
       numpy="_bce_with_logits_grad({0}, {1})", sympy=lambda sp, z, y: z,
       shape=lambda z, y: broadcast_shapes(z, y), vjp=_no_second_derivative("bce_with_logits"),
       jvp=_no_second_derivative("bce_with_logits"), helpers=(_bce_with_logits_grad,),
       doc="(sigmoid(z) - y) / size: the gradient of bce_with_logits"),
    _p("softmax_xent", 2, _softmax_xent, (), numpy="_softmax_xent({0}, {1})",
       latex=r"\operatorname{CE}", sympy=lambda sp, z, y: z, shape=_loss_shape("softmax_xent"),
       vjp=lambda bar, z, y, out: (bar * call("softmax_xent_grad", z, y), _xent_target_vjp(bar, z, y)),
       jvp=lambda dots, z, y, out: _add_tangents(
           None if dots[0] is None else call("sum", call("softmax_xent_grad", z, y) * dots[0]),
           None if dots[1] is None else _xent_target_jvp(dots[1], z, y)),
       helpers=(_classes, _class_labels, _softmax_xent),
       doc="mean over rows of -sum(y log softmax(z)); y one-hot rows or integer labels"),
    _p("softmax_xent_grad", 2, _softmax_xent_grad, (), numpy="_softmax_xent_grad({0}, {1})",
       sympy=lambda sp, z, y: z, shape=lambda z, y: z, vjp=_no_second_derivative("softmax_xent"),
       jvp=_no_second_derivative("softmax_xent"),
       helpers=(_classes, _class_labels, _softmax_xent_grad),
       doc="(softmax(z) sum(y) - y) / rows: the gradient of softmax_xent"),
    # --- activation functions (the lecture's table) ---------------------------------------
    _p("identity", 1, np.positive, (lambda x, out: 1,), numpy="{0}", view="same", zero_d_array=True,
       latex=r"\operatorname{id}", sympy=lambda sp, x: x),
    # a comparison written straight into an array of the argument's type: one pass, and
    # ~50x faster than np.heaviside
    _p("binary_step", 1, _binary_step,
       (lambda x, out: 0,), numpy="np.greater_equal({0}, 0, out=np.empty_like({0}))",
       latex=r"\operatorname{step}", zero_d_array=True,
       sympy=lambda sp, x: sp.Heaviside(x, 1), aliases=("step", "heaviside"),
       differentiable=False, doc="0 for x < 0, 1 for x >= 0"),
    _p("sigmoid", 1, _sigmoid, (lambda x, out: out * (1 - out),),
       numpy="np.exp(-np.logaddexp(0.0, -{0}))", latex=r"\sigma",
       sympy=lambda sp, x: 1 / (1 + sp.exp(-x)), aliases=("logistic",),
       doc="1 / (1 + exp(-x)), computed without overflow"),
    _p("softsign", 1, lambda x: x / (1 + np.abs(x)), (lambda x, out: (1 + call("abs", x)) ** -2,),
       numpy="{0} / (1 + np.abs({0}))", sympy=lambda sp, x: x / (1 + sp.Abs(x))),
    _p("isru", 1, lambda x, alpha: x / np.sqrt(1 + alpha * x * x),
       (lambda x, out, alpha: (1 + alpha * x**2) ** -1.5,),
       numpy="{0} / np.sqrt(1 + {alpha} * {0} * {0})",
       sympy=lambda sp, x, alpha: x / sp.sqrt(1 + alpha * x**2),
       params=(("alpha", 1.0),), doc="inverse square root unit x / sqrt(1 + alpha x**2)"),
    _p("relu", 1, lambda x: np.maximum(x, 0.0), (lambda x, out: _step(x),),
       numpy="np.maximum({0}, 0.0)", sympy=lambda sp, x: sp.Max(0, x),
       doc="max(x, 0); derivative 1 for x >= 0 as in the lecture"),
    _p("leaky_relu", 1, _leaky, (lambda x, out, alpha: alpha + (1 - alpha) * _step(x),),
       numpy="np.where({0} >= 0, {0}, {alpha} * {0})", zero_d_array=True,
       sympy=lambda sp, x, alpha: sp.Piecewise((x, x >= 0), (alpha * x, True)),
       params=(("alpha", 0.01),), doc="x for x >= 0, alpha*x otherwise"),
    _p("prelu", 2, lambda x, a: np.where(x >= 0, x, a * x),
       (lambda x, a, out: a + (1 - a) * _step(x), lambda x, a, out: call("minimum", x, 0.0)),
       numpy="np.where({0} >= 0, {0}, {1} * {0})", zero_d_array=True,
       sympy=lambda sp, x, a: sp.Piecewise((x, x >= 0), (a * x, True)),
       doc="x for x >= 0, a*x otherwise, with a a learnable input"),
    _p("softplus", 1, lambda x: np.logaddexp(0.0, x), (lambda x, out: call("sigmoid", x),),
       numpy="np.logaddexp(0.0, {0})", sympy=lambda sp, x: sp.log(1 + sp.exp(x)),
       doc="log(1 + exp(x)), computed without overflow"),
]

# === the array vocabulary (issue 11) ==========================================================
# Comparisons, rounding, special functions, reductions, shapes and indexing.  Points where a
# function is not differentiable follow JAX: floor, ceil, round, sign and comparisons have
# derivative 0; max and min split the adjoint evenly among tied entries.

_SQRT_PI, _TWO_OVER_SQRT_PI = math.sqrt(math.pi), 2 / math.sqrt(math.pi)
_GELU_C = math.sqrt(2 / math.pi)  # the tanh approximation's sqrt(2/pi)


def _comparison(name: str, symbol: str, relation: str, doc: str) -> Primitive:
    ufunc = getattr(np, name)
    return _p(name, 2, ufunc, (lambda x, y, out: 0, lambda x, y, out: 0),
              numpy=f"{{0}} {symbol} {{1}}",
              latex=" " + {"<=": r"\le", ">=": r"\ge", "==": "=", "!=": r"\ne"}.get(
                  symbol, symbol) + " ",
              symbol=symbol, prec=PREC_CMP, differentiable=False,
              sympy=lambda sp, x, y: sp.Piecewise((1, getattr(sp, relation)(x, y)), (0, True)),
              doc=f"{doc}: a boolean array, as in NumPy; derivative 0 (as JAX)")


def _sinc_partial(x, out):
    # sinc(x) = j0(pi x), and j0' = -j1: no division by x, so every order is exact at 0
    return -math.pi * call("spherical_jn", math.pi * x, n=1)


def _spherical_jn_partial(z, out, n):
    # j_n' = (n j_{n-1} - (n+1) j_{n+1}) / (2n+1), and j_0' = -j_1: no 1/z anywhere
    if n == 0:
        return -call("spherical_jn", z, n=1)
    return (n * call("spherical_jn", z, n=n - 1)
            - (n + 1) * call("spherical_jn", z, n=n + 1)) / (2 * n + 1)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(_GELU_C * (x + 0.044715 * x**3)))


def _gelu_tanh_partial(x, out):
    t = call("tanh", _GELU_C * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * ((1 - t) * (1 + t)) * (_GELU_C * (1 + 0.134145 * x**2))


# --- reductions: rules as graphs -------------------------------------------------------------

def _extreme_weights(x, out, axis, keepdims, sign):
    """1/k on each of the k entries equal to the extreme value (JAX's even split of ties),
    in x's floating type: sign*(x - extreme) <= 0 is 0 exactly there."""
    hit = _step(sign * (x - _expand(out, x, axis, keepdims)))
    return hit / _expand(call("sum", hit, axis=axis, keepdims=keepdims), x, axis, keepdims)


def _extreme_rules(sign):
    """vjp and jvp of max (sign 1) and min (sign -1)."""
    def vjp(bar, x, out, axis, keepdims):
        weights = _extreme_weights(x, out, axis, keepdims, sign)
        return (_expand(bar, x, axis, keepdims, out=out) * weights,)

    def jvp(dots, x, out, axis, keepdims):
        weights = _extreme_weights(x, out, axis, keepdims, sign)
        return call("sum", _exact(dots[0], x) * weights, axis=axis, keepdims=keepdims)
    return vjp, jvp


def _shift(y, axis, s, fill):
    """y moved s places along the axis (s > 0: towards the end, `fill` in front; s < 0:
    towards the start, `fill` behind), its size read when it runs."""
    def part(lo, hi):
        return call("getitem", y, index=_along(axis, slice(lo, hi)))
    if s > 0:
        return call("concatenate", call("broadcast_like", fill, part(0, s)), part(0, -s),
                    axis=axis)
    return call("concatenate", part(-s, None), call("broadcast_like", fill, part(s, None)),
                axis=axis)


def _others_along(v, axis):
    """The product of the other entries along one axis: the running products before
    each entry times those after it (no division, so exact with zeros)."""
    before = _shift(call("cumprod", v, axis=axis), axis, 1, 1.0)
    flipped = call("cumprod", call("flip", v, axis=axis), axis=axis)
    return before * call("flip", _shift(flipped, axis, 1, 1.0), axis=axis)


def _prod_others(x, axis):
    """The product of the other entries of each entry's group (those prod multiplies
    together), exact with zeros at every order, whatever is known of the shape: along
    several axes, the others along the first axis times the others, along the rest, of
    the products over the first."""
    if axis is None:
        return call("reshape_like", _others_along(call("ravel", x), 0), x)
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = _others_along(x, axes[0])
    if len(axes) > 1:
        rest = _prod_others(call("prod", x, axis=axes[0], keepdims=True), axes[1:])
        out = out * rest
    return out


def _cumprod_vjp(bar, x, out, axis):
    # y[j] = x[j] y[j-1]: the adjoint g[j] = bar[j] + x[j+1] g[j+1] is a linear scan from
    # the end, and d y / d x[j] reaches x[j] through y[j-1]
    flat = axis is None
    v, y = (call("ravel", x), out) if flat else (x, out)
    ax = 0 if flat else axis
    g = call("linear_scan", _shift(v, ax, -1, 0.0), _exact(bar, out), axis=ax, reverse=True)
    t = g * _shift(y, ax, 1, 1.0)
    return (call("reshape_like", t, x) if flat else t,)


def _cumprod_jvp(dots, x, out, axis):
    # d y[j] = x[j] d y[j-1] + d x[j] y[j-1]: a linear scan
    flat = axis is None
    d = _exact(dots[0], x)
    v, d = (call("ravel", x), call("ravel", d)) if flat else (x, d)
    ax = 0 if flat else axis
    return call("linear_scan", v, d * _shift(out, ax, 1, 1.0), axis=ax)


def _scan_vjp(bar, a, b, out, axis, reverse):
    # h[j] = a[j] h[j-1] + b[j]: b's adjoint is the scan the other way with a moved one
    # place (g[j] = bar[j] + a[j+1] g[j+1]); a's is g[j] h[j-1]
    step = -1 if not reverse else 1
    g = call("linear_scan", _shift(call("broadcast_like", a, out), axis, step, 0.0),
             _exact(bar, out), axis=axis, reverse=not reverse)
    return (call("sum_to", g * _shift(out, axis, -step, 0.0), a, out),
            call("sum_to", g, b, out))


def _scan_jvp(dots, a, b, out, axis, reverse):
    step = 1 if not reverse else -1
    terms = [None if dots[0] is None else _exact(dots[0], a) * _shift(out, axis, step, 0.0),
             None if dots[1] is None else dots[1]]
    return call("linear_scan", a, _add_tangents(*terms), axis=axis, reverse=reverse)


def _scan_shape(a, b, axis=0, reverse=False):
    out = broadcast_shapes(a, b, op="linear_scan")
    _axis_of("linear_scan", len(out), axis)
    return out


def _moments(x, out, axis, keepdims, ddof):
    """x - mean(x) and the divisor n - ddof of a variance over `axis`."""
    centred = x - _expand(call("mean", x, axis=axis, keepdims=keepdims), x, axis, keepdims)
    return centred, call("size", x) / call("size", out) - ddof


def _var_vjp(bar, x, out, axis, keepdims, ddof):
    d, n = _moments(x, out, axis, keepdims, ddof)
    return (_expand(bar, x, axis, keepdims, out=out) * d * (2 / n),)


def _var_jvp(dots, x, out, axis, keepdims, ddof):
    d, n = _moments(x, out, axis, keepdims, ddof)
    return call("sum", d * _exact(dots[0], x), axis=axis, keepdims=keepdims) * (2 / n)


def _std_vjp(bar, x, out, axis, keepdims, ddof):
    d, n = _moments(x, out, axis, keepdims, ddof)
    return (_expand(_exact(bar, out) / out, x, axis, keepdims) * d / n,)


def _std_jvp(dots, x, out, axis, keepdims, ddof):
    d, n = _moments(x, out, axis, keepdims, ddof)
    return call("sum", d * _exact(dots[0], x), axis=axis, keepdims=keepdims) / (n * out)


def _cumsum_vjp(bar, x, out, axis, reverse):
    back = call("cumsum", _exact(bar, out), axis=axis, reverse=not reverse)
    return (back if axis is not None else call("reshape_like", back, x),)


# --- shapes ----------------------------------------------------------------------------------

def _axis_of(op, nd, axis):
    if not -nd <= axis < nd:
        raise ValueError(f"{op}: axis {axis} is out of range for {nd} dimensions")
    return axis % nd


def _reshape_shape(a, shape):
    known = [d for d in a if d is not None]
    free = [k for k, d in enumerate(shape) if d == -1]
    if len(free) > 1 or any(d < -1 for d in shape):
        raise ValueError(f"reshape: {shape} is not a shape (one -1 at most)")
    if None in a:
        return tuple(None if d == -1 else d for d in shape) if free else tuple(shape)
    size, rest = math.prod(known), math.prod(d for d in shape if d != -1)
    if free and (rest == 0 or size % rest) or not free and size != rest:
        raise ValueError(f"reshape: cannot reshape shape {_dim_text(a)} ({size} entries) "
                         f"into {_dim_text(tuple(shape))}")
    return tuple(size // rest if d == -1 else d for d in shape)


def _squeeze_shape(a, axis=None):
    if axis is None:
        return tuple(d for d in a if d != 1)
    axes = {_axis_of("squeeze", len(a), k) for k in (axis if isinstance(axis, tuple)
                                                      else (axis,))}
    for k in axes:
        if a[k] not in (1, None):
            raise ValueError(f"squeeze: axis {k} of shape {_dim_text(a)} has size {a[k]}, "
                             f"not 1")
    return tuple(d for k, d in enumerate(a) if k not in axes)


def _expand_dims_shape(a, axis=0):
    axes = axis if isinstance(axis, tuple) else (axis,)
    nd = len(a) + len(axes)
    at = {_axis_of("expand_dims", nd, k) for k in axes}
    rest = iter(a)
    return tuple(1 if k in at else next(rest) for k in range(nd))


def _moveaxis_shape(a, source=0, destination=-1):
    nd = len(a)
    order = [k for k in range(nd) if k != _axis_of("moveaxis", nd, source)]
    order.insert(_axis_of("moveaxis", nd, destination), source % nd)
    return tuple(a[k] for k in order)


def _swapaxes_shape(a, axis1=0, axis2=1):
    out = list(a)
    i, j = _axis_of("swapaxes", len(a), axis1), _axis_of("swapaxes", len(a), axis2)
    out[i], out[j] = out[j], out[i]
    return tuple(out)


def _broadcast_to_shape(a, shape):
    full = broadcast_shapes(a, tuple(shape), op="broadcast_to")
    if full != tuple(shape):
        raise ValueError(f"broadcast_to: shape {_dim_text(a)} does not broadcast to "
                         f"{_dim_text(tuple(shape))}")
    return full


def _getitem(x, index):
    return np.asarray(x)[to_python_index(index)]


def _getitem_template(a, index=(), opts=""):
    return f"{a}[{index_text(index)}]"


def _take_shape(x, i):
    return None  # integers pick i's shape, a boolean mask its count: known when run


def _refuse(op):
    def rule(sp, *args, **params):
        raise NotImplementedError(f"{op} has no SymPy counterpart: SymPy's expressions here "
                                  f"are scalars, with no Indexed or MatrixSlice to index")
    return rule


# --- products and joins -----------------------------------------------------------------------

_SPEC = re.compile(r"[a-zA-Z]*(,[a-zA-Z]*)*->[a-zA-Z]*")


def _spec_value(op, key, value):
    """An einsum specification: letters per operand, ',' between them, '->' the output."""
    if not isinstance(value, str) or not _SPEC.fullmatch(value.replace(" ", "")):
        raise TypeError(f"{op}() parameter {key} must be a specification such as "
                        f"'ij,jk->ik', got {value!r}")
    value = value.replace(" ", "")
    ins, out = _spec_parts(value)
    if len(set(out)) != len(out) or set(out) - set("".join(ins)):
        raise ValueError(f"{op}: in {value!r} an output index repeats or is in no operand")
    return value


def _join_value(op, key, value):
    if value not in ("concatenate", "vstack", "hstack"):
        raise TypeError(f"{op}() parameter {key} must be 'concatenate', 'vstack' or "
                        f"'hstack', got {value!r}")
    return value


def _embed_value(op, key, value):
    """einsum_embed's 'ij->iij': t's distinct letters, then where they go in x."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-zA-Z]*->[a-zA-Z]*", value):
        raise TypeError(f"{op}() parameter {key} must be such as 'i->ii', got {value!r}")
    return value


# string parameters by name: how each one is checked
_STRINGS = {"spec": _spec_value, "join": _join_value, "embed": _embed_value}


def _spec_parts(spec):
    """The operands' letters (a list) and the output's."""
    ins, out = spec.split("->")
    return ins.split(","), out


def _einsum_shape(*shapes, spec=""):
    ins, out = _spec_parts(spec)
    sizes: dict[str, Any] = {}
    texts = " and ".join(_dim_text(s) for s in shapes)
    for letters, shape in zip(ins, shapes):
        if len(letters) != len(shape):
            raise ValueError(f"einsum: {letters!r} names {len(letters)} axes, but the operand "
                             f"has shape {_dim_text(shape)}")
        for c, d in zip(letters, shape):
            if sizes.get(c, d) != d and None not in (d, sizes[c]):
                raise ValueError(f"einsum {spec!r}: index {c!r} has sizes {sizes[c]} and {d} "
                                 f"(shapes {texts})")
            sizes[c] = d if sizes.get(c) is None else sizes[c]
    return tuple(sizes[c] for c in out)


def _einsum_template(*args, spec="", opts=""):
    return f"np.einsum({spec!r}, {', '.join(args)})"


def _einsum_vjp(bar, *args, spec):
    """Each operand's adjoint: an einsum of the output's adjoint and the other operands
    onto the operand's distinct indices, then put back where the operand's indices repeat
    (a diagonal) or broadcast along those that appear nowhere else (summed away)."""
    *xs, out = args
    ins, result = _spec_parts(spec)
    bar = _exact(bar, out)
    adjoints = []
    for k, (x, letters) in enumerate(zip(xs, ins)):
        others = [ins[j] for j in range(len(xs)) if j != k]
        seen = set(result).union(*others)
        kept = "".join(c for c in dict.fromkeys(letters) if c in seen)
        t = bar if not others and kept == result else call(
            "einsum", bar, *[xs[j] for j in range(len(xs)) if j != k],
            spec=",".join([result, *others]) + "->" + kept)
        if kept == letters:
            adjoints.append(t)
        elif len(set(letters)) == len(letters):  # only summed away: a broadcast view
            axes = tuple(i for i, c in enumerate(letters) if c not in kept)
            adjoints.append(call("broadcast_like", t, x, axis=axes, keepdims=False))
        else:
            adjoints.append(call("einsum_embed", t, x, embed=f"{kept}->{letters}"))
    return tuple(adjoints)


def _einsum_jvp(dots, *args, spec):
    *xs, _ = args
    return _add_tangents(*(
        None if d is None else call("einsum", *xs[:k], _exact(d, xs[k]), *xs[k + 1:], spec=spec)
        for k, d in enumerate(dots)))


def _embed_shape(t, x, embed="->"):
    src, dst = embed.split("->")
    if len(src) != len(t) or len(dst) != len(x) or set(src) - set(dst) \
            or len(set(src)) != len(src):
        raise ValueError(f"einsum_embed: {embed!r} does not fit shapes {_dim_text(t)} "
                         f"and {_dim_text(x)}")
    return x


def _along(axis, item):
    """A basic index that applies `item` along `axis` whatever the number of dimensions."""
    if axis < 0:
        return (Ellipsis, item) + (slice(None),) * (-axis - 1)
    return (slice(None),) * axis + (item,)


def _joined_shape(op, *shapes, axis=0):
    texts = " and ".join(_dim_text(s) for s in shapes)
    first = shapes[0]
    if any(len(s) != len(first) for s in shapes) or len(first) == 0:
        raise ValueError(f"{op}: shapes {texts} must have the same number of dimensions "
                         f"(at least 1)")
    k = _axis_of(op, len(first), axis)
    out = []
    for i, dims in enumerate(zip(*shapes)):
        known = {d for d in dims if d is not None}
        if i == k:
            out.append(None if None in dims else sum(dims))
        elif len(known) > 1:
            raise ValueError(f"{op}: shapes {texts} differ off axis {axis}")
        else:
            out.append(known.pop() if known else None)
    return tuple(out)


def _join_template(fn, with_axis=True):
    def template(*args, axis=0, opts=""):
        items = ", ".join(args) + ("," if len(args) == 1 else "")
        return f"np.{fn}(({items})" + (f", axis={axis})" if with_axis else ")")
    return template


def _zeros_or(dot, x):
    """A tangent, or zeros of x's shape where there is none."""
    return call("broadcast_like", 0.0, x) if dot is None else _exact(dot, x)


def _join_rules(join):
    """vjp and jvp of concatenate, vstack and hstack, for any number of operands.  With the
    sizes along the axis known, each adjoint is a slice of the output's; otherwise unjoin
    reads them when it runs."""
    def vjp(bar, *args, **kw):
        *xs, out = args
        bar = _exact(bar, out)
        shapes = [x.shape for x in xs]
        if None in shapes or join == "hstack" and len(shapes[0]) == 0:
            return tuple(call("unjoin", bar, *xs, part=k, join=join, **kw)
                         for k in range(len(xs)))
        if join == "concatenate":
            axis = kw["axis"]
            sizes = [s[axis] for s in shapes]
        elif join == "vstack":
            axis, sizes = 0, [1 if len(s) <= 1 else s[0] for s in shapes]
        else:
            axis = 0 if len(shapes[0]) == 1 else 1
            sizes = [s[axis] for s in shapes]
        if None in sizes:
            return tuple(call("unjoin", bar, *xs, part=k, join=join, **kw)
                         for k in range(len(xs)))
        bounds = [0, *itertools.accumulate(sizes)]
        parts = [call("getitem", bar, index=_along(axis, slice(lo, hi)))
                 for lo, hi in itertools.pairwise(bounds)]
        return tuple(call("reshape_like", p, x) if join == "vstack" and len(x.shape) <= 1
                     else p for p, x in zip(parts, xs))

    def jvp(dots, *args, **kw):
        *xs, _ = args
        return call(join, *[_zeros_or(d, x) for d, x in zip(dots, xs)], **kw)
    return vjp, jvp


def _unjoin_shape(t, *xs, part=0, join="concatenate", axis=0):
    if not 0 <= part < len(xs):
        raise ValueError(f"unjoin: part {part} of {len(xs)} operands")
    return xs[part]


def _unjoin_vjp(bar, t, *args, part, join, axis):
    *xs, out = args
    bar = _exact(bar, out)
    kw = {"axis": axis} if join == "concatenate" else {}
    pieces = [bar if k == part else call("broadcast_like", 0.0, x) for k, x in enumerate(xs)]
    return (call(join, *pieces, **kw),) + (None,) * len(xs)


def _unjoin_jvp(dots, t, *args, part, join, axis):
    *xs, _ = args
    return None if dots[0] is None else call("unjoin", _exact(dots[0], t), *xs, part=part,
                                             join=join, axis=axis)


def _stack_shape(*shapes, axis=0):
    first = shapes[0]
    if any(s != first for s in shapes):
        raise ValueError(f"stack: shapes {' and '.join(_dim_text(s) for s in shapes)} differ")
    k = _axis_of("stack", len(first) + 1, axis)
    return first[:k] + (len(shapes),) + first[k:]


def _split_count(sections=1, axis=0, **_):
    return sections if isinstance(sections, int) else len(sections) + 1


def _split_shape(x, sections=1, axis=0, part=0):
    k = _axis_of("split", len(x), axis)
    n, count = x[k], _split_count(sections)
    if not 0 <= part < count:
        raise ValueError(f"split: part {part} of {count}")
    if isinstance(sections, int):
        if sections <= 0 or n is not None and n % sections:
            raise ValueError(f"split: axis {axis} of shape {_dim_text(x)} does not divide "
                             f"into {sections} equal parts")
        size = None if n is None else n // sections
    else:
        bounds = [0, *sections, n]
        lo, hi = bounds[part], bounds[part + 1]
        size = None if None in (lo, hi) or n is None else len(range(n)[slice(lo, hi)])
    return x[:k] + (size,) + x[k + 1:]


def _split_text(x, sections=1, axis=0, part=0, opts=""):
    return f"split({x}, {sections!r}, axis={axis})[{part}]"


def _split_vjp(bar, x, out, sections, axis, part):
    """The part's adjoint in its place, zeros (shaped like the other parts) elsewhere."""
    pieces = [_exact(bar, out) if k == part else call(
        "broadcast_like", 0.0, call("split", x, sections=sections, axis=axis, part=k))
        for k in range(_split_count(sections))]
    return (call("concatenate", *pieces, axis=axis),)


def _cross_shape(a, b):
    if not a or not b or a[-1] not in (3, None) or b[-1] not in (3, None):
        raise ValueError(f"cross: takes vectors of 3 entries along the last axis, got shapes "
                         f"{_dim_text(a)} and {_dim_text(b)}")
    return broadcast_shapes(a, b, op="cross")


# --- rearrangements ---------------------------------------------------------------------------

def _at_least_2d(op):
    def rule(a, **_):
        if len(a) < 2:
            raise ValueError(f"{op}: takes arrays of 2 dimensions or more, got shape "
                             f"{_dim_text(a)}")
        return a
    return rule


def _permutation(op, inverse, impl, doc):
    """sort_by or unsort_by: t permuted as sorting key says (or back); linear in t, and
    the key only lends its order.  Each one's adjoint is the other."""
    return _p(op, 2, impl, (), numpy=f"{impl.__name__}({{0}}, {{1}}, axis={{axis}})",
              sympy=lambda sp, t, key, axis=-1: t, params=(("axis", -1),),
              shape=lambda t, key, axis=-1: broadcast_shapes(t, key, op=op) and key,
              vjp=lambda bar, t, key, out, axis: (
                  call(inverse, _exact(bar, out), key, axis=axis), None),
              jvp=lambda dots, t, key, out, axis: None if dots[0] is None else call(
                  op, _exact(dots[0], t), key, axis=axis),
              helpers=(impl,), doc=doc)


def _diff_shape(a, n=1, axis=-1):
    k = _axis_of("diff", len(a), axis)
    if n < 0:
        raise ValueError(f"diff: n must be 0 or more, got {n}")
    return tuple(None if d is None else max(d - n, 0) if i == k else d
                 for i, d in enumerate(a))


def _diff_vjp(bar, x, out, n, axis):
    t = _exact(bar, out)
    for k in reversed(range(n)):  # d(x[1:] - x[:-1]): scattered back, shifted
        src = x if k == 0 else call("diff", x, n=k, axis=axis)
        t = call("index_add", t, src, index=_along(axis, slice(1, None))) - \
            call("index_add", t, src, index=_along(axis, slice(None, -1)))
    return (t,)


def _diagonal_shape(a, offset=0, axis1=0, axis2=1):
    i, j = _axis_of("diagonal", len(a), axis1), _axis_of("diagonal", len(a), axis2)
    if i == j:
        raise ValueError("diagonal: axis1 and axis2 must differ")
    n, m = a[i], a[j]
    size = None if None in (n, m) else max(0, min(n, m - offset) if offset >= 0
                                           else min(n + offset, m))
    return tuple(d for k, d in enumerate(a) if k not in (i, j)) + (size,)


def _diagonal_rules(op):
    """vjp and jvp of diagonal (op "diagonal") and of its adjoint diagonal_add; `kw` are
    the parameters offset, axis1 and axis2."""
    def vjp(bar, *args, **kw):
        *args, out = args
        if op == "diagonal":
            return (call("diagonal_add", _exact(bar, out), args[0], **kw),)
        return call("diagonal", _exact(bar, out), **kw), None

    def jvp(dots, *args, **kw):
        args = args[:-1]  # without the output
        if dots[0] is None:
            return None
        return call(op, _exact(dots[0], args[0]), *args[1:], **kw)
    return vjp, jvp


def _trace_vjp(bar, x, out, **kw):
    d = call("diagonal", x, **kw)
    return (call("diagonal_add", _expand(bar, d, -1, False, out=out), x, **kw),)


def _repeat_shape(a, repeats=1, axis=None):
    if axis is None:
        return (None if None in a else math.prod(a) * repeats,)
    k = _axis_of("repeat", len(a), axis)
    return tuple(None if d is None else d * repeats if i == k else d for i, d in enumerate(a))


def _unrepeat_shape(t, repeats=1, axis=0):
    k = _axis_of("repeat", len(t), axis)
    if t[k] is not None and t[k] % repeats:
        raise ValueError(f"unrepeat: axis {axis} of shape {_dim_text(t)} is not a multiple "
                         f"of {repeats}")
    return tuple(None if d is None else d // repeats if i == k else d for i, d in enumerate(t))


def _tile_shape(a, reps=1):
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    n = max(len(a), len(reps))
    a, reps = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(reps)) + reps
    return tuple(None if d is None else d * r for d, r in zip(a, reps))


def _pad_shape(a, pad_width=0):
    return tuple(None if d is None else d + b + e
                 for d, (b, e) in zip(a, _pad_widths(len(a), pad_width)))


def _unpad_shape(t, pad_width=0):
    return tuple(None if d is None else d - b - e
                 for d, (b, e) in zip(t, _pad_widths(len(t), pad_width)))


def _bilinear_rules(op):
    """vjp and jvp of tensordot, inner, dot and kron (bilinear in a and b).  With both
    shapes known each adjoint is an einsum (kron's through a reshape); otherwise
    bilinear_adjoint computes it from the shapes it meets when it runs."""
    def vjp(bar, a, b, out, **kw):
        if a.shape is None or b.shape is None:
            bar = _exact(bar, out)
            return (call("bilinear_adjoint", bar, b, a, product=op, first=True, **kw),
                    call("bilinear_adjoint", bar, a, b, product=op, first=False, **kw))
        if op == "kron":
            return _kron_vjp(bar, a, b, out)
        if op == "dot" and (a.shape == () or b.shape == ()):  # a product with a number
            bar = _exact(bar, out)
            return call("sum_to", bar * b, a, out), call("sum_to", bar * a, b, out)
        return _einsum_vjp(bar, a, b, out,
                           spec=_contraction(op, len(a.shape), len(b.shape), **kw))

    def jvp(dots, a, b, out, **kw):
        return _add_tangents(
            None if dots[0] is None else call(op, _exact(dots[0], a), b, **kw),
            None if dots[1] is None else call(op, a, _exact(dots[1], b), **kw))
    return vjp, jvp


def _adjoint_vjp(bar, t, y, like, out, product, axes, first):
    # u = A(t, y) is linear in t (its adjoint applies the product again) and in y (its adjoint is
    # the other operand's adjoint): <u, w> = <t, product(w, y)> = <y, A'(t, w)>
    w = _exact(bar, out)
    kw = {"axes": axes} if product == "tensordot" else {}
    return (call(product, w, y, **kw) if first else call(product, y, w, **kw),
            call("bilinear_adjoint", t, w, y, product=product, axes=axes, first=not first),
            None)


def _adjoint_jvp(dots, t, y, like, out, product, axes, first):
    kw = {"product": product, "axes": axes, "first": first}
    return _add_tangents(
        None if dots[0] is None else call("bilinear_adjoint", _exact(dots[0], t), y, like, **kw),
        None if dots[1] is None else call("bilinear_adjoint", t, _exact(dots[1], y), like, **kw))


def _op_value(op, key, value):
    if value not in ("tensordot", "inner", "dot", "kron", "matmul"):
        raise TypeError(f"{op}() parameter {key} must be 'tensordot', 'inner', 'dot', "
                        f"'kron' or 'matmul', got {value!r}")
    return value


_STRINGS["product"] = _op_value


def _dot_shape(a, b):
    if not a or not b:
        return broadcast_shapes(a, b, op="dot")
    inner = b[-2] if len(b) >= 2 else b[0]
    if a[-1] != inner:
        raise ValueError(f"dot: shapes {_dim_text(a)} and {_dim_text(b)} do not align "
                         f"(inner sizes {a[-1]} and {inner})")
    return tuple(a[:-1]) + tuple(b[:-2]) + tuple(b[-1:] if len(b) >= 2 else ())


def _kron_shape(a, b):
    if len(a) != len(b) or len(a) not in (1, 2):
        raise ValueError(f"kron: takes two vectors or two matrices, got shapes "
                         f"{_dim_text(a)} and {_dim_text(b)}")
    return tuple(None if None in (m, n) else m * n for m, n in zip(a, b))


def _kron_vjp(bar, a, b, out):
    # kron(a, b)[i p, j q] = a[i, j] b[p, q]: the adjoint viewed with one axis per index
    split = tuple(d for pair in zip(a.shape, b.shape) for d in pair)
    t = call("reshape", _exact(bar, out), shape=split)
    vectors = len(a.shape) == 1
    return (call("einsum", t, b, spec="ip,p->i" if vectors else "ipjq,pq->ij"),
            call("einsum", a, t, spec="i,ip->p" if vectors else "ij,ipjq->pq"))


def _stack2_shape(op):
    def rule(*shapes):
        if op == "vstack":  # vectors are rows
            rows = [s if len(s) >= 2 else (1,) + tuple(s) for s in shapes]
            return _joined_shape(op, *rows, axis=0)
        return _joined_shape(op, *shapes, axis=1 if len(shapes[0]) >= 2 else 0)
    return rule


def _diag_rules():
    def shape(a, k=0):
        if len(a) == 1:
            n = None if a[0] is None else a[0] + abs(k)
            return (n, n)
        if len(a) == 2:
            return _diagonal_shape(a, offset=k)
        raise ValueError(f"diag: takes a vector or a matrix, got shape {_dim_text(a)}")

    def vjp(bar, a, out, k):
        bar = _exact(bar, out)
        if a.shape is None:  # a vector or a matrix: known when it runs
            return (call("undiag", bar, a, k=k),)
        if len(a.shape) == 1:
            return (call("diagonal", bar, offset=k),)
        return (call("diagonal_add", bar, a, offset=k),)

    def jvp(dots, a, out, k):
        return call("diag", _exact(dots[0], a), k=k)
    return shape, vjp, jvp


def _tensordot_axes(a, b, axes):
    """tensordot's axes as a pair of sequences, checked against the shapes."""
    if isinstance(axes, int):
        if axes < 0 or axes > min(len(a), len(b)):
            raise ValueError(f"tensordot: axes={axes} for shapes {_dim_text(a)} and "
                             f"{_dim_text(b)}")
        return tuple(range(len(a) - axes, len(a))), tuple(range(axes))
    if len(axes) != 2 or not all(isinstance(x, tuple) for x in axes) \
            or len(axes[0]) != len(axes[1]):
        raise ValueError(f"tensordot: axes must be an integer or a pair of sequences of the "
                         f"same length, got {axes}")
    left = tuple(_axis_of("tensordot", len(a), k) for k in axes[0])
    right = tuple(_axis_of("tensordot", len(b), k) for k in axes[1])
    if len(set(left)) != len(left) or len(set(right)) != len(right):
        raise ValueError(f"tensordot: axes {axes} repeat an axis")
    return left, right


def _tensordot_shape(a, b, axes=2):
    left, right = _tensordot_axes(a, b, axes)
    if any(a[i] != b[j] and None not in (a[i], b[j]) for i, j in zip(left, right)):
        raise ValueError(f"tensordot: axes {axes} of {_dim_text(a)} and {_dim_text(b)} "
                         f"differ in size")
    return tuple(d for k, d in enumerate(a) if k not in left) + \
        tuple(d for k, d in enumerate(b) if k not in right)


def _inner_shape(a, b):
    if not a or not b or a[-1] != b[-1]:
        raise ValueError(f"inner: the last axes of {_dim_text(a)} and {_dim_text(b)} differ")
    return tuple(a[:-1]) + tuple(b[:-1])



class _Index(tuple):
    """The default of a basic-index parameter (see vocabulary.normalize_index)."""


_VOCABULARY = [
    # --- comparisons (infix, below arithmetic) ----------------------------------------------
    _comparison("less", "<", "Lt", "x < y"),
    _comparison("less_equal", "<=", "Le", "x <= y"),
    _comparison("greater", ">", "Gt", "x > y"),
    _comparison("greater_equal", ">=", "Ge", "x >= y"),
    _comparison("equal", "==", "Eq", "x == y (text and gd.equal; Graph == is structural)"),
    _comparison("not_equal", "!=", "Ne", "x != y (text and gd.not_equal)"),
    # --- rounding: piecewise constant, derivative 0 (as JAX) --------------------------------
    _p("floor", 1, np.floor, (lambda x, out: 0,), latex=r"\operatorname{floor}",
       differentiable=False, doc="largest integer <= x; derivative 0"),
    _p("ceil", 1, np.ceil, (lambda x, out: 0,), sympy="ceiling", differentiable=False,
       doc="smallest integer >= x; derivative 0"),
    _p("round", 1, np.round, (lambda x, out: 0,), differentiable=False,
       sympy=lambda sp, x: sp.floor(x + sp.Rational(1, 2)),
       doc="nearest integer, halves to even (SymPy: floor(x + 1/2)); derivative 0"),
    _p("mod", 2, np.mod, (lambda x, y, out: 1, lambda x, y, out: -call("floor", x / y)),
       numpy="{0} % {1}", latex=r" \bmod ", symbol="%", prec=PREC_MUL, sympy="Mod",
       aliases=("remainder",),
       doc="x - y floor(x/y) (Python's %, the sign of y); partials 1 and -floor(x/y)"),
    # --- elementwise functions --------------------------------------------------------------
    # out == x, in x's floating type: out - x has one sign, and is nan only where x is
    _p("fmax", 2, np.fmax, (lambda x, y, out: _step(x - out),
                            lambda x, y, out: 1 - _step(x - out)),
       sympy="Max", doc="maximum ignoring nan; the derivative goes to the argument "
                        "returned (x on a tie)"),
    _p("fmin", 2, np.fmin, (lambda x, y, out: _step(out - x),
                            lambda x, y, out: 1 - _step(out - x)),
       sympy="Min", doc="minimum ignoring nan; the derivative goes to the argument "
                        "returned (x on a tie)"),
    # minimum(maximum(x, lo), hi), ties to the earlier argument as in maximum and minimum
    _p("clip", 3, np.clip,
       (lambda x, lo, hi, out: _step(x - lo) * _step(hi - call("maximum", x, lo)),
        lambda x, lo, hi, out: (1 - _step(x - lo)) * _step(hi - call("maximum", x, lo)),
        lambda x, lo, hi, out: 1 - _step(hi - call("maximum", x, lo))),
       sympy=lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi),
       doc="minimum(maximum(x, lo), hi); derivative 1 to x inside [lo, hi] (ends "
           "included), else to the bound"),
    _p("exp2", 1, np.exp2, (lambda x, out: out * _LOG2,), sympy=lambda sp, x: 2**x,
       doc="2**x"),
    _p("logaddexp2", 2, np.logaddexp2, (lambda x, y, out: call("exp2", x - out),
                                        lambda x, y, out: call("exp2", y - out)),
       sympy=lambda sp, x, y: sp.log(2**x + 2**y, 2), commutative=True,
       doc="log2(2**x + 2**y)"),
    _p("reciprocal", 1, lambda x: np.reciprocal(np.asarray(x, np.result_type(x, 0.0)))[()],
       (lambda x, out: -out**2,), numpy="1 / {0}", sympy=lambda sp, x: 1 / x, doc="1 / x"),
    _p("rsqrt", 1, lambda x: 1 / np.sqrt(x), (lambda x, out: -0.5 * out**3,),
       numpy="1 / np.sqrt({0})", sympy=lambda sp, x: x ** sp.Rational(-1, 2),
       doc="1 / sqrt(x)"),
    _p("cbrt", 1, np.cbrt, (lambda x, out: (1 / 3) * out**-2,),
       sympy=lambda sp, x: sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3),
       doc="real cube root; derivative inf at 0 (as JAX)"),
    _p("sinc", 1, np.sinc, (_sinc_partial,),
       sympy=lambda sp, x: sp.sinc(sp.pi * x),
       doc="sin(pi x) / (pi x), 1 at 0; derivative -pi j1(pi x), exact at every order "
           "(at 0 too)"),
    _p("spherical_jn", 1, _spherical_jn, (_spherical_jn_partial,),
       numpy="_spherical_jn({0}{opts})", latex=r"j", params=(("n", 0),),
       sympy=lambda sp, z, n=0: sp.jn(n, z), helpers=(_jn_terms, _spherical_jn),
       doc="spherical Bessel function j_n (j_0(z) = sin(z)/z): sinc's derivatives"),
    _p("deg2rad", 1, np.deg2rad, (lambda x, out: math.pi / 180,),
       sympy=lambda sp, x: x * sp.pi / 180, aliases=("radians",), doc="degrees to radians"),
    _p("rad2deg", 1, np.rad2deg, (lambda x, out: 180 / math.pi,),
       sympy=lambda sp, x: x * 180 / sp.pi, aliases=("degrees",), doc="radians to degrees"),
    _p("erf", 1, _erf, (lambda x, out: _TWO_OVER_SQRT_PI * call("exp", -x**2),),
       numpy="_erf({0})", latex=r"\operatorname{erf}",
       helpers=(_erf, _erf_series, _erfc_tail),
       doc="the error function (NumPy only, no SciPy)"),
    _p("erfc", 1, _erfc, (lambda x, out: -_TWO_OVER_SQRT_PI * call("exp", -x**2),),
       numpy="_erfc({0})", helpers=(_erfc, _erf_series, _erfc_tail),
       doc="1 - erf(x), accurate for large x"),
    _p("erfinv", 1, _erfinv, (lambda x, out: (_SQRT_PI / 2) * call("exp", out**2),),
       numpy="_erfinv({0})", helpers=(_erfinv, _erf, _erf_series, _erfc_tail),
       doc="inverse of erf on (-1, 1)"),
    _p("gelu", 1, lambda x: 0.5 * x * (1 + _erf(x * 0.7071067811865476)),
       (lambda x, out: 0.5 * (1 + call("erf", x * 0.7071067811865476))
        + x * ((1 / math.sqrt(2 * math.pi)) * call("exp", -0.5 * x**2)),),
       numpy="0.5 * {0} * (1 + _erf({0} * 0.7071067811865476))", latex=r"\operatorname{GELU}",
       sympy=lambda sp, x: x / 2 * (1 + sp.erf(x / sp.sqrt(2))),
       helpers=(_erf, _erf_series, _erfc_tail), doc="x Phi(x), with erf (exact GELU)"),
    _p("gelu_tanh", 1, _gelu_tanh, (_gelu_tanh_partial,),
       numpy=f"0.5 * {{0}} * (1 + np.tanh({_GELU_C!r} * ({{0}} + 0.044715 * {{0}}**3)))",
       latex=r"\operatorname{GELU}_{\tanh}",
       sympy=lambda sp, x: x / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi)
                                                * (x + sp.Rational(44715, 10**6) * x**3))),
       doc="the tanh approximation of GELU"),
    # --- reductions -------------------------------------------------------------------------
    _p("max", 1, np.max, (), numpy="np.max({0}{opts})", latex=r"\max",
       sympy=lambda sp, a, axis=None, keepdims=False: a, params=(("axis", None),
                                                                 ("keepdims", False)),
       shape=_reduce_params("max"), vjp=_extreme_rules(1)[0], jvp=_extreme_rules(1)[1],
       aliases=("amax",),
       doc="largest entry over an axis; ties share the adjoint evenly (as JAX)"),
    _p("min", 1, np.min, (), numpy="np.min({0}{opts})", latex=r"\min",
       sympy=lambda sp, a, axis=None, keepdims=False: a, params=(("axis", None),
                                                                 ("keepdims", False)),
       shape=_reduce_params("min"), vjp=_extreme_rules(-1)[0], jvp=_extreme_rules(-1)[1],
       aliases=("amin",),
       doc="smallest entry over an axis; ties share the adjoint evenly (as JAX)"),
    _p("prod", 1, np.prod, (), numpy="np.prod({0}{opts})", latex=r"\prod",
       sympy=lambda sp, a, axis=None, keepdims=False: a,
       params=(("axis", None), ("keepdims", False)), shape=_reduce_params("prod"),
       vjp=lambda bar, a, out, axis, keepdims: (
           _expand(bar, a, axis, keepdims, out=out) * _prod_others(a, axis),),
       jvp=lambda dots, a, out, axis, keepdims: call(
           "sum", _exact(dots[0], a) * _prod_others(a, axis), axis=axis, keepdims=keepdims),
       doc="product over axes; derivatives through products of the others (running "
           "products), exact with zeros at every order"),
    _p("var", 1, np.var, (), numpy="np.var({0}{opts})", latex=r"\operatorname{Var}",
       sympy=lambda sp, a, axis=None, keepdims=False, ddof=0: 0 * a,
       params=(("axis", None), ("keepdims", False), ("ddof", 0.0)),
       shape=_reduce_params("var"), vjp=_var_vjp, jvp=_var_jvp,
       doc="variance over an axis, divided by n - ddof"),
    _p("std", 1, np.std, (), numpy="np.std({0}{opts})", latex=r"\operatorname{std}",
       sympy=lambda sp, a, axis=None, keepdims=False, ddof=0: 0 * a,
       params=(("axis", None), ("keepdims", False), ("ddof", 0.0)),
       shape=_reduce_params("std"), vjp=_std_vjp, jvp=_std_jvp,
       doc="standard deviation over an axis, divided by n - ddof; derivative inf where "
           "it is 0"),
    _p("cumsum", 1, _cumsum, (),
       numpy=lambda a, axis=None, reverse=False, opts="": (
           f"_cumsum({a}{opts})" if reverse else f"np.cumsum({a}{opts})"),
       latex=r"\operatorname{cumsum}", sympy=lambda sp, a, axis=None, reverse=False: a,
       params=(("axis", None), ("reverse", False)),
       shape=lambda a, axis=None, reverse=False: (
           (None if None in a else math.prod(a),) if axis is None
           else _reduced_shape(a, axis, True, "cumsum") and a),
       vjp=_cumsum_vjp,
       jvp=lambda dots, a, out, axis, reverse: call("cumsum", _exact(dots[0], a), axis=axis,
                                                    reverse=reverse),
       helpers=(_cumsum,), doc="running sums along an axis (reverse: from the end)"),
    _p("cumprod", 1, lambda a, axis: np.cumprod(a, axis=axis), (),
       numpy="np.cumprod({0}{opts})", latex=r"\operatorname{cumprod}",
       sympy=lambda sp, a, axis=None: a, params=(("axis", None),),
       shape=lambda a, axis=None: ((None if None in a else math.prod(a),) if axis is None
                                   else _along_axis("cumprod")(a, axis)),
       vjp=_cumprod_vjp, jvp=_cumprod_jvp,
       doc="running products along an axis; derivatives through linear scans, exact with "
           "zeros at every order"),
    _p("linear_scan", 2, _linear_scan, (), numpy="_linear_scan({0}, {1}{opts})",
       sympy=_refuse("linear_scan"), params=(("axis", 0), ("reverse", False)),
       shape=_scan_shape, vjp=_scan_vjp, jvp=_scan_jvp, helpers=(_linear_scan,),
       doc="h[j] = a[j] h[j-1] + b[j] along an axis from h[-1] = 0 (from the end if "
           "reverse): the derivatives of cumprod, exact with zeros at every order"),
    # --- shapes -----------------------------------------------------------------------------
    _p("reshape", 1, lambda a, shape: np.reshape(a, shape), (),
       numpy="np.reshape({0}, {shape})", latex=r"\operatorname{reshape}",
       sympy=lambda sp, a, shape=(): a, params=(("shape", ()),), shape=_reshape_shape,
       vjp=lambda bar, a, out, shape: (call("reshape_like", _exact(bar, out), a),),
       jvp=lambda dots, a, out, shape: call("reshape", _exact(dots[0], a), shape=shape),
       view="same", doc="the same entries in another shape (one -1 is inferred)"),
    _p("reshape_like", 2, lambda t, x: np.reshape(t, np.shape(x)), (),
       numpy="np.reshape({0}, np.shape({1}))", sympy=lambda sp, t, x: t,
       shape=lambda t, x: x,
       vjp=lambda bar, t, x, out: (call("reshape_like", _exact(bar, out), t), None),
       jvp=lambda dots, t, x, out: (None if dots[0] is None
                                    else call("reshape_like", _exact(dots[0], t), x)),
       view="same", zero_d_array=True,
       doc="t's entries in x's shape (the adjoint of a reshape)"),
    _p("ravel", 1, np.ravel, (), sympy=lambda sp, a: a,
       shape=lambda a: (None if None in a else math.prod(a),),
       vjp=lambda bar, a, out: (call("reshape_like", _exact(bar, out), a),),
       jvp=lambda dots, a, out: call("ravel", _exact(dots[0], a)),
       view="same", doc="the entries as a vector"),
    _p("squeeze", 1, np.squeeze, (), numpy="np.squeeze({0}{opts})", sympy=lambda sp, a,
       axis=None: a, params=(("axis", None),), shape=_squeeze_shape,
       vjp=lambda bar, a, out, axis: (call("reshape_like", _exact(bar, out), a),),
       jvp=lambda dots, a, out, axis: call("squeeze", _exact(dots[0], a), axis=axis),
       view="same", zero_d_array=True, doc="without axes of size 1"),
    _p("expand_dims", 1, np.expand_dims, (), numpy="np.expand_dims({0}, {axis})",
       sympy=lambda sp, a, axis=0: a, params=(("axis", 0),), shape=_expand_dims_shape,
       vjp=lambda bar, a, out, axis: (call("reshape_like", _exact(bar, out), a),),
       jvp=lambda dots, a, out, axis: call("expand_dims", _exact(dots[0], a), axis=axis),
       view="same", doc="with a new axis of size 1"),
    _p("swapaxes", 1, np.swapaxes, (), numpy="np.swapaxes({0}, {axis1}, {axis2})",
       sympy=lambda sp, a, axis1=0, axis2=1: a, params=(("axis1", 0), ("axis2", 1)),
       shape=_swapaxes_shape,
       vjp=lambda bar, a, out, axis1, axis2: (
           call("swapaxes", _exact(bar, out), axis1=axis1, axis2=axis2),),
       jvp=lambda dots, a, out, axis1, axis2: call("swapaxes", _exact(dots[0], a),
                                                   axis1=axis1, axis2=axis2),
       view="same", doc="two axes exchanged"),
    _p("moveaxis", 1, np.moveaxis, (), numpy="np.moveaxis({0}, {source}, {destination})",
       sympy=lambda sp, a, source=0, destination=-1: a,
       params=(("source", 0), ("destination", -1)), shape=_moveaxis_shape,
       vjp=lambda bar, a, out, source, destination: (
           call("moveaxis", _exact(bar, out), source=destination, destination=source),),
       jvp=lambda dots, a, out, source, destination: call(
           "moveaxis", _exact(dots[0], a), source=source, destination=destination),
       view="same", doc="one axis moved to another position"),
    _p("flip", 1, np.flip, (), numpy="np.flip({0}{opts})", sympy=lambda sp, a, axis=None: a,
       params=(("axis", None),), shape=lambda a, axis=None: _along_axis("flip")(a, axis)
       if axis is not None else a,
       vjp=lambda bar, a, out, axis: (call("flip", _exact(bar, out), axis=axis),),
       jvp=lambda dots, a, out, axis: call("flip", _exact(dots[0], a), axis=axis),
       view="same", doc="entries in reverse order along an axis (all axes for None)"),
    _p("broadcast_to", 1, np.broadcast_to, (), numpy="np.broadcast_to({0}, {shape})",
       sympy=lambda sp, a, shape=(): a, params=(("shape", ()),), shape=_broadcast_to_shape,
       vjp=lambda bar, a, out, shape: (call("sum_to", _exact(bar, out), a, out),),
       jvp=lambda dots, a, out, shape: call("broadcast_to", _exact(dots[0], a), shape=shape),
       view="broadcast", zero_d_array=True,
       doc="a read-only broadcast view of the given shape"),
    # --- indexing ---------------------------------------------------------------------------
    _p("getitem", 1, _getitem, (), numpy=_getitem_template,
       latex=r"\operatorname{index}", sympy=_refuse("getitem"),
       params=(("index", _Index()),), shape=lambda a, index: indexed_shape(a, index),
       syntax=_getitem_template,
       vjp=lambda bar, a, out, index: (call("index_add", _exact(bar, out), a, index=index),),
       jvp=lambda dots, a, out, index: call("getitem", _exact(dots[0], a), index=index),
       view="same", zero_d_array=True,  # x[..., 0] of a vector is a 0-d array
       doc="x[index] for a basic index (integers, slices, None, ...)"),
    _p("index_add", 2, lambda t, x, index: _index_add(t, x, to_python_index(index)), (),
       numpy=lambda t, x, index=(), opts="": f"_index_add({t}, {x}, np.s_[{index_text(index)}])",
       sympy=_refuse("index_add"), params=(("index", _Index()),),
       shape=lambda t, x, index: x,
       vjp=lambda bar, t, x, out, index: (call("getitem", _exact(bar, out), index=index), None),
       jvp=lambda dots, t, x, out, index: (None if dots[0] is None else call(
           "index_add", _exact(dots[0], t), x, index=index)),
       helpers=(_index_add,), zero_d_array=True,
       doc="zeros shaped like x with t added at x[index] "
                                  "(the adjoint of getitem)"),
    _p("take", 2, _take, (), numpy="_take({0}, {1})", sympy=_refuse("take"),
       shape=_take_shape, syntax=lambda a, i, opts="": f"{a}[{i}]",
       vjp=lambda bar, a, i, out: (call("take_add", _exact(bar, out), a, i), None),
       jvp=lambda dots, a, i, out: (None if dots[0] is None
                                    else call("take", _exact(dots[0], a), i)),
       helpers=(_take,), zero_d_array=True,
       doc="x[i] for an array i of integers, or a boolean mask"),
    _p("take_add", 3, _take_add, (), numpy="_take_add({0}, {1}, {2})", sympy=_refuse("take_add"),
       shape=lambda t, x, i: x,
       vjp=lambda bar, t, x, i, out: (call("take", _exact(bar, out), i), None, None),
       jvp=lambda dots, t, x, i, out: (None if dots[0] is None
                                       else call("take_add", _exact(dots[0], t), x, i)),
       helpers=(_take_add,), zero_d_array=True,
       doc="zeros shaped like x with t added at x[i], summed where i "
                                 "repeats (the adjoint of take)"),
]
_VOCABULARY += [
    # --- products and joins -----------------------------------------------------------------
    _p("einsum", 1, lambda *xs, spec: np.einsum(spec, *xs), (), numpy=_einsum_template,
       latex=r"\operatorname{einsum}", sympy=_refuse("einsum"), params=(("spec", "->"),),
       shape=_einsum_shape, vjp=_einsum_vjp, jvp=_einsum_jvp, variadic=True,
       arguments=lambda spec="->": spec.count(",") + 1, zero_d_array=True,
       doc="Einstein summation of any number of operands, spec such as 'ij,jk,kl->il'; an "
           "index repeated within an operand reads a diagonal ('ii->', 'iij->j')"),
    _p("einsum_embed", 2, _einsum_embed, (), numpy="_einsum_embed({0}, {1}, {embed})",
       sympy=_refuse("einsum_embed"), params=(("embed", "->"),), shape=_embed_shape,
       vjp=lambda bar, t, x, out, embed: (
           call("einsum", _exact(bar, out), spec="->".join(reversed(embed.split("->")))),
           None),
       jvp=lambda dots, t, x, out, embed: None if dots[0] is None else call(
           "einsum_embed", _exact(dots[0], t), x, embed=embed),
       helpers=(_einsum_embed,),
       doc="zeros shaped like x with t where einsum reads x (embed 'i->ii': on the "
           "diagonal); the adjoint of einsum over a repeated index"),
    _p("concatenate", 1, lambda *xs, axis: np.concatenate(xs, axis=axis), (),
       numpy=_join_template("concatenate"), sympy=_refuse("concatenate"),
       params=(("axis", 0),), variadic=True,
       shape=lambda *shapes, axis=0: _joined_shape("concatenate", *shapes, axis=axis),
       vjp=_join_rules("concatenate")[0], jvp=_join_rules("concatenate")[1],
       doc="any number of arrays joined along an axis"),
    _p("unjoin", 2, _unjoin, (),
       numpy=lambda t, *xs, part=0, join="concatenate", axis=0, opts="": (
           f"_unjoin({t}, {', '.join(xs)}{opts})"),
       sympy=_refuse("unjoin"), variadic=True,
       params=(("part", 0), ("join", "concatenate"), ("axis", 0)), shape=_unjoin_shape,
       vjp=_unjoin_vjp, jvp=_unjoin_jvp, helpers=(_join_sizes, _unjoin), view="same",
       doc="the piece of t, a join of the other arguments, that came from the part-th, "
           "sizes read when it runs (the adjoint of concatenate, vstack, hstack)"),
    _p("stack", 1, lambda *xs, axis: np.stack(xs, axis=axis), (),
       numpy=_join_template("stack"), sympy=_refuse("stack"), variadic=True,
       params=(("axis", 0),), shape=_stack_shape,
       vjp=lambda bar, *args, axis: tuple(
           call("getitem", _exact(bar, args[-1]), index=_along(axis, k))
           for k in range(len(args) - 1)),
       jvp=lambda dots, *args, axis: call(
           "stack", *[_zeros_or(d, x) for d, x in zip(dots, args)], axis=axis),
       doc="any number of arrays of one shape stacked along a new axis"),
    _p("split", 1, _split, (), sympy=_refuse("split"),
       numpy=lambda x, sections=1, axis=0, part=0, opts="": (
           f"np.split({x}, {sections!r}, axis={axis})[{part}]"),
       syntax=_split_text, params=(("sections", 1), ("axis", 0), ("part", 0)),
       shape=_split_shape, parts=_split_count, view="same",
       vjp=_split_vjp,
       jvp=lambda dots, x, out, **kw: call("split", _exact(dots[0], x), **kw),
       doc="np.split(x, sections, axis): equal parts, or cut at indices; each part a node "
           "(split(x, 3)[1])"),
    _p("cross", 2, lambda a, b: np.cross(a, b), (), sympy=_refuse("cross"),
       shape=_cross_shape,
       vjp=lambda bar, a, b, out: (
           call("sum_to", call("cross", b, _exact(bar, out)), a, out),
           call("sum_to", call("cross", _exact(bar, out), a), b, out)),
       jvp=lambda dots, a, b, out: _add_tangents(
           None if dots[0] is None else call("cross", _exact(dots[0], a), b),
           None if dots[1] is None else call("cross", a, _exact(dots[1], b))),
       doc="cross product of 3-vectors along the last axis (broadcast)"),
]
_DIAGONAL = (("offset", 0), ("axis1", 0), ("axis2", 1))
_VOCABULARY += [
    # --- rearrangements -------------------------------------------------------------------
    _p("roll", 1, lambda a, shift, axis: np.roll(a, shift, axis), (),
       numpy="np.roll({0}, {shift}, axis={axis})", sympy=lambda sp, a, shift=0, axis=None: a,
       params=(("shift", 0), ("axis", None)),
       shape=lambda a, shift=0, axis=None: a if axis is None else _along_axis("roll")(a, axis),
       vjp=lambda bar, a, out, shift, axis: (call(
           "roll", _exact(bar, out), shift=tuple(-s for s in shift)
           if isinstance(shift, tuple) else -shift, axis=axis),),
       jvp=lambda dots, a, out, shift, axis: call("roll", _exact(dots[0], a), shift=shift,
                                                  axis=axis),
       zero_d_array=True,
       doc="entries shifted along an axis (of the flattened array for None), wrapping"),
    _p("tril", 1, lambda a, k: np.tril(a, k), (), numpy="np.tril({0}{opts})",
       sympy=lambda sp, a, k=0: a, params=(("k", 0),), shape=_at_least_2d("tril"),
       vjp=lambda bar, a, out, k: (call("tril", _exact(bar, out), k=k),),
       jvp=lambda dots, a, out, k: call("tril", _exact(dots[0], a), k=k),
       doc="zeros above the k-th diagonal (of the last two axes)"),
    _p("triu", 1, lambda a, k: np.triu(a, k), (), numpy="np.triu({0}{opts})",
       sympy=lambda sp, a, k=0: a, params=(("k", 0),), shape=_at_least_2d("triu"),
       vjp=lambda bar, a, out, k: (call("triu", _exact(bar, out), k=k),),
       jvp=lambda dots, a, out, k: call("triu", _exact(dots[0], a), k=k),
       doc="zeros below the k-th diagonal (of the last two axes)"),
    _p("diff", 1, lambda a, n, axis: np.diff(a, n, axis), (), numpy="np.diff({0}{opts})",
       sympy=lambda sp, a, n=1, axis=-1: 0 * a, params=(("n", 1), ("axis", -1)),
       shape=_diff_shape, vjp=_diff_vjp,
       jvp=lambda dots, a, out, n, axis: call("diff", _exact(dots[0], a), n=n, axis=axis),
       doc="n-th differences along an axis"),
    _p("sort", 1, lambda a, axis: np.sort(a, axis=axis, kind="stable"), (),
       numpy="np.sort({0}, axis={axis}, kind='stable')", sympy=lambda sp, a, axis=-1: a,
       params=(("axis", -1),), shape=_along_axis("sort"),
       vjp=lambda bar, a, out, axis: (call("unsort_by", _exact(bar, out), a, axis=axis),),
       jvp=lambda dots, a, out, axis: call("sort_by", _exact(dots[0], a), a, axis=axis),
       doc="sorted along an axis; derivatives follow the permutation (ties: stable order)"),
    _permutation("sort_by", "unsort_by", _sort_by,
                 "t in the order that sorts key (the tangent of sort)"),
    _permutation("unsort_by", "sort_by", _unsort_by,
                 "t put back where sorting key took its entries from (the adjoint of sort)"),
    _p("diagonal", 1, np.diagonal, (), numpy="np.diagonal({0}{opts})",
       sympy=lambda sp, a, **_: a, params=_DIAGONAL, shape=_diagonal_shape,
       vjp=_diagonal_rules("diagonal")[0], jvp=_diagonal_rules("diagonal")[1],
       view="same", doc="the diagonal of axes axis1 and axis2, as the last axis"),
    _p("diagonal_add", 2, _diagonal_add, (), numpy="_diagonal_add({0}, {1}{opts})",
       sympy=lambda sp, t, x, **_: t, params=_DIAGONAL,
       shape=lambda t, x, **kw: _diagonal_shape(x, **kw) and x,
       vjp=_diagonal_rules("diagonal_add")[0], jvp=_diagonal_rules("diagonal_add")[1],
       helpers=(_diagonal_add,),
       doc="zeros shaped like x with t on its diagonal (the adjoint of diagonal)"),
    _p("trace", 1, np.trace, (), numpy="np.trace({0}{opts})", sympy=lambda sp, a, **_: a,
       params=_DIAGONAL, shape=lambda a, **kw: _diagonal_shape(a, **kw)[:-1],
       vjp=_trace_vjp,
       jvp=lambda dots, a, out, **kw: call("trace", _exact(dots[0], a), **kw),
       doc="the sum of a diagonal"),
    _p("repeat", 1, lambda a, repeats, axis: np.repeat(a, repeats, axis), (),
       numpy="np.repeat({0}, {repeats}, axis={axis})", sympy=lambda sp, a, **_: a,
       params=(("repeats", 1), ("axis", None)), shape=_repeat_shape,
       vjp=lambda bar, a, out, repeats, axis: (
           call("unrepeat", _exact(bar, out), repeats=repeats, axis=axis) if axis is not None
           else call("reshape_like", call("unrepeat", _exact(bar, out), repeats=repeats), a),),
       jvp=lambda dots, a, out, repeats, axis: call("repeat", _exact(dots[0], a),
                                                    repeats=repeats, axis=axis),
       doc="each entry repeated along an axis (of the flattened array for None)"),
    _p("unrepeat", 1, _unrepeat, (), numpy="_unrepeat({0}{opts})", sympy=lambda sp, t, **_: t,
       params=(("repeats", 1), ("axis", 0)), shape=_unrepeat_shape,
       vjp=lambda bar, t, out, repeats, axis: (
           call("repeat", _exact(bar, out), repeats=repeats, axis=axis),),
       jvp=lambda dots, t, out, repeats, axis: call("unrepeat", _exact(dots[0], t),
                                                    repeats=repeats, axis=axis),
       helpers=(_unrepeat,), doc="sums of runs of `repeats` entries (the adjoint of repeat)"),
    _p("tile", 1, lambda a, reps: np.tile(a, reps), (), numpy="np.tile({0}, {reps})",
       sympy=lambda sp, a, reps=1: a, params=(("reps", 1),), shape=_tile_shape,
       vjp=lambda bar, a, out, reps: (call("untile", _exact(bar, out), a, reps=reps),),
       jvp=lambda dots, a, out, reps: call("tile", _exact(dots[0], a), reps=reps),
       doc="the array repeated as tiles"),
    _p("untile", 2, lambda t, x, reps: _untile(t, x), (), numpy="_untile({0}, {1})",
       sympy=lambda sp, t, x, reps=1: t, params=(("reps", 1),),
       shape=lambda t, x, reps=1: x,
       vjp=lambda bar, t, x, out, reps: (call("tile", _exact(bar, out), reps=reps), None),
       jvp=lambda dots, t, x, out, reps: None if dots[0] is None else call(
           "untile", _exact(dots[0], t), x, reps=reps),
       helpers=(_untile,), doc="a tiling summed tile over tile (the adjoint of tile)"),
    _p("pad", 1, _pad, (), numpy="_pad({0}, {pad_width})", sympy=lambda sp, a, **_: a,
       params=(("pad_width", 0),), shape=_pad_shape,
       vjp=lambda bar, a, out, pad_width: (call("unpad", _exact(bar, out),
                                                pad_width=pad_width),),
       jvp=lambda dots, a, out, pad_width: call("pad", _exact(dots[0], a),
                                                pad_width=pad_width),
       helpers=(_pad_widths, _pad),
       doc="zeros around x: pad_width one width, (before, after), or a pair per axis, "
           "flat (b0, a0, b1, a1, ...)"),
    _p("unpad", 1, _unpad, (), numpy="_unpad({0}, {pad_width})", sympy=lambda sp, t, **_: t,
       params=(("pad_width", 0),), shape=_unpad_shape,
       vjp=lambda bar, t, out, pad_width: (call("pad", _exact(bar, out), pad_width=pad_width),),
       jvp=lambda dots, t, out, pad_width: call("unpad", _exact(dots[0], t),
                                                pad_width=pad_width),
       view="same", helpers=(_pad_widths, _unpad),
       doc="the middle without the padding (the adjoint of pad)"),
    _p("tensordot", 2, lambda a, b, axes: np.tensordot(a, b, axes), (),
       numpy="np.tensordot({0}, {1}, {axes})", sympy=_refuse("tensordot"),
       params=(("axes", 2),), shape=_tensordot_shape, zero_d_array=True,
       vjp=_bilinear_rules("tensordot")[0], jvp=_bilinear_rules("tensordot")[1],
       doc="sum over `axes`: the last axes of a and the first of b, or a pair of "
           "sequences of axes ((1, 0), (0, 1))"),
    _p("inner", 2, np.inner, (), sympy=_refuse("inner"), shape=_inner_shape,
       vjp=_bilinear_rules("inner")[0], jvp=_bilinear_rules("inner")[1],
       doc="sum over the last axes of a and b"),
    _p("bilinear_adjoint", 3, _bilinear_adjoint, (),
       numpy="_bilinear_adjoint({0}, {1}, {2}{opts})", sympy=_refuse("bilinear_adjoint"),
       params=(("product", "tensordot"), ("axes", 2), ("first", True)),
       shape=lambda t, y, like, **_: like, vjp=_adjoint_vjp, jvp=_adjoint_jvp,
       helpers=(_contraction, _adjoint_spec, _matmul_adjoint, _bilinear_adjoint),
       zero_d_array=True,
       doc="the adjoint of the first (or second) operand `like` of op(a, b) (tensordot, "
           "inner, dot, kron, matmul) from the output's adjoint t and the other operand y, shapes "
           "read when it runs"),
    _p("undiag", 2, _undiag, (), numpy="_undiag({0}, {1}{opts})", sympy=_refuse("undiag"),
       params=(("k", 0),), shape=lambda t, a, k=0: a,
       vjp=lambda bar, t, a, out, k: (call("diag", _exact(bar, out), k=k), None),
       jvp=lambda dots, t, a, out, k: None if dots[0] is None else call(
           "undiag", _exact(dots[0], t), a, k=k),
       helpers=(_undiag,),
       doc="the adjoint of diag(a, k), a vector or a matrix known when it runs"),
]
_DIAG_SHAPE, _DIAG_VJP, _DIAG_JVP = _diag_rules()
_VOCABULARY += [
    _p("dot", 2, np.dot, (), sympy=lambda sp, a, b: a * b, shape=_dot_shape,
       vjp=_bilinear_rules("dot")[0], jvp=_bilinear_rules("dot")[1],
       doc="NumPy's dot: a product with a 0-d operand, else the last axis of a with the "
           "second to last of b"),
    _p("kron", 2, np.kron, (), sympy=lambda sp, a, b: a * b, shape=_kron_shape,
       vjp=_bilinear_rules("kron")[0], jvp=_bilinear_rules("kron")[1],
       doc="Kronecker product of two vectors or two matrices"),
    _p("vstack", 1, lambda *xs: np.vstack(xs), (), numpy=_join_template("vstack", False),
       sympy=_refuse("vstack"), shape=_stack2_shape("vstack"), variadic=True,
       vjp=_join_rules("vstack")[0], jvp=_join_rules("vstack")[1],
       doc="the rows of each array in turn (vectors are rows)"),
    _p("hstack", 1, lambda *xs: np.hstack(xs), (), numpy=_join_template("hstack", False),
       sympy=_refuse("hstack"), shape=_stack2_shape("hstack"), variadic=True,
       vjp=_join_rules("hstack")[0], jvp=_join_rules("hstack")[1],
       doc="the columns of each array in turn (vectors joined end to end)"),
    _p("diag", 1, lambda a, k: np.diag(a, k), (), numpy="np.diag({0}{opts})",
       sympy=lambda sp, a, k=0: a, params=(("k", 0),), shape=_DIAG_SHAPE, vjp=_DIAG_VJP,
       jvp=_DIAG_JVP, doc="a vector as the k-th diagonal of a square matrix, or a matrix's "
                          "k-th diagonal"),
]
_PRIMITIVES += _VOCABULARY


REGISTRY: dict[str, Primitive] = {p.name: p for p in _PRIMITIVES}
_NAMES: dict[str, Primitive] = {a: p for p in _PRIMITIVES for a in (p.name, *p.aliases)}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def lookup(name: str) -> Primitive:
    """The primitive called `name` (or one of its aliases); an unknown name lists the known ones."""
    try:
        return _NAMES[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown primitive {name!r}; known primitives: {known}") from None


def activations() -> list[Primitive]:
    """The primitives of the lecture's activation table, in the lecture's order, then the
    user-defined primitives that carry activation metadata, in the order defined."""
    return [REGISTRY[name] for name in _ACTIVATIONS] + [
        p for name, p in list(REGISTRY.items())
        if p.activation is not None and name not in _ACTIVATIONS]


def is_known(name: str) -> bool:
    return name in _NAMES


# --- user-defined primitives ---------------------------------------------------------------

_BUILT_IN = frozenset(_NAMES)
_LOCK = threading.Lock()  # one registration at a time: the checks and the update are one step
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or keyword.iskeyword(name):
        raise ValueError(f"a primitive's name must be a plain identifier (a letter, then "
                         f"letters, digits or _), not {name!r}")
    if name in _BUILT_IN or name in CONSTANTS:
        raise ValueError(f"{name!r} is a built-in {'constant' if name in CONSTANTS else 'primitive'}"
                         f" of graphdiff and cannot be redefined; choose another name")


def register(prim: Primitive, replace: bool = False) -> Primitive:
    """Add a user-defined primitive (see `graphdiff.primitive`, which builds the record).

    Built-in names are refused; an earlier user primitive of the same name is replaced only
    with `replace=True`, since graphs built with it would change meaning.  Thread-safe."""
    names = (prim.name, *prim.aliases)
    for name in names:
        _check_name(name)
    if len(prim.partials) != prim.arity and (prim.vjp is None or prim.jvp is None):
        raise ValueError(f"{prim.name}: give one partial per argument ({prim.arity}), or "
                         f"both vjp and jvp rules")
    with _LOCK:
        old = REGISTRY.get(prim.name)
        for name in names:
            other = _NAMES.get(name)
            if other is not None and not (replace and other is old):
                hint = "; pass replace=True to redefine it" if other is old else ""
                raise ValueError(f"a primitive called {name!r} is already defined{hint}")
        if old is not None:
            for name in (old.name, *old.aliases):
                _NAMES.pop(name, None)
        REGISTRY[prim.name] = prim
        _NAMES.update((name, prim) for name in names)
    return prim


def unregister(name: str) -> None:
    """Remove a user-defined primitive (built-in ones stay)."""
    with _LOCK:
        prim = REGISTRY.get(name)
        if prim is None or name in _BUILT_IN:
            raise ValueError(f"{name!r} is not a user-defined primitive")
        for alias in (prim.name, *prim.aliases):
            _NAMES.pop(alias, None)
        del REGISTRY[name]


def _check_registry() -> None:
    for p in _PRIMITIVES:
        elementwise = len(p.partials) == p.arity
        assert elementwise or (p.vjp is not None and p.jvp is not None), p.name


_check_registry()
