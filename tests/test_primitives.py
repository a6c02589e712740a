"""The registry of primitives: every entry evaluates like NumPy, its partials (or vjp/jvp
rules) agree with central differences and with sympy.diff, dtypes are kept, it prints and
parses back, and the activations carry the lecture's table."""

from __future__ import annotations

import dataclasses
import itertools
import math
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.special as sps
from gradcheck import reduce_to
import sympy as sp

import graphdiff as gd
from graphdiff.primitives import CONSTANTS, FUSED_LOSSES, REGISTRY, activations, lookup

SCALAR = [p for p in REGISTRY.values() if len(p.partials) == p.arity]  # local partials
RULES = [p for p in REGISTRY.values() if len(p.partials) != p.arity]  # vjp and jvp rules

# --- where to sample each scalar primitive ------------------------------------------------------
# One (lo, hi) interval per argument; AWAY samples |x| in [0.2, 2] with either sign, away
# from the kink or jump at 0.  A primitive not listed here is sampled in (0.2, 0.9), inside
# the domain of every usual function.

AWAY = "away from 0"
DOMAINS: dict[str, list[Any]] = {
    "add": [(-2, 2)] * 2, "sub": [(-2, 2)] * 2, "mul": [(-2, 2)] * 2,
    "div": [(-2, 2), AWAY], "pow": [(0.3, 2.5), (-2, 2)], "neg": [(-2, 2)],
    "exp": [(-3, 3)], "log": [(0.2, 3)], "sqrt": [(0.2, 3)], "square": [(-2, 2)],
    "sin": [(-3, 3)], "cos": [(-3, 3)], "tan": [(-1.2, 1.2)],
    "arcsin": [(-0.9, 0.9)], "arccos": [(-0.9, 0.9)], "arctan": [(-3, 3)],
    "sinh": [(-3, 3)], "cosh": [(-3, 3)], "tanh": [(-3, 3)], "arcsinh": [(-3, 3)],
    "arccosh": [(1.2, 3)], "arctanh": [(-0.9, 0.9)], "log1p": [(-0.8, 3)], "expm1": [(-3, 3)],
    "log2": [(0.2, 3)], "log10": [(0.2, 3)], "abs": [AWAY], "sign": [AWAY],
    "hypot": [AWAY, AWAY], "arctan2": [(-2, 2), (0.3, 2)], "logaddexp": [(-3, 3)] * 2,
    "minimum": [(-2, 2)] * 2, "maximum": [(-2, 2)] * 2, "size": [(-2, 2)],
    "identity": [(-3, 3)], "binary_step": [AWAY], "sigmoid": [(-4, 4)], "softsign": [(-3, 3)],
    "isru": [(-3, 3)], "relu": [AWAY], "leaky_relu": [AWAY], "prelu": [AWAY, (-1, 1)],
    "softplus": [(-4, 4)],
    "floor": [(-3, 3)], "ceil": [(-3, 3)], "round": [(-3, 3)], "mod": [(-3, 3), AWAY],
    "fmax": [(-2, 2)] * 2, "fmin": [(-2, 2)] * 2, "clip": [(-2, 2), (-2, 2), (-2, 2)],
    "exp2": [(-3, 3)], "logaddexp2": [(-3, 3)] * 2, "reciprocal": [AWAY], "rsqrt": [(0.2, 3)],
    "cbrt": [AWAY], "sinc": [AWAY], "deg2rad": [(-200, 200)], "rad2deg": [(-3, 3)],
    "erf": [(-3, 3)], "erfc": [(-3, 3)], "erfinv": [(-0.95, 0.95)], "gelu": [(-3, 3)],
    "gelu_tanh": [(-3, 3)],
}
# keep the two arguments apart (the kink is at x == y)
TIES = {"minimum", "maximum", "fmax", "fmin"}
PARAMS: dict[str, list[dict]] = {"isru": [{}, {"alpha": 0.5}], "leaky_relu": [{}, {"alpha": 0.2}]}

# Independent NumPy spellings (not the registry's own implementation).
NUMPY_REFERENCE: dict[str, Callable[..., Any]] = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "pow": lambda x, y: np.exp(y * np.log(x)), "neg": lambda x: -x,
    "exp": np.exp, "log": np.log, "sqrt": lambda x: x**0.5, "square": lambda x: x * x,
    "sin": np.sin, "cos": np.cos, "tan": lambda x: np.sin(x) / np.cos(x),
    "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "sinh": lambda x: (np.exp(x) - np.exp(-x)) / 2, "cosh": lambda x: (np.exp(x) + np.exp(-x)) / 2,
    "tanh": np.tanh, "arcsinh": lambda x: np.log(x + np.sqrt(x * x + 1)),
    "arccosh": lambda x: np.log(x + np.sqrt(x * x - 1)),
    "arctanh": lambda x: 0.5 * np.log((1 + x) / (1 - x)),
    "log1p": lambda x: np.log(1 + x), "expm1": lambda x: np.exp(x) - 1,
    "log2": lambda x: np.log(x) / np.log(2), "log10": lambda x: np.log(x) / np.log(10),
    "abs": lambda x: np.where(x < 0, -x, x), "sign": lambda x: np.where(x < 0, -1.0, 1.0),
    "hypot": lambda x, y: np.sqrt(x * x + y * y), "arctan2": np.arctan2,
    "logaddexp": lambda x, y: np.log(np.exp(x) + np.exp(y)),
    "minimum": lambda x, y: np.where(x < y, x, y), "maximum": lambda x, y: np.where(x > y, x, y),
    "size": lambda x: float(np.size(x)), "identity": lambda x: x,
    "binary_step": lambda x: np.where(x >= 0, 1.0, 0.0), "sigmoid": sps.expit,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "isru": lambda x, alpha=1.0: x / np.sqrt(1 + alpha * x * x),
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x, alpha=0.01: np.where(x >= 0, x, alpha * x),
    "prelu": lambda x, a: np.where(x >= 0, x, a * x),
    "softplus": lambda x: np.log(1 + np.exp(x)),
}

POINTS_PER_PRIMITIVE = 6


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _draw(rng: np.random.Generator, spec: Any) -> float:
    if spec == AWAY:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 2.0))
    lo, hi = spec
    return float(rng.uniform(lo, hi))


