"""The graph: the lecture's numbering, hash-consing, the networkx view, evaluation against
NumPy, dtypes, deep chains, structural equality, printing and operator overloading."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import sympy as sp
from corpus import CORPUS, LOGNORMAL, NUMPY_REFERENCE
from hypothesis import given, settings
from hypothesis import strategies as st

import graphdiff as gd
from graphdiff.graph import postorder

POINT = {"y": 1.5, "mu": 0.5, "sigma": 2.0}
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _row(g: gd.Graph, node: gd.Node) -> tuple:
    """A node as the lecture's table would write it: (var, op, arguments)."""
    args = tuple(g.nodes[a].var if g.nodes[a].var is not None else g.nodes[a].value
                 for a in node.args)
    return node.var, node.op, node.name if node.op == "input" else args


def _table(g: gd.Graph) -> list[tuple]:
    return [_row(g, n) for n in g.nodes if n.op != "const"]


def _corpus_ids(entries):
    return [e.name for e in entries]


# --- the lecture's log-normal example ---------------------------------------------------------

def test_lognormal_numbering_is_the_lectures_table():
    g = gd.parse(LOGNORMAL)
    assert g.inputs == ("y", "mu", "sigma")
    assert _table(g) == [
        ("v1", "input", "y"),
        ("v2", "input", "mu"),
        ("v3", "input", "sigma"),
        ("v4", "sub", ("v1", "v2")),
        ("v5", "div", ("v4", "v3")),
        ("v6", "pow", ("v5", 2.0)),
        ("v7", "mul", (-0.5, "v6")),
        ("v8", "log", ("v3",)),
        ("v9", "sub", ("v7", "v8")),
        ("v10", "sub", ("v9", pytest.approx(HALF_LOG_2PI, rel=1e-15))),
    ]
    assert g.output.var == "v10"


def test_lognormal_folds_the_constant_and_does_not_number_constants():
    g = gd.parse(LOGNORMAL)
    consts = [n for n in g.nodes if n.op == "const"]
    assert all(n.var is None for n in consts)
    assert sorted(n.value for n in consts) == sorted([-0.5, 2.0, HALF_LOG_2PI])
    # the folded constant is one node, and it remembers where it came from
    (folded,) = [n for n in consts if n.value == HALF_LOG_2PI]
    assert folded.origin is not None
    # numbering has no gaps: v1..v10 in evaluation order
    assert [n.var for n in g.nodes if n.var] == [f"v{k}" for k in range(1, 11)]


def test_lognormal_value_and_vectorised_evaluation():
    g = gd.parse(LOGNORMAL)
    assert g(**POINT) == pytest.approx(-1.7370857137646, abs=1e-12)
    y = np.linspace(0, 1, 5)
    expected = -0.5 * (y / 2) ** 2 - np.log(2) - HALF_LOG_2PI
    np.testing.assert_allclose(g(y=y, mu=0.0, sigma=2), expected, rtol=1e-14)
    # positional values follow g.inputs
    assert g(1.5, 0.5, 2.0) == g(**POINT)


def test_evaluation_order_puts_arguments_before_users():
    for _, expr, _ in CORPUS:
        g = gd.parse(expr)
        for n in g.nodes:
            assert n.index == g.nodes.index(n)
            assert all(a < n.index for a in n.args)


# --- the networkx view ------------------------------------------------------------------------

def test_nx_view_carries_op_args_name():
    g = gd.parse(LOGNORMAL)
    view = g.nx
    assert isinstance(view, nx.DiGraph)
    assert nx.is_directed_acyclic_graph(view)
    assert view.nodes["v1"]["op"] == "input" and view.nodes["v1"]["name"] == "y"
    assert view.nodes["v4"]["op"] == "sub" and view.nodes["v4"]["args"] == ("v1", "v2")
    assert view.nodes["v5"]["args"] == ("v4", "v3")  # argument order is explicit
    assert view.nodes["v8"]["op"] == "log" and view.nodes["v8"]["args"] == ("v3",)
    assert view.nodes["v10"]["output"] is True
    # every edge feeds the argument positions it claims
    for u, v, data in view.edges(data=True):
        assert [view.nodes[v]["args"][p] for p in data["argpos"]] == [u] * len(data["argpos"])
    assert set(nx.ancestors(view, "v5")) >= {"v1", "v2", "v3", "v4"}
    assert len(view) == len(g.nodes)


def test_x_times_x_has_one_argument_node_used_twice():
    g = gd.parse("x*x")
    assert [n.op for n in g.nodes] == ["input", "mul"]
    assert g.output.args == (0, 0)
    assert g.nx.nodes["v2"]["args"] == ("v1", "v1")
    assert g.nx.edges["v1", "v2"]["argpos"] == [0, 1]
    assert g(x=3.0) == 9.0


