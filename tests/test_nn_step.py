"""The contract of MLP._make_step, whatever computes it: agreement with the hand-written
back-propagation for every activation, loss, dropout mask and weight decay, float32 kept,
any batch size, inputs left untouched."""

import numpy as np
import pytest

from graphdiff import nn
from graphdiff.nn import backprop

SIZES = [3, 4, 5, 3]


def _data(loss, n, dtype, rng, one_hot=False):
    X = rng.standard_normal((n, SIZES[0])).astype(dtype)
    if loss in ("mse", "sse"):
        Y = rng.standard_normal((n, SIZES[-1])).astype(dtype)
    elif loss == "bce":
        Y = (rng.random((n, SIZES[-1])) < 0.5).astype(dtype)
    else:
        Y = rng.integers(0, SIZES[-1], n).astype(np.intp)
        Y = np.eye(SIZES[-1], dtype=dtype)[Y] if one_hot else Y
    return X, Y


def _masks(model, n, keep_prob, rng):
    return [((rng.random((n, k)) < keep_prob) / keep_prob).astype(model.dtype)
            for k in model.layer_sizes[1:-1]]


def _perturbed(model, rng):
    # non-zero biases, so that every parameter's gradient is exercised
    return [(p + 0.3 * rng.standard_normal(p.shape)).astype(model.dtype) for p in model.params]


def _check(model, dropout, weight_decay, one_hot=False, rtol=1e-10):
    rng = np.random.default_rng(0)
    int_labels = model.loss == "softmax_xent" and not one_hot
    step = model._make_step(dropout, weight_decay, int_labels)
    params = _perturbed(model, rng)
    for n in (7, 2):  # the batch dimension is not fixed
        X, Y = _data(model.loss, n, model.dtype, rng, one_hot)
        masks = _masks(model, n, 0.6, rng) if dropout else None
        before = [a.copy() for a in (*params, X, Y, *(masks or []))]
        value, grads = step(params, X, Y, masks)
        after = (*params, X, Y, *(masks or []))
        assert all(np.array_equal(a, b) for a, b in zip(before, after)), "inputs changed"
        expected, expected_grads = backprop.loss_and_grads(
            params, X, Y, activation=model.activation, output_activation=model.head,
            loss=model.loss, weight_decay=weight_decay, masks=masks)
        assert isinstance(float(value), float)
        assert float(value) == pytest.approx(expected, rel=rtol, abs=rtol)
        assert len(grads) == len(params)
        for g, e, p in zip(grads, expected_grads, params):
            assert g.shape == p.shape and g.dtype == p.dtype
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("activation", list(backprop.ACTIVATIONS))
@pytest.mark.parametrize("loss", nn.LOSSES)
def test_step_matches_backprop(activation, loss):
    model = nn.MLP(SIZES, activation=activation, loss=loss, seed=1)
    _check(model, dropout=False, weight_decay=0.0)
    _check(model, dropout=True, weight_decay=0.05)


def test_step_with_one_hot_labels_and_an_output_activation():
    _check(nn.MLP(SIZES, activation="tanh", loss="softmax_xent", seed=2), True, 0.1,
           one_hot=True)
    _check(nn.MLP(SIZES, activation="relu", output_activation="sigmoid", seed=3), True, 0.1)


@pytest.mark.parametrize("loss", nn.LOSSES)
def test_step_in_float32(loss):
    _check(nn.MLP(SIZES, activation="tanh", loss=loss, seed=4, dtype=np.float32),
           True, 0.01, rtol=2e-4)


def test_the_training_page_shows_the_real_generated_step():
    from pathlib import Path
    page = (Path(__file__).resolve().parents[1] / "docs" / "training-an-mlp.md").read_text()
    tiny = nn.MLP([1, 3, 1], activation="tanh", loss="mse", seed=0)
    assert tiny.step.source.rstrip() in page
