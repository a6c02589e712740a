"""The array-API backend and Dask, held equal to the NumPy path: array_api_strict over the
whole registry and the differential harness's random expressions, Dask arrays in several
(ragged) chunks, a two-worker LocalCluster, torch if installed, CuPy on a GPU."""

import importlib.util
import warnings

import numpy as np
import pytest
import test_vocabulary as vocabulary
from array_api_compat import array_namespace, is_array_api_strict_namespace
from test_differential import _leaves, _tol, random_case

import graphdiff as gd
from graphdiff.array_api import ARRAY_API
from graphdiff.primitives import REGISTRY

xps = pytest.importorskip("array_api_strict")
da = pytest.importorskip("dask.array")

ENTRY_POINTS = ("compile", "value_and_grad", "grad", "jvp", "jacobian", "hessian")


@pytest.fixture(autouse=True)
def _standard_2024_12():
    """array_api_strict at the standard's 2024.12 (its default is newer): the generated
    modules use nothing later, so they run on namespaces that implement 2024.12."""
    with xps.ArrayAPIStrictFlags(api_version="2024.12"):
        yield


def _build(kind: str, g, wrt, backend: str):
    if kind == "compile":
        return gd.compile(g, backend=backend)
    if kind == "jvp":
        return gd.jvp(g, {w: 0.5 for w in wrt}, backend=backend)
    return getattr(gd, kind)(g, wrt=wrt, backend=backend)


def _to_numpy(v):
    if hasattr(v, "compute"):  # Dask
        return np.asarray(v.compute())
    if hasattr(v, "get"):  # CuPy
        return v.get()
    return np.from_dlpack(v) if hasattr(v, "__dlpack__") else np.asarray(v)


def assert_same(expected, got, what: str, dtype, library=None) -> None:
    """Equal structure, shapes, dtypes and values; every result an array of `library`."""
    a, b = _leaves(expected), _leaves(got)
    assert len(a) == len(b), f"{what}: {len(a)} results vs {len(b)}"
    rtol, atol = _tol(dtype)
    for k, (x, y) in enumerate(zip(a, b)):
        where = f"{what}, result {k}"
        if library is not None:
            assert library(y), f"{where}: {type(y).__name__} is not the inputs' library"
        y = _to_numpy(y)
        assert np.shape(x) == y.shape, f"{where}: shape {np.shape(x)} vs {y.shape}"
        # a comparison's zero tangent is int64 zeros in NumPy, bool in the standard
        if not (np.result_type(x).kind in "biu" and y.dtype.kind in "biu"):
            assert np.result_type(x) == y.dtype, \
                f"{where}: dtype {np.result_type(x)} vs {y.dtype}"
        scale = max(1.0, float(np.max(np.abs(x), initial=0.0)))
        np.testing.assert_allclose(y.astype(float), np.asarray(x, float), rtol=rtol,
                                   atol=atol * scale, err_msg=where)


def _strict(point: dict) -> dict:
    return {k: v if type(v) is float else xps.asarray(np.asarray(v)) for k, v in point.items()}


def _is_strict(v) -> bool:
    return is_array_api_strict_namespace(array_namespace(v))


def check_backends(g, point, wrt, dtype, second_order=True, dask_chunks=None) -> int:
    """Every entry point on array_api_strict arrays (backend="array_api") and, with
    `dask_chunks`, the NumPy-backend function on Dask arrays, against NumPy; the number
    of entry points checked."""
    checked = 0
    for kind in ENTRY_POINTS:
        if kind == "hessian" and not second_order:
            continue
        with np.errstate(all="ignore"):
            try:
                f = _build(kind, g, wrt, "numpy")
                ref = f(**point)
            except (NotImplementedError, FloatingPointError):
                continue  # second derivatives through a loss, refused by design
            if not all(np.all(np.isfinite(np.asarray(r, float))) for r in _leaves(ref)):
                continue
            xf = _build(kind, g, wrt, "array_api")
            assert xf.backend == "array_api" and "np." not in xf.source
            # numbers alone stay NumPy's; one array of another library makes all its own
            arrays = any(type(v) is not float for v in point.values())
            assert_same(ref, xf(**_strict(point)), f"{kind} on array_api_strict", dtype,
                        _is_strict if arrays else None)
            assert_same(ref, xf(**point), f"{kind} array-API module on NumPy", dtype)
            # on Dask, the value and the reverse sweep (grad is the same code, and the
            # tangents of jvp, jacobian and hessian run on array_api_strict above): each
            # basis direction of a Jacobian is a Dask graph of its own
            if dask_chunks is not None and kind in ("compile", "value_and_grad") \
                    and any(np.ndim(v) for v in point.values()):
                lazy = f(**{k: v if np.ndim(v) == 0 else da.from_array(v, chunks=dask_chunks)
                            for k, v in point.items()})
                assert_same(ref, lazy, f"{kind} on Dask", dtype,
                            lambda v: isinstance(v, da.Array))
        checked += 1
    return checked


