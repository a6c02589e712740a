"""The numba backend (graphdiff.numba_backend) held to the NumPy backend: the differential
harness's checks on random expressions (values, shapes, dtypes, NumPy-scalar kind, no
aliasing, inputs unchanged; first and second call, `.fn`, a saved module; float32 and
float64), every loop spelling in one kernel, gradients against central differences, the
other entry points, the MLP step, the disk cache across processes and the refusals.

numba compiles take about a second each: the compiled cases are few and chosen to cover
the printer's paths (fused loops, accumulators, broadcasting, BLAS, the loss helpers).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import domains
import numpy as np
import pytest
from test_differential import (
    Rejected,
    _fd_gradient,
    _saved,
    assert_agree,
    assert_owned,
    random_case,
)

import graphdiff as gd

pytest.importorskip("numba", reason="the numba backend needs numba (pip install graphdiff[numba])")

from graphdiff import numba_backend, numba_table
from graphdiff.primitives import REGISTRY

# primitives of the registry the numba backend refuses by name (a primitive that gains a
# spelling moves out of this list)
REFUSED = [
    "bilinear_adjoint", "broadcast_to", "concatenate", "cross", "cumprod", "cumsum",
    "diag", "diagonal", "diagonal_add", "diff", "einsum", "einsum_embed", "erfinv",
    "expand_dims", "flip", "getitem", "hstack", "index_add", "inner", "kron",
    "linear_scan", "log_softmax", "logsumexp", "max", "min", "moveaxis", "pad", "prod",
    "ravel", "repeat", "reshape", "reshape_like", "roll", "softmax", "sort", "sort_by",
    "spherical_jn", "split", "squeeze", "stack", "std", "swapaxes", "take", "take_add",
    "tensordot", "tile", "trace", "tril", "triu", "undiag", "unjoin", "unpad",
    "unrepeat", "unsort_by", "untile", "var", "vstack",
]


def test_the_refused_primitives_are_listed_and_named_in_the_error():
    assert numba_table.refused(REGISTRY) == REFUSED
    with pytest.raises(ValueError, match="no numba spelling for cumsum"):
        gd.compile("cumsum(x) * 2", backend="numba")


def test_without_numba_the_backend_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(numba_backend, "available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install graphdiff\[numba\]"):
        gd.value_and_grad("sum(x**2)", backend="numba")


# --- random expressions against the NumPy backend ---------------------------------------

SEEDS = range(40)
WANTED = 10  # accepted (spelled, finite) cases the run must reach


def _agree_with_numpy(case, tmp_path, save: bool) -> None:
    args = case.point
    before = {k: np.array(v, copy=True) for k, v in args.items()}
    ref = gd.value_and_grad(case.graph, wrt=case.wrt)
    f = gd.value_and_grad(case.graph, wrt=case.wrt, backend="numba")
    expected = ref(**args)
    values = np.asarray(expected[0])
    if not np.all(np.isfinite(values)) or not all(
            np.all(np.isfinite(gr)) for gr in expected[1]):
        raise Rejected
    positional = [args[n] for n in f.inputs]
    calls = {"first call": f(**args), "second call": f(**args), ".fn": f.fn(*positional)}
    if save:
        variant = f.specialized(**args)
        arrays = [np.asarray(v, dtype=case.dtype) for v in positional]
        calls["saved module"] = _saved(variant, tmp_path, "numba")(*arrays)
    for what, got in calls.items():
        assert_agree(expected, got, f"numba {what}", case.dtype)
        assert_owned(got, list(args.values()), f"numba {what}")
    for k, v in args.items():
        np.testing.assert_array_equal(np.asarray(v), before[k], err_msg=f"input {k} changed")


def test_random_expressions_agree_with_the_numpy_backend(tmp_path):
    accepted, refused, dtypes = 0, 0, set()
    for seed in SEEDS:
        case = random_case(seed, depth=3)
        if numba_table.refused(n.op for n in case.graph.nodes
                               if n.op not in ("input", "const")):
            refused += 1
            continue
        try:
            _agree_with_numpy(case, tmp_path, save=accepted < 2)
        except Rejected:
            continue
        except ValueError as e:
            if "no numba spelling" not in str(e) and "has no spelling" not in str(e):
                raise AssertionError(f"seed {seed}: {case.graph}") from e
            refused += 1  # refused by name (a loss of scalars, a derivative's primitive)
            continue
        except Exception as e:
            raise AssertionError(f"seed {seed}: {case.graph}") from e
        accepted += 1
        dtypes.add(case.dtype)
        if accepted >= WANTED:
            break
    assert accepted >= WANTED, (accepted, refused)
    assert dtypes == {np.dtype(np.float32), np.dtype(np.float64)}


def test_every_loop_spelling_agrees_with_numpy_in_one_kernel():
    """Every unary and binary elementwise primitive spelled for loops, each as one output
    of one graph (one compile), against the NumPy backend, float64 and float32."""
    x, y = gd.symbols("x y")

    def into(g, domain):
        return g if domain is None else domain[0] + (domain[1] - domain[0]) * gd.sigmoid(g)

    outs = [gd.call(op, into(x, d)) for op, d in sorted(domains.UNARY.items())
            if op in numba_table.LOOP]
    outs += [gd.call(op, into(x, da), into(y, db))
             for op, (da, db) in sorted(domains.BINARY.items()) if op in numba_table.LOOP]
    outs += [gd.where(gd.greater(x, y), x * 2.0, y), gd.clip(x, -0.5, 0.5),
             gd.call("round", x * 3.0)]
    g = gd.parse(outs, inputs=["x", "y"])
    f, ref = gd.compile(g, backend="numba"), gd.compile(g)
    rng = np.random.default_rng(7)
    for dtype in (np.float64, np.float32):
        a = rng.uniform(-2, 2, size=(3, 4)).astype(dtype)
        b = rng.uniform(-2, 2, size=(4,)).astype(dtype)
        got, expected = f(a, b), ref(a, b)
        assert_agree(expected, got, "loop spellings", np.dtype(dtype))
        assert "for i1 in range" in f.specialized(a, b).source


def test_tanh_is_numpys_to_two_ulp_with_its_edges_in_both_float_types():
    """The kernels' own tanh (arithmetic LLVM vectorizes, not libm's scalar call) at
    random points over both branches and the cut-offs, tiny and huge values, signed
    zeros, infinities and NaN: within 2 ulp of np.tanh, in the input's float type."""
    f = gd.compile("tanh(x)", backend="numba")
    rng = np.random.default_rng(11)
    for dtype in (np.float64, np.float32):
        edges = [0.0, -0.0, np.inf, -np.inf, np.nan, 0.625, -0.625, 10.0, 20.0, 1e-30,
                 np.finfo(dtype).tiny, np.finfo(dtype).max]
        x = np.concatenate([rng.uniform(-1.0, 1.0, 4000), rng.uniform(-25.0, 25.0, 4000),
                            rng.standard_normal(1000) * 1e-4,
                            np.nextafter(np.array([0.625, 10.0, 20.0]), 0.0), edges])
        x = np.concatenate([x, -x]).astype(dtype)
        got, want = f(x), np.tanh(x)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)  # a NaN's sign is not specified
        np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
        spacing = np.spacing(np.maximum(np.abs(want[ok]), np.finfo(dtype).tiny))
        assert np.all(np.abs(got[ok] - want[ok]) <= 2 * spacing), dtype
    assert "_tanh64(x[i0])" in f.specialized(np.ones(3)).source


