"""Sums of many terms of one form, compiled on arrays of terms (graphdiff.repeated), against
the same sum compiled as written.

The differential test draws a random form from the differential harness (every drawn
primitive, broadcasting shapes, float32 and float64, Python numbers), writes a sum of
MIN_TERMS + a few terms of it in which a random part of the form's inputs are each term's
own and the rest shared, and compares every entry point built on arrays of terms with the
one built from the written-out sum: first and second call, `.fn`, the saved module;
values, shapes, dtypes, NumPy-scalar-or-array kinds, no shared memory, inputs unchanged.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_differential import (
    Rejected,
    _calls,
    _need,
    _saved,
    assert_agree,
    assert_owned,
    random_case,
)

import graphdiff as gd
from graphdiff import compiled, repeated
from graphdiff.graph import Graph, Store, as_arrays

N = repeated.MIN_TERMS + 3


def written_out(monkeypatch, build, *args, **kwargs):
    """`build(*args, **kwargs)` compiled from the sum as written (no arrays of terms)."""
    with monkeypatch.context() as m:
        m.setattr(compiled, "find_terms", lambda *a, **k: None)
        return build(*args, **kwargs)


def sum_of(form: Graph, own: set[str], terms: int, extra: list[Graph] = (),
           minus: bool = False) -> Graph:
    """Σ_i form with each input in `own` renamed per term (x1 -> x1_t3), the others shared,
    then `extra` terms; built by copying the form's nodes, so every term is the form.
    `minus`: the first term minus all the others."""
    store = Store()
    total = None
    names: list[str] = []
    for i in range(terms):
        ids = []
        for n in form.nodes:
            if n.op == "input":
                name = f"{n.name}_t{i}" if n.name in own else n.name
                if name not in names:
                    names.append(name)
                ids.append(store.input(name, n.shape))
            elif n.op == "const":
                ids.append(store.const(n.value, n.origin))
            else:
                ids.append(store.apply(n.op, tuple(ids[a] for a in n.args), n.params))
        root = ids[form.outputs[0]]
        total = root if total is None else store.apply("sub" if minus else "add", (total, root))
    g = Graph(store, (total,), inputs=names)
    for e in extra:
        g = g + e
    return gd.parse(g, inputs=list(dict.fromkeys([*names, *g.inputs])))


def point_for(case, g: Graph, rng) -> dict:
    """Values of g's inputs: a term's own input gets fresh values of its form input's."""
    point = {}
    for name in g.inputs:
        base = name.split("_t")[0]
        v = case.point[base]
        if name == base:
            point[name] = v
        elif isinstance(v, float):
            point[name] = float(np.clip(v + rng.normal(scale=0.05), -2.0, 2.0))
        else:
            point[name] = np.asarray(v + rng.normal(scale=0.05, size=np.shape(v)),
                                     dtype=np.asarray(v).dtype)
    return point


TAKEN = {"terms": 0, "cases": 0}


@pytest.mark.parametrize("seed", range(28))
def test_arrays_of_terms_agree_with_the_written_out_sum(seed, tmp_path, monkeypatch):
    try:
        check_sum(seed, tmp_path, monkeypatch, TAKEN)
    except Rejected:
        pytest.skip("not finite at the drawn point")


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(10_000, 10**7))
def test_arrays_of_terms_agree_on_drawn_sums(seed, tmp_path_factory, monkeypatch):
    try:
        check_sum(seed, tmp_path_factory.mktemp("sums"), monkeypatch)
    except Rejected:
        assume(False)


def check_sum(seed: int, tmp_path, monkeypatch, taken: dict | None = None) -> None:
    """The sum drawn from `seed` (see the module's docstring) through every entry point,
    on arrays of terms and written out; Rejected when it is not finite at its point.
    `taken` counts the builds, and those on arrays of terms."""
    rng = np.random.default_rng(1000 + seed)
    # shapes declared in a third of the sums (those of arrays keep a sum written out)
    case = random_case(3000 + seed, depth=3, declare=seed % 3 == 0)
    inputs = list(case.graph.inputs)
    own = {n for n in inputs if rng.random() < 0.7} or {inputs[0]}
    g = sum_of(case.graph, own, N, minus=seed % 4 == 3)
    point = point_for(case, g, rng)
    with np.errstate(all="ignore"):
        ref = g(**point)
    _need(np.all(np.isfinite(np.asarray(ref, float))))
    dtype = case.dtype
    frozen = {n: np.array(v, copy=True) for n, v in point.items()}
    arrays = as_arrays([point[n] for n in g.inputs])
    uniform = len({a.dtype for a in arrays}) <= 1
    wrt = [n for n in g.inputs if rng.random() < 0.5] or [g.inputs[-1]]
    builders = [(gd.compile, {}), (gd.value_and_grad, {}), (gd.value_and_grad, {"wrt": wrt}),
                (gd.grad, {"wrt": wrt}), (gd.grad, {"wrt": wrt[0]})]
    with np.errstate(all="ignore"):
        for build, kwargs in builders:
            tag = f"{build.__name__}{'' if not kwargs else ' wrt ' + str(kwargs['wrt'])[:40]}"
            fast = build(g, **kwargs)
            plain = written_out(monkeypatch, build, g, **kwargs)
            expected = plain(**point)
            if build is gd.compile:
                assert_agree(ref, expected, f"{tag}: written out vs Graph.__call__", dtype)
            for how, got in _calls(fast, point, arrays, tmp_path, tag, uniform).items():
                assert_agree(expected, got, f"{tag}, {how}", dtype)
                assert_owned(got, arrays + list(point.values()), f"{tag}, {how}")
            if taken is not None:
                taken["terms"] += "_on_terms(" in fast.source
                taken["cases"] += 1
    for n, v in point.items():
        np.testing.assert_array_equal(np.asarray(v), frozen[n], err_msg=f"input {n} changed")