# --- the whole registry ---------------------------------------------------------------------

_POINT = np.array([0.3, -0.7, 1.1, 0.5])
_UNARY_DOMAINS = {"rsqrt": 1.5, "log": 1.5, "log2": 1.5, "log10": 1.5, "sqrt": 1.5, "arccosh": 2.0,
                  "arcsin": 0.0, "arccos": 0.0, "arctanh": 0.0}


def _vocab_cases():
    """The primitives the vocab branch added (issue 11's gaps), each on its own: their
    derivatives build joins, slices and contractions whose spellings may not exist yet."""
    rng = np.random.default_rng(0)
    t = gd.tensor
    return {
        "split": (lambda: gd.split(t("x", (2, 5)), [1, 3], axis=1)[1] ** 2,
                  {"x": rng.normal(size=(2, 5))}, ["x"]),
        "unjoin": (lambda: gd.call("unjoin", t("t", (2, 5)), t("a", (2, 2)), t("b", (2, 3)),
                                   part=1, axis=1) ** 2,
                   {"t": rng.normal(size=(2, 5)), "a": rng.normal(size=(2, 2)),
                    "b": rng.normal(size=(2, 3))}, ["t"]),
        "bilinear_adjoint": (lambda: gd.call("bilinear_adjoint", t("t", (2, 2)), t("y", (4, 3, 2)),
                                             t("l", (2, 3, 4)), axes=((1, 2), (1, 0))),
                             {"t": rng.normal(size=(2, 2)), "y": rng.normal(size=(4, 3, 2)),
                              "l": rng.normal(size=(2, 3, 4))}, ["t", "y"]),
        "undiag": (lambda: gd.call("undiag", t("t", (3,)), t("a", (3, 4)), k=1),
                   {"t": rng.normal(size=3), "a": rng.normal(size=(3, 4))}, ["t"]),
        "einsum_embed": (lambda: gd.call("einsum_embed", t("t", (4, 2)), t("x", (2, 2, 3, 4)),
                                         embed="li->iijl"),
                         {"t": rng.normal(size=(4, 2)), "x": rng.normal(size=(2, 2, 3, 4))},
                         ["t"]),
        "linear_scan": (lambda: gd.call("linear_scan", t("a", (2, 4)), t("b", (2, 4)), axis=1),
                        {"a": rng.normal(size=(2, 4)), "b": rng.normal(size=(2, 4))},
                        ["a", "b"]),
    }


def _registry_case(name: str):
    """An expression using primitive `name`, its point and the inputs to differentiate."""
    prim = REGISTRY[name]
    vocab = _vocab_cases()
    if name in vocab:
        expr, point, wrt = vocab[name]
        return expr(), point, wrt
    x = _POINT + _UNARY_DOMAINS.get(name, 0.0)
    if name in ("arcsin", "arccos", "arctanh"):
        x = x / 2
    if name in ("mse", "bce_with_logits", "softmax_xent", "mse_grad", "bce_with_logits_grad",
                "softmax_xent_grad"):
        z, t = gd.tensor("z", (2, 2)), gd.tensor("t", (2, 2))
        target = np.array([[0.2, 0.8], [1.0, 0.0]])
        return gd.call(name, z, t), {"z": x.reshape(2, 2), "t": target}, ["z"]
    if name in ("matmul", "outer"):
        a, b = gd.tensor("a", (2, 2) if name == "matmul" else (4,)), gd.tensor("b", (4,) if
                                                                              name == "outer" else (2,))
        point = {"a": x.reshape(2, 2) if name == "matmul" else x, "b": x[:2] + 1 if
                 name == "matmul" else x + 1}
        return gd.sum(gd.call(name, a, b) ** 2), point, ["a", "b"]
    if name == "one_hot":
        s = gd.tensor("s", (3, 2))
        labels = gd.tensor("k", (3,))
        return gd.sum(gd.one_hot(labels, s) * s), {"s": np.arange(6.0).reshape(3, 2),
                                                   "k": np.array([1.0, 0.0, 1.0])}, ["s"]
    if name in ("sum_to", "broadcast_like", "size", "where", "transpose"):
        X = gd.tensor("X", (2, 2))
        y = gd.tensor("y", (2,))
        exprs = {"sum_to": gd.call("sum_to", X * y, y, X * y),
                 "broadcast_like": gd.call("broadcast_like", gd.sum(X, axis=0), X, axis=0),
                 "size": gd.sum(X) / gd.size(X),
                 "where": gd.where(gd.binary_step(X), X * y, X - y),
                 "transpose": gd.transpose(X) * y}
        return exprs[name], {"X": x.reshape(2, 2), "y": x[:2] - 0.1}, ["X", "y"]
    X = gd.tensor("X", (2, 2))
    if prim.params and any(k == "axis" for k, _ in prim.params):
        return gd.call(name, X, axis=0) if name != "logsumexp" else gd.call(name, X, axis=-1), \
            {"X": x.reshape(2, 2)}, ["X"]
    if prim.arity == 1:
        return gd.call(name, X), {"X": x.reshape(2, 2)}, ["X"]
    Y = gd.tensor("Y", (2, 2))
    if name == "pow":
        x = np.abs(x) + 0.5
    return gd.call(name, X, Y), {"X": x.reshape(2, 2), "Y": (x[::-1] + 0.9).reshape(2, 2)}, \
        ["X", "Y"]


