"""The array vocabulary (issue 11): comparisons, rounding, special functions, reductions,
shapes and indexing, each checked end to end at the shapes people use — (), (3,), (2, 3),
(2, 3, 4) and broadcasting pairs — to second order:

- reverse mode (generated code and graph evaluation) against central differences of the
  function, entry by entry, and for elementwise primitives against SymPy's derivatives;
- second order by differentiating the gradient graph again (reverse over reverse), against
  central differences of the gradient and SymPy's second derivatives;
- forward mode against central differences; static shapes checked as the graph is built;
- the text grammar, operator overloading, the trace table and the registry's docs table.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from gradcheck import SympyReference, assert_close, entrywise_difference, reduce_to
from test_specialize import _leaves

import graphdiff as gd
from graphdiff.primitives import REGISTRY
from graphdiff.vocabulary import _erf, _erfc, _erfinv

ANY = (-2.0, 2.0)
POS = (0.2, 3.0)
AWAY = "away"  # |x| in [0.3, 2], either sign
UNIT = (-0.9, 0.9)

# name -> (domain of each argument, whether SymPy differentiates its counterpart)
ELEMENTWISE = {
    "less": ((ANY, ANY), True), "less_equal": ((ANY, ANY), True),
    "greater": ((ANY, ANY), True), "greater_equal": ((ANY, ANY), True),
    "equal": ((ANY, ANY), True), "not_equal": ((ANY, ANY), True),
    "floor": (((-3.0, 3.0),), False), "ceil": (((-3.0, 3.0),), False),
    "round": (((-3.0, 3.0),), False), "mod": (((-3.0, 3.0), AWAY), False),
    "fmax": ((ANY, ANY), True), "fmin": ((ANY, ANY), True),
    "clip": ((ANY, (-1.5, -0.3), (0.3, 1.5)), True),
    "exp2": ((ANY,), True), "logaddexp2": ((ANY, ANY), True),
    "reciprocal": ((AWAY,), True), "rsqrt": ((POS,), True), "cbrt": ((AWAY,), True),
    "sinc": ((AWAY,), True), "deg2rad": ((ANY,), True), "rad2deg": ((ANY,), True),
    "erf": ((ANY,), True), "erfc": ((ANY,), True), "erfinv": ((UNIT,), True),
    "gelu": (((-3.0, 3.0),), True), "gelu_tanh": (((-3.0, 3.0),), True),
    "tanh": ((ANY,), True), "spherical_jn": (((0.2, 6.0),), True),  # SymPy misreads jn at z < 0
}
# shapes of the arguments: one per argument, broadcasting where they differ
SHAPES = {1: [[()], [(3,)], [(2, 3)], [(2, 3, 4)]],
          2: [[(), ()], [(3,), ()], [(2, 3), (3,)], [(2, 1, 4), (3, 1)], [(2, 3, 4)] * 2],
          3: [[(2, 3), (), (3,)], [(4,), (4,), ()]]}
NAMES = "xyz"


def _draw(rng, domain, shape):
    if domain == AWAY:
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 2.0, size=shape)
    return rng.uniform(*domain, size=shape)


def _point(name, domains, shapes):
    rng = np.random.default_rng(sum(map(ord, name)) + len(shapes[0]))
    while True:
        point = {NAMES[k]: _draw(rng, d, s) for k, (d, s) in enumerate(zip(domains, shapes))}
        if len(shapes) == 1 or not REGISTRY[name].is_elementwise:
            return point
        # keep the first two arguments apart: the kink (or jump) of fmax, fmin and the
        # comparisons is at x == y
        x, y = np.broadcast_arrays(point["x"], point["y"])
        if np.min(np.abs(x - y), initial=1.0) > 0.1:
            return point


def _entrywise(fun, point, name):
    """d fun / d point[name], fun a scalar function of the point (a dict)."""
    return entrywise_difference(lambda **p: fun(p), point, name)


def _elementwise_cases():
    for name, (domains, _) in ELEMENTWISE.items():
        for shapes in SHAPES[len(domains)]:
            yield pytest.param(name, shapes, id=f"{name}-{'-'.join(map(str, shapes))}")


@pytest.mark.parametrize("name,shapes", list(_elementwise_cases()))
def test_elementwise_to_second_order(name, shapes):
    domains, sympy_differentiates = ELEMENTWISE[name]
    prim = REGISTRY[name]
    point = _point(name, domains, shapes)
    args = [gd.tensor(NAMES[k], s) for k, s in enumerate(shapes)]
    g = args[0].apply(name, *args)
    full = np.broadcast_shapes(*shapes)
    assert g.shape == full  # the shape rule, at build time
    value = g(**point)
    assert np.shape(value) == full
    assert_close(gd.compile(g)(**point), value, rtol=1e-15, atol=0)
    assert_close(value, prim.evaluate(*point.values()), rtol=1e-15, atol=0)

    rng = np.random.default_rng(5)
    W = rng.normal(size=full)
    loss = gd.sum(gd.tensor("W", full) * g)

    def f(p):
        return float(np.sum(W * g(**p)))

    wrt = list(g.inputs)
    _, grads = gd.value_and_grad(loss, wrt=wrt)(W=W, **point)
    scalar = _scalar_graph(name, len(shapes))
    ref = SympyReference(scalar) if sympy_differentiates else None
    wide = {n: np.broadcast_to(v, full) for n, v in point.items()}
    for k, n in enumerate(wrt):
        what = f"d{name}/d{n} at shapes {shapes}"
        assert np.shape(grads[k]) == shapes[k], what
        if not prim.differentiable:
            assert np.all(np.asarray(grads[k]) == 0), what
        assert_close(grads[k], _entrywise(f, point, n), rtol=1e-6, atol=1e-7, what=what)
        if ref is not None and full in ((3,), (2, 3), ()):
            exact = reduce_to(W * ref.at(ref.derivative(n), wide), shapes[k])
            assert_close(grads[k], exact, rtol=1e-9, atol=1e-12, what=what + " (SymPy)")

    # second order: the gradient graph differentiated again, along a random V
    for k, n in enumerate(wrt):
        G = gd.grad_graph(loss, wrt=[n])
        V = rng.normal(size=shapes[k])
        second = gd.sum(gd.tensor("V", shapes[k]) * G)
        hv = _second(second, wrt, point, W=W, V=V)

        def gv(p, V=V, G=G):
            return float(np.sum(V * G(**{k: v for k, v in {**p, "W": W}.items()
                                         if k in G.inputs})))

        for j, m in enumerate(wrt):
            what = f"d2{name}/d{n}d{m} at shapes {shapes}"
            assert_close(hv[j], _entrywise(gv, point, m), rtol=1e-5, atol=1e-6, what=what)
            if ref is not None and full in ((3,), (2, 3)):
                d2 = ref.at(ref.derivative(n, m), wide)
                vk = np.broadcast_to(V, full) if shapes[k] == full else None
                if vk is not None:
                    exact = reduce_to(W * vk * d2, shapes[j])
                    assert_close(hv[j], exact, rtol=1e-8, atol=1e-10, what=what + " (SymPy)")

    # forward mode along a random direction
    direction = {n: rng.normal(size=np.shape(point[n])) for n in wrt}
    _, tangent = gd.jvp(g)(**point, **{f"dot_{n}": d for n, d in direction.items()})
    h = 1e-6
    up = g(**{n: v + h * direction[n] for n, v in point.items()})
    down = g(**{n: v - h * direction[n] for n, v in point.items()})
    assert_close(tangent, (np.asarray(up, float) - np.asarray(down, float)) / (2 * h),
                 rtol=1e-6, atol=1e-7, what=f"{name}: jvp")


def _second(second, wrt, point, **weights):
    """The gradient of `second` for each name in wrt: zeros for names it does not use
    (the derivative graph dropped them)."""
    used = [n for n in wrt if n in second.inputs]
    values = {k: v for k, v in {**point, **weights}.items() if k in second.inputs}
    grads = dict(zip(used, gd.value_and_grad(second, wrt=used)(**values)[1])) if used else {}
    return [grads.get(n, np.zeros(np.shape(point[n]))) for n in wrt]


def _scalar_graph(name, arity):
    args = gd.symbols(" ".join(NAMES[:arity]))
    args = args if isinstance(args, tuple) else (args,)
    return args[0].apply(name, *args)


# --- non-elementwise primitives: vjp, jvp and reverse-over-reverse -----------------------------

TENSOR_CASES = {
    # reductions
    "max": (lambda a: gd.max(a), [(2, 3, 4)]),
    "max_axis": (lambda a: gd.max(a, axis=1), [(2, 3, 4)]),
    "max_axes_keepdims": (lambda a: gd.max(a, axis=(0, 2), keepdims=True), [(2, 3, 4)]),
    "min_axis": (lambda a: gd.min(a, axis=-1), [(2, 3)]),
    "min_vector": (lambda a: gd.min(a), [(3,)]),
    "prod": (lambda a: gd.prod(a), [(2, 3)]),
    "prod_axis": (lambda a: gd.prod(a, axis=0), [(2, 3, 4)]),
    "prod_axes": (lambda a: gd.prod(a, axis=(0, 2), keepdims=True), [(2, 3, 2)]),
    "var": (lambda a: gd.var(a), [(2, 3)]),
    "var_axis_ddof": (lambda a: gd.var(a, axis=1, ddof=1), [(2, 3, 4)]),
    "std": (lambda a: gd.std(a, axis=(0, 1)), [(2, 3, 4)]),
    "std_ddof": (lambda a: gd.std(a, ddof=1), [(3,)]),
    "logsumexp_axes": (lambda a: gd.logsumexp(a, axis=(0, 2)), [(2, 3, 4)]),
    "cumsum": (lambda a: gd.cumsum(a), [(2, 3)]),
    "cumsum_axis": (lambda a: gd.cumsum(a, axis=1), [(2, 3, 4)]),
    "cumsum_reverse": (lambda a: gd.cumsum(a, axis=0, reverse=True), [(3,)]),
    "cumprod": (lambda a: gd.cumprod(a), [(2, 3)]),
    "cumprod_axis": (lambda a: gd.cumprod(a, axis=1) * a, [(2, 5, 3)]),
    # shapes
    "reshape": (lambda a: gd.reshape(a, shape=(4, -1)) * 1.5, [(2, 3, 4)]),
    "ravel": (lambda a: a.ravel() ** 2, [(2, 3)]),
    "squeeze": (lambda a: gd.sin(gd.squeeze(a, axis=1)), [(2, 1, 4)]),
    "expand_dims": (lambda a: gd.expand_dims(a, axis=0) * a, [(3,)]),
    "transpose_axes": (lambda a: gd.transpose(a, axes=(2, 0, 1)) ** 2, [(2, 3, 4)]),
    "transpose_method": (lambda a: a.transpose(1, 0) @ a, [(2, 3)]),
    "swapaxes": (lambda a: gd.swapaxes(a, axis1=0, axis2=2) ** 3, [(2, 3, 4)]),
    "moveaxis": (lambda a: gd.exp(gd.moveaxis(a, source=0, destination=-1)), [(2, 3, 4)]),
    "flip": (lambda a: gd.flip(a, axis=1) * a, [(2, 3)]),
    "flip_all": (lambda a: gd.flip(a) * a, [(2, 3, 4)]),
    "broadcast_to": (lambda a: gd.broadcast_to(a, shape=(2, 3)) ** 2, [(3,)]),
    # indexing
    "getitem": (lambda a: a[0] * a[1], [(2, 3)]),
    "getitem_slices": (lambda a: a[:, 1:3] ** 2 + a[:, :2, None, -1], [(2, 3, 4)]),
    "getitem_scalar": (lambda a: a[1] * a, [(3,)]),
    "take": (lambda a, i: a[i] ** 2, [(4,), ((3,), [2, 0, 2])]),
    "take_rows": (lambda a, i: gd.sin(a[i]) * 2, [(3, 2), ((4,), [0, 2, 2, 1])]),
    "mask": (lambda a: gd.sum(a[a > 0] ** 3), [(2, 3)]),
    "where_compare": (lambda a, b: gd.where(a > b, a * b, a - b), [(2, 3), (3,)]),
    # products and joins
    "matmul_batched": (lambda a, b: a @ b, [(2, 3, 4), (4, 2)]),
    "matmul_batched_broadcast": (lambda a, b: gd.sin(a @ b), [(2, 1, 3, 4), (3, 4, 2)]),
    "einsum_matmul": (lambda a, b: gd.einsum(a, b, spec="ij,jk->ik") ** 2, [(2, 3), (3, 4)]),
    "einsum_summed_away": (lambda a, b: gd.einsum(a, b, spec="ijk,k->j"), [(2, 3, 4), (4,)]),
    "einsum_scalar": (lambda a, b: gd.einsum(a, b, spec="ij,ij->") * a, [(2, 3), (2, 3)]),
    "einsum_batch_outer": (lambda a, b: gd.einsum(a, b, spec="bi,bj->bij"), [(2, 3), (2, 4)]),
    "concatenate": (lambda a, b: gd.concatenate(a, b) ** 2, [(2, 3), (1, 3)]),
    "concatenate_last": (lambda a, b: gd.exp(gd.concatenate(a, b, axis=-1)), [(2, 3), (2, 2)]),
    "stack": (lambda a, b: gd.stack(a, b, axis=1) * gd.stack(b, a, axis=-2), [(2, 3), (2, 3)]),
    "cross": (lambda a, b: gd.cross(a, b) ** 2, [(4, 3), (3,)]),
    "tensordot": (lambda a, b: gd.tensordot(a, b, axes=2) ** 2, [(2, 3, 4), (3, 4, 5)]),
    "tensordot_1": (lambda a, b: gd.tensordot(a, b, axes=1), [(2, 3), (3, 4)]),
    "inner": (lambda a, b: gd.inner(a, b) ** 2, [(2, 3), (4, 3)]),
    "dot": (lambda a, b: gd.dot(a, b) ** 2, [(2, 3, 4), (3, 4, 2)]),
    "dot_matrix_vector": (lambda a, b: gd.dot(a, b), [(2, 3), (3,)]),
    "dot_scalar": (lambda a, b: gd.dot(a, b) * a, [(), (2, 3)]),
    "kron": (lambda a, b: gd.kron(a, b) ** 2, [(2, 3), (3, 2)]),
    "kron_vectors": (lambda a, b: gd.kron(a, b) * gd.kron(b, a), [(2,), (3,)]),
    "vstack": (lambda a, b: gd.vstack(a, b) ** 2, [(2, 3), (3,)]),
    "hstack": (lambda a, b: gd.hstack(a, b) ** 2, [(2, 3), (2, 2)]),
    "hstack_vectors": (lambda a, b: gd.exp(gd.hstack(a, b)), [(2,), (3,)]),
    "diag_vector": (lambda a: gd.diag(a, k=1) ** 2, [(3,)]),
    "diag_matrix": (lambda a: gd.diag(a, k=-1) ** 2, [(3, 4)]),
    "split": (lambda a: a.split(2, axis=1)[0] * a.split([1], axis=-1)[1][:, :2], [(2, 4)]),
    # n-ary joins and einsum, einsum over repeated indices, tensordot's pairs of axes, split
    "concatenate_three": (lambda a, b, c: gd.concatenate([a, b, c], axis=1) ** 2,
                          [(2, 3), (2, 1), (2, 2)]),
    "concatenate_one": (lambda a: gd.sin(gd.concatenate([a])), [(3,)]),
    "stack_three": (lambda a, b, c: gd.stack([a, b, c], axis=-1) * gd.stack([c, a, b], axis=3),
                    [(2, 3, 4)] * 3),
    "vstack_three": (lambda a, b, c: gd.vstack([a, b, c]) ** 2, [(2, 3), (3,), (1, 3)]),
    "hstack_three": (lambda a, b, c: gd.exp(gd.hstack([a, b, c])), [(2,), (3,), (1,)]),
    "einsum_chain": (lambda a, b, c: gd.einsum("ij,jk,kl->il", a, b, c) ** 2,
                     [(2, 3), (3, 4), (4, 2)]),
    "einsum_four": (lambda a, b, c: gd.einsum("i,ij,jk,k->", a, b, c, a[:2]),
                    [(3,), (3, 4), (4, 2)]),
    "einsum_trace": (lambda a: gd.einsum("ii->", a) * a, [(3, 3)]),
    "einsum_diagonal": (lambda a: gd.einsum("ii->i", a) ** 2, [(3, 3)]),
    "einsum_iij": (lambda a: gd.einsum("iij->j", a) ** 3, [(2, 2, 4)]),
    "einsum_repeat_with_other": (lambda a, b: gd.einsum("iij,jk->ik", a, b) ** 2,
                                 [(2, 2, 3), (3, 4)]),
    "einsum_repeat_summed": (lambda a: gd.einsum("iijk->", a) * a, [(2, 2, 3, 2)]),
    "tensordot_pairs": (lambda a, b: gd.tensordot(a, b, axes=([1, 0], [0, 1])) ** 2,
                        [(2, 3, 4), (3, 2, 5)]),
    "tensordot_pairs_scalar": (lambda a, b: gd.tensordot(a, b, axes=((0, 1), (1, 0))) * a,
                               [(2, 3), (3, 2)]),
    "split_parts": (lambda a: gd.split(a, 3, axis=0)[1] * gd.split(a, [1, 4], axis=-1)[2],
                    [(3, 5)]),
    "split_three_d": (lambda a: gd.exp(gd.split(a, 2, axis=1)[0]) * gd.split(a, 2, axis=1)[1],
                      [(2, 4, 3)]),
    "split_vector": (lambda a: gd.split(a, [2], axis=0)[0] ** 2 * gd.sum(gd.split(a, [2])[1]),
                     [(3,)]),
    # rearrangements
    "roll": (lambda a: gd.roll(a, shift=1, axis=1) * a, [(2, 3)]),
    "roll_flat": (lambda a: gd.roll(a, shift=-2) ** 2, [(2, 3, 4)]),
    "tril": (lambda a: gd.tril(a) ** 2, [(3, 3)]),
    "triu_k": (lambda a: gd.triu(a, k=1) * a, [(2, 3, 4)]),
    "diff": (lambda a: gd.diff(a) ** 2, [(2, 3)]),
    "diff_2": (lambda a: gd.diff(a, n=2, axis=0) ** 2, [(4, 3)]),
    "sort": (lambda a: gd.sort(a, axis=0) ** 3, [(3, 4)]),
    "sort_vector": (lambda a: gd.sort(a) * gd.exp(a), [(5,)]),
    "diagonal": (lambda a: gd.diagonal(a, offset=1) ** 2, [(3, 4)]),
    "diagonal_batch": (lambda a: gd.sin(gd.diagonal(a, axis1=1, axis2=2)), [(2, 3, 3)]),
    # gd.trace is the lecture's table: the primitive is a.trace(), or trace(a) in text
    "trace": (lambda a: a.trace() * a, [(3, 3)]),
    "trace_offset": (lambda a: gd.parse("trace(a, offset=-1, axis1=1, axis2=2)", ["a"])
                     .with_shapes({"a": (2, 3, 3)}) ** 2 * a[0, 0, 0], [(2, 3, 3)]),
    "repeat": (lambda a: gd.repeat(a, repeats=2, axis=1) ** 2, [(2, 3)]),
    "repeat_flat": (lambda a: gd.repeat(a, repeats=3) ** 2, [(2, 2)]),
    "tile": (lambda a: gd.tile(a, reps=(2, 1, 2)) ** 2, [(2, 3)]),
    "pad": (lambda a: (gd.pad(a, pad_width=(1, 2)) + 1) ** 2, [(2, 3)]),
    "pad_per_axis": (lambda a: gd.exp(gd.pad(a, pad_width=(0, 1, 2, 0))), [(2, 3)]),
}


# the non-elementwise primitives of the vocabulary, each met by the cases above (as an
# operation or in a derivative): tests/test_primitive_derivatives.py leaves them to this file
TENSOR_VOCABULARY = {"max", "min", "prod", "var", "std", "cumsum", "reshape", "reshape_like",
                     "ravel", "squeeze", "expand_dims", "swapaxes", "moveaxis", "flip",
                     "broadcast_to", "getitem", "index_add", "take", "take_add", "einsum",
                     "concatenate", "stack", "cross", "tensordot", "inner", "roll", "tril",
                     "triu", "diff", "sort", "sort_by", "unsort_by", "diagonal",
                     "diagonal_add", "trace", "repeat", "unrepeat", "tile", "untile", "pad",
                     "unpad", "dot", "kron", "vstack", "hstack", "diag", "cumprod",
                     "split", "einsum_embed", "unjoin", "bilinear_adjoint", "undiag",
                     "linear_scan"}
VOCABULARY = set(ELEMENTWISE) | TENSOR_VOCABULARY


def test_every_tensor_primitive_of_the_vocabulary_has_cases():
    met = set()
    for name in TENSOR_CASES:
        out, _, constants = _tensor_case(name)
        loss = gd.sum(out * 1.0)
        wrt = [n for n in out.inputs if n not in constants]
        for g in (out, gd.grad_graph(loss, wrt=wrt), gd.jvp_graph(out)):
            met |= {n.op for n in g.nodes}
    for name in UNDECLARED:  # the rules that read sizes when they run
        fn, shapes = TENSOR_CASES[name]
        out = fn(*[gd.symbols(n) for n in "abcd"[:len(shapes)]])
        met |= {n.op for n in gd.grad_graph(gd.sum(out * 1.0)).nodes}
    assert TENSOR_VOCABULARY <= met, TENSOR_VOCABULARY - met


def _tensor_case(name):
    fn, shapes = TENSOR_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    args, point, constants = [], {}, set()
    for arg, shape in zip("abcd", shapes):
        if shape and isinstance(shape[0], tuple):  # an index array
            shape, values = shape
            point[arg] = np.array(values, dtype=float)
            constants.add(arg)
        else:
            point[arg] = rng.normal(size=shape)
        args.append(gd.tensor(arg, shape))
    return fn(*args), point, constants


def _check_reverse_over_reverse(loss, wrt, point, W, rng, name, declared):
    """Each Hessian-vector product of `loss` (W-weighted) by reverse over reverse against
    central differences of the gradient; the vector V a declared tensor or a symbol."""
    for n in wrt:
        G = gd.grad_graph(loss, wrt=[n])
        V = rng.normal(size=np.shape(point[n]))
        Vg = gd.tensor("V", np.shape(point[n])) if declared else gd.symbols("V")
        hv = _second(gd.sum(Vg * G), wrt, point, W=W, V=V)

        def gv(p, V=V, G=G):
            return float(np.sum(V * G(**{k: v for k, v in {**p, "W": W}.items()
                                         if k in G.inputs})))

        for m, got in zip(wrt, hv):
            assert_close(got, _entrywise(gv, point, m), rtol=1e-5, atol=1e-6,
                         what=f"{name}: d2/d{n}d{m}")


@pytest.mark.parametrize("name", list(TENSOR_CASES))
def test_tensor_primitive_to_second_order(name):
    out, point, constants = _tensor_case(name)
    value = np.asarray(out(**point))
    if out.shape is not None:
        assert value.shape == out.shape, name  # the static shape is the shape computed
    assert_close(gd.compile(out)(**point), value, rtol=1e-14, atol=1e-15)
    rng = np.random.default_rng(2)
    W = rng.normal(size=value.shape)
    Wg = gd.tensor("W", value.shape) if out.shape is not None else gd.symbols("W")
    loss = gd.sum(Wg * out)
    wrt = [n for n in out.inputs if n not in constants]

    def f(p):
        return float(np.sum(W * out(**p)))

    _, grads = gd.value_and_grad(loss, wrt=wrt)(W=W, **point)
    for n, got in zip(wrt, grads):
        assert np.shape(got) == np.shape(point[n])
        assert_close(got, _entrywise(f, point, n), rtol=1e-6, atol=1e-8, what=f"{name}: d/d{n}")
    # forward mode
    direction = {n: (rng.normal(size=np.shape(v)) if n not in constants else 0 * v)
                 for n, v in point.items()}
    _, tangent = gd.jvp(out)(**point, **{f"dot_{n}": d for n, d in direction.items()})
    h = 1e-6
    fd = (np.asarray(out(**{n: v + h * direction[n] for n, v in point.items()}))
          - np.asarray(out(**{n: v - h * direction[n] for n, v in point.items()}))) / (2 * h)
    assert_close(tangent, fd, rtol=1e-6, atol=1e-8, what=f"{name}: jvp")
    # second order: reverse over reverse
    _check_reverse_over_reverse(loss, wrt, point, W, rng, name, declared=True)


# --- the conventions at non-differentiable points (JAX's) -----------------------------------

def test_max_and_min_split_ties_evenly():
    x = gd.tensor("x", (2, 3))
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    _, (g,) = gd.value_and_grad(gd.max(x))(a)
    np.testing.assert_allclose(g, [[0, 0.5, 0.5], [0, 0, 0]])
    _, (g,) = gd.value_and_grad(gd.sum(gd.min(x, axis=1)))(a)
    np.testing.assert_allclose(g, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    _, tangent = gd.jvp(gd.max(x, axis=1))(a, dot_x=np.ones((2, 3)))
    np.testing.assert_allclose(tangent, [1.0, 1.0])


def test_rounding_sign_and_comparisons_have_zero_derivatives():
    x = gd.symbols("x")
    for f in (gd.floor, gd.ceil, gd.round, gd.sign):
        assert float(gd.grad(f(x) * x)(2.5)) == float(f(2.5))  # d(f(x) x) = f(x) + 0
    assert float(gd.grad(gd.abs(x))(0.0)) == 0.0
    y = gd.symbols("y")
    assert [float(g) for g in gd.grad(gd.hypot(x, y))(0.0, 0.0)] == [0.0, 0.0]
    assert gd.trace("hypot(x, y)", x=0.0, y=0.0).gradient == {"x": 0.0, "y": 0.0}
    assert float(gd.grad(gd.where(x > 0, x, -x))(0.0)) == -1.0
    assert not REGISTRY["less"].differentiable and not REGISTRY["floor"].differentiable


def test_prod_gradient_is_exact_with_zeros():
    x = gd.tensor("x", (4,))
    grad = gd.grad(gd.prod(x))
    np.testing.assert_allclose(grad(np.array([2.0, 0.0, 3.0, 4.0])), [0, 24, 0, 0])
    np.testing.assert_allclose(grad(np.array([0.0, 0.0, 3.0, 4.0])), [0, 0, 0, 0])
    np.testing.assert_allclose(grad(np.array([1.0, 2.0, 3.0, 4.0])), [24, 12, 8, 6])
    # second order through the zero: d2 prod / dxj dxk = the product of the others but j, k
    hess = np.asarray(gd.hessian(gd.prod(x))(np.array([2.0, 0.0, 3.0, 4.0])))
    want = [[0, 12, 0, 0], [12, 0, 8, 6], [0, 8, 0, 0], [0, 6, 0, 0]]
    np.testing.assert_allclose(hess, want)
    rows = gd.grad(gd.sum(gd.prod(gd.tensor("y", (2, 3)), axis=1)))
    np.testing.assert_allclose(rows(np.array([[0.0, 2.0, 5.0], [1.0, 2.0, 3.0]])),
                               [[10, 0, 0], [6, 3, 2]])


def test_cumprod_derivatives_are_exact_with_zeros():
    a = np.array([2.0, 0.0, 3.0, 4.0, 1.5])
    x = gd.tensor("x", (5,))
    ref = [sum(np.prod([a[k] for k in range(i + 1) if k != j]) for i in range(j, 5))
           for j in range(5)]
    np.testing.assert_allclose(gd.grad(gd.sum(gd.cumprod(x)))(a), ref)  # [1, 68, 0, 0, 0]
    # second order: d2/dxj dxk sum_i prod_{m <= i} x_m, through the zero at x1
    hess = np.asarray(gd.hessian(gd.sum(gd.cumprod(x)))(a))
    want = np.zeros((5, 5))
    for j in range(5):
        for k in range(5):
            if j != k:
                want[j, k] = sum(np.prod([a[m] for m in range(i + 1) if m not in (j, k)])
                                 for i in range(max(j, k), 5))
    np.testing.assert_allclose(hess, want)


def test_tanh_derivative_keeps_relative_accuracy_near_one():
    x = np.float32(9.0)
    got = gd.grad("tanh(x)")(x)
    exact = 1 / math.cosh(9.0) ** 2  # 6.1e-08
    assert np.asarray(got).dtype == np.float32
    # (1 - y)(1 + y) with y = tanh(x) rounded to float32: 1 - y is exact (Sterbenz)
    y = np.float32(np.tanh(x))
    assert got == (np.float32(1) - y) * (np.float32(1) + y)
    assert abs(float(got) - exact) / exact < 1.0  # 1 - y*y rounds to a multiple of 6e-8
    assert "(1 - " in str(REGISTRY["tanh"].partials[0](*gd.symbols("x y")))


def test_special_functions_match_the_c_library():
    xs = np.concatenate([np.linspace(-6, 6, 2001), [0.0, 1e-300, -1e-8, 1.5, -1.5, 27.0]])
    want = np.array([math.erf(v) for v in xs])
    np.testing.assert_allclose(_erf(xs), want, rtol=2e-15, atol=0)
    want = np.array([math.erfc(v) for v in xs])
    np.testing.assert_allclose(_erfc(xs), want, rtol=2e-14, atol=0)
    ys = np.linspace(-0.999999, 0.999999, 2001)
    np.testing.assert_allclose(_erf(_erfinv(ys)), ys, rtol=0, atol=1e-15)
    assert _erfinv(np.array([1.0, -1.0, 1.5])).tolist()[:2] == [np.inf, -np.inf]
    assert np.isnan(_erfinv(1.5))
    assert _erf(np.float32(0.5)).dtype == np.float32
    assert math.isnan(_erf(np.nan))


# --- syntax: parse and operators --------------------------------------------------------------

def test_parse_comparisons_booleans_tuples_and_subscripts():
    x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, 6.0]])
    cases = {
        "sum(x, keepdims=True)": np.sum(x, keepdims=True),
        "sum(x, axis=(0, 1))": np.sum(x),
        "max(x, axis=0, keepdims=False)": np.max(x, axis=0),
        "logsumexp(x, axis=(0, 1))": np.log(np.sum(np.exp(x))),
        "x[0]": x[0], "x[:, 1:3]": x[:, 1:3], "x[-1, ::-1]": x[-1, ::-1],
        "x[..., None]": x[..., None], "x[1][2]": x[1][2],
        "where(x > 0, x, 0)": np.where(x > 0, x, 0), "x % 4": x % 4,
        "(x <= 1) * x": (x <= 1) * x, "sum(x == 5)": 1, "x[x != 5]": x[x != 5],
        "var(x, ddof=1)": np.var(x, ddof=1), "clip(x, -1, 2)": np.clip(x, -1, 2),
        "reshape(x, shape=(3, -1))": x.reshape(3, -1), "transpose(x, (1, 0))": x.T,
        "einsum(x, x, spec='ij,kj->ik')": x @ x.T, "stack(x, x, axis=-1)": np.stack([x, x], -1),
        "concatenate(x, x[:1], axis=0)": np.concatenate([x, x[:1]]),
    }
    for text, want in cases.items():
        g = gd.parse(text)
        np.testing.assert_allclose(g(x=x), want, err_msg=text)
        np.testing.assert_allclose(gd.compile(g)(x=x), want, err_msg=text)
        assert gd.parse(str(g)) == g, text  # prints as text that parses back
    i = np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(gd.parse("x[i] * 2")(x=x, i=i), x[[1, 0, 1]] * 2)


def test_sum_of_a_comparison_is_no_longer_misread_as_a_keyword():
    g = gd.parse("sum(x == y)")
    assert g.output.op == "sum" and int(g(x=np.arange(3.0), y=np.array([0.0, 5, 2]))) == 2


def test_operators_build_the_same_nodes_as_the_text():
    x, y = gd.symbols("x y")
    assert (x < y) == gd.parse("x < y") and (x >= 1) == gd.parse("x >= 1")
    assert (2 > x) == gd.parse("x < 2")  # Python reflects 2 > x to x < 2
    assert x % y == gd.parse("x % y") and 3 % x == gd.parse("3 % x")
    assert x[1:3] == gd.parse("x[1:3]") and x[0, ..., None] == gd.parse("x[0, ..., None]")
    assert x.sum(axis=0) == gd.parse("sum(x, axis=0)")
    assert x.reshape(2, 3) == gd.parse("reshape(x, shape=(2, 3))") == x.reshape((2, 3))
    assert x.T == gd.parse("transpose(x)") and x.transpose(1, 0) == gd.parse(
        "transpose(x, axes=(1, 0))")
    assert x.max(axis=1, keepdims=True) == gd.parse("max(x, axis=1, keepdims=True)")
    assert x.var(ddof=1) == gd.parse("var(x, ddof=1)")
    assert x[y] == gd.parse("x[y]") and x[x > 0] == gd.parse("x[x > 0]")
    # == on graphs is structural equality (hashing relies on it): elementwise is gd.equal
    assert (x == y) is False and gd.equal(x, y) == gd.parse("x == y")
    with pytest.raises(TypeError, match="index array"):
        x[np.array([0, 1])]


def test_shapes_are_checked_when_the_graph_is_built():
    a, b = gd.tensor("a", (2, 3)), gd.tensor("b", (4,))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        _ = a < b
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, -1\)|\(4, N\)"):
        a.reshape(4, -1)
    with pytest.raises(IndexError, match=r"out of bounds.*\(2, 3\)"):
        a[2]
    with pytest.raises(IndexError, match="too many indices"):
        a[0, 0, 0]
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        gd.max(a, axis=2)
    with pytest.raises(ValueError, match="not a permutation"):
        a.transpose(0, 0)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\) do not broadcast"):
        gd.broadcast_to(a, shape=(4,))
    with pytest.raises(ValueError, match=r"index 'j' has sizes 3 and 4"):
        gd.einsum(a, b, spec="ij,j->i")
    with pytest.raises(ValueError, match=r"concatenate: shapes \(2, 3\) and \(2, 4\) differ"):
        gd.concatenate(a, gd.tensor("d", (2, 4)))
    with pytest.raises(ValueError, match="cross: takes vectors of 3"):
        gd.cross(b, b)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3, 4\) and \(5, 6\)"):
        gd.tensor("p", (2, 3, 4)) @ gd.tensor("q", (5, 6))
    assert (gd.tensor("g", (5, 1, 2, 3)) @ gd.tensor("h", (4, 3, 6))).shape == (5, 4, 2, 6)
    assert gd.stack(a, a, axis=-1).shape == (2, 3, 2)
    assert a[:, None, 1:].shape == (2, 1, 2)
    assert gd.var(gd.tensor("c", (None, 3)), axis=0).shape == (3,)
    assert gd.cumsum(a).shape == (6,) and gd.moveaxis(a, source=0, destination=1).shape == (3, 2)


def test_sympy_conversion_or_a_clear_refusal():
    x = gd.symbols("x")
    import sympy as sp

    assert gd.erf(x).to_sympy() == sp.erf(sp.Symbol("x"))
    assert gd.from_sympy(sp.erfinv(sp.Symbol("x"))) == gd.erfinv(x)
    assert gd.parse(sp.sinc(sp.Symbol("x")))(x=1.0) == pytest.approx(math.sin(1.0))
    with pytest.raises(NotImplementedError, match="getitem has no SymPy counterpart"):
        x[0].to_sympy()


def test_trace_rows_show_the_vocabulary():
    t = gd.trace("max(x * y) + x[1]", x=np.array([1.0, 3.0]), y=2.0)
    np.testing.assert_allclose(t.gradient["x"], [0.0, 3.0])
    assert t.gradient["y"] == pytest.approx(3.0)
    exprs = [r.expr for r in t.rows]
    assert "v1[1]" in exprs and any(e.startswith("max(") for e in exprs)
    text = t.to_text()
    assert "v1[1]" in text


def test_generated_code_reads_like_numpy():
    x = gd.tensor("x", (2, 3))
    source = gd.compile(gd.sum(x[:, 1:] ** 2) + gd.max(x, axis=0)[0]).source
    assert "x[:, 1:]" in source and "np.max(" in source
    vg = gd.value_and_grad(gd.erf(gd.symbols("x")))
    assert "def _erf(" in vg.source and "scipy" not in vg.source


# --- the registry's table in the docs ----------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "graph-and-primitives.md"
BEGIN, END = "<!-- registry table: begin -->", "<!-- registry table: end -->"


def test_docs_table_is_generated_from_the_registry():
    from graphdiff.render import primitives_table

    text = DOCS.read_text()
    head, rest = text.split(BEGIN + "\n")
    table, tail = rest.split(END)
    want = primitives_table()
    if os.environ.get("GRAPHDIFF_REGEN_GOLDEN") and table != want:
        DOCS.write_text(head + BEGIN + "\n" + want + END + tail)
        table = want
    assert table == want, ("docs/graph-and-primitives.md's table differs from the registry; "
                           "regenerate with GRAPHDIFF_REGEN_GOLDEN=1 python -m pytest "
                           "tests/test_vocabulary.py -k docs")
    for name in REGISTRY:
        assert f"| `{name}` |" in table


# --- the fast paths: shape-specialised variants and in-place buffers ---------------------------

@pytest.mark.parametrize("name", list(TENSOR_CASES))
def test_variants_and_in_place_code_compute_what_the_plain_code_computes(name):
    fn, _ = TENSOR_CASES[name]
    out, point, constants = _tensor_case(name)
    W = np.random.default_rng(4).normal(size=np.shape(out(**point)))
    wrt = [n for n in out.inputs if n not in constants]
    args = {**point, "W": W}
    frozen = {n: v.copy() for n, v in args.items()}
    # declared shapes: the in-place planner may reuse buffers, never a viewed one
    loss = gd.sum(gd.tensor("W", W.shape) * out)
    plain = gd.value_and_grad(loss, wrt=wrt)(**args)
    inplace = gd.value_and_grad(loss, wrt=wrt, inplace=True)(**args)
    for a, b in zip(_leaves(plain), _leaves(inplace)):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14, err_msg=name)
    # shapes unknown when built: the variant compiled for the call's shapes agrees
    symbols = [gd.symbols(n) for n in out.inputs]
    dynamic = gd.sum(gd.symbols("W") * fn(*symbols))
    vg = gd.value_and_grad(dynamic, wrt=wrt)
    general = vg(**args)
    special = vg.specialized(**args)(**args)
    for a, b in zip(_leaves(general), _leaves(special)):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14, err_msg=name)
    for a, b in zip(_leaves(general), _leaves(plain)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=name)
    for n, v in args.items():
        np.testing.assert_array_equal(v, frozen[n], err_msg=f"{name}: input {n} was written")



# --- issue 11's gaps: split, n-ary joins and einsum, repeated indices, tensordot's pairs ------

def _evaluate_with(g, point):
    """The graph evaluated node by node with the registry's NumPy implementations, on
    arrays of any dtype (SymPy symbols here): a reference interpreter for SymPy checks."""
    values = []
    for n in g.nodes:
        if n.op == "input":
            values.append(point[n.name])
        elif n.op == "const":
            values.append(n.value)
        else:
            values.append(REGISTRY[n.op].evaluate(*(values[a] for a in n.args),
                                                  **dict(n.params)))
    return values[g.outputs[0]]


# cases whose every operation NumPy evaluates on SymPy symbols (object arrays)
SYMPY_CASES = ["concatenate_three", "stack_three", "vstack_three", "hstack",
               "einsum_four", "einsum_trace", "einsum_diagonal", "einsum_iij",
               "einsum_repeat_with_other", "tensordot_pairs_scalar", "split_parts",
               "split_vector", "concatenate", "inner", "dot_matrix_vector", "kron_vectors",
               "diag_vector"]


@pytest.mark.parametrize("name", SYMPY_CASES)
def test_new_vocabulary_against_sympy_to_second_order(name):
    import sympy as sp

    out, point, _ = _tensor_case(name)
    symbols = {n: np.array(sp.symbols(f"{n}_0:{max(np.size(v), 1)}"), dtype=object)
               .reshape(np.shape(v)) for n, v in point.items()}
    W = np.random.default_rng(7).normal(size=np.shape(out(**point)))
    f = sp.Add(*(w * e for w, e in zip(np.ravel(W), np.ravel(
        np.asarray(_evaluate_with(out, symbols), dtype=object)))))
    at = {sym: float(val) for n in point for sym, val in
          zip(np.ravel(symbols[n]), np.ravel(point[n]))}
    loss = gd.sum(gd.tensor("W", W.shape) * out)
    wrt = list(out.inputs)
    _, grads = gd.value_and_grad(loss, wrt=wrt)(W=W, **point)
    for n, got in zip(wrt, grads):
        want = np.array([float(sp.diff(f, s).subs(at)) for s in np.ravel(symbols[n])])
        assert_close(np.ravel(got), want, rtol=1e-10, atol=1e-12, what=f"{name}: d/d{n}")
    # second order along a random V: d/ds <V, grad f>, against SymPy's second derivatives
    rng = np.random.default_rng(8)
    for n in wrt:
        V = rng.normal(size=np.shape(point[n]))
        directional = sp.Add(*(v * sp.diff(f, s) for v, s in zip(np.ravel(V),
                                                                  np.ravel(symbols[n]))))
        second = gd.sum(gd.tensor("V", np.shape(V)) * gd.grad_graph(loss, wrt=[n]))
        hv = _second(second, wrt, point, W=W, V=V)
        for m, got in zip(wrt, hv):
            want = np.array([float(sp.diff(directional, s).subs(at))
                             for s in np.ravel(symbols[m])])
            assert_close(np.ravel(got), want, rtol=1e-10, atol=1e-12,
                         what=f"{name}: d2/d{n}d{m}")


# the derivatives that read sizes when they run (issue 11's last gap): no declared shapes
UNDECLARED = ["concatenate", "concatenate_three", "vstack", "vstack_three", "hstack",
              "hstack_three", "hstack_vectors", "tensordot", "tensordot_1", "tensordot_pairs",
              "inner", "dot", "dot_matrix_vector", "dot_scalar", "kron", "kron_vectors",
              "diag_vector", "diag_matrix", "cumprod", "cumprod_axis", "einsum_iij",
              "split_parts", "prod_axes"]


@pytest.mark.parametrize("name", UNDECLARED)
def test_derivatives_work_with_shapes_known_only_when_they_run(name):
    fn, _ = TENSOR_CASES[name]
    _, point, constants = _tensor_case(name)
    symbols = [gd.symbols(n) for n in sorted(point)]
    out = fn(*symbols)
    assert out.shape is None
    value = np.asarray(out(**point))
    rng = np.random.default_rng(3)
    W = rng.normal(size=value.shape)
    loss = gd.sum(gd.symbols("W") * out)
    wrt = [n for n in out.inputs if n not in constants and n != "W"]

    def f(p):
        return float(np.sum(W * out(**p)))

    _, grads = gd.value_and_grad(loss, wrt=wrt)(W=W, **point)
    for n, got in zip(wrt, grads):
        assert_close(got, _entrywise(f, point, n), rtol=1e-6, atol=1e-8, what=f"{name}: d/d{n}")
    _, tangent = gd.jvp(out)(**point, **{f"dot_{n}": np.ones_like(v) for n, v in point.items()})
    h = 1e-6
    fd = (np.asarray(out(**{n: v + h for n, v in point.items()}))
          - np.asarray(out(**{n: v - h for n, v in point.items()}))) / (2 * h)
    assert_close(tangent, fd, rtol=1e-6, atol=1e-8, what=f"{name}: jvp")
    # reverse over reverse, still without shapes
    _check_reverse_over_reverse(loss, wrt, point, W, rng, name, declared=False)


def test_split_in_text_operators_and_numbers():
    x = np.arange(24.0).reshape(4, 6)
    for text, want in {"split(x, 3, axis=1)[2]": np.split(x, 3, axis=1)[2],
                       "split(x, [1, 3])[1]": np.split(x, [1, 3])[1],
                       "split(x, (1, 3), axis=-1)[0] * 2": np.split(x, [1, 3], axis=-1)[0] * 2,
                       "sum(split(x, 2)[0] * split(x, 2)[1])": np.sum(x[:2] * x[2:])}.items():
        g = gd.parse(text)
        np.testing.assert_allclose(g(x=x), want, err_msg=text)
        np.testing.assert_allclose(gd.compile(g)(x=x), want, err_msg=text)
        assert gd.parse(str(g)) == g, text
    parts = gd.parse("split(x, 2, axis=1)")  # every part: a graph of several outputs
    assert len(parts.outputs) == 2 and gd.parse(str(parts)) == parts
    for got, want in zip(parts(x=x), np.split(x, 2, axis=1)):
        np.testing.assert_array_equal(got, want)
    assert len(gd.parse("split(x, 4)[1:]").outputs) == 3
    X = gd.symbols("x")
    assert [str(p) for p in gd.split(X, 3, axis=1)] == [
        f"split(x, 3, axis=1)[{k}]" for k in range(3)]
    assert X.split([1, 3]) == tuple(gd.split(X, [1, 3]))
    assert gd.split(X, 2)[1] == gd.parse("split(x, 2)[1]")
    for got, want in zip(gd.split(x, [2, 5], 1), np.split(x, [2, 5], 1)):  # numbers
        np.testing.assert_array_equal(got, want)
    t = gd.tensor("t", (4, 6))
    assert [p.shape for p in gd.split(t, [1, 4], axis=1)] == [(4, 1), (4, 3), (4, 2)]
    with pytest.raises(ValueError, match="does not divide into 4 equal parts"):
        gd.split(t, 4, axis=1)
    with pytest.raises(gd.ParseError, match="part 5 of 3"):
        gd.parse("split(x, 3)[5]")
    with pytest.raises(gd.ParseError, match="3 outputs cannot be an operand"):
        gd.parse("split(x, 3) + 1")
    with pytest.raises(NotImplementedError, match="split has no SymPy counterpart"):
        gd.split(X, 2)[0].to_sympy()
    rows = gd.trace("sum(split(x, 2)[1] ** 2)", x=np.arange(4.0)).rows
    assert any("split(v1, 2, axis=0)[1]" in r.expr for r in rows)


def test_joins_and_einsum_take_any_number_of_operands():
    a, b, c = (np.random.default_rng(k).normal(size=(2, 3)) for k in range(3))
    texts = {"concatenate([a, b, c], axis=1)": np.concatenate([a, b, c], axis=1),
             "concatenate((a, b, c))": np.concatenate([a, b, c]),
             "concatenate(a, b, c, axis=-1)": np.concatenate([a, b, c], axis=-1),
             "concatenate([a, 2 * b], 1)": np.concatenate([a, 2 * b], 1),
             "stack([a, b, c], axis=1)": np.stack([a, b, c], axis=1),
             "vstack([a, b[0], c])": np.vstack([a, b[0], c]),
             "hstack([a, b, c])": np.hstack([a, b, c]),
             "einsum('ij,kj,kl->il', a, b, c)": np.einsum("ij,kj,kl->il", a, b, c),
             "einsum('ij,ij,ij->', a, b, c)": np.einsum("ij,ij,ij->", a, b, c),
             "einsum('ii->', a[:, :2])": np.trace(a[:, :2]),
             "einsum('ii->i', a[:, :2])": np.diagonal(a[:, :2]),
             "tensordot(a, b, axes=([1, 0], [1, 0]))": np.tensordot(a, b, ([1, 0], [1, 0])),
             "tensordot(a, b, axes=((1,), (1,)))": np.tensordot(a, b, ((1,), (1,)))}
    for text, want in texts.items():
        g = gd.parse(text)
        point = {n: v for n, v in {"a": a, "b": b, "c": c}.items() if n in g.inputs}
        np.testing.assert_allclose(g(**point), want, err_msg=text)
        np.testing.assert_allclose(gd.compile(g)(**point), want, err_msg=text)
        assert gd.parse(str(g)) == g, text
    A, B, C = gd.symbols("a b c")
    assert gd.concatenate([A, B, C], axis=1) == gd.parse("concatenate([a, b, c], axis=1)")
    assert gd.einsum("ij,jk,kl->il", A, B, C) == gd.parse("einsum('ij,jk,kl->il', a, b, c)")
    assert gd.tensordot(A, B, axes=([1, 0], [0, 1])) == gd.parse(
        "tensordot(a, b, axes=((1, 0), (0, 1)))")
    np.testing.assert_allclose(gd.concatenate([a, b, c]), np.concatenate([a, b, c]))
    np.testing.assert_allclose(gd.einsum("ii->", a[:, :2]), np.trace(a[:, :2]))
    with pytest.raises(gd.ParseError, match="takes 2 operands"):
        gd.parse("einsum('ij,jk->ik', a)")
    with pytest.raises(gd.ParseError, match="operands of a join"):
        gd.parse("sum([a, b])")
    with pytest.raises(gd.ParseError, match="subscripts follow an operand"):
        gd.parse("[a, b]")
    with pytest.raises(ValueError, match="an output index repeats"):
        gd.einsum("ii->ii", A)
    ta, tb = gd.tensor("a", (2, 3, 4)), gd.tensor("b", (4, 3))
    assert gd.tensordot(ta, tb, axes=([2, 1], [0, 1])).shape == (2,)
    with pytest.raises(ValueError, match="differ in size"):
        gd.tensordot(ta, tb, axes=([1], [0]))
    with pytest.raises(ValueError, match=r"index 'i' has sizes 2 and 3"):
        gd.einsum("ii->i", gd.tensor("d", (2, 3)))
    assert gd.concatenate([ta, ta, ta], axis=-1).shape == (2, 3, 12)
    assert gd.stack([tb] * 4, axis=1).shape == (4, 4, 3)
    for f in (lambda: gd.concatenate([A, B]), lambda: gd.einsum("ij->", A)):
        with pytest.raises(NotImplementedError, match="no SymPy counterpart"):
            f().to_sympy()
    t = gd.trace("einsum('ii->', a)", a=np.eye(2) * 3)
    assert t.gradient["a"].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert any("einsum(v1, spec='ii->')" in r.expr for r in t.rows)


# --- exact at every order: prod with zeros over several axes or of unknown shape, sinc at 0 -----

@pytest.mark.parametrize("declared", [True, False])
def test_prod_is_exact_with_zeros_at_every_order(declared):
    import sympy as sp

    a = np.array([[0.0, 2.0, 0.5], [1.5, 0.0, 3.0]])  # two zeros
    syms = np.array(sp.symbols("y0:6"), dtype=object).reshape(2, 3)
    flat = list(syms.ravel())
    at = dict(zip(flat, a.ravel()))
    C = np.random.default_rng(1).normal(size=(6, 6))
    for axis in (None, (0, 1), (1, 0), 1, (-1,), 0):
        y = gd.tensor("y", (2, 3)) if declared else gd.symbols("y")
        g = gd.sum(gd.prod(y, axis=axis))
        f = _evaluate_with(g, {"y": syms})
        first = np.array([float(sp.diff(f, s).subs(at)) for s in flat])
        np.testing.assert_allclose(np.ravel(gd.grad(g)(a)), first, atol=1e-12,
                                   err_msg=f"prod axis={axis}")
        second = np.array([[float(sp.diff(f, s, t).subs(at)) for t in flat] for s in flat])
        np.testing.assert_allclose(np.reshape(gd.hessian(g)(a), (6, 6)), second, atol=1e-12,
                                   err_msg=f"prod axis={axis}, second order")
        # third order: d/dy <U, d/dy <V, d/dy g>>, the derivative graph differentiated twice
        U, V = (gd.tensor(n, (2, 3)) if declared else gd.symbols(n) for n in "UV")
        inner = gd.sum(V * gd.grad_graph(g, wrt=["y"]))
        third = gd.grad_graph(gd.sum(U * gd.grad_graph(inner, wrt=["y"])), wrt=["y"])
        u, v = C[0].reshape(2, 3), C[1].reshape(2, 3)
        want = np.array([sum(u.flat[i] * v.flat[j] * float(
            sp.diff(f, flat[j], flat[i], s).subs(at)) for i in range(6) for j in range(6))
            for s in flat])
        np.testing.assert_allclose(np.ravel(third(y=a, U=u, V=v)), want, atol=1e-12,
                                   err_msg=f"prod axis={axis}, third order")


def test_sinc_is_exact_at_zero_to_every_order():
    import sympy as sp

    X = sp.Symbol("x")
    f = sp.sinc(sp.pi * X)
    d = gd.sinc(gd.symbols("x"))
    for order in range(1, 6):
        d = gd.grad_graph(d)
        step = gd.compile(d)
        for point in (0.0, 1e-9, -1e-5, 0.3, -1.7, 7.5):
            e = sp.diff(f, X, order)
            want = float(sp.limit(e, X, 0)) if point == 0 else float(
                e.subs(X, sp.Float(point, 120)).evalf(120))
            for got in (d(x=point), step(x=point)):
                assert float(got) == pytest.approx(want, rel=1e-9, abs=1e-9), (order, point)
    h = 1e-4  # and central differences of the second derivative at exactly 0
    prev = gd.grad_graph(gd.grad_graph(gd.sinc(gd.symbols("x"))))
    third = gd.grad_graph(prev)
    assert float(third(x=0.0)) == pytest.approx(
        (float(prev(x=h)) - float(prev(x=-h))) / (2 * h), abs=1e-6)


def test_spherical_bessel_matches_scipy():
    import scipy.special as sps

    z = np.concatenate([np.linspace(-25, 25, 5001), [0.0, 1e-300, -1e-8, 3.0, 5.0]])
    for n in range(7):
        got = gd.spherical_jn(z, n=n)
        np.testing.assert_allclose(got, sps.spherical_jn(n, z), rtol=1e-12, atol=1e-15,
                                   err_msg=f"n={n}")
    assert gd.spherical_jn(np.float32(0.5)).dtype == np.float32


# --- the array-API spellings of the primitives the gaps added ----------------------------------

def _rand(*shape):
    return np.random.default_rng(len(shape) + sum(shape)).normal(size=shape)


ARRAY_API_CASES = {
    "split": (lambda x: gd.split(x, [1, 3], axis=1)[1] * 2, {"x": _rand(2, 5)}),
    "split_eq": (lambda x: gd.split(x, 2, axis=-1)[0] + 1, {"x": _rand(2, 3, 4)}),
    "unjoin": (lambda t, a, b: gd.call("unjoin", t, a, b, part=1, axis=1),
               {"t": _rand(2, 5), "a": _rand(2, 2), "b": _rand(2, 3)}),
    "unjoin_v": (lambda t, a, b: gd.call("unjoin", t, a, b, part=1, join="vstack"),
                 {"t": _rand(3, 3), "a": _rand(2, 3), "b": _rand(3)}),
    "bil_td": (lambda t, y, l: gd.call("bilinear_adjoint", t, y, l, axes=((1, 2), (1, 0))),
               {"t": _rand(2, 2), "y": _rand(4, 3, 2), "l": _rand(2, 3, 4)}),
    "bil_td2": (lambda t, y, l: gd.call("bilinear_adjoint", t, y, l, first=False),
                {"t": _rand(2, 2), "y": _rand(2, 3, 4), "l": _rand(3, 4, 2)}),
    "bil_dot": (lambda t, y, l: gd.call("bilinear_adjoint", t, y, l, product="dot"),
                {"t": _rand(2, 4), "y": _rand(3, 4), "l": _rand(2, 3)}),
    "bil_dot0": (lambda t, y, l: gd.call("bilinear_adjoint", t, y, l, product="dot"),
                 {"t": _rand(2, 3), "y": _rand(2, 3), "l": np.float64(0.5)}),
    "bil_kron": (lambda t, y, l: gd.call("bilinear_adjoint", t, y, l, product="kron",
                                         first=False),
                 {"t": _rand(6, 6), "y": _rand(2, 3), "l": _rand(3, 2)}),
    "bil_inner": (lambda t, y, l: gd.call("bilinear_adjoint", t, y, l, product="inner"),
                  {"t": _rand(2, 4), "y": _rand(4, 3), "l": _rand(2, 3)}),
    "undiag_v": (lambda t, a: gd.call("undiag", t, a, k=1), {"t": _rand(4, 4), "a": _rand(3)}),
    "undiag_vn": (lambda t, a: gd.call("undiag", t, a, k=-2),
                  {"t": _rand(5, 5), "a": _rand(3)}),
    "undiag_m": (lambda t, a: gd.call("undiag", t, a, k=1), {"t": _rand(3), "a": _rand(3, 4)}),
    "undiag_mn": (lambda t, a: gd.call("undiag", t, a, k=-1),
                  {"t": _rand(3), "a": _rand(4, 3)}),
    "embed": (lambda t, x: gd.call("einsum_embed", t, x, embed="i->ii"),
              {"t": _rand(3), "x": _rand(3, 3)}),
    "embed2": (lambda t, x: gd.call("einsum_embed", t, x, embed="li->iijl"),
               {"t": _rand(4, 2), "x": _rand(2, 2, 3, 4)}),
    "embed0": (lambda t, x: gd.call("einsum_embed", t, x, embed="->ii"),
               {"t": np.float64(2.0), "x": _rand(3, 3)}),
    "scan": (lambda a, b: gd.call("linear_scan", a, b, axis=1), {"a": _rand(2, 4),
                                                                  "b": _rand(2, 4)}),
    "scan_reverse": (lambda a, b: gd.call("linear_scan", a, b, axis=0, reverse=True),
                     {"a": _rand(3, 2), "b": _rand(3, 2)}),
    "spherical_jn": (lambda x: gd.spherical_jn(x, n=3), {"x": _rand(5) * 4}),
}


@pytest.mark.parametrize("name", list(ARRAY_API_CASES))
def test_added_primitives_on_the_array_api(name):
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    fn, point = ARRAY_API_CASES[name]
    g = fn(*[gd.symbols(n) for n in point])
    want = gd.compile(g)(**point)
    f = gd.compile(g, backend="array_api")
    got = f(**{k: xps.asarray(v) for k, v in point.items()})
    assert type(got).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(np.asarray(f(**point)), want, rtol=1e-12, atol=1e-14)


# matmul's operands of unknown shape: the adjoints read the ranks when they run (1-D
# operands, stacks broadcast against matrices, size-1 batch axes)
MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)),
                 ((3,), (5, 3, 2)), ((5, 2, 3), (3,)), ((1, 2, 3), (5, 3, 4))]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_derivatives_without_declared_shapes(sa, sb):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    point = {"a": rng.normal(size=sa), "b": rng.normal(size=sb)}
    expr = "sum(sin(a @ b))"
    value = gd.compile(expr)

    def f(**p):
        return float(value(**p))

    grad = gd.grad(expr, wrt=["a", "b"])
    for _ in range(2):  # the general function, then the variant for these shapes
        ga, gb = grad(**point)
        assert ga.shape == sa and gb.shape == sb
        assert_close(ga, entrywise_difference(f, point, "a"), 1e-6, 1e-8, "d/da")
        assert_close(gb, entrywise_difference(f, point, "b"), 1e-6, 1e-8, "d/db")
    # second order: the cross block of the Hessian against differences of the gradient
    h_ab = gd.hessian(expr, wrt=["a", "b"])(**point)[0][1]
    assert h_ab.shape == sa + sb
    step = 1e-6
    for idx in list(np.ndindex(sb))[:3]:
        up, down = dict(point), dict(point)
        up["b"], down["b"] = point["b"].copy(), point["b"].copy()
        up["b"][idx] += step
        down["b"][idx] -= step
        column = (grad(**up)[0] - grad(**down)[0]) / (2 * step)
        assert_close(h_ab[(...,) + idx], column, 1e-5, 1e-7, f"d2/da db{idx}")
