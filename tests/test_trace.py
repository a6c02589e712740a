"""The tracer: every number of every column (values, partials, tangents, adjoints) against
SymPy and central differences, the lecture's two examples, vector inputs, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphdiff as gd
from graphdiff.primitives import REGISTRY
from graphdiff.trace import Trace

from corpus import CORPUS, LOGNORMAL

LOGNORMAL_POINT = {"y": 1.5, "mu": 0.5, "sigma": 2.0}


# --- the lecture's examples ------------------------------------------------------------------

def test_intro_example_api():
    t = gd.trace("x1*x2 + sin(x1)", x1=2.0, x2=3.0, direction={"x1": 1.0})
    assert isinstance(t, Trace)
    assert t.value == 6.909297426825682
    assert t.gradient == {"x1": 2.5838531634528574, "x2": 2.0}
    assert t.directional_derivative == 2.5838531634528574
    r = t.rows[2]
    assert (r.name, r.expr, r.value, r.tangent, r.adjoint) == ("v3", "v1*v2", 6.0, 3.0, 1.0)
    assert {k: (p.expr, p.value) for k, p in r.partials.items()} == {
        "v1": ("v2", 3.0), "v2": ("v1", 2.0)}
    assert t["v3"] is r and t["x1"] is t.rows[0]


def test_intro_example_forward_and_reverse_recursions():
    # the lecture's example z = x1*x2 + sin(x1): w1 = x1, w2 = x2, w3 = w1*w2, w4 = sin w1
    t = gd.trace("x1*x2 + sin(x1)", x1=2.0, x2=3.0, direction={"x1": 1.0})
    got = [(r.name, r.expr, r.tangent_expr, r.tangent, r.adjoint_expr, r.adjoint)
           for r in t.rows]
    cos2, sin2 = math.cos(2.0), math.sin(2.0)
    assert got == [
        ("v1", "x1", None, 1.0, "bar_v3*v2 + bar_v4*cos(v1)", 3.0 + cos2),
        ("v2", "x2", None, 0.0, "bar_v3*v1", 2.0),
        ("v3", "v1*v2", "dot_v1*v2 + v1*dot_v2", 3.0, "bar_v5", 1.0),
        ("v4", "sin(v1)", "cos(v1)*dot_v1", cos2, "bar_v5", 1.0),
        ("v5", "v3 + v4", "dot_v3 + dot_v4", 3.0 + cos2, None, 1.0),
    ]
    assert t.rows[3].value == sin2


def test_lognormal_rows_are_the_lectures():
    t = gd.trace(LOGNORMAL, **LOGNORMAL_POINT)
    rows = [(r.name, r.expr, {k: p.expr for k, p in r.partials.items()}) for r in t.rows]
    assert rows == [
        ("v1", "y", {}),
        ("v2", "mu", {}),
        ("v3", "sigma", {}),
        ("v4", "v1 - v2", {"v1": "1", "v2": "-1"}),
        ("v5", "v4/v3", {"v4": "1/v3", "v3": "-v4*v3**(-2)"}),
        ("v6", "v5**2", {"v5": "2*v5"}),
        ("v7", "-0.5*v6", {"v6": "-0.5"}),
        ("v8", "log(v3)", {"v3": "1/v3"}),
        ("v9", "v7 - v8", {"v7": "1", "v8": "-1"}),
        ("v10", "v9 - 0.5*log(2*pi)", {"v9": "1"}),  # the folded constant keeps its origin
    ]
    values = [r.value for r in t.rows]
    assert values == [1.5, 0.5, 2.0, 1.0, 0.5, 0.25, -0.125, math.log(2.0),
                      -0.125 - math.log(2.0), -0.125 - math.log(2.0) - 0.5 * math.log(2 * math.pi)]
    partials = {r.name: {k: p.value for k, p in r.partials.items()} for r in t.rows}
    assert partials["v5"] == {"v4": 0.5, "v3": -0.25}
    assert partials["v6"] == {"v5": 1.0}
    assert partials["v8"] == {"v3": 0.5}
    # the reverse sweep: df/dy = -(y - mu)/sigma**2, df/dmu = -df/dy,
    # df/dsigma = (y - mu)**2/sigma**3 - 1/sigma
    assert t.gradient == {"y": -0.25, "mu": 0.25, "sigma": 0.125 - 0.5}
    assert t.value == -1.737085713764618


# --- every column against SymPy ---------------------------------------------------------------

def _sympy_nodes(g: gd.Graph, replace: int | None = None, symbol=None) -> list:
    """SymPy expressions of every node over real input symbols; node `replace` becomes
    `symbol` (so derivatives with respect to that node's value can be taken)."""
    vals: list = []
    for n in g.nodes:
        if n.index == replace:
            vals.append(symbol)
        elif n.op == "input":
            vals.append(sp.Symbol(n.name, real=True))
        elif n.op == "const":
            vals.append(sp.pi if n.value == math.pi else sp.Float(n.value, 30))
        else:
            vals.append(_sympy_apply(n.op, [vals[a] for a in n.args], dict(n.params)))
    return vals


def _sympy_apply(op: str, args: list, params: dict):
    prim = REGISTRY[op]
    params = {k: sp.Float(v, 30) if isinstance(v, float) else v for k, v in params.items()}
    if callable(prim.sympy):
        return prim.sympy(sp, *args, **params)
    return getattr(sp, prim.sympy)(*args, **params)


def _num(expr, subs) -> float:
    value = sp.N(sp.sympify(expr).subs(subs), 30)
    return float(value)


def check_trace_against_sympy(expr: str, point: dict, direction: dict) -> None:
    t = gd.trace(expr, direction=direction, **point)
    g = t.graph
    subs = {sp.Symbol(k, real=True): sp.Float(v, 30) for k, v in point.items()}
    nodes = _sympy_nodes(g)
    out = g.outputs[0]
    rel = dict(rel=1e-9, abs=1e-12)
    for r in t.rows:
        e = nodes[r.index]
        assert r.value == pytest.approx(_num(e, subs), **rel), (expr, r.name, "value")
        tangent = sum(direction.get(k, 0.0) * _num(sp.diff(e, s), subs)
                      for k, s in ((k, sp.Symbol(k, real=True)) for k in point))
        assert r.tangent == pytest.approx(tangent, **rel), (expr, r.name, "tangent")
        # the adjoint: d(output)/d(this node's value), the node made an independent symbol
        s = sp.Symbol("s_node", real=True)
        f = _sympy_nodes(g, r.index, s)[out]
        adjoint = _num(sp.diff(f, s), {**subs, s: sp.Float(r.value, 30)})
        assert r.adjoint == pytest.approx(adjoint, **rel), (expr, r.name, "adjoint")
        if r.op == "input":
            continue
        # each local partial, from the primitive's SymPy form on fresh symbols
        n = g.nodes[r.index]
        a = [sp.Symbol(f"a{j}", real=True) for j in range(len(n.args))]
        local = _sympy_apply(n.op, a, dict(n.params))
        at = {a[j]: sp.Float(_node_value(t, g, arg), 30) for j, arg in enumerate(n.args)}
        expected: dict[str, float] = {}
        for j, arg in enumerate(n.args):
            var = g.nodes[arg].var
            if var is not None:
                expected[var] = expected.get(var, 0.0) + _num(sp.diff(local, a[j]), at)
        got = {k: p.value for k, p in r.partials.items()}
        assert got.keys() == expected.keys()
        for k in got:
            assert got[k] == pytest.approx(expected[k], **rel), (expr, r.name, "partial", k)


def _node_value(t: Trace, g: gd.Graph, index: int) -> float:
    n = g.nodes[index]
    return n.value if n.op == "const" else t[n.var].value


BATTERY = [
    ("x1*x2 + sin(x1)", {"x1": 2.0, "x2": 3.0}),
    (LOGNORMAL, LOGNORMAL_POINT),
    ("x*x + exp(x)*log(y)", {"x": 0.7, "y": 2.5}),
    ("x**y + y**2.5 - 2**x", {"x": 1.3, "y": 0.8}),
    ("sigmoid(x)*tanh(y) + softsign(x - y) + softplus(y)", {"x": 0.4, "y": -0.9}),
    ("isru(x, alpha=0.5) + arctan(x*y) + relu(y) + leaky_relu(-x)", {"x": 0.6, "y": 1.2}),
    ("prelu(x, a) + prelu(y, a)", {"x": -0.8, "y": 1.3, "a": 0.25}),
    ("sqrt(x)/c + log1p(x) - expm1(-x)", {"x": 1.7, "c": 3.0}),
    ("sinh(x)*cosh(y) - arcsinh(x) + arccosh(y)", {"x": 0.3, "y": 1.8}),
    ("arcsin(x) + arccos(x)*arctanh(x) + tan(x)", {"x": 0.35}),
    ("log2(x) + log10(x*y) + abs(x - y)", {"x": 2.5, "y": 0.4}),
    ("hypot(x, y) + arctan2(y, x) + logaddexp(x, y)", {"x": 0.6, "y": -1.4}),
    ("minimum(x, y)*maximum(x, y) - x/y/x", {"x": 0.3, "y": 1.1}),
    ("(x + y)*(x + y) + sin(x + y) - (x - x)", {"x": 0.3, "y": 0.9}),
    ("-(-x) * -y / (1 + x**2)", {"x": 0.5, "y": 2.0}),
    ("exp(-x**2/2)/sqrt(2*pi)", {"x": 0.75}),
]


@pytest.mark.parametrize("expr, point", BATTERY, ids=[b[0][:30] for b in BATTERY])
def test_every_column_against_sympy(expr, point):
    names = list(point)
    direction = {n: 0.5 + 0.25 * k for k, n in enumerate(names)}
    check_trace_against_sympy(expr, point, direction)


def _evaluate_formula(text: str, rows, tangents: bool = False) -> float:
    """A row formula's Python text, parsed back and evaluated with the table's numbers."""
    g = gd.parse(text)
    env = {}
    for name in g.inputs:
        kind, _, var = name.rpartition("_")
        r = next(r for r in rows if r.name == (var if kind else name))
        env[name] = {"dot": r.tangent, "bar": r.adjoint, "": r.value}[kind]
    return float(g(**env))


def check_formulas_evaluate_to_numbers(t: Trace) -> None:
    """Each formula the table prints, evaluated, gives the number printed beside it."""
    for r in t.rows:
        for p in r.partials.values():
            assert _evaluate_formula(p.expr, t.rows) == pytest.approx(
                p.value, rel=1e-12, abs=1e-15, nan_ok=True)
        if r.tangent_expr is not None:
            assert _evaluate_formula(r.tangent_expr, t.rows) == pytest.approx(
                r.tangent, rel=1e-12, abs=1e-15, nan_ok=True)
        if r.adjoint_expr is not None:
            assert _evaluate_formula(r.adjoint_expr, t.rows) == pytest.approx(
                r.adjoint, rel=1e-12, abs=1e-15, nan_ok=True)


@pytest.mark.parametrize("expr, point", BATTERY, ids=[b[0][:30] for b in BATTERY])
def test_printed_formulas_give_the_printed_numbers(expr, point):
    t = gd.trace(expr, direction={n: 1.0 for n in point}, **point)
    check_formulas_evaluate_to_numbers(t)


def _fd(expr: str, point: dict, name: str, h: float = 1e-6) -> float:
    g = gd.parse(expr)
    up, down = dict(point), dict(point)
    step = h * max(1.0, abs(point[name]))
    up[name] += step
    down[name] -= step
    return float((g(**up) - g(**down)) / (2 * step))


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.point], ids=lambda e: e.name)
def test_corpus_sweeps_agree_with_each_other_and_finite_differences(entry):
    point = entry.point
    direction = {n: (-1.0) ** k * (1 + k) / 2 for k, n in enumerate(point)}
    t = gd.trace(entry.expr, direction=direction, **point)
    assert t.value == pytest.approx(float(gd.parse(entry.expr)(**point)), rel=1e-12)
    # forward and reverse sweeps agree: the directional derivative is gradient . direction
    dot = sum(direction[n] * t.gradient[n] for n in point)
    assert t.directional_derivative == pytest.approx(dot, rel=1e-9, abs=1e-9)
    if entry.name.startswith(("near_", "sigmoid_far", "softplus_far", "tiny_", "logaddexp_")):
        return  # central differences mean nothing there; SymPy covers these below
    for n in point:
        assert t.gradient[n] == pytest.approx(_fd(entry.expr, point, n), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.point and e.name.startswith(
    ("near_", "sigmoid_far", "softplus_far", "tiny_", "logaddexp_"))], ids=lambda e: e.name)