@pytest.mark.parametrize("expr,op,args", [
    ("x - y", "sub", ("v1", "v2")),
    ("y - x", "sub", ("v1", "v2")),  # y appears first, so y is v1
    ("x**y", "pow", ("v1", "v2")),
    ("arctan2(y, x)", "arctan2", ("v1", "v2")),
    ("x/x", "div", ("v1", "v1")),
])
def test_argument_order_is_explicit(expr, op, args):
    g = gd.parse(expr)
    assert g.nx.nodes[g.output.var]["op"] == op
    assert g.nx.nodes[g.output.var]["args"] == args


# --- hash-consing -----------------------------------------------------------------------------

@pytest.mark.parametrize("expr,op,count", [
    ("(x + y)*(x + y)", "add", 1),
    ("sin(x) + sin(x)", "sin", 1),
    ("exp(x*y) + x*y + log(1 + exp(x*y))", "mul", 1),
    ("exp(x*y) + x*y + log(1 + exp(x*y))", "exp", 1),
    ("(x*x)*(x*x) - x*x", "mul", 2),
    ("x*y + y*x", "mul", 2),  # as written: no reordering of commutative arguments
    ("2*x + 2*y + 2", "const", 1),
])
def test_structurally_equal_subexpressions_are_one_node(expr, op, count):
    g = gd.parse(expr)
    assert sum(1 for n in g.nodes if n.op == op) == count


def test_nodes_are_unique_by_structure():
    for _, expr, _ in CORPUS:
        g = gd.parse(expr)
        keys = [(n.op, n.args, n.params, n.name, n.value) for n in g.nodes]
        assert len(set(map(repr, keys))) == len(keys), expr


def test_hash_consing_across_graphs_built_separately():
    a, b = gd.parse("x + y"), gd.parse("x + y")
    assert a == b and hash(a) == hash(b)
    prod = a * b
    assert sum(1 for n in prod.nodes if n.op == "add") == 1
    assert prod == gd.parse("(x + y)*(x + y)")


def test_structural_equality_distinguishes_order_and_constants():
    assert gd.parse("x - y") != gd.parse("y - x")
    assert gd.parse("x*y") != gd.parse("y*x")
    assert gd.parse("x + 1") != gd.parse("x + 1.0000001")
    assert gd.parse("2*x") == gd.parse("2.0*x") == gd.parse("(2)*(x)")
    assert gd.parse("x").equals(gd.parse("x"))
    assert gd.parse("x") != "x"


# --- evaluation against NumPy -----------------------------------------------------------------

@pytest.mark.parametrize("entry", CORPUS, ids=_corpus_ids(CORPUS))
def test_corpus_evaluates_like_numpy(entry):
    g = gd.parse(entry.expr)
    assert set(g.inputs) == set(entry.point)
    got = g(**entry.point)
    want = NUMPY_REFERENCE[entry.name](**entry.point)
    assert np.isfinite(got)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.point and len(e.expr) < 2000],
                         ids=_corpus_ids([e for e in CORPUS if e.point and len(e.expr) < 2000]))
def test_corpus_evaluates_elementwise_on_arrays(entry):
    g = gd.parse(entry.expr)
    ref = NUMPY_REFERENCE[entry.name]
    # each input gets an array of points near its corpus value (broadcast in 2-D)
    scale = np.array([[1.0], [1.0 - 1e-6]])  # shape (2, 1)
    values = {k: v * scale if i == 0 else np.full(3, v) for i, (k, v) in
              enumerate(entry.point.items())}
    got = g(**values)
    assert np.shape(got) == np.broadcast_shapes(*(np.shape(v) for v in values.values()))
    shape = np.shape(got)
    for idx in np.ndindex(*shape):
        point = {k: float(np.broadcast_to(v, shape)[idx]) for k, v in values.items()}
        assert got[idx] == pytest.approx(ref(**point), rel=1e-9, abs=1e-300)


def test_integer_and_list_inputs_become_float64():
    g = gd.parse("x/2 + y")
    assert g(x=1, y=0) == 0.5
    out = g(x=[1, 2, 3], y=np.arange(3))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.5, 2.0, 3.5])


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.point],
                         ids=_corpus_ids([e for e in CORPUS if e.point]))
def test_float32_inputs_give_float32_values(entry):
    g = gd.parse(entry.expr)
    values = {k: np.array([v, v], dtype=np.float32) for k, v in entry.point.items()}
    with np.errstate(all="ignore"):
        out = g(**values)
    assert out.dtype == np.float32, entry.expr
    scalar = {k: np.float32(v) for k, v in entry.point.items()}
    with np.errstate(all="ignore"):
        assert np.asarray(g(**scalar)).dtype == np.float32


