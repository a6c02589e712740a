"""Reverse and forward mode as graph transformations: derivatives are graphs, and their values
agree with SymPy, with central differences, with each other and with the generated code."""

from __future__ import annotations

import math

import corpus
import numpy as np
import pytest
import sympy as sp
from gradcheck import FD_ATOL, FD_RTOL, SympyReference, assert_close, central_difference, rows
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphdiff as gd
from graphdiff.codegen import compile_graph

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"
LECTURE = "x1*x2 + sin(x1)"


def _nested(template: str, depth: int) -> str:
    """template ("sin({0})") applied `depth` times to x, written out in full."""
    text = "x"
    for _ in range(depth):
        text = template.format(f"({text})")
    return text


# Expressions with domains for their inputs (default (-2, 2)), evaluated at seeded random
# arrays of points (all inputs of one shape, so derivatives are per point); together with
# the shared corpus (tests/corpus.py, one point each) they feed the battery below.
ARRAY_CASES: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "lognormal": (LOGNORMAL, {"sigma": (0.5, 3.0)}),
    "lecture": (LECTURE, {}),
    "one_input": ("exp(-x**2/2)*cos(3*x)", {}),
    "x_times_x": ("x*x", {}),
    "shared_subexpressions": ("(x + y)*(x + y) + sin(x + y)/(2 + cos(x*y))", {}),
    "constants": ("2*pi*x + e - 3*(4 - 1)*x", {}),
    "subtraction_chain": ("x - y - z - (x - z)", {}),
    "division_chain": ("x/y/z", {"y": (0.5, 2.0), "z": (-2.0, -0.5)}),
    "double_negation": ("-(-x) - -y*-(-x)", {}),
    "input_exponent": ("x**y + y**3 - x**-1.5", {"x": (0.5, 2.0)}),
    "deep_chain": (_nested("sin({0})", 40), {}),
    "deep_composite": (_nested("sin({0})*exp({0})/3 + {0}**2/4", 4), {"x": (-0.5, 0.5)}),
    "logistic_unit": ("sigmoid(w1*x + b)*w2", {}),
    "activations": ("tanh(sigmoid(x)*y - softplus(x - y)) + softsign(x) + isru(y, alpha=0.5)",
                    {}),
    "rectifiers": ("relu(x)*leaky_relu(y, alpha=0.2) + prelu(y, x) + abs(y)",
                   {"x": (0.2, 2.0), "y": (-2.0, -0.2)}),
    "min_max": ("maximum(x, y)*minimum(x, 2*y) + maximum(x*y, 0.5)",
                {"x": (1.0, 2.0), "y": (-1.0, 0.4)}),
    "two_argument": ("hypot(x, y) + arctan2(y, x) + logaddexp(x, y)", {"x": (0.5, 2.0)}),
    "inverse_trig": ("arcsin(x/2) + arccos(x/3) + arctan(x) + arctanh(x/2.5)", {}),
    "hyperbolic": ("arcsinh(x) + arccosh(2 + x**2) + cosh(x) - sinh(y) + tanh(x*y)", {}),
    "logs": ("log2(x) + log10(y) + log1p(x*y) + expm1(y/3) + sqrt(x*y) + square(x - y)",
             {"x": (0.5, 2.0), "y": (0.5, 2.0)}),
    "near_log_singularity": ("log(x) + 1/x", {"x": (1e-3, 2e-3)}),
    "near_pole": ("1/(x - 1) + tan(1.5*x)", {"x": (1.001, 1.01)}),
}


def _array_points(name: str, g: gd.Graph, size: int = 3) -> dict[str, np.ndarray]:
    domains = ARRAY_CASES[name][1]
    rng = np.random.default_rng(sum(map(ord, name)))
    return {n: rng.uniform(*domains.get(n, (-2.0, 2.0)), size=size) for n in g.inputs}


