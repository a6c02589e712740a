"""Variants compiled for the shapes a function is called with: they must compute exactly
what the general function computes (values, shapes, dtypes), never touch their inputs,
and be built only for repeated signatures."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_autodiff import CASES, _expressions

import graphdiff as gd
from graphdiff import compiled

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"


def _leaves(result):
    """A nested tuple of results, flattened (values, gradients, rows of a Hessian)."""
    stack, out = [result], []
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def assert_same_results(general, special, what: str, rtol: float = 1e-10,
                        atol: float = 1e-12) -> None:
    a, b = _leaves(general), _leaves(special)
    assert len(a) == len(b), what
    for x, y in zip(a, b):
        assert np.shape(x) == np.shape(y), f"{what}: shape {np.shape(x)} vs {np.shape(y)}"
        assert np.asarray(x).dtype == np.asarray(y).dtype, what
        np.testing.assert_allclose(y, x, rtol=rtol, atol=atol, err_msg=what)


def _entry_points(g: gd.Graph):
    direction = {n: 0.5 + k for k, n in enumerate(g.inputs)}
    yield "compile", gd.compile(g)
    if g.inputs:
        yield "value_and_grad", gd.value_and_grad(g)
        yield "grad", gd.grad(g)
        yield "jvp", gd.jvp(g, direction)
        yield "jvp_tangent_inputs", gd.jvp(g)
        yield "hessian", gd.hessian(g)
        yield "jacobian", gd.jacobian(g)


def _check(g: gd.Graph, point: dict, what: str) -> None:
    tangents = {f"dot_{n}": np.ones_like(np.asarray(v, dtype=float)) for n, v in point.items()}
    for kind, f in _entry_points(g):
        args = dict(point, **tangents) if kind == "jvp_tangent_inputs" else point
        args = {n: args[n] for n in f.inputs}
        frozen = {n: np.array(v, copy=True) for n, v in args.items()}
        with np.errstate(all="ignore"):
            general = f.fn(*gd.graph.as_arrays(list(args.values())))
            variant = f.specialized(**args)
            special = variant(**args)
        assert variant is not f, f"{kind} of {what}: no variant was built"
        assert_same_results(general, special, f"{kind} of {what}")
        for n, v in args.items():  # buffers are reused, inputs never
            np.testing.assert_array_equal(np.asarray(v), frozen[n], err_msg=f"{kind}: {n}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_variants_compute_what_the_general_function_computes(name):
    text, point = CASES[name]
    _check(gd.parse(text), point, name)


_SHAPES = st.sampled_from([(), (3,), (2, 1), (2, 3), (1, 3)])


@settings(max_examples=40, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=_expressions(4), shapes=st.lists(_SHAPES, min_size=3, max_size=3),
       seed=st.integers(0, 2**16))
def test_random_expressions_with_broadcast_shapes(text, shapes, seed):
    g = gd.parse(text)
    assume(g.inputs)
    rng = np.random.default_rng(seed)
    point = {n: rng.uniform(-1.5, 1.5, size=s) for n, s in zip(g.inputs, shapes)}
    try:
        np.broadcast_shapes(*(np.shape(v) for v in point.values()))
    except ValueError:
        assume(False)
    _check(g, point, f"{text} at shapes {shapes}")


def test_float32_stays_float32_in_the_variant():
    vg = gd.value_and_grad(LOGNORMAL)
    y = np.linspace(-1, 1, 7, dtype=np.float32)
    args = (y, np.float32(0.5), np.float32(2.0))
    general, special = vg.fn(*args), vg.specialized(*args)(*args)
    assert_same_results(general, special, "float32 log-normal", rtol=1e-6)
    assert all(np.asarray(v).dtype == np.float32 for v in _leaves(special))


def test_a_signature_is_specialised_on_its_second_call_only():
    vg = gd.value_and_grad(LOGNORMAL)
    y = np.linspace(-1, 1, 5)
    first = vg(y, 0.5, 2.0)
    assert vg.variants == {}
    second = vg(y, 0.5, 2.0)
    (key, variant), = vg.variants.items()
    assert key == (((5,), "<f8"), ((), "<f8"), ((), "<f8"))
    assert "_sum_to" not in variant.source
    assert_same_results(first, second, "second call")
    vg(np.linspace(-1, 1, 6), 0.5, 2.0)  # a new shape: general function again
    assert len(vg.variants) == 1
    assert vg.specialized(y, 0.5, 2.0) is variant


def test_the_number_of_variants_is_bounded():
    f = gd.compile("sin(x)*y")
    for n in range(1, 2 * f.MAX_VARIANTS):
        for _ in range(f.SPECIALIZE_AFTER):
            np.testing.assert_allclose(f(np.ones(n), 2.0), 2 * np.sin(np.ones(n)))
    assert len(f.variants) == f.MAX_VARIANTS


def test_mixed_dtypes_use_the_general_function():
    vg = gd.value_and_grad("x*y")
    x, y = np.ones(3, dtype=np.float32), np.ones(3)
    assert vg.specialized(x, y) is vg
    for _ in range(3):
        vg(x, y)
    assert vg.variants == {}


def test_shapes_that_do_not_fit_raise_numpys_error():
    f = gd.compile("x @ y")
    for _ in range(3):
        with pytest.raises(ValueError):
            f(np.ones((2, 3)), np.ones((2, 3)))
    assert f.specialized(np.ones((2, 3)), np.ones((2, 3))) is f


def test_lognormal_variant_does_one_array_pass_beyond_the_forward_function():
    """The cheap-gradient principle in operation counts: with mu and sigma known to be
    scalars, the reverse sweep scales the quotient once (dy) and sums two arrays the
    forward pass computes anyway (dmu, dsigma)."""
    y = np.linspace(-1, 1, 1000)
    forward = gd.compile(LOGNORMAL).specialized(y, 0.5, 2.0)
    vg = gd.value_and_grad(LOGNORMAL).specialized(y, 0.5, 2.0)

    def array_ops(f):
        return sum(1 for n in f.graph.nodes if n.op not in ("input", "const")
                   and n.shape not in (None, ()))

    def reductions(f):
        return sum(1 for n in f.graph.nodes if n.op == "sum")

    assert array_ops(vg) == array_ops(forward) + 1
    assert reductions(vg) == 2


def _peak_bytes(fn, *args) -> int:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_lognormal_variant_reuses_dead_buffers():
    """The value and dy take the buffers of y - mu and of the square: the variant's peak
    memory is two arrays, the forward function's too (NumPy reports to tracemalloc)."""
    y = np.linspace(-1, 1, 100_000)
    size = y.nbytes
    forward = gd.compile(LOGNORMAL).specialized(y, 0.5, 2.0)
    vg = gd.value_and_grad(LOGNORMAL)
    variant = vg.specialized(y, 0.5, 2.0)
    args = gd.graph.as_arrays([y, 0.5, 2.0])
    assert _peak_bytes(forward.fn, *args) < 1.1 * size
    assert _peak_bytes(variant.fn, *args) < 2.1 * size
    assert _peak_bytes(vg.fn, *args) > 3 * size  # the general function, for contrast


