"""The lecture's claims about neural networks, at sizes small enough for a test."""

import numpy as np
import pytest

from graphdiff import nn


def _train_error(hidden):
    X, Y = nn.datasets.sinusoid(n=10, noise=0.3, seed=0)
    model = nn.MLP([1, hidden, 1], activation="tanh", seed=0)
    model.fit(X, Y, epochs=1000, optimizer="scg")
    return model.evaluate(X, Y)


def test_more_hidden_units_fit_the_ten_sinusoid_points_more_closely():
    # Bishop's figure 5.9: M = 1 underfits, M = 10 passes close to every point
    errors = [_train_error(m) for m in (1, 3, 10)]
    assert errors[0] > 0.05  # one tanh cannot follow a full period
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3


@pytest.mark.parametrize("sizes", [[2, 2, 1], [2, 2, 2, 1], [2, 2, 2, 2, 1]])
def test_two_unit_layers_cannot_separate_the_rings(sizes):
    X, y = nn.datasets.rings(200, seed=0)
    for seed in range(3):
        model = nn.MLP(sizes, activation="tanh", loss="bce", seed=seed)
        model.fit(X, y, epochs=300, optimizer="scg")
        assert model.score(X, y) < 1.0


def test_three_hidden_units_separate_the_rings():
    X, y = nn.datasets.rings(200, seed=0)
    for seed in range(3):
        model = nn.MLP([2, 3, 1], activation="tanh", loss="bce", seed=seed)
        model.fit(X, y, epochs=300, optimizer="scg")
        assert model.score(X, y) == 1.0


def test_sums_of_sigmoids_approximate_a_continuous_function():
    # universal approximation: G(x) = Σ_j α_j σ(w_j x + θ_j) fits sin(2πx) on [0, 1]
    # once there are a few terms; a single sigmoid, being monotonic, cannot
    x = np.linspace(0, 1, 60)[:, None]
    target = np.sin(2 * np.pi * x)
    errors = []
    for n_units in (1, 4):
        model = nn.MLP([1, n_units, 1], activation="sigmoid", seed=0)
        model.fit(x, target, epochs=2000, optimizer="scg")
        errors.append(np.max(np.abs(model.predict(x) - target)))
    assert errors[0] > 0.5 and errors[1] < 0.05


def test_early_stopping_stops_where_the_validation_error_turns_up():
    X, Y = nn.datasets.noisy_regression(n=40, noise=0.3, seed=0)
    (Xt, Yt), (Xv, Yv) = nn.datasets.split(X, Y, 0.3, seed=1)
    full = nn.MLP([1, 32, 32, 1], seed=0)
    long_run = full.fit(Xt, Yt, epochs=1500, lr=0.01, validation=(Xv, Yv))
    # overfitting: the training error keeps falling while the validation error turns up
    best = long_run.best_epoch
    assert long_run.loss[-1] < 0.5 * long_run.loss[best]
    assert long_run.val_loss[-1] > 2 * long_run.val_loss[best]
    stopped = nn.MLP([1, 32, 32, 1], seed=0)
    history = stopped.fit(Xt, Yt, epochs=1500, lr=0.01, validation=(Xv, Yv),
                          early_stopping=100)
    assert history.stopped_early and history.epochs < 1500
    assert stopped.evaluate(Xv, Yv) < 0.5 * full.evaluate(Xv, Yv)