SPELLED = sorted(n for n in REGISTRY if n in ARRAY_API)
# primitives refused by name for backend="array_api" (none today): each with its reason
UNSPELLED = sorted(n for n in REGISTRY if n not in ARRAY_API)


def _met(g) -> set[str]:
    """The primitives of g and of its gradient and tangent graphs."""
    try:
        graphs = (g, gd.grad_graph(gd.sum(g * 1.0), wrt=list(g.inputs)), gd.jvp_graph(g))
    except NotImplementedError:  # a loss's gradient, which has no derivative
        graphs = (g,)
    return {n.op for h in graphs for n in h.nodes}


def _vocabulary_cases() -> dict[str, str]:
    """For each primitive of the array vocabulary's tensor cases (tests/test_vocabulary.py)
    the first case that meets it, forward or in a derivative."""
    first: dict[str, str] = {}
    for case in vocabulary.TENSOR_CASES:
        out, _, _ = vocabulary._tensor_case(case)
        for op in sorted(_met(out)):
            first.setdefault(op, case)
    return first


VOCABULARY_CASE = _vocabulary_cases()


def _elementwise_case(name: str):
    """An elementwise primitive of the vocabulary on broadcasting shapes, at a point in
    its domain (tests/test_vocabulary.py's ELEMENTWISE)."""
    domains, _ = vocabulary.ELEMENTWISE[name]
    # (2, 3); (2, 3) and (3,); (2, 3), () and (3,)
    shapes = vocabulary.SHAPES[len(domains)][2 if len(domains) < 3 else 0]
    point = vocabulary._point(name, domains, shapes)
    args = [gd.tensor(k, s) for k, s in zip(point, shapes)]
    return gd.call(name, *args), point, list(point)


def _tensor_case_of(name: str) -> str | None:
    """The vocabulary's tensor case that stands for primitive `name`, if one does."""
    if name in vocabulary.ELEMENTWISE or name in _ORIGINAL:
        return None
    return VOCABULARY_CASE.get(name)


def _case_for(name: str):
    """An expression meeting primitive `name`, its point and the inputs to differentiate."""
    if name in vocabulary.ELEMENTWISE and name != "tanh":
        return _elementwise_case(name)
    if _tensor_case_of(name):
        out, point, constants = vocabulary._tensor_case(_tensor_case_of(name))
        return out, point, [n for n in out.inputs if n not in constants]
    return _registry_case(name)


# the primitives before issue 11's vocabulary: their cases above
_ORIGINAL = {"where", "sum", "mean", "logsumexp", "softmax", "log_softmax", "matmul", "outer",
             "transpose", "size", "sum_to", "broadcast_like", "one_hot"}
_LOSSES = ("mse", "bce_with_logits", "softmax_xent", "mse_grad", "bce_with_logits_grad",
           "softmax_xent_grad")


def test_primitives_without_an_array_api_spelling_are_refused_by_name():
    # every built-in primitive has a spelling; a user primitive (NumPy code) has none:
    # compiling it for array_api says which, and other libraries' arrays fall back to NumPy
    from graphdiff.array_api import spelled
    assert UNSPELLED == [], f"no array-API spelling: {UNSPELLED}"
    gd.primitive("cube_root", np.cbrt, "1/(3*out**2)")
    try:
        with pytest.raises(ValueError, match="primitive 'cube_root' has no array-API"):
            spelled("cube_root")
        with pytest.raises(ValueError, match="primitive 'cube_root' has no array-API"):
            gd.compile("floor(x) + cube_root(x)", backend="array_api")
        f = gd.compile("floor(x) + cube_root(x)")
        x = np.array([1.5, 8.0])
        np.testing.assert_allclose(f(x=da.from_array(x, chunks=1)), f(x=x))
        with pytest.raises(ValueError, match="cube_root"):
            f.source_for("array_api")
    finally:
        gd.unregister("cube_root")


