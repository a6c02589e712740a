"""User-defined primitives (gd.primitive, gd.custom_vjp): every path a built-in primitive
takes — parse, evaluate, trace, derivatives to second order, compile, save, SymPy, the
activation table — with the partials the user wrote checked against central differences."""

from __future__ import annotations

import ast
import doctest
import importlib
import math
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import graphdiff as gd
from graphdiff import cli
from graphdiff.primitives import REGISTRY, is_known
from graphdiff.stable import CATALOGUE

from gradcheck import SympyReference, central_difference
from user_primitives import forget_user_primitives  # noqa: F401 (autouse)

SWISH_PARTIAL = "sigmoid(x) + out*(1 - sigmoid(x))"  # d/dx x·σ(x) = σ + f·(1 - σ)

def _swish():
    @gd.primitive("swish", partials=SWISH_PARTIAL)
    def swish(x):
        """x times sigmoid(x)"""
        return x / (1 + np.exp(-x))
    return swish


def _numpy_swish(x):
    return x / (1 + np.exp(-x))


X = np.array([-3.0, -0.4, 0.0, 0.7, 2.5])


def test_a_primitive_parses_evaluates_and_is_a_function_of_graphdiff():
    with pytest.raises(gd.ParseError, match="unknown function 'swish'"):
        gd.parse("swish(x)")
    handle = _swish()
    assert repr(handle) == "<Primitive swish>" and REGISTRY["swish"].doc == "x times sigmoid(x)"
    np.testing.assert_allclose(gd.parse("swish(x)")(x=X), _numpy_swish(X), rtol=1e-15)
    assert float(gd.swish(0.7)) == pytest.approx(_numpy_swish(0.7), rel=1e-15)
    assert float(handle(0.7)) == float(gd.swish(0.7))
    x = gd.symbols("x")
    assert str(gd.swish(x) * 2) == "swish(x)*2" and "swish" in dir(gd)
    gd.unregister("swish")
    assert not is_known("swish")
    with pytest.raises(gd.ParseError, match="unknown function"):
        gd.parse("swish(x)")


def test_the_partials_given_agree_with_central_differences_in_every_mode():
    _swish()
    text = "swish(x)*y"
    point = {"x": X, "y": 1.5}
    fd = central_difference(lambda x, y: gd.parse(text)(x=x, y=y), point, "x")
    _, (gx, _) = gd.value_and_grad(text)(**point)
    np.testing.assert_allclose(gx, fd, rtol=1e-7, atol=1e-9)
    _, tangent = gd.jvp(text, {"x": 1.0})(**point)
    np.testing.assert_allclose(tangent, fd, rtol=1e-7, atol=1e-9)
    for xi, fi in zip(X, fd):
        t = gd.trace(text, x=xi, y=1.5)
        assert t.gradient["x"] == pytest.approx(fi, rel=1e-7, abs=1e-9)
    assert gd.check(text, at={"x": X, "y": 1.5}).ok


def test_second_derivatives_through_the_partials_graphs():
    _swish()
    grad = gd.grad("swish(x)")
    for x in X:
        fd = central_difference(lambda x: grad(x), {"x": x}, "x")
        h = gd.hessian("swish(x)")(x)
        assert float(h) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
    # and against SymPy's derivative of the same function: σ'(x)(2 + x(1 - 2σ(x)))
    s = 1 / (1 + math.exp(-0.7))
    h = gd.hessian("swish(x)")(0.7)
    assert float(h) == pytest.approx(s * (1 - s) * (2 + 0.7 * (1 - 2 * s)), rel=1e-12)