def test_most_drawn_sums_took_arrays_of_terms():
    """The seeded differential test above exercised the arrays of terms, not only the
    fallback (forms with a reduction, a matrix product or a loss, or arrays of declared
    shapes, are written out)."""
    if TAKEN["cases"] < 40:
        pytest.skip("run with the differential test above")
    assert TAKEN["terms"] >= TAKEN["cases"] // 3, TAKEN


def _sum_text(terms: int, form: str = "w{i}*tanh(a{i}*x + b{i})") -> str:
    return " + ".join(form.format(i=i) for i in range(terms))


def test_the_issue_sum_compiles_small_and_reads_its_form():
    g = gd.parse(_sum_text(300))
    f = gd.value_and_grad(g)
    # the differentiated graph is the form's, not 300 terms'
    assert len(f.graph.nodes) < 60, len(f.graph.nodes)
    assert "# 300 terms of the form w0*tanh(a0*x + b0)\n" in f.source
    assert "# w_terms holds w0, w1, w2, ..., w299 (300 inputs)" in f.source
    assert f.inputs == g.inputs and f.params == g.inputs
    rng = np.random.default_rng(0)
    point = {n: rng.normal() for n in g.inputs}
    value, grads = f(**point)
    # the gradient by hand: d/dw_i = tanh(a_i x + b_i), and so on
    x = point["x"]
    t = [np.tanh(point[f"a{i}"] * x + point[f"b{i}"]) for i in range(300)]
    np.testing.assert_allclose(value, sum(point[f"w{i}"] * t[i] for i in range(300)), rtol=1e-12)
    by_name = dict(zip(g.inputs, grads))
    for i in (0, 17, 299):
        s = point[f"w{i}"] * (1 - t[i] ** 2)
        np.testing.assert_allclose(by_name[f"w{i}"], t[i], rtol=1e-12)
        np.testing.assert_allclose(by_name[f"a{i}"], s * x, rtol=1e-12)
        np.testing.assert_allclose(by_name[f"b{i}"], s, rtol=1e-12)
    np.testing.assert_allclose(
        by_name["x"], sum(point[f"w{i}"] * (1 - t[i] ** 2) * point[f"a{i}"] for i in range(300)),
        rtol=1e-12)


def _agree_everywhere(g, monkeypatch, points, build=gd.value_and_grad, **kwargs):
    fast, plain = build(g, **kwargs), written_out(monkeypatch, build, g, **kwargs)
    assert "_on_terms(" in fast.source
    for point in points:
        expected = plain(**point)
        arrays = as_arrays([point[n] for n in g.inputs])
        for got in (fast(**point), fast(**point), fast.fn(*arrays)):
            assert_agree(expected, got, "arrays of terms", np.result_type(*arrays))
            assert_owned(got, arrays, "arrays of terms")
    return fast


def test_shared_nodes_constants_other_terms_and_other_forms(monkeypatch):
    """sin(x) read by every term, constants inside the form, two forms, terms written
    out among them, an input two terms read (those terms stay written out)."""
    text = (_sum_text(70, "w{i}*sin(x)*exp(-0.5*(x - c{i})**2)") + " + "
            + _sum_text(66, "softplus(u{i}*y - 1.5)") + " + x*y + w0*c1 + sin(u3)")
    g = gd.parse(text)
    rng = np.random.default_rng(1)
    scalars = {n: rng.normal() for n in g.inputs}
    arrays = dict(scalars, x=rng.normal(size=(4,)), y=rng.normal(size=(3, 1)),
                  c5=rng.normal(size=(4,)))
    f32 = {n: np.float32(v) if np.ndim(v) == 0 else np.asarray(v, np.float32)
           for n, v in arrays.items()}
    f = _agree_everywhere(g, monkeypatch, [scalars, arrays, f32])
    assert "70 terms" not in f.source  # w0 and c1 are read by another term too
    assert "69 terms of the form" in f.source or "68 terms of the form" in f.source
    # u3 is read by sin(u3) too
    assert "# 65 terms of the form softplus(u0*y - 1.5)" in f.source
    assert "# u_terms holds u0, u1, u2, ..., u65 (65 inputs)" in f.source