def test_corpus_near_singularities_against_sympy(entry):
    t = gd.trace(entry.expr, **entry.point)
    g = t.graph
    subs = {sp.Symbol(k, real=True): sp.Float(v, 30) for k, v in entry.point.items()}
    f = _sympy_nodes(g)[g.outputs[0]]
    for n in entry.point:
        expected = _num(sp.diff(f, sp.Symbol(n, real=True)), subs)
        assert t.gradient[n] == pytest.approx(expected, rel=1e-6, abs=1e-300)


# --- random expressions -------------------------------------------------------------------------

_LEAVES = st.sampled_from(["x", "y", "z", "0.5", "2", "1.5"])
_UNARY = ["sin({})", "cos({})", "tanh({})", "sigmoid({})", "softplus({})", "arctan({})",
          "log(1 + ({})**2)", "exp(-({})**2)", "sqrt(1 + ({})**2)", "-({})", "({})**2",
          "softsign({})"]
_BINARY = ["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) / (2 + ({})**2)",
           "logaddexp({}, {})", "({})*({})*x"]


def _expressions():
    return st.recursive(
        _LEAVES,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(_UNARY), inner).map(lambda p: p[0].format(p[1])),
            st.tuples(st.sampled_from(_BINARY), inner, inner).map(
                lambda p: p[0].format(p[1], p[2]))),
        max_leaves=12)


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(expr=_expressions(),
       point=st.fixed_dictionaries({n: st.floats(-2, 2).map(lambda v: round(v, 3))
                                    for n in "xyz"}),
       seed=st.fixed_dictionaries({n: st.sampled_from([-1.0, 0.0, 0.5, 2.0]) for n in "xyz"}))