def test_two_arguments_with_partials_as_text_rule_and_graph():
    # damp(x, y) = x·exp(-y): partials exp(-y), -out
    x, y = gd.symbols("x y")
    gd.primitive("damp", lambda x, y: x * np.exp(-y),
                 [gd.exp(-y), lambda x, y, out: -out])
    text = "damp(a*b, a) + a"
    point = {"a": np.array([0.3, -1.2, 2.0]), "b": np.array([1.1, 0.5, -0.7])}
    f = lambda a, b: gd.parse(text)(a=a, b=b)  # noqa: E731
    _, grads = gd.value_and_grad(text)(**point)
    for name, g in zip(("a", "b"), grads):
        np.testing.assert_allclose(g, central_difference(f, point, name), rtol=1e-7)
    hess = gd.hessian(text)
    grad_b = lambda a, b: gd.grad(text, wrt="b")(a=a, b=b)  # noqa: E731
    # the block d²f/da db is diagonal: every point is its own
    block = hess(**point)[0][1]
    np.testing.assert_allclose(block, np.diag(np.diag(block)), atol=0)
    np.testing.assert_allclose(np.diag(block), central_difference(grad_b, point, "a"),
                               rtol=1e-6)
    assert gd.check(text, at=point).ok


def test_the_trace_shows_the_partials_in_the_lectures_notation():
    _swish()
    t = gd.trace("swish(x)*y", x=0.5, y=2.0, direction={"x": 1.0})
    row = t["v3"]
    assert row.expr == "swish(v1)"
    assert row.partials["v1"].expr == "sigmoid(v1) + v3*(1 - sigmoid(v1))"
    assert row.tangent_expr == "(sigmoid(v1) + v3*(1 - sigmoid(v1)))*dot_v1"
    text = t.to_text()
    assert "∂v3/∂v1 = sigmoid(v1) + v3·(1 - sigmoid(v1)) = 0.739961" in text
    assert r"\operatorname{swish}" in t.to_latex()


