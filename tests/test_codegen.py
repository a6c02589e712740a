"""Generated code: its shape (one assignment per operation, the table's names), the compiled
callable (inspect, tracebacks, save), hostile input names, dtypes, shapes and numerics."""

from __future__ import annotations

import ast
import inspect
import json
import math
import re
import subprocess
import sys
import textwrap
import traceback
import warnings

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.graph import Graph, Store

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"
LECTURE = "x1*x2 + sin(x1)"
EXPRESSIONS = [LOGNORMAL, LECTURE, "x*x", "sigmoid(w*x + b)*tanh(x) - softplus(-x)",
               "(x + y)*(x + y) + exp(x*y)/(2 + cos(y))", "sqrt(x*x + 1) + x**3 - 2**x",
               "relu(x) + abs(y) + maximum(x, y) + hypot(x, y)"]


def _function(source: str) -> ast.FunctionDef:
    """The generated (public) function of a module; helpers start with an underscore."""
    (fn,) = [n for n in ast.parse(source).body
             if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    return fn


def _assignments(source: str) -> list[tuple[str, str]]:
    """(target, expression) of each assignment in the function's body, in order."""
    out = []
    for stmt in _function(source).body:
        if isinstance(stmt, ast.Assign):
            (target,) = stmt.targets
            out.append((ast.unparse(target), ast.unparse(stmt.value)))
    return out


def _operations(g: Graph) -> list:
    return [n for n in g.nodes if n.op not in ("input", "const")]


# --- the shape of the source -----------------------------------------------------------------

def test_forward_source_reads_like_the_lecture_table():
    g = gd.parse(LOGNORMAL)
    f = gd.compile(g)
    fn = _function(f.source)
    assert [a.arg for a in fn.args.args] == ["y", "mu", "sigma"]
    assert _assignments(f.source) == [
        ("v4", "y - mu"), ("v5", "v4 / sigma"), ("v6", "v5 ** 2"), ("v7", "-0.5 * v6"),
        ("v8", "np.log(sigma)"), ("v9", "v7 - v8"), ("v10", "v9 - 0.9189385332046727")]
    assert ast.unparse(fn.body[-1]) == "return v10"
    # the v-numbers are the graph's (and the trace table's)
    assert [t for t, _ in _assignments(f.source)] == [n.var for n in _operations(g)]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_one_assignment_per_operation(text):
    g = gd.parse(text)
    assignments = _assignments(gd.compile(g).source)
    assert len(assignments) == len(_operations(g))
    assert [t for t, _ in assignments] == [n.var for n in _operations(g)]


def _check_lean(source: str, params: list[str]) -> None:
    """No line that only copies a value or names a constant, and no dead temporaries."""
    fn = _function(source)
    assigned = []
    for stmt in fn.body:
        if isinstance(stmt, ast.Assign):
            value = stmt.value
            if isinstance(value, ast.UnaryOp):
                value = value.operand if isinstance(value.operand, ast.Constant) else value
            assert not isinstance(value, (ast.Name, ast.Constant)), ast.unparse(stmt)
            assigned.append(ast.unparse(stmt.targets[0]))
    loads = [n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    for name in assigned:
        assert name in loads, f"{name} is assigned but never used"
    for p in params:
        assert p not in assigned, f"input {p} is overwritten"


@pytest.mark.parametrize("text", EXPRESSIONS)
@pytest.mark.parametrize("make", [gd.compile, gd.value_and_grad, gd.grad, gd.hessian,
                                  gd.jacobian, lambda g: gd.jvp(g)],
                         ids=["compile", "value_and_grad", "grad", "hessian", "jacobian", "jvp"])
def test_no_copies_no_constants_no_dead_temporaries(text, make):
    f = make(gd.parse(text))
    _check_lean(f.source, list(f.params))


def test_reverse_mode_names_adjoints_partials_and_gradients():
    vg = gd.value_and_grad(LOGNORMAL)
    names = [t for t, _ in _assignments(vg.source)]
    assert any(n.startswith("bar_") for n in names), vg.source
    assert any(re.fullmatch(r"dv\d+_d\w+", n) for n in names), vg.source  # partials
    ret = ast.unparse(_function(vg.source).body[-1])
    assert ret == "return (v10, (grad_y, grad_mu, grad_sigma))"
    # the forward lines come first, numbered as in the table, then a marked reverse sweep
    assert [t for t, _ in _assignments(vg.source)][:2] == ["v4", "v5"]
    assert "# reverse sweep" in vg.source
    vg = gd.value_and_grad(LECTURE)
    # grad_x2 is x1 itself: returned as a copy, so the caller's x1 stays theirs
    assert ast.unparse(_function(vg.source).body[-1]) == \
        "return (v5, (grad_x1, _owned(grad_x2)))"


def test_forward_mode_names_tangents():
    source = gd.jvp(LOGNORMAL, {"sigma": 1.0}).source
    names = [t for t, _ in _assignments(source)]
    assert any(n.startswith("dot_") for n in names) and "# forward sweep" in source
    assert ast.unparse(_function(source).body[-1]).startswith("return (v10, ")


def test_constants_are_inlined():
    source = gd.compile("2*pi*x + 0.5*log(2*pi)").source
    assert "6.283185307179586 * x" in source and "0.9189385332046727" in source
    assert "pi" not in ast.unparse(_function(source).body[-2])


def test_generated_code_uses_numpy_through_one_name():
    source = gd.value_and_grad("sigmoid(x)*tanh(y) + log1p(exp(x))").source
    # after the comment block that lists the stability rewrite (log1p(exp(x)) -> softplus)
    code = [line for line in source.splitlines() if not line.startswith("#")]
    assert code[0] == "import numpy as np"
    imports = [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.Import,
                                                                        ast.ImportFrom))]
    assert [ast.unparse(i) for i in imports] == ["import numpy as np"]