# name -> (expression, point); "arrays:" names are ARRAY_CASES, the others tests/corpus.py
CASES: dict[str, tuple[str, dict]] = {e.name: (e.expr, e.point) for e in corpus.CORPUS}
for _name, (_text, _) in ARRAY_CASES.items():
    CASES[f"arrays:{_name}"] = (_text, _array_points(_name, gd.parse(_text)))

# Absolute difference steps where the default (1e-5 * max(1, |x|)) would cross or come too
# close to a singularity: a small fraction of the distance to it.
FD_STEPS = {"near_log_zero": 1e-16, "near_pole": 1e-13, "near_sqrt_zero": 1e-18,
            "near_arctanh_one": 1e-13, "near_arcsin_one": 1e-12, "near_tan_pole": 1e-12,
            "near_ratio_pole": 1e-10, "logaddexp_large": 1e-4, "arrays:near_log_singularity": 1e-8,
            "arrays:near_pole": 1e-8}

HESSIAN_SUBSET = ["intro", "lognormal", "three_inputs", "two_arg_functions", "neuron",
                  "shared_product", "power_tower", "activations", "arrays:x_times_x",
                  "arrays:shared_subexpressions", "arrays:input_exponent",
                  "arrays:logistic_unit", "arrays:hyperbolic", "arrays:logs"]



# SymPy builds nested tanh in time exponential in the depth and recurses past Python's limit
# on deep chains: these entries are checked against central differences and the other mode
SYMPY_IMPRACTICAL = {"deep_sin", "deep_tanh_affine"}


def _case(name: str):
    text, point = CASES[name]
    g = gd.parse(text)
    return name, g, None if name in SYMPY_IMPRACTICAL else SympyReference(g), point


def _fd(name: str, g: gd.Graph, point, n: str, fun=None):
    return central_difference(fun or g, point, n, h=FD_STEPS.get(name))


def _outputs(g: gd.Graph, point) -> tuple:
    """A graph's values as a tuple, also for a single output."""
    values = g(**point)
    return values if len(g.outputs) > 1 else (values,)


@pytest.fixture(params=sorted(CASES))
def entry(request):
    return _case(request.param)


@pytest.fixture(params=sorted(CASES))
def entry_forward(request):
    return _case(request.param)


# --- derivatives are graphs -----------------------------------------------------------------

def test_derivatives_are_graphs_that_evaluate_print_compile_and_differentiate_again():
    g = gd.parse(LECTURE)
    point = {"x1": 2.0, "x2": 3.0}
    derived = {
        "value_and_grad": gd.value_and_grad_graph(g),
        "grad": gd.grad_graph(g),
        "jvp": gd.jvp_graph(g, {"x1": 1.0}),
        "jacobian": gd.jacobian_graph(g, elementwise=True),
        "hessian": gd.hessian_graph(g, elementwise=True),
    }
    for what, d in derived.items():
        assert isinstance(d, gd.Graph), what
        assert str(d) and repr(d).startswith("Graph("), what
        values = d(**point)
        compiled = compile_graph(d)(**point)
        assert_close(np.array(compiled, dtype=float), np.array(values, dtype=float), what=what)
    # d/dx1 (x1*x2 + sin(x1)) = x2 + cos(x1), a graph that can be differentiated again
    d1 = gd.grad_graph(g, "x1")
    assert isinstance(d1, gd.Graph) and len(d1.outputs) == 1
    assert_close(d1(**point), 3.0 + math.cos(2.0))
    d2 = gd.grad_graph(d1, "x1")
    assert_close(d2(**point), -math.sin(2.0))
    d3 = gd.grad_graph(d2, ["x1", "x2"])
    assert_close(np.array(d3(**point), dtype=float), [-math.cos(2.0), 0.0])


def test_derivative_graph_is_the_symbolic_derivative():
    g = gd.parse(LOGNORMAL)
    ref = SympyReference(g)
    d = gd.grad_graph(g)
    exprs = d.to_sympy()
    for name, expr in zip(g.inputs, exprs):
        expr = expr.xreplace({sp.Symbol(n): s for n, s in ref.symbols.items()})
        assert sp.simplify(expr - ref.derivative(name)) == 0, name