def _points(prim) -> list[tuple[float, ...]]:
    rng = _rng(prim.name)
    specs = DOMAINS.get(prim.name, [(0.2, 0.9)] * prim.arity)
    out = []
    for _ in range(POINTS_PER_PRIMITIVE):
        args = [_draw(rng, s) for s in specs]
        if prim.name in TIES and abs(args[0] - args[1]) < 0.2:
            args[1] = args[0] + 0.5
        out.append(tuple(args))
    return out


def _cases(prims) -> list:
    return [pytest.param(p, params, id=p.name + "".join(f"-{k}={v}" for k, v in params.items()))
            for p in prims for params in PARAMS.get(p.name, [{}])]


def _sympy_of(prim, args, params):
    full = prim.resolve_params(params)
    sym_params = {k: sp.nsimplify(v) if isinstance(v, float) else v for k, v in full.items()}
    if callable(prim.sympy):
        return prim.sympy(sp, *args, **sym_params)
    return getattr(sp, prim.sympy)(*args, **sym_params)


def _sympy_number(expr) -> float:
    value = complex(expr.evalf(30))
    assert abs(value.imag) < 1e-12, expr
    return value.real


def _exact(value: float):
    return sp.Rational(value)


# --- evaluation -------------------------------------------------------------------------------

@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_scalar_primitive_evaluates_like_numpy(prim, params):
    ref = NUMPY_REFERENCE.get(prim.name)
    for args in _points(prim):
        got = prim.evaluate(*args, **params)
        if ref is not None:
            want = ref(*args, **params)
        else:  # a primitive added since: its SymPy counterpart is the reference
            syms = sp.symbols(f"a0:{prim.arity}", real=True)
            expr = _sympy_of(prim, syms, params).xreplace(dict(zip(syms, map(_exact, args))))
            want = _sympy_number(expr)
        assert float(got) == pytest.approx(float(want), rel=1e-12, abs=1e-14), args
    # on arrays, elementwise, with broadcasting against a scalar in the last argument
    if prim.name != "size":
        points = _points(prim)
        cols = [np.array([p[j] for p in points]) for j in range(prim.arity)]
        if prim.arity > 1:
            cols[-1] = cols[-1][0]
        got = prim.evaluate(*cols, **params)
        for k, p in enumerate(points):
            scalar_args = list(p)
            if prim.arity > 1:
                scalar_args[-1] = points[0][-1]
            assert got[k] == pytest.approx(float(prim.evaluate(*scalar_args, **params)),
                                           rel=1e-15, abs=0)


@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_scalar_primitive_agrees_with_its_sympy_counterpart(prim, params):
    syms = sp.symbols(f"a0:{prim.arity}", real=True)
    expr = _sympy_of(prim, syms, params)
    for args in _points(prim):
        want = _sympy_number(expr.xreplace(dict(zip(syms, map(_exact, args)))))
        if prim.name == "size":
            continue  # SymPy sees one scalar: size 1
        assert float(prim.evaluate(*args, **params)) == pytest.approx(want, rel=1e-12,
                                                                       abs=1e-14), args


# --- partials -----------------------------------------------------------------------------------

def _central_difference(f: Callable, args: tuple, j: int) -> float:
    h = 1e-6 * max(1.0, abs(args[j]))
    up, down = list(args), list(args)
    up[j] += h
    down[j] -= h
    return (float(f(*up)) - float(f(*down))) / (2 * h)


@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_partials_match_central_differences(prim, params):
    def f(*a):
        return prim.evaluate(*a, **params)

    full = prim.resolve_params(params)
    for args in _points(prim):
        out = f(*args)
        for j, partial in enumerate(prim.partials):
            got = float(partial(*args, out, **full))
            want = _central_difference(f, args, j)
            assert got == pytest.approx(want, rel=1e-6, abs=1e-7), (prim.name, j, args)


@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_partials_match_sympy_diff(prim, params):
    if prim.name in NO_SYMPY_DERIVATIVE:
        return
    syms = sp.symbols(f"a0:{prim.arity}", real=True)
    expr = _sympy_of(prim, syms, params)
    full = prim.resolve_params(params)
    derivatives = [sp.diff(expr, s) for s in syms]
    for args in _points(prim):
        out = prim.evaluate(*args, **params)
        exact = dict(zip(syms, map(_exact, args)))
        for j, partial in enumerate(prim.partials):
            if prim.name == "size":
                continue
            want = _sympy_number(derivatives[j].xreplace(exact))
            got = float(partial(*args, out, **full))
            assert got == pytest.approx(want, rel=1e-10, abs=1e-12), (prim.name, j, args)


@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_partials_are_vectorised(prim, params):
    # rules run on whole arrays too (NumPy values in, arrays or plain numbers out)
    if prim.name == "size":
        return
    points = _points(prim)
    cols = [np.array([p[j] for p in points]) for j in range(prim.arity)]
    out = prim.evaluate(*cols, **params)
    full = prim.resolve_params(params)
    for j, partial in enumerate(prim.partials):
        got = np.broadcast_to(partial(*cols, out, **full), out.shape)
        for k, p in enumerate(points):
            want = float(partial(*p, prim.evaluate(*p, **params), **full))
            assert got[k] == pytest.approx(want, rel=1e-14, abs=0)


# --- dtypes -------------------------------------------------------------------------------------

FLOAT32_EXEMPT = {"size": "a count of entries, not a value computed from them",
                  **{name: "a comparison: booleans, as NumPy's" for name in (
                      "less", "less_equal", "greater", "greater_equal", "equal", "not_equal")}}
# SymPy leaves these derivatives unevaluated (Derivative(floor(x), x)); their partials are
# checked against central differences, and are 0 (or -floor(x/y)) as in JAX
NO_SYMPY_DERIVATIVE = {"floor", "ceil", "round", "mod"}


@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_float32_inputs_give_float32_values(prim, params):
    if prim.name in FLOAT32_EXEMPT:
        return
    points = _points(prim)
    cols = [np.array([p[j] for p in points], dtype=np.float32) for j in range(prim.arity)]
    out = prim.evaluate(*cols, **params)
    assert out.dtype == np.float32
    scalar = prim.evaluate(*(np.float32(c[0]) for c in cols), **params)
    assert np.asarray(scalar).dtype == np.float32
    np.testing.assert_allclose(out, prim.evaluate(*(c.astype(np.float64) for c in cols),
                                                  **params), rtol=2e-6, atol=1e-6)


# --- text and SymPy round trips per primitive ---------------------------------------------------