def test_float32_values_are_close_to_float64():
    g = gd.parse(LOGNORMAL)
    f32 = g(**{k: np.float32(v) for k, v in POINT.items()})
    assert f32 == pytest.approx(g(**POINT), rel=1e-6)


def test_constant_graph_evaluates_without_inputs():
    g = gd.parse("2*pi + e")
    assert g.inputs == ()
    assert g() == pytest.approx(2 * math.pi + math.e, rel=1e-15)
    assert [n.op for n in g.nodes] == ["const"]


@pytest.mark.parametrize("call,match", [
    (lambda g: g(x=1.0), "missing value for input 'y'"),
    (lambda g: g(x=1.0, y=2.0, z=3.0), "unknown input 'z'"),
    (lambda g: g(1.0, x=1.0, y=2.0), "given twice"),
    (lambda g: g(1.0, 2.0, 3.0), "at most 2 positional"),
    (lambda g: g(x="a", y=1.0), "dtype"),
])
def test_binding_errors_name_the_input(call, match):
    with pytest.raises(TypeError, match=match):
        call(gd.parse("x*y"))


def test_declared_inputs_fix_the_order_and_may_be_unused():
    g = gd.parse("x*y", inputs=["y", "x", "z"])
    assert g.inputs == ("y", "x", "z")
    assert g.nodes[0].name == "y" and g.nodes[0].var == "v1"
    assert g(2.0, 3.0, 100.0) == 6.0
    with pytest.raises(ValueError, match="x"):
        _ = gd.parse("x*y", inputs=["y"]).nodes


# --- deep chains --------------------------------------------------------------------------------

def test_chain_of_100000_operations_evaluates_without_recursion_error():
    x = gd.symbols("x")
    y = x
    for k in range(100_000):
        y = y * 0.5 + 0.25 if k % 2 else gd.tanh(y)  # bounded, and not constant-folded
    assert sum(1 for n in y.nodes if n.op not in ("input", "const")) == 150_000
    assert y.output.var == "v150001"
    ref = 0.3
    for k in range(100_000):
        ref = ref * 0.5 + 0.25 if k % 2 else math.tanh(ref)
    assert y(x=0.3) == pytest.approx(ref, rel=1e-12)
    # the other whole-graph passes are iterative too
    assert y.equals(y) and isinstance(hash(y), int)
    assert str(y).startswith(("<Graph", "tanh"))


def test_long_chain_equality_against_a_rebuilt_chain():
    def chain(n):
        x = gd.symbols("x")
        y = x
        for _ in range(n):
            y = gd.sin(y) + x
        return y

    assert chain(10_000) == chain(10_000)
    assert chain(10_000) != chain(9_999)


# --- operator overloading builds the parser's graphs ----------------------------------------

def test_issue_example_operator_overloading_equals_parser():
    x1, x2 = gd.symbols("x1 x2")
    h = x1 * x2 + gd.sin(x1)
    assert h == gd.parse("x1*x2 + sin(x1)")
    assert h.inputs == ("x1", "x2")
    assert h(x1=2.0, x2=3.0) == pytest.approx(6.909297426825682, rel=1e-15)


@pytest.mark.parametrize("build,text", [
    (lambda x, y: -x**2, "-x**2"),
    (lambda x, y: 2**x**2, "2**x**2"),
    (lambda x, y: x - y - x, "x - y - x"),
    (lambda x, y: 2**-x, "2**-x"),
    (lambda x, y: -2 * x, "-2*x"),
    (lambda x, y: x / -2, "x/-2"),
    (lambda x, y: +x, "x"),
    (lambda x, y: -(-x), "--x"),  # noqa: B002
    (lambda x, y: abs(x - y), "abs(x - y)"),
    (lambda x, y: (x + y) ** 0.5 / y, "(x + y)**0.5/y"),
    (lambda x, y: 1 - x * y + 3 / x, "1 - x*y + 3/x"),
    (lambda x, y: gd.isru(x, alpha=0.5) + gd.leaky_relu(y), "isru(x, alpha=0.5) + leaky_relu(y)"),
    (lambda x, y: gd.arctan2(y, x) * gd.atan(x), "arctan2(y, x)*arctan(x)"),
    (lambda x, y: gd.prelu(x, y) + gd.logistic(x), "prelu(x, y) + sigmoid(x)"),
    (lambda x, y: np.float64(2.0) * x + np.float32(0.5), "2*x + 0.5"),
    (lambda x, y: gd.exp(gd.log(x) * 2) + gd.pi * y, "exp(log(x)*2) + pi*y"),
])
def test_operator_overloading_equals_parser(build, text):
    x, y = gd.symbols("x y")
    g = build(x, y)
    assert g == gd.parse(text, inputs=g.inputs)