def test_derivative_graphs_keep_the_primal_inputs_and_can_be_simplified():
    g = gd.parse(LOGNORMAL)
    for d in (gd.value_and_grad_graph(g), gd.grad_graph(g), gd.hessian_graph(g, elementwise=True),
              gd.jacobian_graph(g, elementwise=True)):
        assert d.inputs == g.inputs
        s = gd.simplify(d)
        point = {"y": 1.5, "mu": 0.5, "sigma": 2.0}
        assert_close(np.array(s(**point), dtype=float), np.array(d(**point), dtype=float))


def test_jvp_graph_without_direction_takes_one_tangent_input_per_input():
    g = gd.parse(LECTURE)
    d = gd.jvp_graph(g)
    assert d.inputs == ("x1", "x2", "dot_x1", "dot_x2")
    value, tangent = d(x1=2.0, x2=3.0, dot_x1=0.5, dot_x2=-1.0)
    assert_close(value, 6.0 + math.sin(2.0))
    assert_close(tangent, 0.5 * (3.0 + math.cos(2.0)) - 1.0 * 2.0)


def test_jvp_tangent_input_names_do_not_collide_with_inputs():
    g = gd.parse("x*dot_x")
    d = gd.jvp_graph(g)
    assert len(set(d.inputs)) == 4 and d.inputs[:2] == ("x", "dot_x")
    _, tangent = d(**dict(zip(d.inputs, [2.0, 3.0, 1.0, 0.0])))
    assert_close(tangent, 3.0)


# --- the lecture's examples -----------------------------------------------------------------

def test_lognormal_gradient_at_the_lecture_point():
    value, (dy, dmu, dsigma) = gd.value_and_grad(LOGNORMAL)(y=1.5, mu=0.5, sigma=2.0)
    assert_close(value, -0.5 * 0.5**2 - math.log(2.0) - 0.5 * math.log(2 * math.pi))
    # d/dy = -(y - mu)/sigma^2, d/dmu = (y - mu)/sigma^2, d/dsigma = (y - mu)^2/sigma^3 - 1/sigma
    assert_close([dy, dmu, dsigma], [-0.25, 0.25, 0.125 - 0.5])


def test_lecture_example_forward_and_reverse():
    value, (g1, g2) = gd.value_and_grad(LECTURE)(x1=2.0, x2=3.0)
    assert_close(value, 6.0 + math.sin(2.0))
    assert_close([g1, g2], [3.0 + math.cos(2.0), 2.0])
    for direction, expected in (({"x1": 1.0}, 3.0 + math.cos(2.0)), ({"x2": 1.0}, 2.0)):
        v, t = gd.jvp(LECTURE, direction)(2.0, 3.0)
        assert_close([v, t], [value, expected])


def test_wrt_selects_and_orders_the_gradients():
    vg = gd.value_and_grad(LOGNORMAL, wrt=("sigma", "mu"))
    _, grads = vg(y=1.5, mu=0.5, sigma=2.0)
    assert_close(np.array(grads), [-0.375, 0.25])
    _, grads = gd.value_and_grad(LOGNORMAL, wrt="mu")(1.5, 0.5, 2.0)
    assert len(grads) == 1 and math.isclose(grads[0], 0.25)
    assert math.isclose(gd.grad(LOGNORMAL, wrt="mu")(1.5, 0.5, 2.0), 0.25)
    assert len(gd.grad(LOGNORMAL, wrt=["mu"])(1.5, 0.5, 2.0)) == 1  # a sequence: a tuple


# --- the corpus: SymPy, central differences, both modes, generated code ----------------------