def _call_text(prim, params) -> str:
    names = ["x", "y", "z"][: prim.arity]
    if prim.symbol is not None:
        return f"-{names[0]}" if prim.arity == 1 else f"{names[0]} {prim.symbol} {names[1]}"
    extra = [f"{k}={v}" for k, v in params.items()]
    return f"{prim.name}({', '.join(names + extra)})"


@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_scalar_primitive_prints_and_parses_back(prim, params):
    g = gd.parse(_call_text(prim, params))
    assert g.output.op == prim.name
    assert gd.parse(str(g)) == g
    for alias in prim.aliases:
        assert gd.parse(_call_text(prim, params).replace(prim.name, alias, 1)) == g


@pytest.mark.parametrize("prim,params", _cases(SCALAR))
def test_scalar_primitive_goes_to_sympy_and_back(prim, params):
    g = gd.parse(_call_text(prim, params))
    back = gd.parse(g.to_sympy())
    for args in _points(prim):
        point = dict(zip(g.inputs, args))
        want = g(**point)
        got = back(**{k: point[k] for k in back.inputs})
        assert float(got) == pytest.approx(float(want), rel=1e-12, abs=1e-14), args


def test_every_primitive_and_alias_is_a_function_of_the_package():
    x, y, z = gd.symbols("x y z")
    for name, prim in REGISTRY.items():
        for spelling in (name, *prim.aliases):
            f = getattr(gd, spelling)
            if prim in SCALAR:
                g = f(*[x, y, z][: prim.arity])
                assert isinstance(g, gd.Graph) and g.output.op == name
                args = _points(prim)[0]
                assert float(f(*args)) == float(prim.evaluate(*args))
    assert set(REGISTRY) <= set(dir(gd))


# --- tensor primitives: vjp and jvp rules --------------------------------------------------------

def _arr(rng, *shape, lo=-1.5, hi=1.5):
    return rng.uniform(lo, hi, size=shape)


def _tensor_samples() -> dict[str, list[tuple[tuple, dict, tuple[bool, ...]]]]:
    """name -> [(args, params, which args are differentiable)]"""
    rng = np.random.default_rng(7)
    A, B, v3, v4 = _arr(rng, 2, 3), _arr(rng, 3, 4), _arr(rng, 3), _arr(rng, 4)
    onehot = np.eye(3)[[2, 0]]
    labels = np.array([2.0, 0.0])
    cond = np.where(_arr(rng, 2, 3) > 0, 1.0, -0.0)
    axes = [{}, {"axis": 0}, {"axis": 1, "keepdims": True}, {"axis": (0, 1)}]
    return {
        "sum_to": [((A, v3, A), {}, (True, False, False)),
                   ((A, _arr(rng, 2, 1), A), {}, (True, False, False))],
        "matmul": [((A, B), {}, (True, True)), ((v3, B), {}, (True, True)),
                   ((A, v3), {}, (True, True)), ((v3, _arr(rng, 3)), {}, (True, True))],
        "outer": [((v3, v4), {}, (True, True))],
        "transpose": [((A,), {}, (True,))],
        "sum": [((A,), p, (True,)) for p in axes],
        "mean": [((A,), p, (True,)) for p in axes],
        "broadcast_like": [((_arr(rng, 2), A), {"axis": 1}, (True, False)),
                           ((np.float64(0.7), A), {}, (True, False)),
                           ((_arr(rng, 1, 3), A), {"axis": 0, "keepdims": True, "mean": True},
                            (True, False))],
        "logsumexp": [((A,), p, (True,)) for p in axes[:3]],
        "softmax": [((A,), {}, (True,)), ((A,), {"axis": 0}, (True,))],
        "log_softmax": [((A,), {}, (True,)), ((A,), {"axis": 0}, (True,))],
        "one_hot": [((labels, A), {}, (False, False))],
        "where": [((cond, A, _arr(rng, 2, 3)), {}, (False, True, True)),
                  ((cond, A, np.float64(0.3)), {}, (False, True, True))],
        "mse": [((A, _arr(rng, 2, 3)), {}, (True, True)), ((A, np.float64(0.4)), {}, (True, True))],
        "mse_grad": [((A, _arr(rng, 2, 3)), {}, (True, True))],
        "bce_with_logits": [((A, _arr(rng, 2, 3, lo=0, hi=1)), {}, (True, True))],
        "bce_with_logits_grad": [((A, _arr(rng, 2, 3, lo=0, hi=1)), {}, ())],
        "softmax_xent": [((A, onehot), {}, (True, True)), ((A, labels), {}, (True, False))],
        "softmax_xent_grad": [((A, onehot), {}, ()), ((A, labels), {}, ())],
        **_vocabulary_samples(rng, A, C=_arr(rng, 2, 3, 4), v3=v3, axes=axes),
    }