@pytest.mark.parametrize("text", ["x - x", "x*0 + y*0", "x**0 - y/y"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_output_that_simplifies_to_a_constant_keeps_the_inputs_type(text, dtype):
    """With known scalars x - x is 0 at build time; the function still returns a number
    of its inputs' floating type, as the general function does."""
    g = gd.parse(text)
    args = [dtype(0.75)] * len(g.inputs)
    for kind, f in _entry_points(g):
        if kind == "jvp_tangent_inputs":
            continue
        special = f.specialized(*args)(*args)
        tol = np.finfo(dtype).eps * 8  # rearranged arithmetic rounds differently
        assert_same_results(f.fn(*args), special, f"{kind} of {text}", rtol=tol, atol=tol)
        assert all(np.asarray(v).dtype == dtype for v in _leaves(special))


# --- derivatives that stay linear ------------------------------------------------------------
# Known scalars move out of products (one array operation instead of two, a scalar factor
# leaves a sum); the gradient of a layered expression must still cost a few lines per
# layer, with shapes declared or not, in the general function and in its variants.

def _layer(kind: str, h: gd.Graph, w: gd.Graph, b: gd.Graph) -> gd.Graph:
    return {"tanh": lambda: gd.tanh(w * h),
            "affine": lambda: gd.tanh(w * h + b),
            "cos": lambda: gd.cos(h * w),  # a negated partial: -sin
            "div": lambda: gd.sin(h / w),
            "sigmoid": lambda: gd.sigmoid(w * h - b)}[kind]()


def _layered(kind: str, size: int, declared: bool) -> gd.Graph:
    """`size` scalar-weighted layers on an array x (`chain` kinds), or the sum of `size`
    terms w_i*tanh(a_i*x + b_i) (`sum`); the scalars declared as such or not."""
    scalar, array = ((), (None,)) if declared else (None, None)
    x = gd.symbols("x", array)
    if kind == "sum":
        terms = [gd.symbols(f"w{i}", scalar) * gd.tanh(gd.symbols(f"a{i}", scalar) * x
                                                       + gd.symbols(f"b{i}", scalar))
                 for i in range(size)]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total
    h = x
    for i in range(size):
        h = _layer(kind, h, gd.symbols(f"w{i}", scalar), gd.symbols(f"b{i}", scalar))
    return gd.sum(h)


def _point(f, points: int = 4) -> list:
    return [np.linspace(-1.0, 1.0, points) if n == "x" else 0.9 for n in f.inputs]


@pytest.mark.parametrize("kind", ["tanh", "affine", "cos", "div", "sigmoid", "sum"])
def test_gradient_lines_grow_linearly_with_the_layers(kind, monkeypatch):
    """lines(2L)/lines(L) stays near 2 (a quadratic gradient gives 3 to 4), with the
    scalars declared or not, for the general function and the variant built for scalar
    weights and an array x."""
    # the sum written out: its terms of one form would otherwise run on arrays of terms
    # (graphdiff.repeated, tested in test_repeated.py), whose lines do not grow at all
    monkeypatch.setattr(compiled, "find_terms", lambda *args, **kwargs: None)
    sizes = (25, 50, 100, 200) if kind in ("tanh", "sum") else (25, 50, 100)
    for how in ("undeclared", "declared", "variant"):
        lines = []
        for size in sizes:
            vg = gd.value_and_grad(_layered(kind, size, how == "declared"))
            if how == "variant":
                vg = vg.specialized(*_point(vg))
                assert vg.variants == {} and "compiled for" in vg.source  # a variant indeed
            lines.append(len(vg.source.splitlines()))
        ratios = [big / small for small, big in zip(lines, lines[1:])]
        assert all(r < 2.1 for r in ratios), f"{kind}, {how}: lines {lines}"


@pytest.mark.parametrize("kind", ["tanh", "affine", "cos", "div", "sigmoid", "sum"])
def test_collected_scalar_factors_keep_the_gradient(kind):
    """The rearranged products (scalar factors multiplied together first) compute the
    gradient of the general function, declared shapes or not."""
    general = gd.value_and_grad(_layered(kind, 12, False))
    declared = gd.value_and_grad(_layered(kind, 12, True))
    args = _point(general, 5)
    expected = general.fn(*args)
    assert_same_results(expected, declared(*args), f"declared {kind}")
    assert_same_results(expected, general.specialized(*args)(*args), f"variant of {kind}")
