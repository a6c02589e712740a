"""gd.check and `graphdiff check`: every partial, tangent and adjoint of a trace against
central differences, a mark where they disagree, and an exit code a script can gate on."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import cli

from corpus import CORPUS
from user_primitives import forget_user_primitives  # noqa: F401 (autouse)


def _wrong_swish():
    # the partial forgets the product rule's second term: sigmoid(x) instead of
    # sigmoid(x) + out*(1 - sigmoid(x))
    gd.primitive("wrong_swish", lambda x: x / (1 + np.exp(-x)), "sigmoid(x)")


def test_a_right_derivative_agrees_everywhere():
    c = gd.check("x1*x2 + sin(x1)", at={"x1": 2.0, "x2": 3.0})
    assert c.ok and bool(c)
    kinds = {(cmp.node, cmp.kind) for cmp in c.comparisons}
    # a partial per edge, a tangent per input direction, an adjoint per variable
    assert ("v3", "partial") in kinds and ("v5", "tangent") in kinds and ("v1", "adjoint") in kinds
    assert sum(cmp.kind == "partial" for cmp in c.comparisons) == 5
    assert sum(cmp.kind == "tangent" for cmp in c.comparisons) == 6  # 3 operations x 2 inputs
    assert sum(cmp.kind == "adjoint" for cmp in c.comparisons) == 5
    assert c.worst.error < 1e-9
    assert c.summary().startswith("all 16 checks agree within 1e-06;")


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.name in (
    "lognormal", "lecture", "shared_product", "square_by_mul", "deep_tanh")],
    ids=lambda e: e.name)
def test_the_corpus_checks_clean(entry):
    assert gd.check(entry.expr, at=entry.point).ok


def test_a_wrong_partial_is_marked_where_it_is():
    _wrong_swish()
    c = gd.check("wrong_swish(x)*y", x=0.5, y=2.0)
    assert not c.ok
    bad = {(cmp.node, cmp.kind) for cmp in c.comparisons if not cmp.agrees}
    assert ("v3", "partial") in bad  # the partial itself, at its own node
    partial = next(cmp for cmp in c.comparisons if (cmp.node, cmp.kind) == ("v3", "partial"))
    s = 1 / (1 + np.exp(-0.5))
    assert partial.computed == pytest.approx(s)
    assert partial.reference == pytest.approx(s + 0.5 * s * (1 - s), rel=1e-8)
    text = c.to_text()
    assert "✗ DISAGREE" in text and text.splitlines()[-1].startswith("DISAGREE: ")
    assert "∂v3/∂v1" in text


def test_tensors_are_checked_per_entry_and_summarised():
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.1, -1.0]])
    w = np.array([1.0, 2.0, 3.0])
    c = gd.check("sum(log(softmax(x))*w)", x=x, w=w)
    assert c.ok
    adjoint = next(cmp for cmp in c.comparisons if (cmp.node, cmp.kind) == ("v1", "adjoint"))
    assert np.shape(adjoint.computed) == (2, 3) and np.shape(adjoint.reference) == (2, 3)
    _wrong_swish()
    c = gd.check("wrong_swish(x)", x=np.array([0.0, 1.0, -2.0]))
    partial = next(cmp for cmp in c.comparisons if cmp.kind == "partial")
    assert partial.where == (2,) or partial.where == (1,)
    assert "at [" in c.to_text()


def test_large_arrays_check_the_adjoint_along_a_direction():
    x = np.linspace(-1, 1, 100)
    c = gd.check("sum(tanh(x)**2)", x=x)
    assert c.ok
    assert any(cmp.label.startswith("Σ v̄") for cmp in c.comparisons)


def test_a_direction_replaces_the_per_input_tangents():
    c = gd.check("x*y", at={"x": 2.0, "y": 3.0}, direction={"x": 1.0, "y": -1.0})
    tangents = [cmp for cmp in c.comparisons if cmp.kind == "tangent"]
    assert [t.label for t in tangents] == ["v̇3 along direction"]
    assert tangents[0].computed == pytest.approx(3.0 - 2.0)


def test_kinks_are_reported_honestly():
    # relu at 0: the lecture's derivative is 1, central differences see the mean 1/2
    c = gd.check("relu(x)", x=0.0)
    assert not c.ok and c.worst.error == pytest.approx(0.5)


def test_stability_rewrites_are_checked_and_noted():
    c = gd.check("log(sigmoid(x))", x=-800.0)
    assert c.ok and [r.rule for r in c.rewrites] == ["log_sigmoid"]
    assert "log(sigmoid(x)) -> -softplus(-x)  (log_sigmoid)" in c.to_text()
    with np.errstate(all="ignore"):
        assert not gd.check("log(sigmoid(x))", x=-800.0, stable=False).ok


def test_formats():
    c = gd.check("x*y", x=2.0, y=3.0)
    md = c.to_markdown()
    assert md.startswith("Derivative check of x\\*y at x = 2, y = 3\n\n| var | definition |")
    html = c.to_html()
    assert html.startswith("<table") and "<caption" in html and "all 7 checks agree" in html
    assert repr(c).startswith("<Check of x*y: all 7 checks agree")


def test_bad_arguments():
    with pytest.raises(TypeError, match="missing value for input 'y'"):
        gd.check("x*y", x=1.0)
    with pytest.raises(ValueError, match="tol must be a positive number"):
        gd.check("x*y", x=1.0, y=2.0, tol=0)
    with pytest.raises(TypeError, match="given twice"):
        gd.check("x*y", at={"x": 1.0}, x=1.0, y=2.0)


def test_cli_exit_codes(capsys):
    assert cli.main(["check", "x1*x2 + sin(x1)", "--at", "x1=2", "x2=3"]) == 0
    out = capsys.readouterr().out
    assert "all 16 checks agree" in out
    assert cli.main(["check", "relu(x)", "--at", "x=0"]) == 1
    assert "DISAGREE" in capsys.readouterr().out
    assert cli.main(["check", "relu(x)", "--at", "x=0", "--tol", "0.6"]) == 0
    capsys.readouterr()
    for argv in (["check", "x*", "--at", "x=1"], ["check", "x*y", "--at", "x=1"],
                 ["check", "x", "--at", "z=1"], ["check", "x", "--at", "x=1", "--tol", "-1"],
                 ["check", "x", "--at", "x=1", "--import", "not a module"]):
        assert cli.main(argv) == 2, argv
        assert capsys.readouterr().err.startswith("graphdiff: error: ")
    assert cli.main(["check", "x*y", "--at", "x=1", "y=2", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("Derivative check of x\\*y")
    assert cli.main(["check", "log(1 + x)", "--at", "x=1e-20", "--no-stable"]) == 0
    assert "Rewritten" not in capsys.readouterr().out


def test_inputs_without_a_derivative_are_left_out_with_wrt():
    z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
    labels = np.array([0.0, 2.0])
    # moving integer labels by a small step makes no sense: the loss refuses the step ...
    with pytest.raises(ValueError, match="class label .* is not an integer"):
        gd.check("softmax_xent(z, y)", z=z, y=labels)
    # ... and leaving them out checks what has a derivative
    c = gd.check("softmax_xent(z, y)", z=z, y=labels, wrt="z")
    assert c.ok and all(cmp.node != "v2" for cmp in c.comparisons)
    assert [cmp.label for cmp in c.comparisons if cmp.kind == "tangent"] == ["v̇3 along z"]
    with pytest.raises(ValueError, match="cannot differentiate with respect to 'q'"):
        gd.check("x*y", x=1.0, y=2.0, wrt="q")


def test_cli_wrt(capsys):
    argv = ["check", "x*floor_like", "--at", "x=2", "floor_like=3", "--wrt", "x"]
    assert cli.main(argv) == 0
    assert "v̇3 along x" in capsys.readouterr().out