# --- gradients against central differences -----------------------------------------------

GRADIENTS = [
    ("mean(-0.5*((y - mu)/sigma)**2 - log(sigma))", {"y": (6,), "mu": (), "sigma": ()}),
    ("sum(tanh(a*x + b) * w)", {"a": (3, 1), "x": (1, 4), "b": (4,), "w": ()}),
    ("sum(softplus(x) * mean(x, axis=0, keepdims=True)) + sum(sum(x**2, axis=1))",
     {"x": (3, 2)}),
]


@pytest.mark.parametrize("text, shapes", GRADIENTS)
def test_gradients_match_central_differences(text, shapes):
    rng = np.random.default_rng(3)
    point = {k: rng.uniform(0.5, 1.5, size=s) for k, s in shapes.items()}
    g = gd.parse(text)
    f = gd.value_and_grad(g, backend="numba")
    value, grads = f(**point)
    np.testing.assert_allclose(value, gd.compile(g)(**point), rtol=1e-12)
    for name, got in zip(g.inputs, grads):
        np.testing.assert_allclose(got, _fd_gradient(g, point, name), rtol=1e-6, atol=1e-8,
                                   err_msg=f"d/d{name} of {text}")


def test_matmul_and_losses_match_numpy_float32_and_float64():
    W, b, X, Y = (gd.tensor("W", (3, 2)), gd.tensor("b", (2,)), gd.tensor("X", (None, 3)),
                  gd.tensor("Y", (None, 2)))
    z = gd.tanh(X @ W + b)
    g = gd.parse([gd.mse(z, Y) + gd.bce_with_logits(z, Y) + gd.softmax_xent(z @ W.T @ W, Y)],
                 inputs=["X", "Y", "W", "b"])
    f, ref = (gd.value_and_grad(g, wrt=["W", "b"], backend=b) for b in ("numba", "numpy"))
    rng = np.random.default_rng(5)
    for dtype in (np.float64, np.float32):
        args = [rng.uniform(0.05, 0.95, size=s).astype(dtype)
                for s in [(5, 3), (5, 2), (3, 2), (2,)]]
        assert_agree(ref(*args), f(*args), "losses", np.dtype(dtype))
        for batch in (1, 7):  # one kernel for every batch size of this signature
            more = [rng.uniform(size=(batch,) + a.shape[1:]).astype(dtype) for a in args[:2]]
            assert_agree(ref(*more, *args[2:]), f(*more, *args[2:]), f"batch {batch}",
                         np.dtype(dtype))
    assert "np.dot(" in f.source