def test_wrt_subsets_and_a_single_gradient(monkeypatch):
    g = gd.parse(_sum_text(80))
    rng = np.random.default_rng(2)
    point = {n: rng.normal() for n in g.inputs}
    for wrt in (["x"], ["w3", "x", "b79", "a0"], "b5"):
        _agree_everywhere(g, monkeypatch, [point], gd.grad, wrt=wrt)
        _agree_everywhere(g, monkeypatch, [point], gd.value_and_grad, wrt=wrt)
    _agree_everywhere(g, monkeypatch, [point], gd.compile)


def test_a_term_another_term_reads_is_written_out(monkeypatch):
    """tanh(a5*x) is a term and a factor of another term: it is computed once, as
    written, and the other 65 run on arrays (seed 425 of the long run)."""
    g = gd.parse(_sum_text(66, "tanh(a{i}*x)") + " + tanh(a5*x)*y")
    rng = np.random.default_rng(5)
    f = _agree_everywhere(g, monkeypatch, [{n: rng.normal() for n in g.inputs}])
    assert "# 65 terms of the form tanh(a0*x)" in f.source
    assert "# tanh(a5*x)" in f.source


def test_subtracted_terms(monkeypatch):
    """Terms subtracted are a group of their own; a subtraction first, or a negation."""
    text = ("x*y - " + " - ".join(f"w{i}*exp(-(x - c{i})**2)" for i in range(70)) + " + "
            + " + ".join(f"w{i}*exp(-(x - c{i})**2)" for i in range(70, 140)))
    g = gd.parse(text)
    rng = np.random.default_rng(4)
    point = {n: rng.normal() for n in g.inputs}
    f = _agree_everywhere(g, monkeypatch, [point, dict(point, x=rng.normal(size=3))])
    assert f.source.count("70 terms of the form") == 2
    negated = gd.parse("-" + " - ".join(f"sin(a{i}*x)" for i in range(66)))
    _agree_everywhere(negated, monkeypatch, [{n: rng.normal() for n in negated.inputs}])


def test_declared_shapes_are_checked_or_written_out(monkeypatch):
    """Inputs declared scalars run on arrays of terms and refuse another shape as the
    written-out sum does; inputs of other declared shapes keep the sum written out."""
    x = gd.symbols("x")
    g = sum(gd.symbols(f"w{i}", ()) * gd.tanh(gd.symbols(f"a{i}", ()) * x) for i in range(70))
    rng = np.random.default_rng(6)
    point = {n: rng.normal() for n in g.inputs}
    f = _agree_everywhere(g, monkeypatch, [point, dict(point, x=rng.normal(size=(2, 3)))])
    plain = written_out(monkeypatch, gd.value_and_grad, g)
    for bad in ("w3", "a69"):
        wrong = dict(point, **{bad: np.ones(4)})
        with pytest.raises(ValueError, match=f"compiled for .*{bad} \\(\\)"):
            plain(**wrong)
        with pytest.raises(ValueError, match=f"compiled for {bad} \\(\\); got \\(4,\\)"):
            f(**wrong)
        with pytest.raises(ValueError, match=f"compiled for {bad} \\(\\)"):
            f.fn(*[wrong[n] for n in f.inputs])
    vectors = sum(gd.tensor(f"w{i}", (3,)) * gd.tanh(gd.symbols(f"a{i}") * x) for i in range(70))
    assert repeated.find_terms(vectors) is None


def test_forms_that_are_not_elementwise_are_written_out():
    g = gd.parse(_sum_text(70, "w{i}*sum(tanh(a{i}*x))"))
    assert repeated.find_terms(g) is None
    assert repeated.find_terms(gd.parse(_sum_text(repeated.MIN_TERMS - 1))) is None
    assert "_on_terms(" not in gd.value_and_grad(g).source


def test_other_backends_pickling_and_saving(monkeypatch, tmp_path):
    g = gd.parse(_sum_text(64, "w{i}*sigmoid(a{i}*x)"))
    rng = np.random.default_rng(3)
    point = {n: rng.normal() for n in g.inputs}
    f = gd.value_and_grad(g)
    expected = written_out(monkeypatch, gd.value_and_grad, g)(**point)
    assert_agree(expected, pickle.loads(pickle.dumps(f))(**point), "unpickled", np.float64)
    args = [np.float64(point[n]) for n in g.inputs]
    assert_agree(expected, _saved(f, tmp_path, "terms")(*args), "saved", np.float64)
    strict = pytest.importorskip("array_api_strict")
    xp_args = {n: strict.asarray(v) for n, v in point.items()}
    value, grads = f(**xp_args)  # the array-API module of the sum as written
    assert_agree(expected, (np.asarray(value)[()], tuple(np.asarray(t)[()] for t in grads)),
                 "array_api_strict", np.float64)