def test_value_matches_sympy_and_numpy(entry):
    name, g, ref, point = entry
    if name in corpus.NUMPY_REFERENCE:  # an independent NumPy spelling
        expected = corpus.NUMPY_REFERENCE[name](**point)
        assert_close(g(**point), expected, rtol=1e-12, atol=1e-300, what=name)
    if ref is not None:
        expected = ref.value(point)
    assert_close(g(**point), expected, what=f"{name}: graph evaluation")
    assert_close(gd.compile(g)(**point), expected, what=f"{name}: generated code")


def test_reverse_mode_matches_sympy_and_central_differences(entry):
    name, g, ref, point = entry
    d = gd.value_and_grad_graph(g)
    graph_values = _outputs(d, point)
    value, grads = gd.value_and_grad(g)(**point)
    assert_close(graph_values[0], g(**point), what=name)
    assert_close(value, g(**point), what=name)
    expected = ref.gradient(point) if ref is not None else None
    for k, n in enumerate(g.inputs):
        what = f"{name}: d/d{n}"
        assert np.shape(grads[k]) == np.shape(point[n]), what
        if expected is not None:
            assert_close(graph_values[1 + k], expected[k], what=what + " (graph)")
            assert_close(grads[k], expected[k], what=what + " (generated code)")
        fd = _fd(name, g, point, n)
        assert_close(grads[k], fd, rtol=FD_RTOL, atol=FD_ATOL, what=what + " (differences)")


def test_forward_mode_matches_sympy(entry_forward):
    name, g, ref, point = entry_forward
    rng = np.random.default_rng(7)
    direction = {n: float(rng.normal()) for n in g.inputs}
    tol = {}
    if ref is not None:
        expected = ref.jvp(point, direction)
    else:  # the directional derivative by central differences along the direction
        expected = sum(direction[n] * _fd(name, g, point, n) for n in g.inputs)
        tol = {"rtol": FD_RTOL, "atol": FD_ATOL}
    value, tangent = gd.jvp_graph(g, direction)(**point)
    assert_close(tangent, expected, what=f"{name}: jvp graph", **tol)
    value, tangent = gd.jvp(g, direction)(**point)
    assert_close(value, g(**point), what=name)
    assert_close(tangent, expected, what=f"{name}: generated jvp", **tol)
    # the direction as tangent inputs, chosen at call time
    tangents = {f"dot_{n}": np.full_like(point[n], direction[n], dtype=float)
                for n in g.inputs}
    _, tangent = gd.jvp(g)(**point, **tangents)
    assert_close(tangent, expected, what=f"{name}: jvp with tangent inputs", **tol)


def test_modes_agree(entry):
    """Forward sweep (Jacobian columns), reverse sweep, generated gradient code and central
    differences give the same gradient."""
    name, g, _, point = entry
    forward = rows(gd.jacobian(g, elementwise=True)(**point))[0] if g.inputs else []
    reverse = _outputs(gd.grad_graph(g), point)
    generated = gd.value_and_grad(g)(**point)[1]
    fd = [_fd(name, g, point, n) for n in g.inputs]
    for k, n in enumerate(g.inputs):
        what = f"{name}: d/d{n}"
        assert_close(forward[k], reverse[k], rtol=1e-10, atol=1e-12, what=what)
        assert_close(generated[k], reverse[k], rtol=1e-10, atol=1e-12, what=what)
        assert_close(fd[k], reverse[k], rtol=FD_RTOL, atol=FD_ATOL, what=what)


@pytest.mark.parametrize("name", HESSIAN_SUBSET)
def test_hessian_matches_sympy_and_differences_of_the_gradient(name):
    _, g, ref, point = _case(name)
    hessian = rows(gd.hessian(g, elementwise=True)(**point))
    graph = _outputs(gd.hessian_graph(g, elementwise=True), point)
    expected = ref.hessian(point)
    k = len(g.inputs)
    grad = gd.grad(g, wrt=list(g.inputs))
    for i, a in enumerate(g.inputs):
        for j, b in enumerate(g.inputs):
            what = f"{name}: d2/d{a}d{b}"
            assert_close(hessian[i][j], expected[i][j], rtol=1e-8, atol=1e-10, what=what)
            assert_close(graph[i * k + j], expected[i][j], rtol=1e-8, atol=1e-10, what=what)
            fd = central_difference(lambda i=i, **p: grad(**p)[i], point, b)
            assert_close(hessian[i][j], fd, rtol=1e-5, atol=1e-7, what=what + " (differences)")
        for j in range(i):
            assert_close(hessian[i][j], hessian[j][i], rtol=1e-10, atol=1e-12)