def test_the_other_entry_points_agree_with_numpy():
    x = np.array([0.3, -1.2, 2.0])
    text = "sum(sin(x)*x*y)"
    for build in (gd.compile, gd.grad, gd.hessian, gd.jacobian):
        f, ref = build(text, backend="numba"), build(text)
        assert_agree(ref(x, 1.5), f(x, 1.5), build.__name__, np.dtype(np.float64))
    f = gd.jvp(text, backend="numba")
    assert_agree(gd.jvp(text)(x, 1.5, x, 0.5), f(x, 1.5, x, 0.5), "jvp", np.dtype(np.float64))
    assert f.for_backend("numpy").backend == "numpy"
    assert gd.compile(text).source_for("numba") == gd.compile(text, backend="numba").source


def test_fused_loops_are_one_loop_nest_with_accumulators():
    f = gd.value_and_grad("mean(-0.5*((y - mu)/sigma)**2 - log(sigma))", wrt=["mu", "sigma"],
                          backend="numba")
    source = f.specialized(np.ones(10), 0.3, 1.2).source
    # the value, its mean and both gradients' broadcast-sums in one pass over y
    assert source.count("for i0 in range(n0):") == 1
    assert "+=" in source and "np.empty" not in source
    f(np.ones(10), 0.3, 1.2)
    assert f.compile_seconds is not None and f.compile_seconds > 0


def test_a_graph_no_default_signature_fits_is_printed_at_its_first_call():
    f = gd.compile("sum(x, axis=2) * 2", backend="numba")  # needs three dimensions
    assert "no kernel printed before a call" in f.source
    x = np.arange(24.0).reshape(2, 3, 4)
    assert_agree(gd.compile("sum(x, axis=2) * 2")(x), f(x), "3-d", np.dtype(np.float64))
    assert "for i2 in range(n2):" in f.specialized(x).source


def test_inputs_named_like_the_kernels_own_names_are_renamed():
    text = "sum(n0 * i0 + r * x_i + numba)"  # sizes, loop indices, the entry's r, ...
    f = gd.value_and_grad(text, backend="numba")
    args = [np.arange(3.0) + k for k in range(5)]
    assert_agree(gd.value_and_grad(text)(*args), f(*args), "names", np.dtype(np.float64))
    assert f.params == ("in_n0", "in_i0", "in_r", "in_x_i", "in_numba")