# --- the compiled callable ---------------------------------------------------------------------

def test_source_is_visible_to_inspect():
    f = gd.value_and_grad(LECTURE)
    text = inspect.getsource(f.fn)
    assert text.startswith("def value_and_grad(x1, x2):")
    assert "v3 = x1 * x2" in text and text in f.source
    assert f.__wrapped__ is f.fn and f.inputs == ("x1", "x2") and "x1, x2" in repr(f)


def test_tracebacks_show_the_generated_lines():
    f = gd.compile(LECTURE)
    with pytest.raises(ValueError) as info:  # shapes that do not broadcast, through .fn
        f.fn(np.ones(2), np.ones(3))
    text = "".join(traceback.format_exception(info.value))
    assert "v3 = x1 * x2" in text
    with pytest.raises(TypeError, match="dtype object"):  # refused as a call refuses it
        f.fn(np.array(["a"], dtype=object), 3.5)
    with pytest.raises(ValueError) as info:  # shapes that do not broadcast
        gd.value_and_grad(LECTURE)(np.ones(2), np.ones(3))
    text = "".join(traceback.format_exception(info.value))
    assert "v3 = x1 * x2" in text and "value_and_grad" in text


_FRESH = textwrap.dedent("""
    import importlib.util, json, sys

    class NoGraphdiff:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "graphdiff":
                raise ImportError("the saved module must not need graphdiff")

    sys.meta_path.insert(0, NoGraphdiff())
    spec = importlib.util.spec_from_file_location("saved", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import numpy as np
    out = getattr(module, sys.argv[2])(*[np.array(v) for v in json.loads(sys.argv[3])])
    flat = lambda v: [flat(x) for x in v] if isinstance(v, tuple) else np.asarray(v).tolist()
    print(json.dumps({"out": flat(out), "modules": sorted(m for m in sys.modules
                                                          if m.startswith("graphdiff"))}))
""")


def _flat(v):
    return [_flat(x) for x in v] if isinstance(v, tuple) else np.asarray(v).tolist()


def _leaves(v) -> list[float]:
    return [y for x in v for y in _leaves(x)] if isinstance(v, list) else [v]


@pytest.mark.parametrize("make", [gd.compile, gd.value_and_grad, gd.hessian,
                                  lambda g: gd.jvp(g, {"mu": 1.0})],
                         ids=["compile", "value_and_grad", "hessian", "jvp"])
