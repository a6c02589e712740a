"""The lecture's data sets are reproducible and have the stated geometry; bad arguments fail
with a message naming the cause."""

import numpy as np
import pytest

from graphdiff.nn import datasets


def test_sinusoid_is_bishops_data():
    X, Y = datasets.sinusoid(n=10, noise=0.3, seed=0)
    assert X.shape == Y.shape == (10, 1)
    np.testing.assert_allclose(X[:, 0], np.linspace(0, 1, 10))
    residual = Y[:, 0] - np.sin(2 * np.pi * X[:, 0])
    assert 0.05 < residual.std() < 0.6
    _X2, Y2 = datasets.sinusoid(n=10, noise=0.3, seed=0)
    np.testing.assert_array_equal(Y, Y2)
    assert not np.array_equal(Y, datasets.sinusoid(n=10, seed=1)[1])
    Xr, _ = datasets.sinusoid(n=50, seed=0, spacing="random")
    assert np.all((Xr >= 0) & (Xr <= 1)) and not np.allclose(Xr[:, 0], np.linspace(0, 1, 50))
    _, exact = datasets.sinusoid(n=5, noise=0.0)
    np.testing.assert_allclose(exact[:, 0], np.sin(2 * np.pi * np.linspace(0, 1, 5)))


def test_rings_geometry():
    X, y = datasets.rings(1000, seed=3)
    assert X.shape == (1000, 2) and y.shape == (1000,) and y.dtype.kind == "i"
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.all(r[y == 0] < 1 / 3)
    assert np.all((r[y == 1] > 2 / 3) & (r[y == 1] < 1))
    assert (y == 0).sum() == 500
    # uniform in area: half of the disk's points lie inside radius (1/3)/sqrt(2)
    assert abs(np.mean(r[y == 0] < (1 / 3) / np.sqrt(2)) - 0.5) < 0.06
    assert 0.3 < np.mean(y[:100]) < 0.7  # shuffled
    np.testing.assert_array_equal(X, datasets.rings(1000, seed=3)[0])


def test_noisy_regression():
    X, Y = datasets.noisy_regression(n=40, noise=0.0, seed=1)
    assert X.shape == Y.shape == (40, 1)
    np.testing.assert_allclose(Y, datasets.regression_target(X))
    assert np.all(np.abs(X) <= 1)


def test_split():
    X, Y = np.arange(20.0).reshape(10, 2), np.arange(10)
    (Xt, Yt), (Xv, Yv) = datasets.split(X, Y, fraction=0.3, seed=0)
    assert len(Xt) == len(Yt) == 7 and len(Xv) == len(Yv) == 3
    np.testing.assert_array_equal(Xt[:, 0] // 2, Yt)  # rows stay paired
    assert sorted(np.concatenate([Yt, Yv])) == list(range(10))
    (_, Yt2), _ = datasets.split(X, Y, fraction=0.3, seed=0)
    np.testing.assert_array_equal(Yt, Yt2)


@pytest.mark.parametrize("call, message", [
    (lambda: datasets.sinusoid(n=0), "n must be an integer >= 1"),
    (lambda: datasets.sinusoid(noise=-1), "noise must be a finite number >= 0"),
    (lambda: datasets.sinusoid(noise=float("nan")), "noise must be a finite number"),
    (lambda: datasets.sinusoid(spacing="log"), "spacing must be 'grid' or 'random'"),
    (lambda: datasets.rings(1), "n must be an integer >= 2"),
    (lambda: datasets.rings(2.5), "n must be an integer"),
    (lambda: datasets.split(np.zeros((3, 1)), np.zeros(4)), "X has 3 samples but Y has 4"),
    (lambda: datasets.split(np.zeros((3, 1)), np.zeros(3), 1.0), "fraction must be"),
    (lambda: datasets.split(np.zeros((1, 1)), np.zeros(1)), "cannot split 1 sample"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