def test_pickled_function_is_rebuilt_for_numba():
    import pickle
    f = gd.value_and_grad("sum(x*y)", backend="numba")
    g = pickle.loads(pickle.dumps(f))
    assert g.backend == "numba"
    assert_agree(f(np.ones(3), 2.0), g(np.ones(3), 2.0), "pickled", np.dtype(np.float64))


# --- the MLP step --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_fit_with_numba_equals_numpy(dtype):
    from graphdiff import nn
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    fitted = {}
    for backend in ("numpy", "numba"):
        model = nn.MLP([2, 5, 2], activation="tanh", loss="softmax_xent", seed=0,
                       dtype=dtype, backend=backend)
        history = model.fit(X, labels, epochs=4, optimizer="adam", lr=0.05, batch_size=8,
                            verbose=False)
        fitted[backend] = (model.params, history.loss)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(fitted["numpy"][0], fitted["numba"][0]):
        assert b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fitted["numba"][1], fitted["numpy"][1], rtol=rtol)


@pytest.mark.parametrize("optimizer, dtype, dropout", [("sgd", np.float32, False),
                                                       ("momentum", np.float64, True)])
def test_fused_step_updates_in_place_as_numpy_does(optimizer, dtype, dropout):
    # forward, loss, backward and the optimizer's update in one kernel, which writes the
    # new parameters and state into the arrays it was given
    from graphdiff.nn.compiled_step import FusedStep
    rng = np.random.default_rng(3)
    steps = {b: FusedStep([3, 4, 2], "tanh", loss="mse", dropout=dropout, optimizer=optimizer,
                          backend=b, lr=0.05) for b in ("numpy", "numba")}
    start = [rng.normal(size=s).astype(dtype) for s in [(3, 4), (4,), (4, 2), (2,)]]
    X, Y = rng.normal(size=(9, 3)).astype(dtype), rng.normal(size=(9, 2)).astype(dtype)
    masks = [(rng.random((9, 4)) < 0.8).astype(dtype) / dtype(0.8)] if dropout else None
    seen = {}
    for backend, step in steps.items():
        params = [p.copy() for p in start]
        state = step.init_state(params)
        held = [id(a) for a in params + state]
        losses = [step(params, state, X, Y, masks) for _ in range(4)]
        assert [id(a) for a in params + state] == held  # the same arrays, updated
        seen[backend] = (losses, params + state)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(seen["numba"][0], seen["numpy"][0], rtol=tol)
    for a, b in zip(seen["numpy"][1], seen["numba"][1]):
        assert b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    assert "# updated in place" in steps["numba"].source
    # an array the kernel would have to convert is refused, not updated in a copy
    params = [p.astype(np.float32 if dtype == np.float64 else np.float64) for p in start]
    params[0] = start[0].copy()
    with pytest.raises(TypeError, match="updated in place"):
        steps["numba"](params, steps["numba"].init_state(params), X, Y, masks)


def test_mlp_refuses_an_unknown_backend():
    from graphdiff import nn
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        nn.MLP([1, 2, 1], backend="jax")


# --- the workspace ---------------------------------------------------------------------------

def _workspace_case(k: int, m: int):
    """A gradient with matrix products of transposed operands, fused loops, accumulators
    and a fused loss, whose intermediate arrays live in the kernel's workspace."""
    X = gd.tensor("X", (None, k))
    W, V, b = gd.tensor("W", (k, m)), gd.tensor("V", (m, k)), gd.tensor("b", (m,))
    H = gd.tanh(X @ W + b)
    Z = H @ V
    loss = gd.mse(Z, X) + gd.sum(gd.relu(gd.transpose(X) @ Z)) + gd.mean(H * H)
    g = gd.parse(loss, inputs=["X", "W", "V", "b"])
    return (gd.value_and_grad(g, wrt=["W", "V", "b"], backend="numba"),
            gd.value_and_grad(g, wrt=["W", "V", "b"]))