def _vocabulary_samples(rng, A, C, v3, axes):
    """Samples of the array vocabulary's reductions, shapes and indexing."""
    Az = A.copy()
    Az[0, 1] = 0.0  # a product with a zero
    Azz = Az.copy()
    Azz[1, 1] = 0.0  # two zeros in column 1
    one = (True,)
    return {
        "transpose": [((A,), {}, one), ((C,), {"axes": (1, 2, 0)}, one)],
        "max": [((A,), p, one) for p in axes],
        "min": [((A,), p, one) for p in axes],
        "prod": [((A,), p, one) for p in axes] + [((Az,), {}, one), ((Az,), {"axis": 1}, one),
                                                   ((Azz,), {"axis": 0}, one)],
        "var": [((A,), {}, one), ((A,), {"axis": 1, "ddof": 1}, one),
                ((C,), {"axis": (0, 2), "keepdims": True}, one)],
        "std": [((A,), {}, one), ((A,), {"axis": 0, "ddof": 1}, one)],
        "cumsum": [((A,), {}, one), ((A,), {"axis": 0}, one),
                   ((A,), {"axis": -1, "reverse": True}, one)],
        "reshape": [((A,), {"shape": (3, 2)}, one), ((C,), {"shape": (4, -1)}, one)],
        "reshape_like": [((_arr(rng, 6), A), {}, (True, False))],
        "ravel": [((C,), {}, one)],
        "squeeze": [((_arr(rng, 2, 1, 3),), {}, one), ((_arr(rng, 1, 3, 1),), {"axis": 2}, one)],
        "expand_dims": [((A,), {"axis": 1}, one), ((A,), {"axis": (0, -1)}, one)],
        "swapaxes": [((C,), {"axis1": 0, "axis2": 2}, one)],
        "moveaxis": [((C,), {"source": 0, "destination": -1}, one)],
        "flip": [((A,), {}, one), ((C,), {"axis": 1}, one)],
        "broadcast_to": [((v3,), {"shape": (2, 3)}, one), ((A[:1],), {"shape": (4, 2, 3)}, one)],
        "getitem": [((A,), {"index": 0}, one), ((C,), {"index": (slice(None), slice(1, 3))}, one),
                    ((C,), {"index": (Ellipsis, None, -1)}, one),
                    ((C,), {"index": (1, slice(None, None, -2))}, one)],
        "index_add": [((v3, A), {"index": 1}, (True, False))],
        "take": [((A, np.array([1.0, 0.0, 1.0])), {}, (True, False)),
                 ((A, A > 0), {}, (True, False))],
        "take_add": [((_arr(rng, 3, 3), A, np.array([1.0, 0.0, 1.0])), {}, (True, False, False))],
        "einsum": [((A, _arr(rng, 3, 4)), {"spec": "ij,jk->ik"}, (True, True)),
                   ((C, _arr(rng, 4)), {"spec": "ijk,k->j"}, (True, True)),
                   ((A, _arr(rng, 3, 4), _arr(rng, 4, 2)), {"spec": "ij,jk,kl->il"},
                    (True, True, True)),
                   ((_arr(rng, 3, 3),), {"spec": "ii->"}, (True,)),
                   ((_arr(rng, 2, 2, 3), v3), {"spec": "iij,j->ij"}, (True, True))],
        "einsum_embed": [((v3, _arr(rng, 3, 3)), {"embed": "i->ii"}, (True, False)),
                         ((_arr(rng, 4, 2), _arr(rng, 2, 2, 3, 4)), {"embed": "li->iijl"},
                          (True, False))],
        "concatenate": [((A, _arr(rng, 1, 3)), {}, (True, True)),
                        ((A, _arr(rng, 2, 2)), {"axis": -1}, (True, True)),
                        ((A, _arr(rng, 1, 3), _arr(rng, 3, 3)), {}, (True, True, True))],
        "unjoin": [((_arr(rng, 6, 3), A, _arr(rng, 1, 3), _arr(rng, 3, 3)), {"part": 1},
                    (True, False, False, False)),
                   ((_arr(rng, 3, 3), A, v3), {"part": 1, "join": "vstack"},
                    (True, False, False))],
        "split": [((_arr(rng, 2, 6),), {"sections": 3, "axis": 1, "part": 1}, one),
                  ((_arr(rng, 2, 6),), {"sections": (1, 4), "axis": -1, "part": 2}, one)],
        "stack": [((A, _arr(rng, 2, 3)), {"axis": 1}, (True, True)),
                  ((A, _arr(rng, 2, 3), _arr(rng, 2, 3)), {"axis": 1}, (True, True, True))],
        "cross": [((_arr(rng, 4, 3), _arr(rng, 3)), {}, (True, True))],
        "tensordot": [((C, _arr(rng, 3, 4, 2)), {}, (True, True)),
                      ((A, _arr(rng, 3, 4)), {"axes": 1}, (True, True)),
                      ((C, _arr(rng, 4, 3, 2)), {"axes": ((1, 2), (1, 0))}, (True, True))],
        "bilinear_adjoint": [
            ((_arr(rng, 2, 2), _arr(rng, 3, 4, 2), C), {}, (True, True, False)),
            ((_arr(rng, 2, 2), C, _arr(rng, 3, 4, 2)), {"first": False}, (True, True, False)),
            ((_arr(rng, 2, 3), A, np.float64(0.5)), {"product": "dot"}, (True, True, False)),
            ((_arr(rng, 6, 6), _arr(rng, 3, 2), A), {"product": "kron"}, (True, True, False)),
            ((_arr(rng, 2, 2), A, _arr(rng, 2, 3)), {"product": "inner", "first": False},
             (True, True, False))],
        "linear_scan": [((A, _arr(rng, 2, 3)), {"axis": 1}, (True, True)),
                        ((Az, _arr(rng, 2, 3)), {"axis": 0, "reverse": True}, (True, True))],
        "undiag": [((_arr(rng, 4, 4), v3), {"k": 1}, (True, False)),
                   ((v3, _arr(rng, 3, 4)), {}, (True, False))],
        "inner": [((A, _arr(rng, 4, 3)), {}, (True, True))],
        "roll": [((A,), {"shift": 1, "axis": 1}, one), ((C,), {"shift": -2}, one)],
        "tril": [((_arr(rng, 3, 3),), {}, one), ((C,), {"k": 1}, one)],
        "triu": [((_arr(rng, 3, 3),), {}, one), ((C,), {"k": -1}, one)],
        "diff": [((A,), {}, one), ((_arr(rng, 4, 3),), {"n": 2, "axis": 0}, one)],
        "sort": [((A,), {}, one), ((A,), {"axis": 0}, one)],
        "sort_by": [((A, _arr(rng, 2, 3)), {}, (True, False))],
        "unsort_by": [((A, _arr(rng, 2, 3)), {"axis": 0}, (True, False))],
        "diagonal": [((_arr(rng, 3, 4),), {"offset": 1}, one),
                     ((_arr(rng, 2, 3, 3),), {"axis1": 1, "axis2": 2}, one)],
        "diagonal_add": [((_arr(rng, 3), _arr(rng, 3, 4)), {"offset": 1}, (True, False))],
        "trace": [((_arr(rng, 3, 3),), {}, one), ((C,), {"offset": 1, "axis1": 1, "axis2": 2},
                                                   one)],
        "repeat": [((A,), {"repeats": 2, "axis": 1}, one), ((A,), {"repeats": 3}, one)],
        "unrepeat": [((_arr(rng, 2, 6),), {"repeats": 2, "axis": 1}, one)],
        "tile": [((A,), {"reps": (2, 1, 2)}, one), ((v3,), {"reps": 2}, one)],
        "untile": [((_arr(rng, 4, 6), A), {"reps": (2, 2)}, (True, False))],
        "pad": [((A,), {"pad_width": (1, 2)}, one), ((A,), {"pad_width": (0, 1, 2, 0)}, one)],
        "unpad": [((_arr(rng, 5, 6),), {"pad_width": (1, 2)}, one)],
        "dot": [((A, _arr(rng, 3, 4)), {}, (True, True)), ((np.float64(0.5), A), {}, (True, True))],
        "kron": [((A, _arr(rng, 3, 2)), {}, (True, True))],
        "vstack": [((A, v3), {}, (True, True)), ((A, v3, A), {}, (True, True, True))],
        "hstack": [((A, _arr(rng, 2, 2)), {}, (True, True)),
                   ((A, _arr(rng, 2, 2), _arr(rng, 2, 1)), {}, (True, True, True))],
        "diag": [((v3,), {"k": 1}, one), ((_arr(rng, 3, 4),), {}, one)],
        "cumprod": [((A,), {}, one), ((Az,), {"axis": 1}, one)],
    }