@pytest.mark.parametrize("name", SPELLED)
def test_every_primitive_on_array_api_strict_and_dask(name):
    expr, point, wrt = _case_for(name)
    g = gd.parse(expr)
    point = {k: v for k, v in point.items() if k in g.inputs}
    wrt = [w for w in wrt if w in g.inputs]
    assert name in _met(g), f"{name}: its case does not meet it"
    second = name not in _LOSSES
    # chunks of 2: ragged wherever an axis has 3 entries
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        checked = check_backends(g, point, wrt, np.dtype(np.float64), second, dask_chunks=2)
    assert checked >= (4 if second else 1), f"{name}: only {checked} entry points could be compared"


_CHOSEN = {_tensor_case_of(n) for n in SPELLED}


@pytest.mark.parametrize("case", [c for c in vocabulary.TENSOR_CASES if c not in _CHOSEN])
def test_the_vocabularys_other_cases_on_array_api_strict_and_dask(case):
    # the variants the test above does not run: other axes, keepdims, slices, einsum specs
    out, point, constants = vocabulary._tensor_case(case)
    wrt = [n for n in out.inputs if n not in constants]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        checked = check_backends(out, point, wrt, np.dtype(np.float64), True, dask_chunks=2)
    assert checked >= 4, f"{case}: only {checked} entry points could be compared"


def test_a_returned_transpose_of_a_broadcast_is_a_fresh_array():
    # found by the test above: the Hessian block (X, y) of transpose(X) * y was all zeros
    # in the NumPy module, whose tangent returned a view of the direction _jacobian reuses
    X, y = gd.tensor("X", (2, 2)), gd.tensor("y", (2,))
    h = gd.hessian(gd.parse(gd.transpose(X) * y), wrt=["X", "y"])
    block = h(X=np.ones((2, 2)), y=np.ones(2))[0][1]
    np.testing.assert_array_equal(block, [[[1, 0], [1, 0]], [[0, 1], [0, 1]]])


# --- the differential harness's random expressions --------------------------------------------

# every primitive meets array_api_strict and Dask in the registry test above; these seeds
# combine them as the differential harness draws them (broadcasting shapes, float32)
SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_expressions_on_array_api_strict_and_dask(seed):
    case = random_case(seed)
    chunks = 2 if seed % 2 else 3  # ragged chunks where the sizes do not divide
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_backends(case.graph, case.point, case.wrt, case.dtype, case.second_order,
                       dask_chunks=chunks)


# --- Dask: lazy results, reductions over chunks, a cluster, training ----------------------

LOGNORMAL = "mean(-0.5*((y - mu)/sigma)**2 - log(sigma))"


def test_dask_results_are_lazy_until_computed():
    import dask

    y = np.random.default_rng(0).normal(size=1001)  # ragged: chunks of 300 and one of 101
    vg = gd.value_and_grad(LOGNORMAL, wrt=["mu", "sigma"])
    value, (g_mu, g_sigma) = vg(y=da.from_array(y, chunks=300), mu=0.3, sigma=1.2)
    assert all(isinstance(v, da.Array) for v in (value, g_mu, g_sigma))
    # the value is a reduction over the four chunks, not one task on a gathered array
    assert len(value.dask) > 4
    computed = dask.compute(value, g_mu, g_sigma)
    assert_same(vg(y=y, mu=0.3, sigma=1.2), (computed[0], tuple(computed[1:])),
                "log-normal on Dask", np.dtype(np.float64))


def test_dask_broadcast_sums_are_reductions_over_chunks():
    X = gd.tensor("X", (None, 3))
    w = gd.tensor("w", (3,))
    g = gd.parse(gd.sum(gd.tanh(X * w) ** 2), inputs=["X", "w"])
    x = np.random.default_rng(1).normal(size=(50, 3))
    ref = gd.grad(g, wrt="w")(x, np.ones(3))
    lazy = gd.grad(g, wrt="w")(da.from_array(x, chunks=(7, 3)), np.ones(3))
    assert isinstance(lazy, da.Array) and lazy.shape == (3,)
    np.testing.assert_allclose(lazy.compute(), ref, rtol=1e-12)


def test_broadcasts_on_dask_keep_the_inputs_chunks():
    # a small array broadcast to a chunked shape used to be one chunk of the whole shape:
    # a gradient's peak memory grew with the number of chunks (benchmarks/backends.py)
    x = np.linspace(-1.0, 2.0, 1000)
    X = np.random.default_rng(6).normal(size=(50, 3))
    for text, point, wrt in (("sum(x) + mean(x)*y + sum(y*x)", {"x": x, "y": 2.0}, "x"),
                             ("sum(X) + mean(X, axis=0)[0]", {"X": X}, "X")):
        lazy = {k: da.from_array(v, chunks=(100,) if v.ndim == 1 else (7, 3))
                if isinstance(v, np.ndarray) else v for k, v in point.items()}
        g = gd.grad(text, wrt=wrt)
        got = g(**lazy)
        assert got.chunks == lazy[wrt].chunks, text
        np.testing.assert_allclose(got.compute(), g(**point), rtol=1e-12)