def test_random_expressions(expr, point, seed):
    g = gd.parse(expr)
    point = {n: v for n, v in point.items() if n in g.inputs}
    direction = {n: v for n, v in seed.items() if n in g.inputs}
    t = gd.trace(g, direction=direction, **point)
    check_formulas_evaluate_to_numbers(t)
    dot = sum(direction[n] * t.gradient[n] for n in point)
    assert t.directional_derivative == pytest.approx(dot, rel=1e-9, abs=1e-9)
    for n in point:
        assert t.gradient[n] == pytest.approx(_fd(expr, point, n), rel=1e-5, abs=1e-6)


# --- shapes, tensors, edge cases -------------------------------------------------------------

def test_vector_inputs_keep_full_arrays_on_rows():
    x = np.linspace(-1.0, 1.0, 50)
    t = gd.trace("a*x**2 + sin(x)", x=x, a=3.0, direction={"x": 1.0})
    assert [r.input for r in t.rows][:2] == ["a", "x"]
    assert t["x"].value.shape == (50,) and t["v3"].value.shape == (50,)  # v3 = x**2
    assert isinstance(t.value, np.ndarray) and t.value.shape == (50,)
    np.testing.assert_allclose(t.directional_derivative, 6 * x + np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(t.gradient["x"], 6 * x + np.cos(x), rtol=1e-12)
    # a scalar used with a vector: its adjoint sums over the entries (gradient of the sum)
    assert np.shape(t.gradient["a"]) == ()
    assert t.gradient["a"] == pytest.approx(np.sum(x**2))
    text = str(t)
    assert "(50,)" in text and "…" in text
    assert max(len(line) for line in text.splitlines()) < 200


def test_tensor_primitives_against_finite_differences():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    b = rng.normal(size=2)
    expr = "sum(tanh(x @ w + b) * 2) + mean(w*w)"
    dw = rng.normal(size=(3, 2))
    t = gd.trace(expr, x=x, w=w, b=b, direction={"w": dw})
    g = gd.parse(expr)
    h = 1e-6
    for name, v in {"x": x, "w": w, "b": b}.items():
        fd = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            up, down = v.copy(), v.copy()
            up[idx] += h
            down[idx] -= h
            fd[idx] = (g(**{"x": x, "w": w, "b": b, name: up})
                       - g(**{"x": x, "w": w, "b": b, name: down})) / (2 * h)
        np.testing.assert_allclose(t.gradient[name], fd, rtol=1e-6, atol=1e-8)
    assert t.directional_derivative == pytest.approx(float(np.sum(t.gradient["w"] * dw)))
    assert "vector rule" in t.to_text("values")


def test_a_variable_used_twice_sums_its_partials():
    t = gd.trace("x*x", x=3.0, direction={"x": 1.0})
    (r,) = [r for r in t.rows if r.op == "mul"]
    assert r.partials["v1"].expr == "v1 + v1"
    assert r.partials["v1"].value == 6.0
    assert r.tangent_expr == "dot_v1*v1 + v1*dot_v1"  # the product rule, term by term
    assert t["v1"].adjoint_expr == "bar_v2*v1 + bar_v2*v1"
    assert t.gradient == {"x": 6.0}


def test_constants_only_and_single_input():
    t = gd.trace("2*pi", direction={})
    assert t.rows == () and t.value == 2 * math.pi and t.gradient == {}
    assert t.directional_derivative == 0.0
    t = gd.trace("x", x=2.0, direction={"x": 1.0})
    assert (t.value, t.gradient, t.directional_derivative) == (2.0, {"x": 1.0}, 1.0)


def test_without_direction_there_are_no_tangents():
    t = gd.trace("sin(x)", x=1.0)
    assert t.direction is None and t.directional_derivative is None
    assert all(r.tangent is None and r.tangent_expr is None for r in t.rows)
    with pytest.raises(ValueError, match="needs a direction"):
        t.to_text("forward")


def test_errors_are_clear():
    with pytest.raises(TypeError, match="missing value for input 'x2'"):
        gd.trace("x1*x2", x1=1.0)
    with pytest.raises(TypeError, match="unknown input 'z'"):
        gd.trace("x1*x2", x1=1.0, x2=2.0, z=3.0)
    with pytest.raises(TypeError, match="direction: unknown input 'z'"):
        gd.trace("x1*x2", x1=1.0, x2=2.0, direction={"z": 1.0})
    with pytest.raises(TypeError, match="given twice"):
        gd.trace("x*y", at={"x": 1.0}, x=2.0, y=1.0)
    with pytest.raises(ValueError, match="does not fit"):
        gd.trace("x*2", x=np.ones(3), direction={"x": np.ones(2)})
    with pytest.raises(KeyError, match="no row 'v9'"):
        gd.trace("x*2", x=1.0)["v9"]


def test_inputs_named_like_parameters_go_through_at():
    t = gd.trace("direction*at", at={"direction": 2.0, "at": 3.0}, direction={"at": 1.0})
    assert t.value == 6.0 and t.directional_derivative == 2.0


def test_sympy_and_graph_sources_and_float32():
    x, y = sp.symbols("x y")
    t = gd.trace(x * sp.sin(y), x=2.0, y=0.5)
    assert t.gradient["x"] == pytest.approx(math.sin(0.5))
    a = gd.symbols("a")
    t = gd.trace(gd.tanh(a) * a, a=np.float32(0.5))
    assert t["a"].value.dtype == np.float32


def test_nan_and_inf_are_shown_not_raised():
    t = gd.trace("log(x) + 1/y", x=-1.0, y=0.0)
    assert math.isnan(t.value)
    assert math.isinf(t["v4"].value)  # v4 = 1/v2
    assert "nan" in str(t) and "inf" in str(t)
