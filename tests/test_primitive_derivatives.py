"""Every primitive of the registry, differentiated through the public API (value_and_grad,
jvp, hessian): against central differences and against SymPy's derivative of the
primitive's SymPy counterpart, at seeded random points in the primitive's domain.

Elementwise primitives are checked per point (all inputs arrays of one shape); tensor
primitives through the vector-Jacobian product with a random cotangent W (reverse mode on
W * op(...), whose entries are summed) and the Jacobian-vector product (forward mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from gradcheck import (FD_ATOL, FD_RTOL, SympyReference, assert_close, central_difference,
                       entrywise_difference, rows)
from test_vocabulary import VOCABULARY  # the array vocabulary: checked there, at all shapes

import graphdiff as gd

ANY = ((-2.0, 2.0),)
POSITIVE = ((0.1, 3.0),)
AWAY_FROM_0 = ((-2.0, -0.1), (0.1, 2.0))  # kinks and jumps of abs, relu, sign, ... at 0
UNIT = ((-0.9, 0.9),)
CONDITION = "condition"  # where's first argument: 0 or a positive or negative number


@dataclass(frozen=True)
class Spec:
    domains: tuple  # one per argument: intervals to draw from, or CONDITION
    params: tuple[dict, ...] = ({},)  # parameter sets to check
    apart: bool = False  # keep the two arguments apart (the kink of minimum/maximum)
    constant_args: tuple[int, ...] = field(default=())  # arguments with derivative 0


SPECS: dict[str, Spec] = {
    "add": Spec((ANY, ANY)),
    "sub": Spec((ANY, ANY)),
    "mul": Spec((ANY, ANY)),
    "div": Spec((ANY, AWAY_FROM_0)),
    "pow": Spec((((0.2, 3.0),), ANY)),
    "neg": Spec((ANY,)),
    "exp": Spec((ANY,)),
    "log": Spec((POSITIVE,)),
    "sqrt": Spec((POSITIVE,)),
    "square": Spec((ANY,)),
    "sin": Spec((ANY,)),
    "cos": Spec((ANY,)),
    "tan": Spec((((-1.3, 1.3),),)),
    "arcsin": Spec((UNIT,)),
    "arccos": Spec((UNIT,)),
    "arctan": Spec((ANY,)),
    "sinh": Spec((ANY,)),
    "cosh": Spec((ANY,)),
    "tanh": Spec((ANY,)),
    "arcsinh": Spec((ANY,)),
    "arccosh": Spec((((1.1, 3.0),),)),
    "arctanh": Spec((UNIT,)),
    "log1p": Spec((((-0.9, 3.0),),)),
    "expm1": Spec((ANY,)),
    "log2": Spec((POSITIVE,)),
    "log10": Spec((POSITIVE,)),
    "abs": Spec((AWAY_FROM_0,)),
    "sign": Spec((AWAY_FROM_0,)),  # derivative 0 away from 0
    "hypot": Spec((AWAY_FROM_0, ANY)),
    "arctan2": Spec((AWAY_FROM_0, ANY)),  # (y, x): away from the branch cut y = 0, x < 0
    "logaddexp": Spec((ANY, ANY)),
    "minimum": Spec((ANY, ANY), apart=True),
    "maximum": Spec((ANY, ANY), apart=True),
    "where": Spec((CONDITION, ANY, ANY), constant_args=(0,)),
    "identity": Spec((ANY,)),
    "binary_step": Spec((AWAY_FROM_0,)),  # derivative 0 away from 0
    "sigmoid": Spec((((-6.0, 6.0),),)),
    "softsign": Spec((AWAY_FROM_0,)),  # C^1: the second derivative jumps at 0
    "isru": Spec((ANY,), params=({}, {"alpha": 0.5}, {"alpha": 3.0})),
    "relu": Spec((AWAY_FROM_0,)),
    "leaky_relu": Spec((AWAY_FROM_0,), params=({}, {"alpha": 0.2})),
    "prelu": Spec((AWAY_FROM_0, ANY)),  # prelu(x, a): the slope a is an input too
    "softplus": Spec((ANY,)),
}

# Primitives that are not elementwise: checked in the second half of this file.
TENSOR_PRIMITIVES = {"sum_to", "matmul", "outer", "transpose", "sum", "mean", "size",
                     "broadcast_like", "logsumexp", "softmax", "log_softmax", "one_hot",
                     "mse", "mse_grad", "bce_with_logits", "bce_with_logits_grad", "softmax_xent",
                     "softmax_xent_grad"}
NAMES = "xyz"


def test_every_primitive_is_checked_here():
    missing = set(gd.REGISTRY) - set(SPECS) - TENSOR_PRIMITIVES - VOCABULARY
    assert not missing, f"add a domain for {sorted(missing)} to SPECS or TENSOR_CASES"
    assert not (set(SPECS) | TENSOR_PRIMITIVES | VOCABULARY) - set(gd.REGISTRY)


def _draw(rng, domain, size: int) -> np.ndarray:
    if domain == CONDITION:
        return np.where(np.arange(size) % 3 == 0, 0.0, rng.uniform(0.5, 2.0, size)
                        * rng.choice([-1.0, 1.0], size))
    pick = rng.integers(len(domain), size=size)
    lo, hi = np.array(domain).T
    return rng.uniform(lo[pick], hi[pick])


def _points(name: str, spec: Spec, size: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(sum(map(ord, name)))
    point = {NAMES[i]: _draw(rng, d, size) for i, d in enumerate(spec.domains)}
    if spec.apart:
        x, y = point["x"], point["y"]
        point["y"] = np.where(np.abs(x - y) < 0.1, x + 0.3, y)
    return point


def _cases():
    for name, spec in sorted(SPECS.items()):
        for params in spec.params:
            label = name + "".join(f"[{k}={v}]" for k, v in params.items())
            yield pytest.param((name, params), id=label)


@pytest.fixture(params=list(_cases()))
def case(request):
    name, params = request.param
    spec = SPECS[name]
    args = gd.symbols(" ".join(NAMES[:len(spec.domains)]))
    args = args if isinstance(args, tuple) else (args,)
    g = args[0].apply(name, *args, **params)
    return name, spec, g, SympyReference(g), _points(name, spec)


def _differentiated(spec: Spec, g: gd.Graph) -> list[str]:
    return [n for i, n in enumerate(g.inputs) if i not in spec.constant_args]


def test_value_matches_sympy(case):
    name, _, g, ref, point = case
    assert_close(g(**point), ref.value(point), what=name)
    assert_close(gd.compile(g)(**point), ref.value(point), what=name)


def test_reverse_mode_matches_sympy_and_central_differences(case):
    name, spec, g, ref, point = case
    value, grads = gd.value_and_grad(g)(**point)
    graph_values = gd.value_and_grad_graph(g)(**point)
    assert_close(value, ref.value(point), what=name)
    expected = ref.gradient(point)
    for k, n in enumerate(g.inputs):
        what = f"d{name}/d{n}"
        assert np.shape(grads[k]) == np.shape(point[n]), what
        assert_close(grads[k], expected[k], what=what)
        assert_close(graph_values[1 + k], expected[k], what=what + " (graph evaluation)")
        if k in spec.constant_args or not gd.REGISTRY[name].differentiable:
            assert np.all(np.asarray(grads[k]) == 0), what
        else:
            fd = central_difference(g, point, n)
            assert_close(grads[k], fd, rtol=FD_RTOL, atol=FD_ATOL, what=what + " (differences)")


def test_forward_mode_matches_sympy(case):
    name, _, g, ref, point = case
    rng = np.random.default_rng(3)
    for n in g.inputs:  # each input alone, then all together
        _, tangent = gd.jvp(g, {n: 1.0})(**point)
        assert_close(tangent, ref.jvp(point, {n: 1.0}), what=f"{name} along {n}")
    direction = {n: float(rng.normal()) for n in g.inputs}
    _, tangent = gd.jvp(g, direction)(**point)
    assert_close(tangent, ref.jvp(point, direction), what=name)
    tangents = {f"dot_{n}": np.full(np.shape(point[n]), direction[n]) for n in g.inputs}
    _, tangent = gd.jvp(g)(**point, **tangents)
    assert_close(tangent, ref.jvp(point, direction), what=f"{name}, tangent inputs")


def test_second_derivatives_match_sympy(case):
    name, spec, g, ref, point = case
    wrt = _differentiated(spec, g)
    hessian = rows(gd.hessian(g, wrt=wrt, elementwise=True)(**point))
    expected = ref.hessian(point, wrt)
    for i, a in enumerate(wrt):
        for j, b in enumerate(wrt):
            assert_close(hessian[i][j], expected[i][j], rtol=1e-8, atol=1e-10,
                         what=f"d2{name}/d{a}d{b}")


# --- tensor primitives -----------------------------------------------------------------------

# name -> (function of the argument graphs, shapes of the arguments, the primitives it
# checks); an argument of integer labels is marked by a shape in a tuple: ((3,),)
TENSOR_CASES = {
    "sum_to": (lambda t, x, like: gd.sum_to(t, x, like), [(3, 4), (4,), (3, 4)], {"sum_to"}),
    "sum_to_keepdims": (lambda t, x, like: gd.sum_to(t, x, like), [(3, 4), (3, 1), (3, 4)],
                        {"sum_to"}),
    "matmul": (lambda a, b: a @ b, [(3, 4), (4, 2)], {"matmul"}),
    "matmul_matrix_vector": (lambda a, b: a @ b, [(3, 4), (4,)], {"matmul"}),
    "matmul_vector_matrix": (lambda a, b: a @ b, [(4,), (4, 2)], {"matmul"}),
    "matmul_vectors": (lambda a, b: a @ b, [(4,), (4,)], {"matmul"}),
    "outer": (lambda a, b: gd.outer(a, b), [(3,), (4,)], {"outer"}),
    "transpose": (lambda a: gd.transpose(a), [(3, 4)], {"transpose"}),
    "sum": (lambda a: gd.sum(a), [(3, 4)], {"sum"}),
    "sum_axis_0": (lambda a: gd.sum(a, axis=0), [(3, 4)], {"sum"}),
    "sum_axis_1_keepdims": (lambda a: gd.sum(a, axis=1, keepdims=True), [(3, 4)], {"sum"}),
    "mean": (lambda a: gd.mean(a), [(3, 4)], {"mean"}),
    "mean_axis_1": (lambda a: gd.mean(a, axis=1), [(3, 4)], {"mean"}),
    "size": (lambda a: gd.size(a) * a, [(3, 4)], {"size"}),
    "broadcast_like": (lambda t, x: gd.broadcast_like(t, x, axis=0), [(4,), (3, 4)],
                       {"broadcast_like"}),
    "broadcast_like_mean": (lambda t, x: gd.broadcast_like(t, x, axis=1, mean=True),
                            [(3,), (3, 4)], {"broadcast_like"}),
    "logsumexp": (lambda a: gd.logsumexp(a), [(3, 4)], {"logsumexp"}),
    "logsumexp_axis_0_keepdims": (lambda a: gd.logsumexp(a, axis=0, keepdims=True), [(3, 4)],
                                  {"logsumexp"}),
    "softmax": (lambda a: gd.softmax(a), [(3, 4)], {"softmax"}),
    "softmax_axis_0": (lambda a: gd.softmax(a, axis=0), [(3, 4)], {"softmax"}),
    "log_softmax": (lambda a: gd.log_softmax(a), [(3, 4)], {"log_softmax"}),
    "one_hot": (lambda labels, like: gd.one_hot(labels, like) * like, [((3,),), (3, 4)],
                {"one_hot"}),
    "mse": (lambda p, t: gd.mse(p, t), [(3, 4), (3, 4)], {"mse", "mse_grad"}),
    # the losses' derivatives are primitives of their own (first order only)
    "bce_with_logits": (lambda z, y: gd.bce_with_logits(z, y), [(3, 4), (3, 4)],
                        {"bce_with_logits", "bce_with_logits_grad"}),
    "softmax_xent_one_hot": (lambda z, y: gd.softmax_xent(z, y), [(3, 4), (3, 4)],
                             {"softmax_xent", "softmax_xent_grad"}),
    "softmax_xent_labels": (lambda z, y: gd.softmax_xent(z, y), [(3, 4), ((3,),)],
                            {"softmax_xent", "softmax_xent_grad"}),
}
_ARGS = ["a", "b", "c"]


def _tensor_case(name: str, static: bool):
    fn, shapes, _ = TENSOR_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    args, point, labels = [], {}, set()
    for arg, shape in zip(_ARGS, shapes):
        if isinstance(shape[0], tuple):  # integer labels
            (shape,) = shape
            labels.add(arg)
            point[arg] = rng.integers(0, 4, size=shape).astype(float)
        else:
            point[arg] = rng.normal(size=shape)
        args.append(gd.tensor(arg, shape) if static else gd.symbols(arg))
    out = fn(*args)
    return out, point, labels


# Differentiating a matrix product, or a cross-entropy (integer labels or one-hot rows?),
# needs the operands' shapes (a clear error otherwise)
# softmax_xent's targets may be integer labels or one-hot rows: which, the shapes say
NEEDS_SHAPES = {"softmax_xent_one_hot", "softmax_xent_labels"}


def _tensor_params(kind: str):
    for name in TENSOR_CASES:
        for mode in ("static", "dynamic"):
            yield pytest.param(name, mode == "static", id=f"{name}-{mode}")


def test_every_tensor_primitive_has_a_case():
    assert set().union(*(ops for _, _, ops in TENSOR_CASES.values())) == TENSOR_PRIMITIVES


def _needs_shapes(name: str, static: bool, out: gd.Graph, labels: set) -> bool:
    if name in NEEDS_SHAPES and not static:
        inputs = [n for n in out.inputs if n not in labels]
        with pytest.raises(ValueError, match="known shapes.*gd.tensor"):
            gd.value_and_grad(out, wrt=inputs)
        return True
    return False


@pytest.mark.parametrize("name, static", list(_tensor_params("vjp")))
def test_tensor_vjp_matches_central_differences(name, static):
    out, point, labels = _tensor_case(name, static)
    if _needs_shapes(name, static, out, labels):
        return
    rng = np.random.default_rng(11)
    cotangent = rng.normal(size=np.shape(out(**point)))
    W = gd.tensor("W", cotangent.shape) if static else gd.symbols("W")
    loss = W * out  # a non-scalar output: differentiated as the sum of its entries
    inputs = [n for n in out.inputs if n not in labels]
    _, grads = gd.value_and_grad(loss, wrt=inputs)(W=cotangent, **point)
    graph_grads = gd.grad_graph(loss, inputs)(W=cotangent, **point)
    graph_grads = graph_grads if len(inputs) > 1 else (graph_grads,)

    def scalar(**p):
        return float(np.sum(cotangent * out(**p)))

    for n, got, via_graph in zip(inputs, grads, graph_grads):
        assert np.shape(got) == np.shape(point[n]), n
        expected = entrywise_difference(scalar, point, n)
        assert_close(got, expected, rtol=1e-6, atol=1e-8, what=f"{name}: d/d{n}")
        assert_close(via_graph, got, rtol=1e-12, atol=1e-14, what=f"{name}: graph")


@pytest.mark.parametrize("name, static", list(_tensor_params("jvp")))
def test_tensor_jvp_matches_central_differences_and_the_vjp(name, static):
    out, point, labels = _tensor_case(name, static)
    if _needs_shapes(name, static, out, labels):
        return
    rng = np.random.default_rng(12)
    direction = {n: (np.zeros_like(v) if n in labels else rng.normal(size=np.shape(v)))
                 for n, v in point.items()}
    tangents = {f"dot_{n}": v for n, v in direction.items()}
    value, tangent = gd.jvp(out)(**point, **tangents)
    assert_close(value, out(**point))
    h = 1e-6
    up = {n: v + h * direction[n] for n, v in point.items()}
    down = {n: v - h * direction[n] for n, v in point.items()}
    expected = (out(**up) - out(**down)) / (2 * h)
    assert_close(tangent, expected, rtol=1e-6, atol=1e-8, what=f"{name}: jvp")
    # <W, J t> = <J^T W, t>: forward and reverse mode are transposes of each other
    cotangent = rng.normal(size=np.shape(tangent))
    W = gd.tensor("W", cotangent.shape) if static else gd.symbols("W")
    inputs = [n for n in out.inputs if n not in labels]
    _, grads = gd.value_and_grad(W * out, wrt=inputs)(W=cotangent, **point)
    reverse = sum(float(np.sum(g * direction[n])) for n, g in zip(inputs, grads))
    assert_close(np.sum(cotangent * tangent), reverse, rtol=1e-10, atol=1e-12)


def test_non_differentiable_primitives_say_so():
    flagged = {n for n, p in gd.REGISTRY.items() if not p.differentiable}
    assert {"sign", "binary_step", "one_hot"} <= flagged
