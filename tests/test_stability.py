"""The stability rewrites (graphdiff.stable): each rule at the inputs where the written form
fails, through every entry point (evaluation, trace, compile, gradients), the list of
rewrites each carries, and stable=False keeping the expression as written."""

from __future__ import annotations

import math

import numpy as np
import pytest
from corpus import CORPUS

import graphdiff as gd
from graphdiff.graph import Store, copy_nodes
from graphdiff.simplify import _any_rule_matches, stabilized
from graphdiff.stable import CATALOGUE

# rule -> (expression, point, exact value, exact gradient of the output's sum, or None)
CASES = {
    "log_sigmoid": ("log(sigmoid(x))", {"x": -800.0}, -800.0, {"x": 1.0}),
    "log_one_minus_sigmoid": ("log(1 - sigmoid(x))", {"x": 800.0}, -800.0, {"x": -1.0}),
    "softplus": ("log(1 + exp(x))", {"x": 800.0}, 800.0, {"x": 1.0}),
    "log_softmax": ("log(softmax(x))", {"x": np.array([-800.0, 0.0])},
                    np.array([-800.0, 0.0]), {"x": np.array([1.0, -1.0])}),
    "logsumexp": ("log(sum(exp(x)))", {"x": np.array([1000.0, 1000.0])},
                  1000.0 + math.log(2.0), {"x": np.array([0.5, 0.5])}),
    "logaddexp": ("log(exp(a) + exp(b))", {"a": 1000.0, "b": 1000.0}, 1000.0 + math.log(2.0),
                  {"a": 0.5, "b": 0.5}),
    "log1p": ("log(1 + x)", {"x": 1e-20}, 1e-20, {"x": 1.0}),
    "expm1": ("exp(x) - 1", {"x": 1e-20}, 1e-20, {"x": 1.0}),
    "hypot": ("sqrt(x**2 + y**2)", {"x": 1e200, "y": 1e200}, math.sqrt(2.0) * 1e200,
              {"x": math.sqrt(0.5), "y": math.sqrt(0.5)}),
}


def test_every_rule_of_the_catalogue_is_tested():
    assert {r.name for r in CATALOGUE} == set(CASES)