def test_the_same_call_on_a_two_worker_local_cluster():
    distributed = pytest.importorskip("distributed")
    import dask

    y = np.random.default_rng(2).normal(size=4000)
    vg = gd.value_and_grad(LOGNORMAL, wrt=["mu", "sigma"])
    expected = vg(y=y, mu=0.3, sigma=1.2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        value, grads = vg(y=da.from_array(y, chunks=700), mu=0.3, sigma=1.2)
        got = dask.compute(value, *grads)
        # the full-batch fit over chunks on the cluster too
        from graphdiff import nn
        X = np.random.default_rng(3).normal(size=(200, 2))
        Y = X[:, :1] * X[:, 1:]
        local, remote = nn.MLP([2, 4, 1], seed=0), nn.MLP([2, 4, 1], seed=0)
        local.fit(X, Y, epochs=3, optimizer="lbfgs", verbose=False)
        remote.fit(da.from_array(X, chunks=(60, 2)), da.from_array(Y, chunks=(60, 1)),
                   epochs=3, optimizer="lbfgs", verbose=False)
    assert_same(expected, (got[0], tuple(got[1:])), "on the cluster", np.dtype(np.float64))
    for p, q in zip(local.params, remote.params):
        np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["lbfgs", "scg", "cg"])
def test_full_batch_fit_on_dask_equals_numpy(optimizer):
    from graphdiff import nn
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 2))
    Y = np.sin(X[:, :1]) + X[:, 1:] ** 2
    a, b = nn.MLP([2, 6, 1], seed=1), nn.MLP([2, 6, 1], seed=1)
    ha = a.fit(X, Y, epochs=6, optimizer=optimizer, verbose=False)
    hb = b.fit(da.from_array(X, chunks=(40, 2)), da.from_array(Y, chunks=(40, 1)), epochs=6,
               optimizer=optimizer, verbose=False)
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-8)
    for p, q in zip(a.params, b.params):
        np.testing.assert_allclose(q, p, rtol=1e-6, atol=1e-9)


def test_class_labels_on_dask_train_as_on_numpy():
    from graphdiff import nn
    X = np.random.default_rng(4).normal(size=(120, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    a, b = nn.MLP([2, 5, 3], loss="softmax_xent", seed=0), \
        nn.MLP([2, 5, 3], loss="softmax_xent", seed=0)
    ha = a.fit(X, labels, epochs=5, optimizer="lbfgs", verbose=False)
    hb = b.fit(da.from_array(X, chunks=(50, 2)), da.from_array(labels, chunks=50), epochs=5,
               optimizer="lbfgs", verbose=False)
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-8)


def test_mini_batches_are_drawn_chunk_by_chunk():
    from graphdiff import nn
    X = np.random.default_rng(5).normal(size=(200, 2))
    Y = X[:, :1] - X[:, 1:]
    a, b = nn.MLP([2, 4, 1], seed=2), nn.MLP([2, 4, 1], seed=2)
    # batches that tile the chunks, in order: the same batches as NumPy's
    ha = a.fit(X, Y, epochs=3, optimizer="adam", batch_size=25, shuffle=False, verbose=False)
    hb = b.fit(da.from_array(X, chunks=(50, 2)), da.from_array(Y, chunks=(50, 1)), epochs=3,
               optimizer="adam", batch_size=25, shuffle=False, verbose=False)
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-10)
    # shuffled: chunks in a random order, rows shuffled within each; it still learns
    c = nn.MLP([2, 4, 1], seed=2)
    hc = c.fit(da.from_array(X, chunks=(50, 2)), da.from_array(Y, chunks=(50, 1)), epochs=20,
               optimizer="adam", batch_size=20, verbose=False)
    assert hc.loss[-1] < 0.5 * hc.loss[0]
    with pytest.raises(ValueError, match="dropout"):
        c.fit(da.from_array(X, chunks=(50, 2)), da.from_array(Y, chunks=(50, 1)),
              epochs=1, dropout=0.5, batch_size=20, verbose=False)
    with pytest.raises(ValueError, match="validation_split"):
        c.fit(da.from_array(X, chunks=(50, 2)), da.from_array(Y, chunks=(50, 1)),
              epochs=1, validation_split=0.2, verbose=False)


# --- other libraries ---------------------------------------------------------------------------