def test_workspace_kernels_agree_at_random_sizes_and_return_arrays_of_their_own():
    # random layer sizes, and one kernel per float type for every batch size (sizes
    # distinct: one signature); its workspace is reused and grows, and no result is ever
    # a view of it
    rng = np.random.default_rng(21)
    for dtype in (np.float64, np.float32):
        k, m = rng.choice(np.arange(2, 9), size=2, replace=False)
        f, ref = _workspace_case(int(k), int(m))
        kept = []
        for n in rng.choice([n for n in range(2, 40) if n not in (k, m)], size=6):
            args = [rng.uniform(-1, 1, size=s).astype(dtype)
                    for s in [(n, k), (k, m), (m, k), (m,)]]
            got = f(*args)
            assert_agree(ref(*args), got, f"sizes {n, k, m}", np.dtype(dtype))
            assert_owned(got, args, f"sizes {n, k, m}")
            kept.append((got, [np.array(r, copy=True) for r in _flat(got)]))
        for got, copy in kept:  # later calls wrote their workspace, not these
            for r, c in zip(_flat(got), copy):
                np.testing.assert_array_equal(r, c)
    source = f.specialized(*args).source
    assert "_ws[" in source and "_POOL" in source
    assert re.search(r"np\.dot\(\w+, \w+, \w+\)", source)  # a product into its slot
    # arrays whose lives do not overlap share slots
    slots = int(re.search(r"between calls: (\d+) arrays", source).group(1))
    assert slots < source.count("= _ws[")


def _flat(results):
    value, grads = results
    return [np.asarray(value), *grads]


def test_workspace_calls_from_threads_agree():
    f, ref = _workspace_case(3, 5)
    rng = np.random.default_rng(4)
    cases = [[rng.uniform(-1, 1, size=s) for s in [(7, 3), (3, 5), (5, 3), (5,)]]
             for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda a: [f(*a) for _ in range(20)], cases))
    for args, got in zip(cases, results):
        for r in got:
            assert_agree(ref(*args), r, "threads", np.dtype(np.float64))