def _einsum_loops(spec, *xs):
    """einsum by its definition: a sum over every assignment of sizes to the letters."""
    ins, out = spec.split("->")
    ins = ins.split(",")
    sizes = {c: n for letters, x in zip(ins, xs) for c, n in zip(letters, np.shape(x))}
    letters = sorted(sizes)
    result = np.zeros([sizes[c] for c in out])
    for values in itertools.product(*(range(sizes[c]) for c in letters)):
        at = dict(zip(letters, values))
        term = 1.0
        for spec_k, x in zip(ins, xs):
            term = term * np.asarray(x)[tuple(at[c] for c in spec_k)]
        result[tuple(at[c] for c in out)] += term
    return result


def _scan_sums(a, b, axis, reverse):
    """h[j] = sum over i <= j of b[i] times the a's after i up to j (i >= j from the end)."""
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    n = len(b)
    out = np.zeros(b.shape)
    for j in range(n):
        for i in (range(j, n) if reverse else range(j + 1)):
            between = range(j, i) if reverse else range(i + 1, j + 1)
            out[j] += b[i] * np.prod([a[k] for k in between], axis=0)
    return np.moveaxis(out, 0, axis)


def _embed_loops(embed, t, x):
    src, dst = embed.split("->")
    out = np.zeros(np.shape(x))
    for index in itertools.product(*(range(n) for n in np.shape(x))):
        at = {}
        if all(at.setdefault(c, i) == i for c, i in zip(dst, index)):
            out[index] = t[tuple(at[c] for c in src)]
    return out


def _bilinear_adjoint_reference(t, y, like, product="tensordot", axes=2, first=True):
    # each sample's adjoint by its definition: d<t, product(a, b)>/d(operand), entry by entry
    a, b = (like, y) if first else (y, like)
    f = {"tensordot": lambda a, b: np.tensordot(a, b, axes), "dot": np.dot, "kron": np.kron,
         "inner": np.inner}[product]
    grad = np.zeros(np.shape(like))
    for index in itertools.product(*(range(n) for n in np.shape(like))):
        unit = np.zeros(np.shape(like))
        unit[index] = 1.0
        grad[index] = np.sum(t * (f(unit, b) if first else f(a, unit)))
    return grad


def _move(a, source, destination):
    order = [k for k in range(a.ndim) if k != source % a.ndim]
    order.insert(destination % a.ndim, source % a.ndim)
    return a.transpose(order)


def _variance(a, axis=None, keepdims=False, ddof=0):
    count = np.size(a) / np.size(np.add.reduce(a, axis=axis))
    centred = a - np.add.reduce(a, axis=axis, keepdims=True) / count
    return np.add.reduce(centred**2, axis=axis, keepdims=keepdims) / (count - ddof)


def _running(a, axis=None, reverse=False):
    a = a.ravel() if axis is None else a
    axis = 0 if axis is None else axis
    if reverse:
        return np.flip(np.add.accumulate(np.flip(a, axis), axis=axis), axis)
    return np.add.accumulate(a, axis=axis)


def _scatter(t, x, i):
    out = np.zeros_like(x)
    for k, row in zip(i.astype(int), t):
        out[k] += row
    return out


