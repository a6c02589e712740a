"""The simplification passes, each on its own, and together: constant folding, algebraic
identities, common subexpressions (commutative ones too), dead code, reuse of a primitive's
output in its derivative; every pass keeps the graph's values."""

from __future__ import annotations

import ast

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.graph import Graph, Store, copy_nodes
from graphdiff.simplify import (
    PASSES,
    apply_identities,
    eliminate_common_subexpressions,
    fold_constants,
    remove_dead_code,
    simplify,
)

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"


def _ops(g: Graph) -> list[str]:
    return [n.op for n in g.nodes if n.op not in ("input", "const")]


# --- constant folding --------------------------------------------------------------------------

def _unfolded() -> Graph:
    """(2 + 3)*x - exp(0)*x with the constant operations kept as nodes (the store's own
    `apply` would fold them at once)."""
    s = Store()
    x, c0, c2, c3 = s.input("x"), s.const(0.0), s.const(2.0), s.const(3.0)
    five = s._add(("add", (c2, c3), ()), "add", (c2, c3), (), None)
    one = s._add(("exp", (c0,), ()), "exp", (c0,), (), None)
    left = s.apply("mul", (five, x))
    right = s.apply("mul", (one, x))
    return Graph(s, (s.apply("sub", (left, right)),))


def test_fold_constants_replaces_constant_operations_by_their_values():
    g = _unfolded()
    assert _ops(g) == ["add", "mul", "exp", "mul", "sub"]
    folded = fold_constants(g)
    assert _ops(folded) == ["mul", "mul", "sub"]
    assert str(folded) == "5*x - 1*x"
    assert folded(x=2.0) == g(x=2.0) == 8.0


def test_parsing_folds_constants_and_remembers_where_they_came_from():
    g = gd.parse(LOGNORMAL)
    consts = [n for n in g.nodes if n.op == "const"]
    assert [n.value for n in consts] == [-0.5, 2.0, pytest.approx(0.9189385332046727)]
    assert consts[-1].origin is not None  # 0.5*log(2*pi), for the trace table
    assert not any(n.args and all(g.nodes[a].op == "const" for a in n.args) for n in g.nodes)


# --- algebraic identities ----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("x*1", "x"), ("1*x", "x"), ("x + 0", "x"), ("0 + x", "x"), ("x - 0", "x"),
    ("-(-x)", "x"), ("--x", "x"),
    ("x**1", "x"), ("x/1", "x"), ("0 - x", "-x"), ("x*-1", "-x"),
    ("-1*x", "-x"), ("x*(1/y)", "x/y"), ("2*(3*x)", "6*x"), ("sin(x)*1 + 0", "sin(x)"),
])
def test_identities(text, expected):
    assert str(apply_identities(gd.parse(text))) == expected


def _rebuilt(g, store):
    """g over inputs declared as scalars (shape ()), so that shapes are known."""
    for n in g.nodes:
        if n.op == "input":
            store.input(n.name, ())
    return Graph(store, (copy_nodes(g, store)[g.outputs[0]],))


@pytest.mark.parametrize("text, expected", [
    ("x*0", "0"), ("0*x", "0"), ("x - x", "0"), ("x**0", "1"),
    ("(x*1 + 0)*y - (x - x)", "x*y"),
])
def test_identities_that_drop_an_operand_need_it_to_be_a_known_scalar(text, expected):
    assert str(apply_identities(_rebuilt(gd.parse(text), Store()))) == expected
    # of unknown shape, x*0 is zeros shaped like x: dropping x would lose that shape
    kept = apply_identities(gd.parse(text))
    assert kept(**{name: np.ones(3) for name in kept.inputs}).shape == (3,)


@pytest.mark.parametrize("text", ["x*y", "x - y", "x/y", "x**2", "-x", "2*x + 1", "x + y - y"])
def test_no_identity_where_none_applies(text):
    g = gd.parse(text)
    assert apply_identities(g).equals(g)


_SCALAR_S = {"a": (3,), "b": (3,), "s": ()}


@pytest.mark.parametrize("text, expected", [
    ("-(2*x)", "-2*x"),            # the sign folds into the constant
    ("(-a)*s", "a*(-s)"),          # a negated array times a known scalar: negate the scalar
    ("(-a)/s", "a/(-s)"),
    ("-(a*(-s))", "a*s"),          # and there the negations cancel
    ("-(a/(-s))", "a/s"),
    ("x**2 + x*x", "x**2 + x**2"),  # x*x is the square already built
    ("a*(b/s)", "a*b/s"),          # the scalar divisor moves out, for sums to take it out
])
def test_identities_with_known_scalars(text, expected):
    g = gd.parse(text)
    shaped = apply_identities(g.with_shapes({n: _SCALAR_S[n] for n in g.inputs if n in _SCALAR_S}))
    assert str(shaped) == expected
    rng = np.random.default_rng(0)
    point = {n: rng.uniform(0.5, 2.0, size=_SCALAR_S.get(n, ())) for n in g.inputs}
    np.testing.assert_allclose(shaped(**point), g(**point), rtol=1e-15)


def test_a_derivative_does_not_take_apart_what_the_primal_computes():
    """(a/s)*(a/s) in a gradient stays a product of the primal's quotient: rewriting it
    as (a*a)/s/s would add array passes (Store.kept)."""
    g = gd.parse("sum((a/s)*(a/s) + a)").with_shapes({"a": (4,), "s": ()})
    d = gd.grad_graph(g, ["s"])
    divisions_of_arrays = [n for n in d.nodes if n.op == "div" and n.shape == (4,)]
    assert len(divisions_of_arrays) == 1  # the primal's a/s only


# --- common subexpressions ---------------------------------------------------------------------