def test_third_derivative_by_differentiating_derivative_graphs():
    g = gd.parse("sin(x)*exp(y) + x**3*y")
    ref = SympyReference(g)
    d = gd.grad_graph(gd.grad_graph(gd.grad_graph(g, "x"), "x"), "y")  # d3/dx2dy
    point = {"x": np.array([0.3, -1.2]), "y": np.array([0.7, 0.1])}
    assert_close(d(**point), ref.at(ref.derivative("x", "x", "y"), point))


# --- random expression trees ----------------------------------------------------------------

_UNARY = ["sin({})", "cos({})", "tanh({})", "sigmoid({})", "arctan({})", "softplus({})",
          "exp(tanh({}))", "log(2 + sin({}))", "sqrt(1 + ({})**2)", "-({})", "({})**2",
          "softsign({})", "isru({}, alpha=0.5)", "arcsinh({})", "log1p(sigmoid({}))"]
_BINARY = ["({}) + ({})", "({}) - ({})", "({})*({})", "({})/(2 + cos({}))",
           "hypot({}, 1 + ({})**2)", "logaddexp({}, {})"]
_LEAVES = st.sampled_from(["x", "y", "z", "0.5", "2", "pi"])


def _expressions(depth: int):
    if depth == 0:
        return _LEAVES
    smaller = _expressions(depth - 1)
    return st.one_of(
        _LEAVES,
        st.builds(lambda f, a: f.format(a), st.sampled_from(_UNARY), smaller),
        st.builds(lambda f, a, b: f.format(a, b), st.sampled_from(_BINARY), smaller, smaller),
    )


@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=_expressions(4), seed=st.integers(0, 2**16))
def test_random_expressions_value_gradient_jvp_hessian_match_sympy(text, seed):
    g = gd.parse(text)
    assume(g.inputs)  # expressions without inputs: test_jvp_of_a_constant_expression
    ref = SympyReference(g)
    rng = np.random.default_rng(seed)
    point = {n: rng.uniform(-1.5, 1.5, size=2) for n in g.inputs}
    what = f"{text} at {point}"
    assert_close(gd.compile(g)(**point), ref.value(point), what=what)
    value, grads = gd.value_and_grad(g)(**point)
    assert_close(value, ref.value(point), what=what)
    for got, expected in zip(grads, ref.gradient(point)):
        assert_close(got, expected, rtol=1e-8, atol=1e-10, what=what)
    direction = {n: float(rng.normal()) for n in g.inputs}
    _, tangent = gd.jvp(g, direction)(**point)
    assert_close(tangent, ref.jvp(point, direction), rtol=1e-8, atol=1e-10, what=what)
    if g.inputs:
        hessian = rows(gd.hessian(g, elementwise=True)(**point))
        for got_row, expected_row in zip(hessian, ref.hessian(point)):
            for got, expected in zip(got_row, expected_row):
                assert_close(got, expected, rtol=1e-7, atol=1e-9, what=what)


# --- cost: the cheap-gradient principle, no expression swell ---------------------------------

def _operations(g: gd.Graph) -> int:
    return sum(1 for n in g.nodes if n.op not in ("input", "const"))


def _deep_composite(depth: int) -> gd.Graph:
    g = x = gd.symbols("x")
    for _ in range(depth):
        g = gd.sin(g) * gd.exp(g) + g**2
    return g + 0 * x


