"""How each primitive is spelled in the numba backend's kernels, beside the registry.

LOOP: the scalar spelling of an elementwise primitive inside a fused loop ({0}, {1}: the
operands' texts, one entry each; {T}: the kernel's float type, np.float64 or np.float32;
{bits}: its width, 64 or 32; {0.5}-style numbers are printed as literals of that type).
LOOP_HELPERS: the helpers below that a LOOP spelling calls.  WHOLE: a primitive computed
on whole arrays by numba-supported NumPy calls or the helpers below.  SHAPED: the
reductions and broadcasts the loop printer folds into loops (their indexing is structure,
not spelling).  A primitive in none of these is refused by name.  Nothing here builds a
graph or imports numba: the helpers are emitted as source into the generated module.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BOOLEAN", "FUSED", "FUSED_INTO", "INTO", "LOOP", "LOOP_HELPERS", "SHAPED", "WHOLE",
           "refused"]

# elementwise primitives: one scalar expression per loop line.  Numbers in braces are
# literals converted to the kernel's float type, so float32 kernels stay float32.
LOOP: dict[str, str] = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "pow": "{0} ** {1}",
    "neg": "-{0}",
    "identity": "{0}",
    "exp": "np.exp({0})",
    "log": "np.log({0})",
    "sqrt": "np.sqrt({0})",
    "square": "{0} * {0}",
    "sin": "np.sin({0})",
    "cos": "np.cos({0})",
    "tan": "np.tan({0})",
    "arcsin": "np.arcsin({0})",
    "arccos": "np.arccos({0})",
    "arctan": "np.arctan({0})",
    "sinh": "np.sinh({0})",
    "cosh": "np.cosh({0})",
    "tanh": "_tanh{bits}({0})",
    "arcsinh": "np.arcsinh({0})",
    "arccosh": "np.arccosh({0})",
    "arctanh": "np.arctanh({0})",
    "log1p": "np.log1p({0})",
    "expm1": "np.expm1({0})",
    "log2": "np.log2({0})",
    "log10": "np.log10({0})",
    "exp2": "np.exp2({0})",
    "abs": "np.abs({0})",
    "sign": "np.sign({0})",
    "hypot": "np.hypot({0}, {1})",
    "arctan2": "np.arctan2({0}, {1})",
    "logaddexp": "np.logaddexp({0}, {1})",
    "logaddexp2": "np.logaddexp2({0}, {1})",
    "minimum": "np.minimum({0}, {1})",
    "maximum": "np.maximum({0}, {1})",
    "fmin": "np.fmin({0}, {1})",
    "fmax": "np.fmax({0}, {1})",
    "clip": "np.minimum(np.maximum({0}, {1}), {2})",
    "floor": "np.floor({0})",
    "ceil": "np.ceil({0})",
    "mod": "np.mod({0}, {1})",
    "reciprocal": "{1.0} / {0}",
    "rsqrt": "{1.0} / np.sqrt({0})",
    "round": "np.round({0})",  # halves to even, as NumPy
    "cbrt": "np.cbrt({0})",
    "sinc": "np.sinc({0})",
    "erf": "math.erf({0})",
    "erfc": "math.erfc({0})",
    "gelu": "{0.5} * {0} * ({1.0} + math.erf({0} * {0.7071067811865476}))",
    "deg2rad": "np.deg2rad({0})",
    "rad2deg": "np.rad2deg({0})",
    # sigmoid(x) = exp(-softplus(-x)): never overflows, as the NumPy template
    "sigmoid": "np.exp(-np.logaddexp({0.0}, -{0}))",
    "softplus": "np.logaddexp({0.0}, {0})",
    "softsign": "{0} / ({1.0} + np.abs({0}))",
    "isru": "{0} / np.sqrt({1.0} + {alpha} * {0} * {0})",
    "relu": "np.maximum({0}, {0.0})",
    # NaN gives 0, as np.greater_equal does
    "binary_step": "{T}({0} >= {0.0})",
    "leaky_relu": "{0} if {0} >= {0.0} else {alpha} * {0}",
    "prelu": "{0} if {0} >= {0.0} else {1} * {0}",
    "where": "{1} if {0} else {2}",
    "gelu_tanh": "{0.5} * {0} * ({1.0} + _tanh{bits}({0.7978845608028654} * ({0} + {0.044715} * "
                 "{0} * {0} * {0})))",
    "less": "{0} < {1}",
    "less_equal": "{0} <= {1}",
    "greater": "{0} > {1}",
    "greater_equal": "{0} >= {1}",
    "equal": "{0} == {1}",
    "not_equal": "{0} != {1}",
}



def _tanh64(x):
    """tanh of a float64 in arithmetic that LLVM vectorizes inside a loop (libm's scalar
    tanh costs ~20 ns and stops the loop's vectorization): Cephes' tanh, a rational
    function for |x| < 0.625, else 1 - 2 / (exp(2|x|) + 1), within 2 ulp of np.tanh."""
    a = abs(x)
    # exp(2b) = 2^n exp(r), |r| <= ln2 / 2 (ln2 in two parts), by Cephes' Pade form;
    # tanh(20) is 1 in float64, and a NaN takes b = 20 here and the rational branch below
    b = a if a < 20.0 else 20.0  # noqa: FURB136 (spelled out: NaN must give 20)
    n = np.floor(2.0 * b * 1.4426950408889634 + 0.5)
    r = 2.0 * b - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
    rr = r * r
    p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 1.0)
    q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
         + 2.27265548208155028766e-1) * rr + 2.0
    e = (1.0 + 2.0 * p / (q - p)) * float(1 << int(n))
    big = np.copysign(1.0 - 2.0 / (e + 1.0), x)
    # x (1 + z R(z)), a product so that tanh(-0) is -0
    z = x * x
    small = x * (1.0 + z * ((-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z
                            - 1.61468768441708447952e3) / (
        ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z
        + 4.84406305325125486048e3))
    return big if a >= 0.625 else small


def _tanh32(x):
    """_tanh64 for a float32, in float32 (Cephes' single-precision tanhf and expf)."""
    a = abs(x)
    # tanh(10) is 1 in float32; spelled out, as in _tanh64, so that NaN gives 10
    b = a if a < np.float32(10.0) else np.float32(10.0)  # noqa: FURB136
    y = np.float32(2.0) * b
    n = np.floor(y * np.float32(1.4426950408889634) + np.float32(0.5))
    r = y - n * np.float32(0.693359375) + n * np.float32(2.12194440e-4)
    e = (((((((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)) * r
              + np.float32(8.3334519073e-3)) * r + np.float32(4.1665795894e-2)) * r
            + np.float32(1.6666665459e-1)) * r + np.float32(5.0000001201e-1)) * (r * r)
          + r + np.float32(1.0)) * np.float32(1 << int(n)))
    big = np.copysign(np.float32(1.0) - np.float32(2.0) / (e + np.float32(1.0)), x)
    z = x * x
    small = x * (np.float32(1.0) + z * ((((np.float32(-5.70498872745e-3) * z
                                            + np.float32(2.06390887954e-2)) * z
                                           - np.float32(5.37397155531e-2)) * z
                                          + np.float32(1.33314422036e-1)) * z
                                         - np.float32(3.33332819422e-1)))
    return big if a >= np.float32(0.625) else small


LOOP_HELPERS: dict[str, tuple] = {"tanh": (_tanh64, _tanh32), "gelu_tanh": (_tanh64, _tanh32)}

# comparisons: their arrays hold booleans, as NumPy's do
BOOLEAN = frozenset(("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"))

# folded into loops by the printer: sums and means as accumulators, broadcasts as indexing
SHAPED = frozenset(("sum", "mean", "sum_to", "broadcast_like", "size"))


def _mse(p, t):
    """mean((p - t)**2) over every entry."""
    d = (p - t).ravel()
    return np.dot(d, d) / d.size


def _mse_grad(p, t):
    """d/dp of _mse: 2 (p - t) / size."""
    d = p - t
    return d * d.dtype.type(2.0 / d.size)


def _mse_and_grad(p, t):
    """_mse and _mse_grad from one difference."""
    d = p - t
    flat = d.ravel()
    return np.dot(flat, flat) / flat.size, d * d.dtype.type(2.0 / flat.size)


def _mse_into(p, t, out):
    """_mse_and_grad with the gradient written into out (p's shape, C order): the value."""
    np.subtract(p, t, out)
    flat = out.ravel()
    value = np.dot(flat, flat) / flat.size
    out *= out.dtype.type(2.0 / flat.size)
    return value


def _bce_with_logits(z, y):
    """mean(softplus(z) - y z), without overflow."""
    return np.mean(np.logaddexp(z.dtype.type(0.0), z) - y * z)


def _bce_with_logits_grad(z, y):
    """(sigmoid(z) - y) / size."""
    return (np.exp(-np.logaddexp(z.dtype.type(0.0), -z)) - y) / z.dtype.type(z.size)


def _bce_with_logits_and_grad(z, y):
    """_bce_with_logits and its gradient, sharing softplus(z)."""
    sp = np.logaddexp(z.dtype.type(0.0), z)
    return np.mean(sp - y * z), (np.exp(z - sp) - y) / z.dtype.type(z.size)


def _xent_labels(z, y, e):
    """Rows of scores z (batch, k) against integer labels y (batch,): each row's loss, and
    softmax minus the one-hot label written into e, shifted by the row's maximum (never
    overflows)."""
    n, k = z.shape
    loss = np.empty(n, z.dtype)
    for i in range(n):
        lse = _row_softmax(z, e, i, k)
        c = int(y[i])
        if c != y[i] or c < 0 or c >= k:
            raise ValueError("softmax_xent: a class label is not an integer in [0, classes)")
        loss[i] = lse - z[i, c]
        e[i, c] -= 1
    return loss


def _xent_rows(z, y, e):
    """As _xent_labels for one-hot (or soft) target rows y (batch, k): loss
    lse * sum(y) - sum(y z) and gradient softmax * sum(y) - y, per row."""
    n, k = z.shape
    loss = np.empty(n, z.dtype)
    for i in range(n):
        lse = _row_softmax(z, e, i, k)
        mass = z.dtype.type(0.0)
        picked = z.dtype.type(0.0)
        for j in range(k):
            mass += y[i, j]
            picked += y[i, j] * z[i, j]
        loss[i] = lse * mass - picked
        for j in range(k):
            e[i, j] = e[i, j] * mass - y[i, j]
    return loss


def _row_softmax(z, e, i, k):
    """Row i of softmax(z) written into e; returns the row's log-sum-exp."""
    m = z[i, 0]
    for j in range(1, k):
        m = max(m, z[i, j])
    if not np.isfinite(m):
        m = z.dtype.type(0.0)
    total = z.dtype.type(0.0)
    for j in range(k):
        e[i, j] = np.exp(z[i, j] - m)
        total += e[i, j]
    for j in range(k):
        e[i, j] /= total
    return np.log(total) + m


def _softmax_xent_and_grad(z, y):
    """Mean over rows of the cross-entropy of logits z, and its gradient."""
    e = np.empty_like(z)
    return _softmax_xent_into(z, y, e), e


def _softmax_xent_into(z, y, e):
    """_softmax_xent_and_grad with the gradient written into e (z's shape): the value."""
    loss = _xent_labels(z, y, e) if y.ndim == 1 else _xent_rows(z, y, e)
    n = z.dtype.type(z.shape[0])
    e /= n
    return np.sum(loss) / n


def _one_hot(y, like):
    """Integer class labels y (batch,) as one-hot rows shaped like `like` (batch, k)."""
    n, k = like.shape
    out = np.zeros((n, k), like.dtype)
    for i in range(n):
        c = int(y[i])
        if c != y[i] or c < 0 or c >= k:
            raise ValueError("one_hot: a class label is not an integer in [0, classes)")
        out[i, c] = 1
    return out


def _matmul_fits(shapes):
    return all(1 <= len(s) <= 2 for s in shapes)


_SOFTMAX_XENT = (_row_softmax, _xent_labels, _xent_rows, _softmax_xent_into,
                 _softmax_xent_and_grad)

# whole-array primitives: (template, helpers the template calls, a check of the arguments'
# shapes or None).  Matrix products call BLAS through np.dot (1-D and 2-D operands).
WHOLE: dict[str, tuple] = {
    "matmul": ("np.dot({0}, {1})", (), _matmul_fits),
    "dot": ("np.dot({0}, {1})", (), _matmul_fits),
    "outer": ("np.outer({0}, {1})", (), lambda shapes: all(len(s) == 1 for s in shapes)),
    "transpose": ("{0}.T", (), lambda shapes: len(shapes[0]) <= 2),
    "mse": ("_mse({0}, {1})", (_mse,), None),
    "mse_grad": ("_mse_grad({0}, {1})", (_mse_grad,), None),
    "bce_with_logits": ("_bce_with_logits({0}, {1})", (_bce_with_logits,), None),
    "bce_with_logits_grad": ("_bce_with_logits_grad({0}, {1})", (_bce_with_logits_grad,),
                             None),
    "softmax_xent": ("_softmax_xent_and_grad({0}, {1})[0]",
                     _SOFTMAX_XENT,
                     lambda shapes: len(shapes[0]) == 2),
    "softmax_xent_grad": ("_softmax_xent_and_grad({0}, {1})[1]",
                          _SOFTMAX_XENT,
                          lambda shapes: len(shapes[0]) == 2),
    "one_hot": ("_one_hot({0}, {1})", (_one_hot,),
                lambda shapes: len(shapes[0]) == 1 and len(shapes[1]) == 2),
}

# whole-array primitives that can write their result into a given array {out} (a slot of
# the kernel's workspace, C order, of the result's shape) instead of a new one: (template,
# helpers); the WHOLE record's check still applies
INTO: dict[str, tuple] = {
    "matmul": ("np.dot({0}, {1}, {out})", ()),
    "dot": ("np.dot({0}, {1}, {out})", ()),
}

# a loss and its gradient of the same arguments, computed by one helper on one line
FUSED: dict[str, tuple] = {
    "mse": ("_mse_and_grad({0}, {1})", (_mse_and_grad,)),
    "bce_with_logits": ("_bce_with_logits_and_grad({0}, {1})", (_bce_with_logits_and_grad,)),
    "softmax_xent": ("_softmax_xent_and_grad({0}, {1})",
                     _SOFTMAX_XENT),
}

# the same, with the gradient written into {out} (arguments of the gradient's shape): the
# loss's value is returned
FUSED_INTO: dict[str, tuple] = {
    "mse": ("_mse_into({0}, {1}, {out})", (_mse_into,)),
    "softmax_xent": ("_softmax_xent_into({0}, {1}, {out})", _SOFTMAX_XENT[:4]),
}


def refused(ops) -> list[str]:
    """The primitives among `ops` the numba backend has no spelling for."""
    return sorted({op for op in ops if op not in LOOP and op not in WHOLE and op not in SHAPED})
