"""Monte Carlo dropout: `MLP.predict(X, dropout_samples=N)` returns (mean, std)."""

import numpy as np
import pytest

from graphdiff import nn
from graphdiff.nn import backprop


def _trained(keep_prob=0.7, loss="mse", sizes=(1, 8, 8, 1)):
    X = np.linspace(-1, 1, 12)[:, None]
    Y = np.sin(3 * X) if loss == "mse" else (X > 0).astype(float)
    model = nn.MLP(list(sizes), loss=loss, seed=0)
    model.fit(X, Y, epochs=20, lr=0.01, keep_prob=keep_prob, verbose=False)
    return model, X


def test_mean_and_std_of_thinned_networks():
    model, X = _trained()
    assert model.keep_prob == 0.7
    mean, std = model.predict(X, dropout_samples=30)
    assert mean.shape == std.shape == (12, 1) and (std > 0).all()
    _, zero = model.predict(X, dropout_samples=1)
    assert (zero == 0).all()
    # each sample is one thinned network: the same masks for every input row
    rng_state = model.rng.bit_generator.state
    masks = [m.copy() for m in model._masks(1, 0.7)]
    model.rng.bit_generator.state = rng_state
    again, _ = model.predict(X, dropout_samples=1)
    np.testing.assert_allclose(again, backprop.forward(model.params, X, "tanh", masks=masks),
                               rtol=1e-12)
    # plain predict is untouched by dropout
    np.testing.assert_array_equal(model.predict(X), model.predict(X))


def test_the_mean_tends_to_the_average_network_output():
    model, X = _trained(keep_prob=0.9)
    mean, std = model.predict(X, dropout_samples=400)
    # with keep_prob near 1 the thinned networks stay close to the full one
    assert np.abs(mean - model.predict(X)).max() < 3 * std.max()


def test_classifiers_average_probabilities():
    model, X = _trained(loss="bce")
    mean, std = model.predict(X, dropout_samples=20)
    assert ((mean >= 0) & (mean <= 1)).all() and (std <= 0.5).all()


def test_a_model_without_dropout_needs_keep_prob():
    model, X = _trained(keep_prob=1.0)
    with pytest.raises(ValueError, match="trained with dropout"):
        model.predict(X, dropout_samples=10)
    _, std = model.predict(X, dropout_samples=10, keep_prob=0.5)
    assert (std > 0).any()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="dropout_samples"):
            model.predict(X, dropout_samples=bad, keep_prob=0.5)
    with pytest.raises(ValueError, match="keep_prob"):
        model.predict(X, dropout_samples=3, keep_prob=1.5)