def test_torch_tensors_in_torch_tensors_out():
    torch = pytest.importorskip("torch", reason="torch is an optional extra (pip install "
                                                "graphdiff[torch])")
    y = np.linspace(-1, 2, 11)
    vg = gd.value_and_grad(LOGNORMAL, wrt=["mu", "sigma"])
    got = vg(y=torch.asarray(y), mu=0.3, sigma=1.2)
    assert_same(vg(y=y, mu=0.3, sigma=1.2), got, "torch", np.dtype(np.float64),
                lambda v: isinstance(v, torch.Tensor))
    case = random_case(3)
    check = {k: v if type(v) is float else torch.asarray(np.asarray(v)) for k, v in
             case.point.items()}
    f = gd.compile(case.graph)
    assert_same(f(**case.point), f(**check), "torch, a random case", case.dtype)


def _gpu() -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install graphdiff[cupy] on a machine with a GPU)"
    import cupy
    try:
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
    except Exception as e:  # noqa: BLE001 - no driver, no device
        return f"no GPU: {e}"
    return "no GPU"


@pytest.mark.skipif(_gpu() is not None, reason=str(_gpu()))
def test_cupy_arrays_stay_on_the_gpu():
    import cupy
    y = np.linspace(-1, 2, 11)
    vg = gd.value_and_grad(LOGNORMAL, wrt=["mu", "sigma"])
    got = vg(y=cupy.asarray(y), mu=0.3, sigma=1.2)
    assert_same(vg(y=y, mu=0.3, sigma=1.2), got, "CuPy", np.dtype(np.float64),
                lambda v: isinstance(v, cupy.ndarray))


# --- the page ------------------------------------------------------------------------------