def test_fused_softmax_step_with_a_workspace_equals_numpy_at_changing_batches():
    # relu, softmax cross-entropy on integer labels (its gradient written into the
    # workspace), Adam; the batch size changes between steps (the workspace grows)
    from graphdiff.nn.compiled_step import FusedStep
    rng = np.random.default_rng(8)
    steps = {b: FusedStep([4, 6, 3], "relu", loss="softmax_xent", int_labels=True,
                          optimizer="adam", backend=b, lr=0.01) for b in ("numpy", "numba")}
    start = [rng.normal(size=s) for s in [(4, 6), (6,), (6, 3), (3,)]]
    batches = [(rng.normal(size=(n, 4)), rng.integers(0, 3, n)) for n in (5, 9, 2, 9, 13)]
    seen = {}
    for backend, step in steps.items():
        params = [p.copy() for p in start]
        state = step.init_state(params)
        losses = [step(params, state, X, y) for X, y in batches]
        seen[backend] = (losses, params + state)
    np.testing.assert_allclose(seen["numba"][0], seen["numpy"][0], rtol=1e-12)
    for a, b in zip(seen["numpy"][1], seen["numba"][1]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    assert "_softmax_xent_into(" in steps["numba"].compiled.specialized(
        batches[0][0], batches[0][1], *start, *steps["numba"].init_state(start),
        *steps["numba"].scalars(steps["numba"].optimizer, np.dtype(np.float64))).source


# --- the disk cache --------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, numpy as np, graphdiff as gd
    f = gd.value_and_grad("sum(tanh(x) * w)", backend="numba")
    value, grads = f(np.linspace(0, 1, 5), 0.5)
    print(json.dumps({"hits": f.cache_hits(), "value": float(value),
                      "seconds": f.compile_seconds}))
""")


def test_a_second_process_loads_the_kernel_from_the_disk_cache(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(gd.__file__)),
                                          os.environ.get("PYTHONPATH", "")])}
    runs = [json.loads(subprocess.run([sys.executable, "-c", _CHILD], env=env, check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(2)]
    assert runs[0]["hits"] == 0 and runs[1]["hits"] >= 1
    assert runs[0]["value"] == runs[1]["value"]
    modules = list((tmp_path / "graphdiff" / "numba").glob("gd_*.py"))
    assert modules and importlib.util.find_spec("numba") is not None
    assert list((tmp_path / "graphdiff" / "numba" / "__pycache__").glob("*.nbi"))


def test_a_cached_module_that_differs_from_the_source_is_written_again(tmp_path,
                                                                        monkeypatch):
    # the file is named by the hash of its source; one whose text is not that source (cut
    # short, or changed by anything else) is replaced before it is imported, never run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = numba_backend.emit_numba(gd.parse("x * 3.0"), "f", None, "x times three",
                                      (((2,),), "<f8"))[0]
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    folder = tmp_path / "graphdiff" / "numba"
    folder.mkdir(parents=True)
    (folder / f"gd_{digest}.py").write_text("raise RuntimeError('not the generated module')\n")
    entry, _, path = numba_backend.load(source, "f")
    assert Path(path).read_text(encoding="utf-8") == source
    np.testing.assert_array_equal(entry(np.array([1.0, 2.0])), [3.0, 6.0])


def test_updates_that_read_each_others_inputs_agree_with_numpy():
    # new a = b.T and new b = a.T: every written value is taken before any input changes,
    # and `returns` sees every output on both backends (updated ones as copies)
    from graphdiff.codegen import compile_graph
    a, b = gd.tensor("a", (2, 3)), gd.tensor("b", (3, 2))
    g = gd.parse([gd.sum(a * 2.0), gd.transpose(b), gd.transpose(a)], inputs=["a", "b"])
    start = np.arange(6.0).reshape(2, 3), np.arange(6.0, 12.0).reshape(3, 2)
    seen = {}
    for backend in ("numpy", "numba"):
        A, B = (x.copy() for x in start)
        f = compile_graph(g, "swap", updates={1: "a", 2: "b"}, backend=backend, inplace=True)
        results = f.fn(A, B)
        np.testing.assert_array_equal(A, start[1].T)
        np.testing.assert_array_equal(B, start[0].T)
        assert not any(np.shares_memory(r, x) for r in results[1:] for x in (A, B))
        seen[backend] = results
    for x, y in zip(seen["numpy"], seen["numba"]):
        np.testing.assert_array_equal(y, x)


def test_a_loop_writes_an_update_into_its_input_only_when_nothing_later_reads_it():
    # new a = 2a + b in a loop over a's shape; the loss reads the old a in that same loop
    # (written there, entry by entry), or in a product after it (written at the end)
    from graphdiff.codegen import compile_graph
    a, b = gd.tensor("a", (5,)), gd.tensor("b", (5,))
    new_a = a * 2.0 + b
    rng = np.random.default_rng(2)
    start = rng.normal(size=5), rng.normal(size=5)
    for loss, direct in ((gd.sum(a * b), True), (gd.dot(new_a, a), False)):
        g = gd.parse([loss, new_a], inputs=["a", "b"])
        seen = {}
        for backend in ("numpy", "numba"):
            A, B = (x.copy() for x in start)
            f = compile_graph(g, "step", updates={1: "a"}, backend=backend, inplace=True,
                              returns=lambda outs: outs[0])
            seen[backend] = (f.fn(A, B), A)
            np.testing.assert_allclose(A, 2.0 * start[0] + start[1], rtol=1e-15)
        np.testing.assert_allclose(seen["numba"][0], seen["numpy"][0], rtol=1e-14)
        assert ("a[i0] = " in f.source) == direct
        assert ("a[...] = " in f.source) == (not direct)


def test_scalars_as_numbers_numpy_scalars_or_0d_arrays_give_one_result():
    # the entry takes a NumPy scalar of the kernel's type as it is and converts the others
    # (a fused step passes NumPy scalars); each kind repeats through the fast path
    f = gd.value_and_grad("sum(tanh(x) * a)", wrt=["x"], backend="numba")
    ref = gd.value_and_grad("sum(tanh(x) * a)", wrt=["x"])
    x = np.linspace(-1, 1, 7, dtype=np.float32)
    forms = [0.5, np.float32(0.5), np.array(0.5, np.float32)]
    for a in forms:
        for _ in range(2):
            assert_agree(ref(x, a), f.fn(x, a), f"a = {a!r}", np.dtype(np.float32))
    assert len(f._dispatch._fast) == len(forms)
