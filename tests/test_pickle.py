"""Pickling (issue 10): compiled functions and trained MLPs travel to other processes by the
call that built them (a graph, names, flags), never as code; unpickling regenerates the
source."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import nn

BUILDS = [
    lambda: gd.compile("x1*x2 + sin(x1)", name="intro"),
    lambda: gd.value_and_grad("sum(tanh(x) * y)", wrt=["x"]),
    lambda: gd.grad("x**3 * y"),
    lambda: gd.jvp("x*y + exp(x)", {"x": 1.0}),
    lambda: gd.jacobian("x*y + exp(x)"),
    lambda: gd.hessian("x**2 * y**3"),
    lambda: gd.compile(gd.parse("log(1 + exp(x))") * 2),
]
ARGS = (np.array([0.5, 1.5]), np.array([2.0, -1.0]))


def _args(f):
    return ARGS[:len(f.inputs)]


@pytest.mark.parametrize("build", BUILDS)
def test_round_trip_regenerates_the_same_function(build):
    f = build()
    data = pickle.dumps(f)
    assert b"import numpy" not in data and b"def " not in data  # no code travels
    g = pickle.loads(data)
    assert g.source == f.source and g.inputs == f.inputs and g.name == f.name
    np.testing.assert_equal(g(*_args(f)), f(*_args(f)))


def _apply(f, args):
    return f(*args)


def test_a_process_pool_runs_them():
    fs = [build() for build in BUILDS[:3]]
    with ProcessPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(_apply, fs, [_args(f) for f in fs]))
    for f, result in zip(fs, got):
        np.testing.assert_equal(result, f(*_args(f)))


def test_a_variant_is_not_pickled_alone():
    f = gd.compile("x + 1")
    variant = f.specialized(np.ones(3))
    if variant is not f:
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(variant)
    assert pickle.loads(pickle.dumps(f))(np.ones(3)).tolist() == [2.0, 2.0, 2.0]


def test_unpickling_calls_only_graphdiff():
    from graphdiff.codegen import _call

    class Sneaky:
        def __reduce__(self):
            return _call, (print, ("pwned",), {})

    with pytest.raises(TypeError, match="not graphdiff's own"):
        pickle.loads(pickle.dumps(Sneaky()))


def test_a_trained_mlp_round_trips():
    X, y = nn.datasets.rings(60, seed=0)
    model = nn.MLP([2, 6, 3], activation="tanh", loss="softmax_xent", seed=3)
    model.fit(X, y % 3, epochs=20, weight_decay=1e-3, verbose=False)
    again = pickle.loads(pickle.dumps(model))
    assert repr(again) == repr(model)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.step.source == model.step.source  # the step of the last fit, rebuilt
    assert again.history.loss == model.history.loss
    # training goes on identically from the same state (the random stream travels too)
    model.fit(X, y % 3, epochs=3, verbose=False)
    again.fit(X, y % 3, epochs=3, verbose=False)
    np.testing.assert_array_equal(again.params[0], model.params[0])


def _predict(model, X):
    return model.predict(X)


def test_an_mlp_in_a_process_pool():
    X, Y = nn.datasets.sinusoid(n=20, noise=0.1, seed=0)
    model = nn.MLP([1, 4, 1], seed=0)
    model.fit(X, Y, epochs=10, verbose=False)
    with ProcessPoolExecutor(max_workers=1) as pool:
        np.testing.assert_array_equal(pool.submit(_predict, model, X).result(),
                                      model.predict(X))