def test_the_backends_page_runs_as_shown():
    """docs/backends.md's >>> examples re-run: the array-API module, strict and Dask
    results, the MLP fit on Dask arrays."""
    import doctest
    from pathlib import Path
    page = Path(__file__).resolve().parents[1] / "docs" / "backends.md"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        failures, tried = doctest.testfile(
            str(page), module_relative=False,
            optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert tried >= 12 and failures == 0


def test_saved_array_api_module_stands_alone(tmp_path):
    import importlib
    import sys
    vg = gd.value_and_grad(LOGNORMAL, wrt=["mu", "sigma"])
    vg.save(tmp_path / "grad_xp.py", backend="array_api")
    text = (tmp_path / "grad_xp.py").read_text()
    assert "graphdiff" not in text and "np." not in text and "out=" not in text
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("grad_xp")
    finally:
        sys.path.remove(str(tmp_path))
    y = np.linspace(-1, 2, 9)
    assert_same(vg(y, 0.3, 1.2), module.value_and_grad(xps.asarray(y), 0.3, 1.2),
                "the saved module", np.dtype(np.float64), _is_strict)
    with pytest.raises(ValueError, match="unknown backend"):
        vg.source_for("fortran")  # numba is a backend now (tests/test_numba.py)


def test_functions_for_either_backend_pickle_as_the_call_that_built_them():
    import pickle
    vg = gd.value_and_grad(LOGNORMAL, wrt=["mu", "sigma"])
    for f in (vg.for_backend("array_api"), gd.hessian("x**3", backend="array_api")):
        back = pickle.loads(pickle.dumps(f))
        assert back.backend == "array_api" and back.source == f.source
    y = xps.asarray(np.linspace(0, 1, 5))
    back = pickle.loads(pickle.dumps(vg.for_backend("array_api")))
    assert_same(vg(np.linspace(0, 1, 5), 0.3, 1.2), back(y, 0.3, 1.2), "unpickled",
                np.dtype(np.float64), _is_strict)


# --- the helpers the standard lacks, against NumPy on random arguments ---------------------------

def _strict_helper(name):
    from graphdiff import array_api
    helper = getattr(array_api, name)
    return lambda *args, **kw: np.asarray(helper(xps, *(
        xps.asarray(a) if isinstance(a, np.ndarray) else a for a in args), **kw))


def _random_shape(rng, largest, fewest_axes, most_axes):
    return tuple(int(n) for n in rng.integers(1, largest + 1, size=rng.integers(
        fewest_axes, most_axes + 1)))


def _random_basic_index(rng, shape):
    """A basic index for `shape`: integers (negative too), slices with bounds outside the
    axis and negative steps, None and an ellipsis."""
    items, dims = [], list(shape)
    while dims:
        n = dims.pop(0)
        r = rng.random()
        if r < 0.25:
            items.append(int(rng.integers(-n, n)))
        elif r < 0.85:
            bound = [None, *range(-n - 2, n + 3)]
            items.append(slice(bound[rng.integers(len(bound))], bound[rng.integers(len(bound))],
                               [None, 1, 2, -1, -2, 3][rng.integers(6)]))
        else:
            items.append(None)
            dims.insert(0, n)
    if rng.random() < 0.3 and items:
        k = int(rng.integers(len(items)))
        items[k:k + 2] = [Ellipsis]  # one or two of the items replaced by an ellipsis
    return tuple(items)


def test_getitem_and_index_add_match_numpy_on_random_basic_indices():
    from graphdiff.vocabulary import _index_add, normalize_index, to_python_index
    getitem, index_add = _strict_helper("_getitem"), _strict_helper("_index_add")
    rng = np.random.default_rng(11)
    for _ in range(300):
        shape = _random_shape(rng, 4, 1, 3)
        x = rng.normal(size=shape)
        key = to_python_index(normalize_index(_random_basic_index(rng, shape)))
        want = x[key]
        np.testing.assert_array_equal(getitem(x, key), want, err_msg=str(key))
        t = rng.normal(size=np.shape(want))
        np.testing.assert_array_equal(index_add(t, x, key), _index_add(t, x, key),
                                      err_msg=str(key))


def test_take_and_take_add_match_numpy_with_repeats_negatives_and_masks():
    from graphdiff.vocabulary import _take, _take_add
    take, take_add = _strict_helper("_take"), _strict_helper("_take_add")
    rng = np.random.default_rng(12)
    for _ in range(200):
        shape = _random_shape(rng, 5, 1, 2)
        x = rng.normal(size=shape)
        if rng.random() < 0.3:  # a mask of the leading axes
            i = rng.random(size=shape[:int(rng.integers(1, len(shape) + 1))]) < 0.5
        else:  # integers as floats, repeated, negative
            i = rng.integers(-shape[0], shape[0], size=rng.integers(0, 9, size=rng.integers(
                1, 3))).astype(float)
        want = _take(x, i)
        np.testing.assert_array_equal(take(x, i), want)
        t = rng.normal(size=want.shape)
        np.testing.assert_allclose(take_add(t, x, i), _take_add(t, x, i), rtol=1e-14,
                                   atol=1e-15)
    with pytest.raises(IndexError, match="integers"):
        take(np.ones(3), np.array([0.5]))
    with pytest.raises(IndexError, match="out of bounds"):
        take(np.ones(3), np.array([3.0]))


def test_einsum_by_matmul_matches_numpy_on_random_specs():
    einsum = _strict_helper("_einsum")
    rng = np.random.default_rng(13)
    letters = "abcdef"
    for _ in range(200):
        sizes = dict(zip(letters, (int(n) for n in rng.integers(1, 4, size=6))))
        left = "".join(rng.permutation(list(letters))[:rng.integers(0, 4)])
        right = "".join(rng.permutation(list(letters))[:rng.integers(0, 4)])
        pool = sorted(set(left + right))
        out = "".join(rng.permutation(pool)[:rng.integers(0, len(pool) + 1)]) if pool else ""
        spec = f"{left},{right}->{out}"
        a = rng.normal(size=[sizes[c] for c in left])
        b = rng.normal(size=[sizes[c] for c in right])
        np.testing.assert_allclose(einsum(spec, a, b), np.einsum(spec, a, b), rtol=1e-12,
                                   atol=1e-12, err_msg=spec)


def test_diagonals_permutations_and_adjoints_match_numpy():
    from graphdiff import vocabulary as v
    h = {name: _strict_helper(name) for name in (
        "_diagonal", "_diagonal_add", "_diag", "_trace", "_sort_by", "_unsort_by", "_pad",
        "_unpad", "_untile", "_unrepeat", "_triangle", "_kron", "_dot", "_cross")}
    rng = np.random.default_rng(14)
    for _ in range(60):
        shape = _random_shape(rng, 4, 2, 4)
        x = rng.normal(size=shape)
        nd = len(shape)
        axis1, axis2 = (int(k) - nd * int(rng.integers(2)) for k in rng.permutation(nd)[:2])
        offset = int(rng.integers(-3, 4))
        d = np.diagonal(x, offset, axis1, axis2)
        np.testing.assert_array_equal(h["_diagonal"](x, offset, axis1, axis2), d)
        np.testing.assert_array_equal(h["_trace"](x, offset, axis1, axis2),
                                      np.trace(x, offset, axis1, axis2))
        t = rng.normal(size=d.shape)
        np.testing.assert_array_equal(h["_diagonal_add"](t, x, offset, axis1, axis2),
                                      v._diagonal_add(t, x, offset, axis1, axis2))
        k = int(rng.integers(-3, 4))
        np.testing.assert_array_equal(h["_triangle"](x, k, lower=True), np.tril(x, k))
        np.testing.assert_array_equal(h["_triangle"](x, k, lower=False), np.triu(x, k))
        for m in (x.reshape(shape[0], -1), x.ravel()[:int(rng.integers(1, 6))]):
            np.testing.assert_array_equal(h["_diag"](m, k), np.diag(m, k))
        # ties in the key: the stable order
        key = np.round(rng.normal(size=shape), 0)
        axis = int(rng.integers(-nd, nd))
        np.testing.assert_array_equal(h["_sort_by"](x, key, axis=axis), v._sort_by(x, key, axis))
        np.testing.assert_array_equal(h["_unsort_by"](x, key, axis=axis),
                                      v._unsort_by(x, key, axis))
        widths = [int(w) for w in rng.integers(0, 3, size=[1, 2, 2 * nd][rng.integers(3)])]
        widths = widths[0] if len(widths) == 1 else tuple(widths)
        np.testing.assert_array_equal(h["_pad"](x, widths), v._pad(x, widths))
        np.testing.assert_array_equal(h["_unpad"](v._pad(x, widths), widths), x)
        reps = tuple(int(r) for r in rng.integers(1, 3, size=rng.integers(1, nd + 2)))
        tiled = np.tile(x, reps)
        np.testing.assert_allclose(h["_untile"](tiled, x), v._untile(tiled, x), rtol=1e-14)
        r = int(rng.integers(1, 4))
        np.testing.assert_allclose(h["_unrepeat"](np.repeat(x, r, axis=axis), r, axis),
                                   v._unrepeat(np.repeat(x, r, axis=axis), r, axis), rtol=1e-14)
        b = rng.normal(size=shape[-1:] if rng.random() < 0.5 else shape[:-2] + shape[-1:][::-1]
                       + shape[-2:-1])
        np.testing.assert_allclose(h["_dot"](x, b), np.dot(x, b), rtol=1e-12)
    for a, b in ((rng.normal(size=3), rng.normal(size=4)),
                 (rng.normal(size=(2, 3)), rng.normal(size=(4, 2)))):
        np.testing.assert_allclose(h["_kron"](a, b), np.kron(a, b), rtol=1e-15)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(2, 1, 3))
    np.testing.assert_allclose(h["_cross"](a, b), np.cross(a, b), rtol=1e-14)