VOCABULARY_REFERENCE: dict[str, Callable[..., Any]] = {
    "transpose": lambda a, axes=None: a.transpose(axes),
    "max": lambda a, axis=None, keepdims=False: np.maximum.reduce(a, axis=axis,
                                                                   keepdims=keepdims),
    "min": lambda a, axis=None, keepdims=False: np.minimum.reduce(a, axis=axis,
                                                                   keepdims=keepdims),
    "prod": lambda a, axis=None, keepdims=False: np.multiply.reduce(a, axis=axis,
                                                                     keepdims=keepdims),
    "var": _variance,
    "std": lambda a, **kw: np.sqrt(_variance(a, **kw)),
    "cumsum": _running,
    "reshape": lambda a, shape: a.reshape(shape),
    "reshape_like": lambda t, x: t.reshape(x.shape),
    "ravel": lambda a: a.reshape(-1),
    "squeeze": lambda a, axis=None: a.reshape([d for k, d in enumerate(a.shape)
                                               if d != 1 or axis not in (None, k)]),
    "expand_dims": lambda a, axis: a[:, None] if axis == 1 else a[None, ..., None],
    "swapaxes": lambda a, axis1, axis2: np.einsum("ijk->kji", a),
    "moveaxis": lambda a, source, destination: _move(a, source, destination),
    "flip": lambda a, axis=None: a[::-1, ::-1] if axis is None else a[:, ::-1],
    "broadcast_to": lambda a, shape: a + np.zeros(shape),
    "getitem": lambda a, index: a[index],
    "index_add": lambda t, x, index: np.where(np.arange(len(x))[:, None] == index, t, 0 * x),
    "take": lambda a, i: a[i] if i.dtype == bool else a[i.astype(int)],
    "take_add": _scatter,
    "concatenate": lambda *xs, axis=0: np.block([[x] for x in xs]) if axis == 0
    else np.block(list(xs)),
    "stack": lambda *xs, axis=0: np.array(xs).transpose(1, 0, 2),
    "tensordot": lambda a, b, axes=2: np.einsum("ijk,kjl->il", a, b) if axes == ((1, 2), (1, 0))
    else np.einsum("ijk,jkl->il", a, b) if axes == 2
    else a @ b,
    "inner": lambda a, b: a @ b.T,
    "roll": lambda a, shift, axis=None: np.concatenate([a[:, -1:], a[:, :-1]], axis=1)
    if axis == 1 else np.concatenate([a.ravel()[2:], a.ravel()[:2]]).reshape(a.shape),
    "tril": lambda a, k=0: a * (np.arange(a.shape[-1]) <= np.arange(a.shape[-2])[:, None] + k),
    "triu": lambda a, k=0: a * (np.arange(a.shape[-1]) >= np.arange(a.shape[-2])[:, None] + k),
    "diff": lambda a, n=1, axis=-1: a[:, 1:] - a[:, :-1] if n == 1
    else a[2:] - 2 * a[1:-1] + a[:-2],
    "sort": lambda a, axis=-1: -np.partition(-a, range(a.shape[axis]), axis=axis)[
        (slice(None, None, -1),) if axis == 0 else (slice(None), slice(None, None, -1))],
    "sort_by": lambda t, key, axis=-1: np.array([r[np.argsort(k)] for r, k in zip(t, key)]),
    "unsort_by": lambda t, key, axis=-1: np.array(
        [r[np.argsort(np.argsort(k))] for r, k in zip(t.T, key.T)]).T,
    "diagonal": lambda a, offset=0, axis1=0, axis2=1: np.array(
        [a[i, i + offset] for i in range(3)]) if a.ndim == 2
    else np.array([[m[i, i] for i in range(3)] for m in a]),
    "diagonal_add": lambda t, x, offset=0, axis1=0, axis2=1: np.array(
        [[t[i] if j == i + offset else 0.0 for j in range(4)] for i in range(3)]),
    "trace": lambda a, offset=0, axis1=0, axis2=1: np.einsum("ii", a) if a.ndim == 2
    else np.array([m[0, 1] + m[1, 2] + m[2, 3] for m in a]),
    "repeat": lambda a, repeats=1, axis=None: np.array([[v for v in r for _ in range(2)]
                                                        for r in a]) if axis == 1
    else np.array([v for v in a.ravel() for _ in range(3)]),
    "unrepeat": lambda t, repeats=1, axis=0: t[:, ::2] + t[:, 1::2],
    "tile": lambda a, reps=1: np.stack([np.concatenate([a, a], 1)] * 2)
    if a.ndim == 2 else np.concatenate([a, a]),
    "untile": lambda t, x, reps=1: t[:2, :3] + t[2:, :3] + t[:2, 3:] + t[2:, 3:],
    "pad": lambda a, pad_width=0: np.block([[np.zeros((1, 6))], [np.zeros((2, 1)), a,
                                                                  np.zeros((2, 2))],
                                            [np.zeros((2, 6))]]) if len(pad_width) == 2
    else np.block([[np.zeros((2, 2)), a], [np.zeros((1, 5))]]),
    "unpad": lambda t, pad_width=0: t[1:-2, 1:-2],
    "dot": lambda a, b: a * b if np.ndim(a) == 0 else a @ b,
    "cumprod": lambda a, axis=None: np.multiply.accumulate(a.ravel() if axis is None else a,
                                                           axis=axis or 0),
    "kron": lambda a, b: np.einsum("ij,pq->ipjq", a, b).reshape(6, 6),
    "vstack": lambda *xs: np.block([[x] for x in xs]),
    "hstack": lambda *xs: np.block(list(xs)),
    "einsum": lambda *xs, spec: _einsum_loops(spec, *xs),
    "einsum_embed": lambda t, x, embed: _embed_loops(embed, t, x),
    "unjoin": lambda t, *xs, part, join="concatenate", axis=0: (
        t[2:3] if join == "concatenate" else t[2]),
    "split": lambda x, sections, axis, part: x[:, 2:4] if sections == 3 else x[:, 4:],
    "bilinear_adjoint": _bilinear_adjoint_reference,
    "linear_scan": lambda a, b, axis=0, reverse=False: _scan_sums(a, b, axis, reverse),
    "undiag": lambda t, a, k=0: np.array([t[i, i + 1] for i in range(3)]) if a.ndim == 1
    else np.array([[t[i] if i == j else 0.0 for j in range(4)] for i in range(3)]),
    "diag": lambda a, k=0: np.array([[a[i] if j == i + 1 else 0.0 for j in range(4)]
                                     for i in range(4)])[:4] if a.ndim == 1
    else np.array([a[i, i] for i in range(3)]),
    "cross": lambda a, b: np.stack([a[:, 1] * b[2] - a[:, 2] * b[1], a[:, 2] * b[0]
                                    - a[:, 0] * b[2], a[:, 0] * b[1] - a[:, 1] * b[0]], axis=-1),
}


def _log_softmax(z, axis=-1):
    return sps.log_softmax(z, axis=axis)