def test_registry_functions_evaluate_numbers():
    assert gd.sin(2.0) == math.sin(2.0)
    np.testing.assert_allclose(gd.tanh(np.array([0.0, 1.0])), np.tanh([0.0, 1.0]))
    assert gd.isru(2.0, alpha=0.5) == pytest.approx(2 / math.sqrt(3))
    with pytest.raises(AttributeError, match="no_such_function"):
        gd.no_such_function  # noqa: B018


def test_symbols_validates_names():
    assert gd.symbols("a, b") == (gd.symbols("a"), gd.symbols("b"))
    for bad in ["", "1x", "lambda", "__import__", "sin", "pi", "x-y"]:
        with pytest.raises(ValueError):
            gd.symbols(bad)


def test_parameters_must_be_numbers():
    x = gd.symbols("x")
    with pytest.raises(TypeError, match="alpha"):
        gd.isru(x, alpha=x)
    with pytest.raises(TypeError, match="beta"):
        gd.isru(x, beta=1.0)
    with pytest.raises(TypeError, match="takes 1 argument"):
        gd.sin(x, x)


# --- printing, SymPy out ------------------------------------------------------------------------

def test_str_and_repr():
    g = gd.parse("x1*x2 + sin(x1)")
    assert str(g) == "x1*x2 + sin(x1)"
    assert repr(g) == "Graph(x1, x2 -> x1*x2 + sin(x1))"
    assert str(gd.parse(LOGNORMAL)) == (
        f"-0.5*((y - mu)/sigma)**2 - log(sigma) - {HALF_LOG_2PI!r}")


@pytest.mark.parametrize("entry", CORPUS, ids=_corpus_ids(CORPUS))
def test_print_parse_round_trip_on_the_corpus(entry):
    g = gd.parse(entry.expr)
    back = gd.parse(str(g))
    assert back == g
    assert str(back) == str(g)


@pytest.mark.parametrize("text", ["-0*x", "1/(-0*x)", "x + (-0.0)", "-0.0**x"])
def test_negative_zero_survives_printing(text):
    g = gd.parse(text)
    back = gd.parse(str(g))
    assert back == g
    with np.errstate(divide="ignore"):
        assert np.array_equal(np.signbit(g(x=1.0)), np.signbit(back(x=1.0)))


@pytest.mark.parametrize("text,printed", [
    ("pi", None), ("e", None), ("pi*x", None), ("e**x", None), ("2*pi*x", None),
])
def test_constants_pi_and_e_print_and_parse(text, printed):
    g = gd.parse(text)
    back = gd.parse(str(g))
    assert back == g
    point = {k: 0.7 for k in g.inputs}
    assert back(**point) == g(**point)
    assert gd.pi == math.pi and gd.e == math.e


def test_constants_go_to_sympy_symbolically():
    assert gd.parse("pi").to_sympy() == sp.pi
    assert gd.parse("e").to_sympy() == sp.E
    # 2*pi is folded into one float constant; its value survives
    assert float(gd.parse("2*pi*x").to_sympy().subs("x", 1)) == 2 * math.pi


@pytest.mark.parametrize("entry", [e for e in CORPUS if len(e.expr) < 2000],
                         ids=_corpus_ids([e for e in CORPUS if len(e.expr) < 2000]))
def test_to_sympy_keeps_the_value(entry):
    g = gd.parse(entry.expr)
    expr = g.to_sympy()
    subs = {sp.Symbol(k): sp.Float(v, 30) for k, v in entry.point.items()}
    want = g(**entry.point)
    got = complex(expr.evalf(30, subs=subs))
    assert got.imag == 0
    assert got.real == pytest.approx(want, rel=1e-9)


# --- the docs page ---------------------------------------------------------------------------

def test_docs_page_examples_run():
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "graph-and-primitives.md"
    failures, tried = doctest.testfile(str(page), module_relative=False,
                                       optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 40 and failures == 0


def _postorder_by_recursion(args, roots):
    """The definition: each root's arguments left to right, depth first, then the root."""
    seen, order = set(), []

    def visit(n):
        if n not in seen:
            for a in args[n]:
                visit(a)
            seen.add(n)
            order.append(n)
    for r in roots:
        visit(r)
    return order


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_postorder_numbers_arguments_depth_first_left_to_right(data):
    """postorder is iterative with shortcuts for one and two arguments (x*x included)."""
    size = data.draw(st.integers(1, 25))
    args = [()] + [tuple(data.draw(st.lists(st.integers(0, i - 1), max_size=3)))
                   for i in range(1, size)]
    roots = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3))
    assert postorder(args, roots) == _postorder_by_recursion(args, roots)