def test_saved_module_runs_in_a_fresh_interpreter_with_numpy_alone(make, tmp_path):
    f = make(gd.parse(LOGNORMAL))
    path = tmp_path / "lognormal.py"
    f.save(path)
    assert path.read_text() == f.source
    args = [[0.5, 1.5, 2.5], 0.5, 2.0]
    done = subprocess.run([sys.executable, "-I", "-c", _FRESH, str(path), f.name,
                           json.dumps(args)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["modules"] == []
    expected = _leaves(_flat(f(*[np.array(a) for a in args])))
    np.testing.assert_allclose(_leaves(result["out"]), expected, rtol=1e-15)


# --- hostile input names -----------------------------------------------------------------------

def _check_only_numpy(source: str, params: list[str]) -> None:
    """The function calls only NumPy and the module's own helpers, reads only its inputs,
    its temporaries and those, and imports nothing (its docstring aside, no user text)."""
    module = ast.parse(source)
    helpers = {n.name for n in module.body if isinstance(n, ast.FunctionDef)
               and n.name.startswith("_")}
    fn = _function(source)
    assigned = {ast.unparse(t) for s in fn.body if isinstance(s, ast.Assign) for t in s.targets}
    allowed = set(params) | assigned | helpers | {"np"}
    for node in ast.walk(fn):
        assert not isinstance(node, (ast.Import, ast.ImportFrom, ast.Lambda)), ast.unparse(node)
        if isinstance(node, ast.Name):
            assert node.id in allowed, node.id
        if isinstance(node, ast.Attribute):
            assert isinstance(node.value, ast.Name) and node.value.id == "np" or \
                node.attr == "T", ast.unparse(node)
        if isinstance(node, ast.Call):
            func = node.func
            assert (isinstance(func, ast.Attribute) and ast.unparse(func.value) == "np"
                    or isinstance(func, ast.Name) and func.id in helpers), ast.unparse(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node is fn.body[0].value, "a string other than the docstring"


def _hostile_graph(names: list[str]) -> Graph:
    """sin(sum_i (i + 1) * name_i), built from the store: the parser refuses such names."""
    store = Store()
    acc = None
    for k, name in enumerate(names):
        term = store.apply("mul", (store.input(name), store.const(k + 1.0)))
        acc = term if acc is None else store.apply("add", (acc, term))
    return Graph(store, (store.apply("sin", (acc,)),))


def test_hostile_names_cannot_inject_code(tmp_path):
    marker = tmp_path / "pwned"
    names = [f"x; open({str(marker)!r}, 'w')", f"__import__('os').system('touch {marker}')",
             "__import__('os')", "v4", "bar_x", "dot_x", "grad_x", "dv3_dx", "t5", "np",
             "_sum_to", "def", "None", "a\nb", "x)\nimport os\n(x", '"""', "'''", "#", "\\",
             "λ", "ｘ", "é", "", "1x", "x", "x_", "in_v4", "f", "value_and_grad", "print"]
    g = _hostile_graph(names)
    assert g.inputs == tuple(names)
    values = {n: 0.01 * (k + 1) for k, n in enumerate(names)}
    expected = g(**values)
    for make in (gd.compile, gd.value_and_grad, gd.jvp, gd.hessian):
        f = make(g)
        fn = _function(f.source)
        params = [a.arg for a in fn.args.args]
        assert len(set(params)) == len(params) >= len(names)
        for p in params:
            assert p.isidentifier() and p.isascii() and p not in ("np", "_sum_to"), p
            assert not re.fullmatch(r"(v|t)\d+|(bar|dot|grad)_.*|d\w*_d\w*", p), p
        _check_only_numpy(f.source, params)
        compile(f.source, "<check>", "exec")
    f = gd.compile(g)
    assert f(**values) == pytest.approx(expected, rel=1e-15)
    assert f(*[values[n] for n in names]) == pytest.approx(expected, rel=1e-15)
    value, grads = gd.value_and_grad(g)(**values)
    assert value == pytest.approx(expected, rel=1e-15)
    cos = math.cos(sum((k + 1) * values[n] for k, n in enumerate(names)))
    np.testing.assert_allclose(grads, [(k + 1) * cos for k in range(len(names))], rtol=1e-14)
    _, tangent = gd.jvp(g)(*values.values(), *[1.0] * len(names))
    assert tangent == pytest.approx(cos * sum(range(1, len(names) + 1)), rel=1e-14)
    f.save(tmp_path / "hostile.py")
    assert not marker.exists()


# --- dtypes ----------------------------------------------------------------------------------

DTYPE_EXPRESSIONS = EXPRESSIONS + [
    "where(x, y, 2*y)",
    "x/3 + arctan2(x, 1)", "isru(x) * y", "leaky_relu(x) + prelu(x, y)",
    "log2(x*x + 1) + sign(x)"]


def _dtypes(value) -> set:
    if isinstance(value, tuple):
        return set().union(*(_dtypes(v) for v in value)) if value else set()
    return {np.asarray(value).dtype}


@pytest.mark.parametrize("text", DTYPE_EXPRESSIONS)
def test_float32_in_float32_out(text):
    g = gd.parse(text)
    rng = np.random.default_rng(0)
    arrays = {n: rng.uniform(0.5, 2.0, size=5).astype(np.float32) for n in g.inputs}
    scalars = {n: np.float32(v[0]) for n, v in arrays.items()}
    tangents = {f"dot_{n}": np.ones(5, np.float32) for n in g.inputs}
    for point in (arrays, scalars, {**arrays, g.inputs[0]: scalars[g.inputs[0]]}):
        results = {
            "compile": gd.compile(g)(**point),
            "value_and_grad": gd.value_and_grad(g)(**point),
            "grad": gd.grad(g)(**point),
            "jvp": gd.jvp(g, {g.inputs[0]: 1.0})(**point),
            "jvp tangent inputs": gd.jvp(g)(**point, **tangents),
            "hessian": gd.hessian(g)(**point),
            "jacobian": gd.jacobian(g)(**point),
        }
        for what, result in results.items():
            assert _dtypes(result) == {np.dtype(np.float32)}, (what, point)


def test_python_float_parameters_keep_float32_arrays_float32():
    y = np.linspace(0.5, 2.0, 4).astype(np.float32)
    value, (grad_y, _, _) = gd.value_and_grad(LOGNORMAL)(y, 0.5, 2.0)
    assert value.dtype == np.float32 and grad_y.dtype == np.float32


def test_integer_inputs_compute_in_float64():
    value, (grad,) = gd.value_and_grad("x/2 + x**2")(np.arange(3))
    assert value.dtype == np.float64 and grad.dtype == np.float64
    np.testing.assert_allclose(value, [0.0, 1.5, 5.0])
    np.testing.assert_allclose(grad, [0.5, 2.5, 4.5])


# --- shapes ----------------------------------------------------------------------------------

def test_scalars_and_arrays_broadcast_like_numpy():
    ys = np.linspace(-1.0, 3.0, 7)
    f = gd.compile(LOGNORMAL)
    expected = -0.5 * ((ys - 0.5) / 2.0) ** 2 - np.log(2.0) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(f(y=ys, mu=0.5, sigma=2.0), expected, rtol=1e-15)
    a, b = np.arange(3.0).reshape(3, 1), np.arange(4.0).reshape(1, 4)
    assert gd.compile("a*b + a")(a, b).shape == (3, 4)


def test_gradients_have_their_inputs_shapes():
    ys = np.linspace(-1.0, 3.0, 7)
    vg = gd.value_and_grad(LOGNORMAL)
    value, (dy, dmu, dsigma) = vg(y=ys, mu=0.5, sigma=2.0)
    assert value.shape == dy.shape == (7,) and np.shape(dmu) == np.shape(dsigma) == ()
    # each point's derivative for the array input, the sum over points for the parameters
    for k, y in enumerate(ys):
        _, (py, _, _) = vg(y=y, mu=0.5, sigma=2.0)
        assert dy[k] == pytest.approx(py, rel=1e-14)
    np.testing.assert_allclose(dmu, np.sum(-dy), rtol=1e-14)
    expected_sigma = np.sum((ys - 0.5) ** 2 / 8.0 - 0.5)
    np.testing.assert_allclose(dsigma, expected_sigma, rtol=1e-14)


def test_all_inputs_of_one_shape_give_per_point_derivatives():
    x1, x2 = np.linspace(-2, 2, 5), np.linspace(1, 3, 5)
    _, (g1, g2) = gd.value_and_grad(LECTURE)(x1, x2)
    np.testing.assert_allclose(g1, x2 + np.cos(x1), rtol=1e-15)
    np.testing.assert_allclose(g2, x1, rtol=1e-15)


def test_broadcast_axes_are_summed():
    a, b = np.arange(3.0).reshape(3, 1), np.arange(4.0).reshape(1, 4)
    value, (ga, gb) = gd.value_and_grad("a*b*b")(a, b)
    assert value.shape == (3, 4) and ga.shape == (3, 1) and gb.shape == (1, 4)
    np.testing.assert_allclose(ga, np.full((3, 1), np.sum(b * b)))
    np.testing.assert_allclose(gb, 2 * b * np.sum(a))
    value, (ga, gb) = gd.value_and_grad("a + b")(np.ones((2, 3)), np.ones(3))
    np.testing.assert_allclose(ga, np.ones((2, 3)))
    np.testing.assert_allclose(gb, np.full(3, 2.0))


def test_an_input_the_output_does_not_use_gets_zeros_of_its_shape():
    g = gd.parse("2*x", inputs=("x", "y"))
    _, (gx, gy) = gd.value_and_grad(g)(np.ones(3), np.ones((2, 3)))
    np.testing.assert_allclose(gx, np.full(3, 2.0))
    assert gy.shape == (2, 3) and not np.any(gy)
    (hxx, hxy), (hyx, hyy) = gd.hessian(g)(np.ones(3), np.ones(3))
    for h in (hxx, hxy, hyx, hyy):
        assert np.shape(h) == (3, 3) and not np.any(h)


@pytest.mark.parametrize("text", ["x*0 + y", "x - x + y", "x**0 * y"])
def test_identities_keep_the_broadcast_shape(text):
    x, y = np.ones(3), 2.0
    assert gd.compile(gd.simplify(gd.parse(text)))(x, y).shape == (3,)
    value, (gx, gy) = gd.value_and_grad(text)(x, y)
    assert value.shape == (3,) and gx.shape == (3,) and np.shape(gy) == ()
    assert gy == pytest.approx(3.0)  # d/dy of the sum over three points


# --- numerics --------------------------------------------------------------------------------

EXTREME = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
STABLE = {
    "sigmoid(x)": (lambda x: np.where(x > 0, 1 / (1 + np.exp(-np.abs(x))),
                                      np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))),
    "softplus(x)": lambda x: np.logaddexp(0.0, x),
    "-softplus(-x)": lambda x: -np.logaddexp(0.0, -x),
    "logaddexp(0, x)": lambda x: np.logaddexp(0.0, x),
    "sigmoid(x)*(1 - sigmoid(x))": None,
    "tanh(x)": np.tanh,
    "softplus(x) - x": lambda x: np.logaddexp(0.0, -x),
}


def _strict():
    """Overflow, division by zero and invalid operations raise (underflow to 0 is fine)."""
    return np.errstate(over="raise", divide="raise", invalid="raise")


@pytest.mark.parametrize("text", sorted(STABLE))
def test_stable_forms_at_extreme_arguments(text):
    with warnings.catch_warnings(), _strict():
        warnings.simplefilter("error")
        value, (grad,) = gd.value_and_grad(text)(EXTREME)
        _, tangent = gd.jvp(text, {"x": 1.0})(EXTREME)
        ((second,),) = gd.hessian(text, elementwise=True)(EXTREME)
    for v in (value, grad, tangent, second):
        assert np.all(np.isfinite(v))
    np.testing.assert_allclose(grad, tangent, rtol=1e-15)
    if STABLE[text] is not None:  # softplus(40) - 40 cancels: an absolute tolerance
        np.testing.assert_allclose(value, STABLE[text](EXTREME), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("text, value, grad", [
    # d log(sigmoid(x)) = 1 - sigmoid(x) = sigmoid(-x): written so it does not cancel
    ("log(sigmoid(x))", lambda x: -np.logaddexp(0.0, -x), lambda x: 1 / (1 + np.exp(x))),
    ("log(1 - sigmoid(x))", lambda x: -np.logaddexp(0.0, x), lambda x: -1 / (1 + np.exp(-x))),
])
def test_log_sigmoid_at_extreme_arguments(text, value, grad):
    with np.errstate(all="ignore"):
        v, (g,) = gd.value_and_grad(text)(EXTREME)
        np.testing.assert_allclose(v, value(EXTREME), rtol=1e-12)
        np.testing.assert_allclose(g, grad(EXTREME), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("zero", [0.0, 0, np.float64(0.0), np.zeros(2), np.float32(0.0)])
def test_log_of_zero_is_minus_infinity_without_exceptions(zero):
    with np.errstate(divide="ignore"):
        value = gd.compile("log(x)")(zero)
        vg_value, (grad,) = gd.value_and_grad("log(x)")(zero)
        _, tangent = gd.jvp("log(x)", {"x": 1.0})(zero)
    assert np.all(value == -np.inf) and np.all(vg_value == -np.inf)
    assert np.all(grad == np.inf) and np.all(tangent == np.inf)
    with pytest.warns(RuntimeWarning, match="divide by zero"):  # as NumPy's np.log(0.0)
        gd.compile("log(x)")(zero)


def test_raw_function_with_python_floats_follows_numpy():
    """`.fn` converts Python numbers as a call does (it once computed with them:
    ZeroDivisionError in 1 / x, a complex x**0.5).  A saved module still takes what it is
    given: its function is the generated one alone."""
    with np.errstate(all="ignore"):
        value, (grad,) = gd.value_and_grad("log(x)").fn(0.0)
        assert value == -np.inf and grad == np.inf
        assert np.isnan(gd.compile("x**0.5").fn(-1.0))


# --- calling ---------------------------------------------------------------------------------

def test_positional_and_keyword_calls_agree():
    f = gd.value_and_grad(LOGNORMAL)
    expected = f(y=1.5, mu=0.5, sigma=2.0)
    for call in (lambda: f(1.5, 0.5, 2.0), lambda: f(1.5, sigma=2.0, mu=0.5),
                 lambda: f(sigma=2.0, y=1.5, mu=0.5)):
        value, grads = call()
        assert value == expected[0] and grads == expected[1]


@pytest.mark.parametrize("args, kwargs, message", [
    ((), {"y": 1.0, "mu": 0.5}, "missing value for input 'sigma'"),
    ((), {}, "missing value for inputs 'y', 'mu', 'sigma'"),
    ((1.0,), {"y": 1.0, "mu": 0.5, "sigma": 2.0}, "'y' given twice"),
    ((), {"y": 1.0, "mu": 0.5, "sigma": 2.0, "sd": 1.0}, "unknown input 'sd'.*y, mu, sigma"),
    ((1.0, 2.0, 3.0, 4.0), {}, "at most 3 positional"),
])
def test_clear_errors_for_unknown_and_missing_inputs(args, kwargs, message):
    for f in (gd.compile(LOGNORMAL), gd.value_and_grad(LOGNORMAL)):
        with pytest.raises(TypeError, match=message):
            f(*args, **kwargs)


def test_clear_errors_for_wrt_names_that_are_not_inputs():
    for make in (gd.value_and_grad, gd.grad, gd.hessian, gd.jacobian):
        with pytest.raises(ValueError, match=r"'sd'.*y, mu, sigma"):
            make(LOGNORMAL, wrt=["mu", "sd"])
    with pytest.raises(ValueError, match="'sd'"):
        gd.jvp(LOGNORMAL, {"sd": 1.0})


# --- buffers reused in place (static shapes, one dtype) ---------------------------------------

_ACTIVATIONS = ["relu", "tanh", "sigmoid", "softplus", "leaky_relu", "binary_step", "arctan",
                "softsign", "isru", "identity"]


@pytest.mark.parametrize("activation", _ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_step_computes_what_the_plain_function_computes(activation, dtype):
    from graphdiff.nn.compiled_step import mlp_loss_graph
    g, params, _ = mlp_loss_graph([3, 5, 4, 2], activation=activation, loss="mse")
    plain = gd.value_and_grad(g, wrt=params)
    reused = gd.value_and_grad(g, wrt=params, inplace=True)
    rng = np.random.default_rng(3)
    args = [rng.standard_normal(s).astype(dtype) for s in
            [(6, 3), (6, 2), (3, 5), (5,), (5, 4), (4,), (4, 2), (2,)]]
    frozen = [a.copy() for a in args]
    v1, g1 = plain.fn(*args)
    v2, g2 = reused.fn(*args)
    for a, b in zip(args, frozen):  # inputs are never written to
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(v2, v1, rtol=1e-6)
    for a, b in zip(g1, g2):
        assert b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_relu_runs_in_place_and_its_derivative_is_a_boolean_mask():
    from graphdiff.nn.compiled_step import mlp_loss_graph
    g, params, _ = mlp_loss_graph([3, 5, 2], activation="relu", loss="mse")
    source = gd.value_and_grad(g, wrt=params, inplace=True).source
    lines = dict(_assignments(source))
    (mask,) = [t for t, e in lines.items() if e.startswith("np.greater_equal(")]
    # v8 = X @ W1 + b1, v9 = relu(v8)
    assert lines[mask] == "np.greater_equal(v8, 0)"  # bool: no float array of ones
    assert lines["v9"] == "np.maximum(v8, 0.0, out=v8)"
    # the mask is taken before the relu overwrites its argument
    order = list(lines)
    assert order.index(mask) < order.index("v9")


def test_a_step_function_used_as_a_value_stays_a_float_array():
    X = gd.tensor("X", (None, 3))
    g = gd.sum(gd.binary_step(X) + gd.binary_step(X) * X)
    f = gd.value_and_grad(g, inplace=True)
    assert "np.greater_equal(X, 0, out=np.empty_like(X))" in f.source
    x = np.array([[-1.0, 0.0, 2.0]])
    value, (grad,) = f(x)
    assert value == 2 + 2.0 and grad.dtype == np.float64


def _function_text(source: str) -> str:
    """The public function of a generated module (helpers such as _sum_to left out)."""
    fn = _function(source)
    return source[source.index(f"\ndef {fn.name}(") + 1:].rstrip()


def test_the_generated_code_page_shows_the_real_output():
    from pathlib import Path
    page = (Path(__file__).resolve().parents[1] / "docs" / "generated-code.md").read_text()
    ys = np.linspace(-1.0, 3.0, 1000)
    for source in (gd.compile(LOGNORMAL).source, gd.value_and_grad(LOGNORMAL).source,
                   gd.value_and_grad(LOGNORMAL).specialized(ys, 0.5, 2.0).source,
                   gd.jvp(LOGNORMAL, {"sigma": 1.0}).source,
                   gd.value_and_grad(LECTURE).source, gd.jvp(LECTURE).source):
        assert _function_text(source) in page, _function_text(source)
    # and the helper it shows is the one the modules embed
    from graphdiff.primitives import _sum_to
    assert inspect.getsource(_sum_to).rstrip() in page


def test_the_generated_code_page_examples_run_as_shown():
    """The page's >>> examples (what you get back, Jacobian and Hessian shapes, the entry
    checks) re-run, so a number on the page cannot drift from what the code prints."""
    import doctest
    from pathlib import Path
    page = Path(__file__).resolve().parents[1] / "docs" / "generated-code.md"
    failures, tried = doctest.testfile(
        str(page), module_relative=False, globs={"gd": gd, "np": np, "expr": LOGNORMAL},
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert tried >= 15 and failures == 0