def _xent(z, y):
    if np.ndim(y) < np.ndim(z):
        y = np.eye(z.shape[-1])[y.astype(int)]
    return -np.sum(y * _log_softmax(z)) / (z.size // z.shape[-1])


TENSOR_REFERENCE: dict[str, Callable[..., Any]] = {
    "sum_to": lambda t, x, like: (t.sum(axis=0) if np.ndim(x) == 1 else
                                  t.sum(axis=1, keepdims=True)),
    "matmul": lambda a, b: np.einsum("...i,i...->...", a, b) if a.ndim == b.ndim == 1
    else np.tensordot(a, b, axes=([-1], [0])),
    "outer": lambda a, b: np.einsum("i,j->ij", a, b),
    "sum": lambda a, axis=None, keepdims=False: np.add.reduce(a, axis=axis, keepdims=keepdims),
    "mean": lambda a, axis=None, keepdims=False: (np.add.reduce(a, axis=axis, keepdims=keepdims)
                                                  * np.size(np.add.reduce(a, axis=axis,
                                                                          keepdims=keepdims))
                                                  / np.size(a)),
    "broadcast_like": lambda t, x, axis=None, keepdims=False, mean=False: (
        np.broadcast_to(np.asarray(t) if axis is None or keepdims else np.expand_dims(t, axis),
                        x.shape) / (x.size // max(np.size(t), 1) if mean else 1)),
    "logsumexp": lambda a, axis=-1, keepdims=False: sps.logsumexp(a, axis=axis,
                                                                   keepdims=keepdims),
    "softmax": lambda a, axis=-1: sps.softmax(a, axis=axis),
    "log_softmax": _log_softmax,
    "one_hot": lambda labels, like: np.eye(like.shape[-1])[labels.astype(int)],
    "where": lambda c, a, b: np.where(c != 0, a, b),
    "mse": lambda p, t: np.mean((p - t) ** 2),
    "mse_grad": lambda p, t: 2 * (p - t) / np.size(p - t),
    "bce_with_logits": lambda z, y: np.mean(np.log1p(np.exp(z)) - y * z),
    "bce_with_logits_grad": lambda z, y: (sps.expit(z) - y) / z.size,
    "softmax_xent": _xent,
    "softmax_xent_grad": lambda z, y: (sps.softmax(z, axis=-1) - (
        np.eye(z.shape[-1])[y.astype(int)] if np.ndim(y) < np.ndim(z) else y)) / (
        z.size // z.shape[-1]),
    **VOCABULARY_REFERENCE,
}


def _tensor_cases():
    samples = _tensor_samples()
    return [pytest.param(p, k, id=f"{p.name}-{k}") for p in RULES
            for k in range(len(samples.get(p.name, [None])))]


def test_every_primitive_is_covered_by_these_tests():
    samples = _tensor_samples()
    missing = [p.name for p in RULES if p.name not in samples or p.name not in TENSOR_REFERENCE]
    assert not missing, f"add samples and a reference for {missing} in tests/test_primitives.py"
    assert all(p.partials == () for p in RULES)


@pytest.mark.parametrize("prim,k", _tensor_cases())
def test_tensor_primitive_evaluates_like_numpy(prim, k):
    args, params, _ = _tensor_samples()[prim.name][k]
    got = prim.evaluate(*args, **params)
    want = TENSOR_REFERENCE[prim.name](*args, **params)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("prim,k", _tensor_cases())
def test_tensor_rules_match_central_differences(prim, k):
    args, params, differentiable = _tensor_samples()[prim.name][k]
    if not differentiable:
        return  # a gradient kernel: it has no derivative rules of its own
    full = prim.resolve_params(params)
    rng = np.random.default_rng(11)
    out = prim.evaluate(*args, **params)
    bar = rng.standard_normal(np.shape(out))
    vjp = prim.vjp(bar, *args, out, **full)
    assert len(vjp) == len(args)
    for i, arg in enumerate(args):
        if not differentiable[i]:
            continue
        dot = rng.standard_normal(np.shape(arg))
        h = 1e-6

        def shifted(s, i=i, arg=arg, dot=dot):
            moved = list(args)
            moved[i] = arg + s * dot
            return np.asarray(prim.evaluate(*moved, **params))

        fd = (shifted(h) - shifted(-h)) / (2 * h)
        dots = [None] * len(args)
        dots[i] = dot
        jvp = prim.jvp(tuple(dots), *args, out, **full)
        np.testing.assert_allclose(np.broadcast_to(jvp, fd.shape), fd, rtol=1e-6, atol=1e-7)
        assert vjp[i] is not None, f"{prim.name}: no adjoint for argument {i}"
        contribution = reduce_to(vjp[i], np.shape(arg))
        assert float(np.sum(contribution * dot)) == pytest.approx(float(np.sum(bar * fd)),
                                                                 rel=1e-6, abs=1e-7)


# --- the registry itself ------------------------------------------------------------------------

REQUIRED = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "sin", "cos", "tan",
            "arctan", "atan", "tanh", "abs", "identity", "binary_step", "sigmoid", "logistic",
            "softsign", "isru", "relu", "leaky_relu", "prelu", "softplus", "sinh", "cosh",
            "arcsinh", "arccosh", "arctanh", "arcsin", "arccos", "log1p", "expm1", "log2",
            "log10", "square", "hypot", "arctan2", "logaddexp", "minimum", "maximum"]


def test_the_issue_lists_are_all_in_the_registry():
    missing = [name for name in REQUIRED if name not in REGISTRY
               and not any(name in p.aliases for p in REGISTRY.values())]
    assert not missing
    assert CONSTANTS == {"pi": math.pi, "e": math.e}
    assert lookup("atan") is REGISTRY["arctan"] and lookup("logistic") is REGISTRY["sigmoid"]


def test_records_are_frozen_and_consistent():
    for name, prim in REGISTRY.items():
        assert prim.name == name
        with pytest.raises(dataclasses.FrozenInstanceError):
            prim.name = "other"  # type: ignore[misc]
        assert len(prim.partials) == prim.arity or (prim.vjp and prim.jvp), name
        assert prim.latex and prim.numpy and prim.sympy is not None
        assert dict(prim.params).keys() == prim.resolve_params({}).keys()
    spellings = [s for p in REGISTRY.values() for s in (p.name, *p.aliases)]
    assert len(spellings) == len(set(spellings))


def test_unknown_primitive_names_the_known_ones():
    with pytest.raises(KeyError) as info:
        lookup("frobnicate")
    assert "frobnicate" in str(info.value) and "sigmoid" in str(info.value)
    with pytest.raises(TypeError, match="alpha"):
        REGISTRY["isru"].resolve_params({"beta": 1.0})


def test_call_builds_nodes_for_graphs_and_evaluates_numbers():
    x = gd.symbols("x")
    assert gd.call("sin", x) == gd.parse("sin(x)")
    assert gd.call("sin", 0.5) == math.sin(0.5)


def test_docs_page_lists_every_primitive():
    page = Path(__file__).resolve().parent.parent / "docs" / "graph-and-primitives.md"
    text = page.read_text()
    missing = [name for name in REGISTRY if f"`{name}`" not in text]
    assert not missing, f"docs/graph-and-primitives.md does not list {missing}"


# --- the lecture's activation table -------------------------------------------------------------

# name -> (range, order of continuity, monotonic, derivative monotonic, identity near origin),
# copied from the lecture's table
LECTURE_ACTIVATIONS = {
    "identity": (r"(-\infty, \infty)", r"C^\infty", "Yes", "Yes", "Yes"),
    "binary_step": (r"\{0, 1\}", "C^{-1}", "Yes", "No", "No"),
    "sigmoid": ("(0, 1)", r"C^\infty", "Yes", "No", "No"),
    "tanh": ("(-1, 1)", r"C^\infty", "Yes", "No", "Yes"),
    "arctan": (r"\left(-\frac{\pi}{2}, \frac{\pi}{2}\right)", r"C^\infty", "Yes", "No", "Yes"),
    "softsign": ("(-1, 1)", "C^1", "Yes", "No", "Yes"),
    "isru": (r"\left(-\frac{1}{\sqrt{\alpha}}, \frac{1}{\sqrt{\alpha}}\right)", r"C^\infty",
             "Yes", "No", "Yes"),
    "relu": (r"[0, \infty)", "C^0", "Yes", "Yes", "No"),
    "leaky_relu": (r"(-\infty, \infty)", "C^0", "Yes", "Yes", "No"),
    "prelu": (r"(-\infty, \infty)", "C^0", r"Yes iff $\alpha \geq 0$", "Yes",
              r"Yes iff $\alpha = 1$"),
}
TITLES = {"identity": "Identity", "binary_step": "Binary step", "sigmoid": "Logistic",
          "tanh": "TanH", "arctan": "ArcTan", "softsign": "Softsign", "isru": "ISRU",
          "relu": "ReLU", "leaky_relu": "Leaky ReLU", "prelu": "PReLU"}


# after the lecture's ten, GELU (issue 11): exact, and its tanh approximation
MORE_ACTIVATIONS = ["gelu", "gelu_tanh"]


def test_activations_are_the_lectures_ten_in_order():
    assert [p.name for p in activations()] == list(LECTURE_ACTIVATIONS) + MORE_ACTIVATIONS
    assert {p.name for p in REGISTRY.values() if p.activation} == \
        set(LECTURE_ACTIVATIONS) | set(MORE_ACTIVATIONS)


@pytest.mark.parametrize("name", MORE_ACTIVATIONS)
def test_gelu_metadata_holds_numerically(name):
    prim = REGISTRY[name]
    grid = np.linspace(-6, 6, 120001)
    f = prim.evaluate(grid)
    low = float(prim.activation.range.split("[")[1].split(",")[0])  # "\approx [-0.16997, ..."
    assert f.min() == pytest.approx(low, abs=1e-5) and f.min() >= low - 1e-5
    assert np.any(np.diff(f) < 0)  # not monotonic
    slope = float(prim.partials[0](0.0, 0.0))
    assert slope == pytest.approx(0.5)  # f(0) = 0 but f'(0) = 1/2: not the identity near 0


@pytest.mark.parametrize("name", list(LECTURE_ACTIVATIONS))
def test_activation_metadata_is_the_lectures(name):
    meta = REGISTRY[name].activation
    assert (meta.range, meta.continuity, meta.monotonic, meta.derivative_monotonic,
            meta.identity_near_origin) == LECTURE_ACTIVATIONS[name]
    assert TITLES[name] in meta.title
    assert meta.equation.startswith("f(") and meta.derivative.startswith("f'(")


# numeric ranges of the table's Range column (open ends checked strictly on [-5, 5])
RANGES = {"identity": (-math.inf, math.inf), "binary_step": (0, 1), "sigmoid": (0, 1),
          "tanh": (-1, 1), "arctan": (-math.pi / 2, math.pi / 2), "softsign": (-1, 1),
          "isru": (-1, 1), "relu": (0, math.inf), "leaky_relu": (-math.inf, math.inf),
          "prelu": (-math.inf, math.inf)}


@pytest.mark.parametrize("name", list(LECTURE_ACTIVATIONS))
def test_activation_metadata_holds_numerically(name):
    prim = REGISTRY[name]
    meta = prim.activation
    grid = np.linspace(-5, 5, 2001)
    extra = (0.25,) if prim.arity == 2 else ()  # prelu with alpha = 0.25
    f = prim.evaluate(grid, *extra)
    lo, hi = RANGES[name]
    if name in ("binary_step",):
        assert set(np.unique(f)) == {0.0, 1.0}
    elif name == "relu":
        assert f.min() == 0.0 and f.max() < hi
    else:
        assert lo < f.min() and f.max() < hi
    if meta.monotonic.startswith("Yes"):
        assert np.all(np.diff(f) >= 0)
    # approximates the identity near the origin: f(0) = 0 and f'(0) = 1 from both sides
    eps = 1e-7
    near = [prim.evaluate(np.float64(s), *extra) / s for s in (eps, -eps)]
    identity_like = prim.evaluate(np.float64(0.0), *extra) == 0 and all(
        abs(v - 1) < 1e-6 for v in near)
    if name == "prelu":
        assert not identity_like  # alpha = 0.25; "Yes iff alpha = 1"
        assert prim.evaluate(grid, 1.0) == pytest.approx(grid)
    else:
        assert identity_like == (meta.identity_near_origin == "Yes")


_FUSED_CASES = [("mse", "soft"), ("mse", "scalar"), ("bce_with_logits", "soft"),
                ("softmax_xent", "soft"), ("softmax_xent", "integer")]


@pytest.mark.parametrize("loss, labels", _FUSED_CASES)
def test_fused_loss_helpers_give_the_separate_helpers_values(loss, labels):
    assert {loss for loss, _ in _FUSED_CASES} == set(FUSED_LOSSES)
    grad_op, fused = FUSED_LOSSES[loss]
    rng = np.random.default_rng(7)
    z = rng.normal(scale=20.0, size=(2, 4, 5))  # large logits: the stable forms matter
    if labels == "integer":
        y = rng.integers(0, 5, size=(2, 4))
    elif labels == "scalar":
        z, y = np.float64(1.5), np.float64(-0.5)
    else:
        y = rng.uniform(size=z.shape)
    before = np.copy(z)
    value, grad = fused(z, y)
    np.testing.assert_array_equal(z, before)  # the logits are not written to
    np.testing.assert_allclose(value, REGISTRY[loss].evaluate(z, y), rtol=1e-12)
    np.testing.assert_allclose(grad, REGISTRY[grad_op].evaluate(z, y), rtol=1e-12,
                               atol=1e-15)


class _Array(np.ndarray):
    """An ndarray subclass: `_sum_to` takes its general path for it."""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_to_a_scalar_fast_path_is_the_general_sum_bit_for_bit(dtype):
    from graphdiff.primitives import _sum_to
    rng = np.random.default_rng(0)
    shapes = [(), (1,), (5,), (1, 1), (3, 4), (2, 1, 3), (7, 0), (1000,)]
    for shape in shapes:
        t = rng.normal(size=shape).astype(dtype) * 1e3
        x = np.asarray(dtype(0.5))
        fast = _sum_to(t, x, t)
        general = _sum_to(t, x, t.view(_Array))
        assert type(fast) is type(general) and fast.dtype == general.dtype == dtype
        assert np.array_equal(fast, general, equal_nan=True) and fast.tobytes() == \
            general.tobytes(), shape