def test_special_functions_reach_the_accuracy_the_docs_state():
    # erf, erfc: the NumPy helpers' algorithm (within 2e-15 and 2e-14 of the C library);
    # erfinv: erf(erfinv(y)) within 6e-16 of y; cbrt, logaddexp2, sinc: within 1e-15
    import math
    f = {name: _strict_helper(name) for name in ("_erf", "_erfc", "_erfinv", "_cbrt",
                                                  "_logaddexp2", "_sinc", "_fmax", "_fmin")}
    xs = np.concatenate([np.linspace(-6, 6, 2001), [0.0, 1e-300, -1e-8, 1.5, -1.5, 27.0]])
    np.testing.assert_allclose(f["_erf"](xs), [math.erf(v) for v in xs], rtol=2e-15, atol=0)
    np.testing.assert_allclose(f["_erfc"](xs), [math.erfc(v) for v in xs], rtol=2e-14, atol=0)
    ys = np.linspace(-0.999999, 0.999999, 2001)
    np.testing.assert_allclose(f["_erf"](f["_erfinv"](ys)), ys, rtol=0, atol=6e-16)
    edges = f["_erfinv"](np.array([1.0, -1.0, 1.5, np.nan]))
    assert edges[:2].tolist() == [np.inf, -np.inf] and np.isnan(edges[2:]).all()
    z = np.concatenate([np.linspace(-1e3, 1e3, 20001), np.geomspace(1e-300, 1e300, 2001),
                        -np.geomspace(1e-300, 1e300, 201), [0.0]])
    np.testing.assert_allclose(f["_cbrt"](z), np.cbrt(z), rtol=3e-16, atol=0)
    assert np.isnan(f["_cbrt"](np.array([np.nan]))).all()
    assert f["_cbrt"](np.array([np.inf, -np.inf])).tolist() == [np.inf, -np.inf]
    a, b = np.random.default_rng(15).uniform(-50, 50, size=(2, 10001))
    np.testing.assert_allclose(f["_logaddexp2"](a, b), np.logaddexp2(a, b), rtol=1e-15)
    with np.errstate(invalid="ignore"):
        got = f["_logaddexp2"](np.array([np.inf, -np.inf, np.inf]), np.array([np.inf, -np.inf,
                                                                                -np.inf]))
    assert got.tolist() == [np.inf, -np.inf, np.inf]
    s = np.linspace(-20, 20, 20001)
    np.testing.assert_allclose(f["_sinc"](s), np.sinc(s), rtol=1e-15, atol=1e-16)
    p, q = np.array([1.0, np.nan, np.nan, -2.0]), np.array([np.nan, 3.0, np.nan, 5.0])
    np.testing.assert_array_equal(f["_fmax"](p, q), np.fmax(p, q))
    np.testing.assert_array_equal(f["_fmin"](p, q), np.fmin(p, q))
    for name in ("_erf", "_erfc", "_erfinv", "_cbrt", "_sinc"):  # float32 stays float32
        assert f[name](np.linspace(-0.5, 0.5, 5, dtype=np.float32)).dtype == np.float32