@pytest.mark.parametrize("make", [lambda: gd.parse(LOGNORMAL), lambda: _deep_composite(30),
                                  lambda: gd.parse(" + ".join(f"w{i}*tanh(a{i}*x + b{i})"
                                                              for i in range(200)))],
                         ids=["lognormal", "deep_composite", "wide_sum"])
def test_gradient_graph_is_a_small_multiple_of_the_function(make):
    g = make()
    d = gd.simplify(gd.value_and_grad_graph(g))
    assert _operations(d) <= 5 * _operations(g) + len(g.inputs)


def test_gradient_size_grows_linearly_with_the_expression():
    sizes = []
    for n in (50, 500):
        g = gd.parse(" + ".join(f"w{i}*tanh(a{i}*x + b{i})" for i in range(n)))
        sizes.append(_operations(gd.simplify(gd.value_and_grad_graph(g))))
    assert sizes[1] <= 11 * sizes[0]


def test_deep_chain_is_differentiated_without_recursion():
    depth = 3000  # well past Python's recursion limit
    g = gd.parse("x")
    for _ in range(depth):
        g = g + 0.001 * gd.sin(g)
    vg = gd.value_and_grad(g)
    value, (grad,) = vg(x=0.3)
    _, tangent = gd.jvp(g, {"x": 1.0})(x=0.3)
    assert_close(value, g(x=0.3))
    assert_close(grad, tangent, rtol=1e-10)
    fd = central_difference(g, {"x": 0.3}, "x")
    assert_close(grad, fd, rtol=FD_RTOL)


# --- errors ---------------------------------------------------------------------------------

def test_wrt_must_name_inputs():
    g = gd.parse(LECTURE)
    for fn in (gd.value_and_grad_graph, gd.grad_graph, gd.jacobian_graph, gd.hessian_graph,
               gd.value_and_grad, gd.grad, gd.jacobian, gd.hessian):
        with pytest.raises(ValueError, match=r"'x3'.*x1, x2"):
            fn(g, wrt=["x1", "x3"])
    with pytest.raises(ValueError, match="'zz'"):
        gd.grad(g, wrt="x1,zz")


def test_jvp_direction_must_name_inputs_with_numbers():
    with pytest.raises(ValueError, match="'zz'"):
        gd.jvp_graph(gd.parse(LECTURE), {"zz": 1.0})
    with pytest.raises(TypeError, match="x1"):
        gd.jvp_graph(gd.parse(LECTURE), {"x1": "1"})


def test_reverse_mode_needs_a_single_output():
    g = gd.value_and_grad_graph(gd.parse(LECTURE))
    with pytest.raises(ValueError, match="one output"):
        gd.grad_graph(g)


def test_constant_expression_has_no_gradient():
    value, grads = gd.value_and_grad("2*pi")()
    assert value == pytest.approx(2 * math.pi) and grads == ()


def test_jvp_of_a_constant_expression():
    value, tangent = gd.jvp("2*pi")()
    assert value == pytest.approx(2 * math.pi) and tangent == 0


def test_hessian_of_a_constant_expression():
    assert gd.hessian("2*pi")() == ()


def test_declared_shapes_give_the_same_gradients_as_unknown_ones():
    # an elementwise graph whose inputs have static shapes: each gradient is reduced once,
    # not once per operation and again at the end (which multiplied it by the batch size)
    from graphdiff.graph import Graph, Store, copy_nodes
    g = gd.parse("-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)")
    store = Store()
    for name, shape in (("y", (None,)), ("mu", ()), ("sigma", ())):
        store.input(name, shape)
    shaped = Graph(store, (copy_nodes(g, store)[g.outputs[0]],))
    ys = np.linspace(0.0, 1.0, 5)
    _, expected = gd.value_and_grad(g)(ys, 0.5, 2.0)
    _, got = gd.value_and_grad(shaped)(ys, 0.5, 2.0)
    for e, r in zip(expected, got):
        np.testing.assert_allclose(r, e, rtol=1e-14)
    assert float(got[1]) == pytest.approx(float(np.sum((ys - 0.5) / 4.0)))
