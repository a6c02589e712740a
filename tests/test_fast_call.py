"""The cheap call (issue 13): a positional call with NumPy arrays of a signature the function
has seen goes through a generated entry (type, shape and dtype tested inline) straight to
the body, a variant's without its check.  It must answer exactly what the full path
answers (keywords, conversion, variant lookup), and `.fn` must never give a wrong number:
other shapes and dtypes raise the variant's error, numbers and lists are converted."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_differential import Rejected, assert_agree, assert_owned, random_case
from test_specialize import LOGNORMAL

import graphdiff as gd
from graphdiff.codegen import _signature, _without_guard
from graphdiff.graph import as_arrays


def _entry_points(g: gd.Graph, wrt: list[str], second_order: bool):
    yield "compile", gd.compile(g)
    yield "value_and_grad", gd.value_and_grad(g, wrt=wrt)
    yield "grad", gd.grad(g, wrt=wrt)
    yield "jvp", gd.jvp(g, {w: 0.5 + k for k, w in enumerate(wrt)})
    yield "jacobian", gd.jacobian(g, wrt=wrt)
    if second_order:
        yield "hessian", gd.hessian(g, wrt=wrt)


def _check_cheap_path(case) -> None:
    g, point, dtype = case.graph, case.point, case.dtype
    with np.errstate(all="ignore"):
        ref = g(**point)
    if not np.all(np.isfinite(np.asarray(ref, float))):
        raise Rejected
    arrays = as_arrays([point[n] for n in g.inputs])
    frozen = [a.copy() for a in arrays]
    uniform = len({a.dtype for a in arrays}) <= 1
    for kind, f in _entry_points(g, case.wrt, case.second_order):
        with np.errstate(all="ignore"):
            plain = f(**point)  # keywords: always the full path
            got = {f"positional call {k}": f(*arrays) for k in (1, 2, 3, 4)}
            got[".fn"] = f.fn(*arrays)
            got[".fn with the point as given"] = f.fn(*(point[n] for n in g.inputs))
            key = _signature(arrays)
            if uniform and f._specialize is not None:
                variant = f.variants.get(key)
                assert variant is not None, f"{kind}: no variant after four calls"
                # the third and fourth calls went through the variant's entry
                assert f._hot is f._dispatchers[key], f"{kind}: the cheap path was not taken"
                got["variant .fn"] = variant.fn(*arrays)
                got["variant's unchecked body"] = variant._fast(*arrays)
        for how, result in got.items():
            assert_agree(plain, result, f"{kind}, {how}", dtype)
            assert_owned(result, arrays + list(point.values()), f"{kind}, {how}")
        for a, before in zip(arrays, frozen):
            np.testing.assert_array_equal(a, before, err_msg=f"{kind}: an input changed")


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1))
def test_the_cheap_path_answers_what_the_full_path_answers(seed):
    case = random_case(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            _check_cheap_path(case)
        except Rejected:
            assume(False)


def _ready(f, *args):
    """f called until its cheap path for these arguments is in place."""
    for _ in range(3):
        f(*args)
    assert f._hot is f._dispatchers[_signature(list(args))]
    return f


def test_other_shapes_after_the_cheap_path_take_the_full_path():
    vg = _ready(gd.value_and_grad(LOGNORMAL), np.linspace(-1, 1, 5), np.array(0.5),
                np.array(2.0))
    for y, mu in ((np.linspace(-1, 1, 7), np.array(0.5)),  # another length
                  (np.linspace(-1, 1, 5), np.full(5, 0.5)),  # mu an array now
                  (np.linspace(-1, 1, 5, dtype=np.float32), np.float32(0.5))):  # float32
        want = vg(y=y, mu=mu, sigma=2.0)
        got = vg(y, mu, np.array(2.0, dtype=np.asarray(y).dtype))
        assert_agree(want, got, f"shapes {np.shape(y)}, {np.shape(mu)}", np.asarray(y).dtype)


def test_a_variants_fn_refuses_other_shapes_and_dtypes():
    y = np.linspace(-1, 1, 5)
    vg = gd.value_and_grad(LOGNORMAL)
    variant = vg.specialized(y, np.array(0.5), np.array(2.0))
    assert variant is not vg and variant._fast is not variant._raw
    with pytest.raises(ValueError, match=r"compiled for y \(5,\)"):
        variant.fn(np.linspace(-1, 1, 6), np.array(0.5), np.array(2.0))
    with pytest.raises(ValueError, match="dtype float64"):
        variant.fn(y.astype(np.float32), np.float32(0.5), np.float32(2.0))
    with pytest.raises(ValueError, match="compiled for"):  # mu must be a scalar here
        variant.fn(y, np.full(5, 0.5), np.array(2.0))
    # numbers and lists are converted first, as a call converts them
    assert_agree(vg(y, 0.5, 2.0), variant.fn(list(y), 0.5, 2.0), "converted", y.dtype)


def test_declared_shapes_are_refused_on_the_cheap_path_too():
    X = gd.tensor("X", (None, 2))
    f = _ready(gd.compile(gd.sum(gd.tanh(X))), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"compiled for X \(N, 2\)"):
        f(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"compiled for X \(N, 2\)"):
        f.fn(np.ones((3, 3)))


def test_fn_never_computes_with_integers_or_python_lists():
    """The generated function alone would square int64 with wraparound and add lists by
    concatenating them; `.fn` converts them to float64 as a call does."""
    big = np.array([2**40], dtype=np.int64)
    assert gd.compile("x*x").fn(big)[0] == 2.0**80
    np.testing.assert_array_equal(gd.compile("x + y").fn([1, 2], [3, 4]), [4.0, 6.0])
    with pytest.raises(TypeError, match="complex"):
        gd.compile("x*2").fn(np.array([1j]))


def test_mixed_dtypes_take_numpys_promotion_on_every_path():
    f = gd.value_and_grad("x*y")
    x, y = np.ones(3, np.float32), np.arange(3.0)
    results = [f(x, y) for _ in range(3)] + [f.fn(x, y), f(x=x, y=y)]
    for r in results:
        assert_agree(results[-1], r, "mixed dtypes", np.dtype(np.float32))
    assert f.variants == {}


def test_a_byte_swapped_array_takes_the_full_path():
    y = np.linspace(-1, 1, 5).astype(">f8")
    vg = gd.value_and_grad(LOGNORMAL)
    results = [vg(y, np.array(0.5), np.array(2.0)) for _ in range(4)]
    native = vg(y.astype("<f8"), 0.5, 2.0)
    for r in results:
        assert_agree(native, r, "byte-swapped", np.dtype(np.float64))


def test_the_unchecked_body_is_the_variant_without_its_check():
    vg = gd.value_and_grad(LOGNORMAL)
    variant = vg.specialized(np.ones(4), np.array(0.5), np.array(2.0))
    body = _without_guard(variant.source, variant.name)
    assert "compiled for" in variant.source and "compiled for" not in body
    kept = [line for line in variant.source.splitlines() if line not in body.splitlines()]
    assert len(kept) == 4 and kept[0].startswith("    if (y.shape")
    # a Jacobian's check sits in its tangent function: nothing is taken out of it
    jac = gd.jacobian("x*y").specialized(np.ones(2), np.ones(2))
    assert _without_guard(jac.source, jac.name) is None and jac._fast is jac._raw


def test_fn_shows_the_generated_function():
    import inspect

    f = gd.value_and_grad("x*y + sin(x)", name="vxy")
    assert inspect.getsource(f.fn).startswith("def vxy(x, y):")
    assert list(inspect.signature(f.fn).parameters) == ["x", "y"]
    assert f.fn.__name__ == "vxy" and f.fn.__doc__ == f._raw.__doc__


def test_wrong_arity_keeps_the_binding_errors():
    f = _ready(gd.compile("x*y"), np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="missing value for input 'y'"):
        f(np.ones(2))
    with pytest.raises(TypeError, match="at most 2 positional"):
        f(np.ones(2), np.ones(2), np.ones(2))


def test_threads_switching_signatures_get_right_answers():
    """Each thread calls with its own shape, so the entry the function holds changes under
    the others' feet: every answer must still be its own."""
    f = gd.value_and_grad("sum(tanh(x) * y)")
    xs = [np.linspace(-1, 1, n) for n in range(1, 5)]
    start = threading.Barrier(4)

    def run(x):
        start.wait()
        return [f(x, x) for _ in range(50)]

    inputs = xs[:4] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        for x, results in zip(inputs, pool.map(run, inputs)):
            for value, (gx, gy) in results:
                np.testing.assert_allclose(value, np.sum(np.tanh(x) * x))
                np.testing.assert_allclose(gy, np.tanh(x))
                np.testing.assert_allclose(gx, (1 - np.tanh(x) ** 2) * x)


