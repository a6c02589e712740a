"""Optimizers decrease a quadratic, update in place, and keep float32 as float32."""

import itertools

import numpy as np
import pytest

from graphdiff.nn import optimizers
from graphdiff.nn.optimizers import SCG, SGD, Adam, Momentum, make_optimizer

# f(p) = ½ Σ_i (A_i p_i - c_i)²  over two parameter arrays, a badly scaled quadratic
A = [np.array([[3.0, 0.5], [0.5, 1.0]]), np.diag([0.2, 2.0, 1.0])]
C = [np.array([1.0, -2.0]), np.array([0.5, 0.0, -1.0])]


def quadratic(params):
    value, grads = 0.0, []
    for a, c, p in zip(A, C, params):
        r = a @ p - c
        value += 0.5 * float(r @ r)
        grads.append(a.T @ r)
    return value, grads


def minimum():
    return [np.linalg.solve(a, c) for a, c in zip(A, C)]


@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.05), Adam(0.05)], ids=repr)
def test_stepwise_optimizers_minimize_a_quadratic(opt):
    params = [np.zeros(2), np.zeros(3)]
    first = quadratic(params)[0]
    for _ in range(2000):
        opt.update(params, quadratic(params)[1])
    assert quadratic(params)[0] < 1e-3 * first
    for p, best in zip(params, minimum()):
        np.testing.assert_allclose(p, best, atol=0.05)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_are_in_place_without_new_state(name, dtype):
    opt = make_optimizer(name, lr=0.01)
    params = [np.ones((3, 2), dtype), np.ones(2, dtype)]
    ids = [id(p) for p in params]
    grads = [np.full((3, 2), 0.5, dtype), np.full(2, -0.5, dtype)]
    opt.update(params, grads)
    state = [id(a) for arrays in opt._state for a in arrays]
    for _ in range(3):
        opt.update(params, grads)
    assert [id(p) for p in params] == ids
    assert [id(a) for arrays in opt._state for a in arrays] == state
    assert all(p.dtype == dtype for p in params)
    assert all(a.dtype == dtype for arrays in opt._state for a in arrays)
    assert params[0][0, 0] < 1 < params[1][0]


def test_sgd_and_momentum_rules():
    p, g = [np.array([1.0])], [np.array([2.0])]
    SGD(0.1).update(p, g)
    assert p[0][0] == pytest.approx(0.8)
    p, opt = [np.array([1.0])], Momentum(0.1, momentum=0.5)
    opt.update(p, g)  # v = 2, p = 1 - 0.2
    opt.update(p, g)  # v = 0.5*2 + 2 = 3, p = 0.8 - 0.3
    assert p[0][0] == pytest.approx(0.5)


def test_adam_first_step_moves_by_lr():
    # bias correction makes the first step lr * g / |g| (up to eps)
    p = [np.array([1.0, 1.0])]
    Adam(0.01).update(p, [np.array([3.0, -1e-3])])
    np.testing.assert_allclose(p[0], [0.99, 1.01], rtol=1e-5)


def _flat_quadratic(x):
    sizes = np.cumsum([0] + [len(c) for c in C])
    value, grads = quadratic([x[a:b] for a, b in itertools.pairwise(sizes)])
    return value, np.concatenate(grads)


def test_scg_minimizes_a_quadratic():
    iterations = []
    x = SCG().minimize(_flat_quadratic, np.zeros(5), 100,
                       lambda x, f: iterations.append(f))
    np.testing.assert_allclose(x, np.concatenate(minimum()), atol=1e-6)
    assert iterations[-1] < 1e-12 and len(iterations) < 50
    assert all(b <= a for a, b in itertools.pairwise(iterations))  # never goes uphill


@pytest.mark.parametrize("name", ["lbfgs", "bfgs", "cg"])
def test_scipy_methods_minimize_a_quadratic(name):
    pytest.importorskip("scipy")
    x = make_optimizer(name).minimize(_flat_quadratic, np.zeros(5), 200)
    np.testing.assert_allclose(x, np.concatenate(minimum()), atol=1e-4)


def test_full_batch_callback_can_stop():
    pytest.importorskip("scipy")
    for opt in (SCG(), make_optimizer("lbfgs")):
        seen = []

        def stop_after_two(x, f, seen=seen):
            seen.append(f)
            if len(seen) == 2:
                raise StopIteration

        try:
            opt.minimize(_flat_quadratic, np.zeros(5), 100, stop_after_two)
        except StopIteration:
            pass
        assert len(seen) == 2


def test_flatten_round_trip_keeps_dtypes():
    params = [np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(2.0)]
    x = optimizers.flatten(params)
    assert x.dtype == np.float64 and x.shape == (8,)
    target = [np.zeros((2, 3), np.float32), np.zeros(2)]
    optimizers.unflatten_into(target, x)
    assert target[0].dtype == np.float32
    np.testing.assert_array_equal(target[0], params[0])


def test_bad_optimizer_arguments():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; known: sgd"):
        make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        make_optimizer("sgd", lr=float("nan"))
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        SGD(-1.0)
    with pytest.raises(ValueError, match="takes no learning rate"):
        make_optimizer("lbfgs", lr=0.1)
    with pytest.raises(ValueError, match="momentum must be in"):
        Momentum(0.1, momentum=1.5)