def test_compiled_and_saved_modules_stand_alone(tmp_path):
    _swish()
    vg = gd.value_and_grad("swish(x)*y")
    imports = [ast.unparse(n) for n in ast.walk(ast.parse(vg.source))
               if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == ["import numpy as np"]
    assert "def _gd_swish(x):" in vg.source and "@gd.primitive" not in vg.source
    path = tmp_path / "swish_step.py"
    vg.save(path)
    # a fresh interpreter that never imports graphdiff
    code = (f"import importlib.util, sys; s = importlib.util.spec_from_file_location('m', "
            f"{str(path)!r}); m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
            f"v, (gx, gy) = m.value_and_grad(0.5, 2.0); "
            f"assert 'graphdiff' not in sys.modules; print(repr(float(v)), repr(float(gx)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout.split()
    v, (gx, _) = vg(x=0.5, y=2.0)
    assert [float(o) for o in out] == [float(v), float(gx)]


def test_an_implementation_reading_a_module_imports_it_inside(tmp_path):
    def soft_clip(x):
        return math.pi * np.tanh(x / math.pi)

    gd.primitive("soft_clip", soft_clip, "1 - (out/pi)**2")
    f = gd.compile("soft_clip(x)")
    assert "import math as math" in f.source or "import math" in f.source
    f.save(tmp_path / "clip.py")
    np.testing.assert_allclose(f(X), soft_clip(X), rtol=1e-15)
    assert gd.check("soft_clip(x)", x=X).ok


def test_an_implementation_that_cannot_stand_alone_compiles_but_is_not_saved(tmp_path):
    scale = 3.0

    def scaled(x):
        return scale * x  # a closure: the saved module would not know `scale`

    gd.primitive("scaled", scaled, "3")
    f = gd.compile("scaled(x) + 1")
    assert float(f(2.0)) == 7.0
    assert "# _gd_scaled: lent by the session" in f.source
    with pytest.raises(ValueError, match="cannot save f: .*primitive scaled: it reads scale "
                                         "from an enclosing function"):
        f.save(tmp_path / "f.py")
    assert not (tmp_path / "f.py").exists()


def test_lambdas_and_numpy_ufuncs():
    gd.primitive("sq", lambda x: x**2, "2*x")
    assert "def _gd_sq(x):\n    return x ** 2" in gd.compile("sq(x)").source
    gd.primitive("cube_root", np.cbrt, "1/(3*out**2)")
    f = gd.compile("cube_root(x)")
    assert "np.cbrt(x)" in f.source and "_gd_" not in f.source
    np.testing.assert_allclose(gd.grad("cube_root(x)")(8.0), 1 / 12, rtol=1e-14)


def test_sympy_counterpart_differentiates_and_evaluates():
    _swish()
    g = gd.parse("swish(x)*y")
    e = g.to_sympy()
    x = sp.Symbol("x")
    d = sp.diff(e, x)
    assert "swish" in str(d)
    s = 1 / (1 + math.exp(-0.5))
    assert float(sp.N(d.subs({x: 0.5, sp.Symbol("y"): 2.0}))) == \
        pytest.approx(2 * (s + 0.5 * s * (1 - s)), rel=1e-12)
    back = gd.from_sympy(e)  # SymPy orders the factors its own way
    assert "swish" in {n.op for n in back.nodes}
    assert float(back(x=0.5, y=2.0)) == float(g(x=0.5, y=2.0))
    ref = SympyReference(g)  # the test suite's own reference works on it
    np.testing.assert_allclose(ref.gradient({"x": 0.5, "y": 2.0})[0],
                               gd.grad("swish(x)*y", wrt="x")(x=0.5, y=2.0), rtol=1e-12)


def test_sympy_spelling_given_as_text():
    gd.primitive("swish2", _numpy_swish, SWISH_PARTIAL, sympy="x*sigmoid(x)")
    e = gd.parse("swish2(x)").to_sympy()
    assert e == sp.Symbol("x") / (1 + sp.exp(-sp.Symbol("x")))


ACTIVATION = {"title": "Swish", "equation": r"f(x) = \frac{x}{1 + e^{-x}}",
              "derivative": r"f'(x) = f(x) + \sigma(x)(1 - f(x))",
              "range": r"[-0.278, \infty)", "continuity": r"C^\infty", "monotonic": "No",
              "derivative_monotonic": "No", "identity_near_origin": "No"}


def test_activation_metadata_puts_it_in_the_activation_table(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_activations.py").write_text(
        "import numpy as np\nimport graphdiff as gd\n\n"
        f"gd.primitive('swish', lambda x: x / (1 + np.exp(-x)), {SWISH_PARTIAL!r},\n"
        f"             activation={ACTIVATION!r})\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        assert cli.main(["activations", "--import", "my_activations"]) == 0
        out = capsys.readouterr().out
        # the module is imported once per process: the other commands find it there
        for argv in (["table", "swish(x)", "--at", "x=1", "--mode", "values"],
                     ["codegen", "swish(x)"], ["check", "swish(x)", "--at", "x=1"]):
            assert cli.main(argv + ["--import", "my_activations"]) == 0, argv
            assert "swish" in capsys.readouterr().out
    finally:
        sys.modules.pop("my_activations", None)
    assert out.rstrip().endswith("monotonic: No; derivative monotonic: No; "
                                 "≈ identity near 0: No")
    assert "Swish  [swish]\n    f(x) = x/(1 + e⁻ˣ)" in out
    assert [p.name for p in gd.activations()][-1] == "swish"
    assert "<code>swish</code>" in gd.render.activations_table("html")
    assert cli.main(["activations", "--import", "no_such_module_here"]) == 2


def test_names_are_validated_and_built_ins_refused():
    for name in ("sin", "ln", "logistic", "softplus", "sum_to"):
        with pytest.raises(ValueError, match="built-in primitive of graphdiff and cannot be "
                                             "redefined"):
            gd.primitive(name, np.sin, "cos(x)")
    with pytest.raises(ValueError, match="built-in constant"):
        gd.primitive("pi", np.sin, "cos(x)")
    with pytest.raises(ValueError, match=r"is a function of graphdiff \(gd.grad\)"):
        gd.primitive("grad", np.sin, "cos(x)")
    for bad in ("1x", "a b", "class", "_private", "x;import os", "", "é"):
        with pytest.raises(ValueError, match="plain identifier"):
            gd.primitive(bad, np.sin, "cos(x)")
    _swish()
    with pytest.raises(ValueError, match="already defined; pass replace=True"):
        _swish()
    gd.primitive("swish", lambda x: 2 * x, "2", replace=True)
    assert float(gd.parse("swish(x)")(x=3.0)) == 6.0
    with pytest.raises(ValueError, match="takes 1 argument"):
        gd.primitive("two", np.sin, ["cos(x)", "1"])
    with pytest.raises(ValueError, match="uses 'z', which is not among x, out"):
        gd.primitive("three", np.sin, "cos(z)")
    with pytest.raises(ValueError, match="is not a user-defined primitive"):
        gd.unregister("sin")


def test_registration_is_thread_safe():
    results: list[str] = []
    barrier = threading.Barrier(8)

    def define(k: int, name: str) -> None:
        barrier.wait()
        try:
            gd.primitive(name, lambda x: x * 2.0, "2")
            results.append(f"ok {k}")
        except ValueError:
            results.append(f"refused {k}")

    threads = [threading.Thread(target=define, args=(k, "same")) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.startswith("ok") for r in results) == 1
    threads = [threading.Thread(target=define, args=(k, f"own{k}")) for k in range(8)]
    barrier.reset()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(is_known(f"own{k}") for k in range(8))


def test_custom_vjp_straight_through_estimator():
    gd.custom_vjp("ste_sign", np.sign, vjp="bar")
    w = np.array([-0.3, 0.2, 1.5])
    value, (grad,) = gd.value_and_grad("sum(ste_sign(w)*c)", wrt="w")(w=w, c=np.array(
        [1.0, 2.0, 3.0]))
    assert float(value) == 4.0
    np.testing.assert_array_equal(grad, [1.0, 2.0, 3.0])  # passed straight through
    assert gd.trace("ste_sign(w)*3", w=0.2).gradient["w"] == 3.0
    _, tangent = gd.jvp("ste_sign(w)*3", {"w": 1.0})(w=0.2)
    assert float(tangent) == 3.0
    # the check reports that the estimator is not the derivative of sign: that is its point
    c = gd.check("ste_sign(w)*3", w=0.2)
    assert not c.ok and c.worst.node == "v1"


def test_custom_vjp_gradient_clip():
    gd.custom_vjp("clip_grad", lambda x: x, vjp="minimum(maximum(bar, -1), 1)")
    grad = gd.grad("clip_grad(x)*k", wrt="x")
    assert float(grad(x=2.0, k=5.0)) == 1.0 and float(grad(x=2.0, k=-0.25)) == -0.25
    assert float(gd.parse("clip_grad(x)*5")(x=2.0)) == 10.0
    t = gd.trace("clip_grad(x)*5", x=2.0)
    assert t.gradient["x"] == 1.0
    assert "bar_x = np.minimum(t4, 1)  # minimum(maximum(k, -1), 1)" in \
        gd.value_and_grad("clip_grad(x)*k").source
    # a constant adjoint is clipped when the graph is built: 5 becomes 1
    assert "grad_x = _sum_to(1, x, v3)" in gd.value_and_grad("clip_grad(x)*5").source


def test_primitive_needs_partials_and_reads_arguments():
    with pytest.raises(TypeError, match="give its partial derivatives"):
        gd.primitive("nopartials", np.sin)
    with pytest.raises(ValueError, match="'out' names the primitive's value"):
        gd.primitive("uses_out", lambda out: out, "1")
    importlib.import_module("graphdiff.custom")  # the module documented in the docs page


# --- the docs page -------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "your-own-primitives.md"


def test_docs_page_python_examples():
    failures, tried = doctest.testfile(str(DOCS), module_relative=False,
                                       optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 40 and failures == 0


def test_docs_page_shows_what_the_command_prints(capsys):
    blocks = re.findall(r"```\n\$ (graphdiff .*?)\n(.*?)```", DOCS.read_text("utf-8"), re.S)
    assert blocks
    for command, shown in blocks:
        code = cli.main(shlex.split(command)[1:])
        assert code == 0 and capsys.readouterr().out == shown, command


def test_docs_page_lists_the_whole_catalogue():
    text = DOCS.read_text("utf-8")
    for rule in CATALOGUE:
        assert f"| `{rule.name}` |" in text and rule.fails in text, rule.name
