"""Graphs of several outputs through the public API: parsing "f1, f2", gd.outputs, lists of
expressions, compiling, tracing and their Jacobians."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd


def test_the_three_spellings_build_one_graph():
    text = gd.parse("a*b, a + b")
    listed = gd.parse(["a*b", "a + b"])
    a, b = gd.symbols("a b")
    built = gd.outputs(a * b, a + b)
    for g in (text, listed, built):
        assert len(g.outputs) == 2 and g.inputs == ("a", "b")
        assert g(a=2.0, b=3.0) == (6.0, 5.0)
    assert str(text) == "(a*b, a + b)"
    # shared subexpressions stay one node across the outputs
    shared = gd.parse("sin(x)*y, sin(x) + y")
    assert sum(n.op == "sin" for n in shared.nodes) == 1


def test_compile_returns_one_value_per_output_and_jacobian_one_block_per_pair():
    f = gd.compile("a*b, a + b")
    assert f(2.0, 3.0) == (6.0, 5.0)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    (ja_prod, jb_prod), (ja_sum, jb_sum) = gd.jacobian(["a*b", "a + b"])(a, b)
    np.testing.assert_array_equal(ja_prod, np.diag(b))
    np.testing.assert_array_equal(jb_prod, np.diag(a))
    np.testing.assert_array_equal(ja_sum, np.eye(2))
    np.testing.assert_array_equal(jb_sum, np.eye(2))
    # outputs of different shapes: each block is output shape + input shape
    jac = gd.jacobian("sum(x), x*2", wrt="x")(np.ones(3))
    assert [np.shape(j) for j in jac] == [(3,), (3, 3)]


def test_trace_shows_every_output_and_seeds_the_one_asked_for():
    t = gd.trace("a*b, a + b", a=2.0, b=3.0, direction={"a": 1.0})
    assert t.value == (6.0, 5.0)
    assert [r.name for r in t.outputs] == ["v3", "v4"]
    assert t.gradient == {"a": 3.0, "b": 2.0}  # of the first output
    assert gd.trace("a*b, a + b", a=2.0, b=3.0, output=1).gradient == {"a": 1.0, "b": 1.0}
    text = str(t)
    assert "f(a, b) = (a·b, a + b)" in text and "f = (v3, v4) = (6, 5)" in text
    assert "∂v3/∂a = v̄1 = 3" in text
    with pytest.raises(ValueError, match="not one of the graph's 2 outputs"):
        gd.trace("a*b, a + b", a=2.0, b=3.0, output=2)


def test_reverse_mode_asks_for_one_output():
    with pytest.raises(ValueError, match="one output"):
        gd.value_and_grad("a*b, a + b")
    with pytest.raises(ValueError, match="one output"):
        gd.hessian("a*b, a + b")