def test_functions_of_many_inputs_test_them_in_a_loop():
    # beyond _INLINE_CHECKS parameters the entry's test is a loop (one inline condition
    # per input made compile() cost more than the function): the same answers, the same
    # refusals
    from graphdiff.codegen import _INLINE_CHECKS
    n = _INLINE_CHECKS  # 3n + 1 inputs
    # three forms of terms, too few of each to run on arrays of terms (graphdiff.repeated)
    forms = ("tanh", "sin", "sigmoid")
    text = " + ".join(f"w{i}*{forms[i % 3]}(a{i}*x + b{i})" for i in range(n))
    vg = gd.value_and_grad(text)
    assert len(vg.inputs) > _INLINE_CHECKS
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=4) for _ in vg.inputs]
    want = vg(**dict(zip(vg.inputs, arrays)))
    for _ in range(3):  # the full path, the variant, the cheap path
        assert_agree(want, vg(*arrays), "positional", np.float64)
    assert_agree(want, vg.fn(*arrays), ".fn", np.float64)
    variant = vg.specialized(*arrays)
    assert_agree(want, variant.fn(*arrays), "the variant's .fn", np.float64)
    with pytest.raises(ValueError, match="compiled for"):
        variant.fn(*arrays[:-1], np.ones(5))
    with pytest.raises(ValueError, match="dtype float64"):
        variant.fn(*arrays[:-1], arrays[-1].astype(np.float32))
    # float32 throughout: the general entry's loop sees one float type
    single = [a.astype(np.float32) for a in arrays]
    assert_agree(vg(**dict(zip(vg.inputs, single))), vg(*single), "float32", np.float32)