def _close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_written_form_fails_where_the_rule_is_tested(rule):
    text, point, exact, _ = CASES[rule]
    with np.errstate(all="ignore"):
        naive = gd.compile(text, stable=False)(**point)
        traced = gd.trace(text, at=point, stable=False).value
    for value in (naive, traced):
        value = np.asarray(value, float)
        assert not np.allclose(value, exact, rtol=1e-6, atol=0), (rule, value)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_every_entry_point_computes_the_stable_form(rule):
    text, point, exact, _ = CASES[rule]
    g = gd.parse(text)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow, no log of zero, no nan (underflow to 0 is harmless)
        _close(g(**point), exact)
        _close(gd.compile(text)(**point), exact)
        _close(gd.trace(text, at=point).value, exact)
        value, _ = gd.value_and_grad(text)(**point)
        _close(value, exact)
        _close(gd.jvp(text, {g.inputs[0]: 1.0})(**point)[0], exact)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_gradients_of_the_stable_form_are_finite_and_right(rule):
    text, point, _, exact = CASES[rule]
    names = gd.parse(text).inputs
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        _, grads = gd.value_and_grad(text)(**point)
        traced = gd.trace(text, at=point).gradient
    for name, grad in zip(names, grads):
        np.testing.assert_allclose(grad, exact[name], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(traced[name], exact[name], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_entry_point_lists_the_rewrite(rule):
    text, point, _, _ = CASES[rule]
    f = gd.compile(text)
    assert [r.rule for r in f.rewrites] == [rule]
    assert f.rewrites[0].before == text  # as the parser prints it back
    head = f.source.split("import numpy")[0]
    assert head.startswith("# Rewritten for numerical stability")
    assert f"#   {f.rewrites[0].before} -> {f.rewrites[0].after}  ({rule})" in head
    assert [r.rule for r in gd.value_and_grad(text).rewrites] == [rule]
    t = gd.trace(text, at=point)
    assert [r.rule for r in t.rewrites] == [rule]
    note = f"  {t.rewrites[0].before} -> {t.rewrites[0].after}  ({rule})"
    assert t.to_text().splitlines()[-1] == note
    assert "Rewritten for numerical stability before tracing" in t.to_html()
    assert "Rewritten for numerical stability before tracing" in t.to_markdown()


def test_stable_false_keeps_the_expression_as_written():
    f = gd.compile("log(sigmoid(x))", stable=False)
    assert f.rewrites == ()
    assert "np.log(" in f.source and not f.source.startswith("#")
    t = gd.trace("log(sigmoid(x))", x=0.5, stable=False)
    assert [r.op for r in t.rows] == ["input", "sigmoid", "log"]
    assert t.rewrites == () and "Rewritten" not in t.to_text()
    vg = gd.value_and_grad("log(sigmoid(x))", stable=False)
    assert "logaddexp(0.0, -" in vg.source and vg.rewrites == ()  # only sigmoid's own form
    with np.errstate(all="ignore"):
        assert vg(x=-800.0)[0] == -np.inf


def test_an_expression_without_traps_is_left_alone():
    g = gd.parse("x*y + sin(x)")
    assert g.stable_form() is g
    assert stabilized(g) == (g, ())
    assert gd.compile(g).rewrites == () and gd.compile(g).source.startswith("import numpy")
    assert gd.trace(g, x=1.0, y=2.0).rewrites == ()


@pytest.mark.parametrize("text", [c[0] for c in CASES.values()] + [
    e.expr for e in CORPUS] + ["log(2 + x)", "exp(x) - 2", "sqrt(x**2 + y)", "log(x + y)",
                               "log(sum(sin(x)))", "log1p(sin(x))", "x + exp(y)"])
def test_asking_whether_a_rule_matches_agrees_with_rebuilding(text):
    """stabilized() asks the catalogue's matchers about the graph as written before it
    rebuilds anything; the answer is what a rebuild finds."""
    g = gd.parse(text)
    store = Store(stable=True)
    copy_nodes(g, store)
    assert _any_rule_matches(g) == bool(store.rewrites), text


def test_rewrites_inside_larger_expressions_and_repeated_ones():
    text = "log(1 + exp(w*x)) + log(1 + exp(w*x))*y + log(1 + z)"
    f = gd.compile(text)
    assert [r.rule for r in f.rewrites] == ["softplus", "log1p"]  # once per subexpression
    assert str(f.rewrites[0]) == "log(1 + exp(w*x)) -> softplus(w*x)  (softplus)"
    point = {"w": 2.0, "x": 400.0, "y": 3.0, "z": 1e-18}
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        _close(gd.parse(text)(**point), 800.0 + 800.0 * 3.0 + 1e-18)


def test_the_specialised_variant_carries_the_rewrites_too():
    f = gd.value_and_grad("log(1 + exp(x))")
    x = np.array([800.0, -3.0])
    f(x=x)
    variant = f.specialized(x=x)
    assert variant.rewrites == f.rewrites and variant.source.startswith("# Rewritten")


def test_hessian_through_a_rewrite_is_finite():
    h = gd.hessian("log(exp(a) + exp(b))")
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        rows = h(a=1000.0, b=1000.0)
    np.testing.assert_allclose(np.asarray(rows, float), [[0.25, -0.25], [-0.25, 0.25]],
                               rtol=1e-12)


def test_logsumexp_keeps_the_axis_and_keepdims_of_the_sum():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])
    v = gd.symbols("x")
    g = gd.log(gd.sum(gd.exp(v), axis=1, keepdims=True))
    assert str(g.stable_form()) == "logsumexp(x, axis=1, keepdims=True)"
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        _close(g(x=x), [[1000.0 + math.log(2)], [-1000.0 + math.log(2)]])
        _close(gd.compile(g)(x=x), [[1000.0 + math.log(2)], [-1000.0 + math.log(2)]])


def test_the_issue_example_one_set_of_numerics():
    # issue 9, item 6: evaluation and compilation agree (no -inf, no warning)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert gd.parse("log(sigmoid(x))")(x=-800.0) == -800.0
        assert gd.compile("log(sigmoid(x))")(x=-800.0) == -800.0
        out = gd.compile("log(softmax(x))")(x=np.array([-800.0, 0.0]))
    _close(out, [-800.0, 0.0])
    assert gd.parse("log(softmax(x))").stable_form().output.op == "log_softmax"


def test_evaluate_computes_every_node_as_written():
    g = gd.parse("log(sigmoid(x))")
    with np.errstate(all="ignore"):
        values = g.evaluate({"x": np.float64(-800.0)})
    assert values[-1] == -np.inf  # the per-node values a table of the written form shows


def test_the_command_line_notes_the_rewrites_and_can_turn_them_off(capsys):
    from graphdiff import cli

    assert cli.main(["table", "log(1 + x)", "--at", "x=1e-20", "--mode", "values"]) == 0
    out = capsys.readouterr().out
    assert "v2   log1p(v1)   1e-20" in out and out.rstrip().endswith("(log1p)")
    assert cli.main(["table", "log(1 + x)", "--at", "x=1e-20", "--no-stable"]) == 0
    assert "Rewritten" not in capsys.readouterr().out
    assert cli.main(["codegen", "log(sigmoid(x))"]) == 0
    assert capsys.readouterr().out.startswith("# Rewritten for numerical stability")
    assert cli.main(["codegen", "log(sigmoid(x))", "--grad", "--no-stable"]) == 0
    assert capsys.readouterr().out.startswith("import numpy as np")