def test_structurally_equal_subexpressions_are_one_node_already():
    g = gd.parse("sin(x*y) + sin(x*y)")
    assert _ops(g) == ["mul", "sin", "add"]


def test_cse_merges_commutative_spellings_and_keeps_the_first():
    g = gd.parse("x*y + y*x")
    assert _ops(g) == ["mul", "mul", "add"]
    merged = eliminate_common_subexpressions(g)
    assert _ops(merged) == ["mul", "add"] and str(merged) == "x*y + x*y"
    assert str(eliminate_common_subexpressions(gd.parse("y*x + x*y"))) == "y*x + y*x"
    merged = eliminate_common_subexpressions(gd.parse("(x + y)*(x + y) + (y + x)"))
    assert _ops(merged) == ["add", "mul", "add"]
    merged = eliminate_common_subexpressions(gd.parse("hypot(x, y) - hypot(y, x)"))
    assert _ops(merged) == ["hypot", "sub"]


@pytest.mark.parametrize("text", ["x - y + (y - x)", "x/y + y/x", "x**y + y**x",
                                  "arctan2(x, y) + arctan2(y, x)"])
def test_cse_keeps_non_commutative_operations_apart(text):
    g = gd.parse(text)
    assert eliminate_common_subexpressions(g).equals(g)


def test_simplify_lets_cse_expose_identities():
    assert str(simplify(_rebuilt(gd.parse("(x*1 + 0)*y - y*x"), Store()))) == "0"
    assert str(simplify(_rebuilt(gd.parse("x + y - (y + x)"), Store()))) == "0"


# --- dead code ---------------------------------------------------------------------------------

def test_dead_code_is_removed_and_declared_inputs_kept():
    s = Store()
    x, y = s.input("x"), s.input("y")
    s.apply("sin", (y,))  # computed, then never used
    g = Graph(s, (s.apply("mul", (x, s.const(2.0))),), inputs=("x", "y"))
    live = remove_dead_code(g)
    assert live.inputs == ("x", "y") and _ops(live) == ["mul"]
    assert "sin" not in live._store.op  # the store holds what the outputs need, and no more
    assert live(x=3.0, y=1.0) == 6.0


def test_derivative_graphs_lose_the_unused_primal_nodes():
    g = gd.parse("sin(x)*exp(y) + x*y")  # d/dy needs neither sin(x)*exp(y) nor the sum
    d = remove_dead_code(gd.grad_graph(g, "y"))
    assert len(d._store) == len(d.nodes)
    assert d(x=0.3, y=0.5) == pytest.approx(np.sin(0.3) * np.exp(0.5) + 0.3)


# --- a primitive's own output in its derivative ------------------------------------------------

@pytest.mark.parametrize("text, call", [("exp(x)", "np.exp("), ("tanh(x)", "np.tanh("),
                                        ("sigmoid(x)", "np.logaddexp("),
                                        ("sqrt(x)", "np.sqrt(")])
@pytest.mark.parametrize("make", [gd.value_and_grad, lambda g: gd.jvp(g, {"x": 1.0}),
                                  gd.hessian], ids=["value_and_grad", "jvp", "hessian"])
def test_derivatives_reuse_the_forward_value(text, call, make):
    """d exp = exp, d tanh = 1 - tanh², d sigmoid = sigmoid (1 - sigmoid), d sqrt = 1/(2 sqrt):
    the generated code computes the primitive once and its derivative lines read v2."""
    source = make(text).source
    assert source.count(call) == 1, source
    # the function of assignments (a Hessian's module also has the function that
    # assembles its blocks)
    fn = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)
          and any(isinstance(s, ast.Assign) for s in n.body)][-1]
    first = next(s for s in fn.body if isinstance(s, ast.Assign))
    out = ast.unparse(first.targets[0])
    assert call in ast.unparse(first.value)
    later = [ast.unparse(s) for s in fn.body[fn.body.index(first) + 1:]]
    assert any(out in line for line in later)


# --- every pass keeps the values ---------------------------------------------------------------

EXPRESSIONS = [LOGNORMAL, "x1*x2 + sin(x1)", "(x*1 + 0)*y - y*x + x**1*exp(0*y)",
               "(x + y)*(x + y) + sin(y + x)/(2 + cos(x*y))", "--x - (x - x) + x/1 + 0*y",
               "sigmoid(x)*(1 - sigmoid(x)) + tanh(x)**2 + sqrt(x*x + 1)",
               "hypot(x, y)*hypot(y, x) + maximum(x, y) - minimum(y, x)"]


def _graphs(text: str) -> list[Graph]:
    g = gd.parse(text)
    return [g, gd.value_and_grad_graph(g), gd.jvp_graph(g), gd.hessian_graph(g, elementwise=True)]


@pytest.mark.parametrize("text", EXPRESSIONS)
@pytest.mark.parametrize("simplifier", [*PASSES, simplify],
                         ids=[p.__name__ for p in PASSES] + ["simplify"])
def test_passes_keep_values(text, simplifier):
    rng = np.random.default_rng(5)
    for g in _graphs(text):
        point = {n: rng.uniform(0.5, 2.0, size=4) for n in g.inputs}
        s = simplifier(g)
        assert s.inputs == g.inputs
        expected, got = g(**point), s(**point)
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_simplify_is_idempotent_and_never_grows_a_graph(text):
    for g in _graphs(text):
        s = simplify(g)
        assert simplify(s).equals(s)
        assert len(s.nodes) <= len(g.nodes)


def test_simplify_keeps_the_derivative_names():
    d = simplify(gd.value_and_grad_graph(gd.parse(LOGNORMAL)))
    names = [h for h in d.hints if h]
    assert {"grad_y", "grad_mu", "grad_sigma"} <= set(names)
