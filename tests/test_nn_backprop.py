"""The hand-written back-propagation against central finite differences, for every
activation, loss, dropout mask and weight decay, on small networks."""

import itertools

import numpy as np
import pytest

from graphdiff.nn import backprop, losses

SIZES = [3, 4, 5, 2]
BATCH = 6


def _params(seed, sizes=SIZES, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        params += [rng.standard_normal((n_in, n_out)).astype(dtype),
                   (0.5 * rng.standard_normal(n_out)).astype(dtype)]
    return params


def _targets(loss, rng, n=BATCH, k=SIZES[-1]):
    if loss in ("mse", "sse"):
        return rng.standard_normal((n, k))
    if loss == "bce":
        return rng.random((n, k))
    return rng.integers(0, k, n)


def _masks(rng, keep_prob=0.7, n=BATCH, sizes=SIZES):
    return [(rng.random((n, units)) < keep_prob) / keep_prob for units in sizes[1:-1]]


def finite_differences(params, fun, h=1e-6):
    """Central differences of fun() with respect to every entry of every parameter."""
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            up = fun()
            p[i] = old - h
            down = fun()
            p[i] = old
            g[i] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def check(params, X, Y, masks=None, **kw):
    value, grads = backprop.loss_and_grads([p.copy() for p in params], X, Y, masks=masks, **kw)
    assert value == pytest.approx(backprop.forward_loss(params, X, Y, masks=masks, **kw),
                                  rel=1e-12, abs=1e-12)
    expected = finite_differences(params, lambda: backprop.forward_loss(params, X, Y,
                                                                        masks=masks, **kw))
    assert len(grads) == len(params)
    for g, e, p in zip(grads, expected, params):
        assert g.shape == p.shape and g.dtype == p.dtype
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)


# binary_step: derivative zero, so only the last layer has a gradient (checked all the same)
@pytest.mark.parametrize("activation", list(backprop.ACTIVATIONS))
@pytest.mark.parametrize("loss", losses.LOSSES)
def test_gradient_matches_finite_differences(activation, loss):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((BATCH, SIZES[0]))
    check(_params(2), X, _targets(loss, rng), activation=activation, loss=loss)


@pytest.mark.parametrize("loss", losses.LOSSES)
def test_dropout_masks_and_weight_decay(loss):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((BATCH, SIZES[0]))
    check(_params(4), X, _targets(loss, rng), masks=_masks(rng), weight_decay=0.1,
          activation="tanh", loss=loss)


@pytest.mark.parametrize("head", ["tanh", "sigmoid", "softplus", "arctan"])
def test_mse_with_an_output_activation(head):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((BATCH, SIZES[0]))
    check(_params(6), X, _targets("mse", rng), activation="relu", output_activation=head,
          loss="mse", weight_decay=0.01, masks=_masks(rng, 0.5))


def test_weight_decay_adds_the_penalty_on_weights_only():
    rng = np.random.default_rng(7)
    params, X, Y = _params(8), rng.standard_normal((BATCH, 3)), rng.standard_normal((BATCH, 2))
    plain, g0 = backprop.loss_and_grads(params, X, Y)
    decayed, g1 = backprop.loss_and_grads(params, X, Y, weight_decay=0.3)
    assert decayed - plain == pytest.approx(0.3 * sum((W**2).sum() for W in params[0::2]))
    for i, p in enumerate(params):
        expected = g0[i] + (0.6 * p if i % 2 == 0 else 0)
        np.testing.assert_allclose(g1[i], expected, rtol=1e-12, atol=1e-12)


def test_one_hot_and_integer_labels_agree():
    rng = np.random.default_rng(9)
    params, X = _params(10), rng.standard_normal((BATCH, 3))
    labels = rng.integers(0, 2, BATCH)
    a = backprop.loss_and_grads(params, X, labels, loss="softmax_xent")
    b = backprop.loss_and_grads(params, X, np.eye(2)[labels], loss="softmax_xent")
    assert a[0] == pytest.approx(b[0], rel=1e-14)
    for ga, gb in zip(a[1], b[1]):
        np.testing.assert_allclose(ga, gb, rtol=1e-13, atol=1e-15)


def test_soft_labels_for_softmax_cross_entropy():
    rng = np.random.default_rng(11)
    probabilities = rng.random((BATCH, 2))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    check(_params(12), rng.standard_normal((BATCH, 3)), probabilities, loss="softmax_xent")


def test_losses_against_their_definitions():
    rng = np.random.default_rng(13)
    z, y = rng.standard_normal((5, 3)), rng.random((5, 3))
    assert losses.loss_value("mse", z, y) == pytest.approx(np.mean((z - y) ** 2))
    p = 1 / (1 + np.exp(-z))
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert losses.loss_value("bce", z, y) == pytest.approx(bce)
    labels = rng.integers(0, 3, 5)
    xent = -np.mean(np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True))[np.arange(5), labels])
    assert losses.loss_value("softmax_xent", z, labels) == pytest.approx(xent)


def test_stable_for_huge_logits():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        assert losses.loss_value("softmax_xent", z, np.array([0, 1])) == 0.0
        assert np.isfinite(losses.loss_value("bce", z, np.array([[1.0, 0.0], [0.0, 1.0]])))
        value, g = losses.loss_and_dlogits("bce", z.copy(), np.array([[1.0, 0.0], [0.0, 1.0]]))
        assert value == 0.0 and np.all(g == 0)
        assert np.all(losses.sigmoid(z) >= 0)


def test_float32_stays_float32():
    rng = np.random.default_rng(14)
    params = _params(15, dtype=np.float32)
    X = rng.standard_normal((BATCH, 3)).astype(np.float32)
    for activation in backprop.ACTIVATIONS:
        for loss in losses.LOSSES:
            Y = _targets(loss, rng)
            Y = Y.astype(np.float32) if Y.dtype.kind == "f" else Y
            masks = [m.astype(np.float32) for m in _masks(rng)]
            value, grads = backprop.loss_and_grads(params, X, Y, activation=activation,
                                                   loss=loss, weight_decay=0.1, masks=masks)
            assert np.isfinite(value)
            assert all(g.dtype == np.float32 for g in grads), (activation, loss)
            assert backprop.forward(params, X, activation).dtype == np.float32


def test_inputs_and_parameters_are_not_modified():
    rng = np.random.default_rng(16)
    params, X, Y = _params(17), rng.standard_normal((BATCH, 3)), rng.standard_normal((BATCH, 2))
    copies = [p.copy() for p in params] + [X.copy(), Y.copy()]
    backprop.loss_and_grads(params, X, Y, weight_decay=0.5, masks=_masks(rng))
    for before, after in zip(copies, [*params, X, Y]):
        np.testing.assert_array_equal(before, after)


def test_step_object():
    step = backprop.Backprop("relu", loss="bce", weight_decay=0.1)
    assert step.source is None and step.graph is None
    rng = np.random.default_rng(18)
    params, X, Y = _params(19), rng.standard_normal((4, 3)), rng.random((4, 2))
    value, _grads = step(params, X, Y, None)
    expected = backprop.loss_and_grads(params, X, Y, activation="relu", loss="bce",
                                       weight_decay=0.1)
    assert value == expected[0]
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        backprop.Backprop("swish")
    with pytest.raises(ValueError, match="takes logits"):
        backprop.loss_and_grads(params, X, Y, loss="bce", output_activation="sigmoid")
