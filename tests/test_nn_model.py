"""MLP: construction, training loop, dropout, early stopping, saving, and bad input."""

import io
import os
import warnings

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import nn
from graphdiff.nn import backprop
from graphdiff.nn.model import _Progress


@pytest.fixture
def sinusoid():
    return nn.datasets.sinusoid(n=10, noise=0.3, seed=0)


def test_parameters_and_initialisation():
    model = nn.MLP([3, 5, 2], activation="relu", seed=1)
    assert [p.shape for p in model.params] == [(3, 5), (5,), (5, 2), (2,)]
    assert model.n_parameters == 3 * 5 + 5 + 5 * 2 + 2
    assert all(p.dtype == np.float64 for p in model.params)
    assert not model.params[1].any() and not model.params[3].any()  # zero biases
    same = nn.MLP([3, 5, 2], activation="relu", seed=1)
    np.testing.assert_array_equal(model.params[0], same.params[0])
    assert not np.array_equal(model.params[0], nn.MLP([3, 5, 2], seed=2).params[0])
    wide = nn.MLP([400, 400, 1], init="xavier", seed=0).params[0]
    assert np.abs(wide).max() <= np.sqrt(6 / 800)
    assert wide.std() == pytest.approx(np.sqrt(2 / 800), rel=0.05)
    he = nn.MLP([400, 400, 1], init="he", seed=0).params[0]
    assert he.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    assert nn.MLP([2, 3, 1], dtype=np.float32).params[0].dtype == np.float32


def test_fit_reduces_the_training_loss(sinusoid):
    X, Y = sinusoid
    model = nn.MLP([1, 3, 1], activation="tanh", loss="mse", seed=0)
    history = model.fit(X, Y, epochs=500, optimizer="adam", lr=0.02)
    assert history is model.history and history.epochs == 500
    assert history.loss[-1] < 0.3 * history.loss[0]
    assert model.evaluate(X, Y) < 0.3 * history.loss[0]
    assert history.val_loss == [] and history.accuracy == []
    assert model.predict(X).shape == (10, 1)
    assert model.score(X, Y) > 0.5  # R²


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mini_batches_with_each_optimizer(optimizer, dtype):
    X, Y = nn.datasets.noisy_regression(n=40, seed=0)
    model = nn.MLP([1, 8, 1], seed=0, dtype=dtype)
    history = model.fit(X, Y, epochs=100, optimizer=optimizer, lr=0.01, batch_size=8)
    assert history.loss[-1] < history.loss[0]
    assert all(p.dtype == dtype for p in model.params)
    assert model.predict(X).dtype == dtype


def test_training_is_reproducible():
    X, Y = nn.datasets.noisy_regression(n=30, seed=0)
    runs = []
    for _ in range(2):
        model = nn.MLP([1, 6, 1], seed=4)
        model.fit(X, Y, epochs=20, lr=0.01, batch_size=7, dropout=0.2)
        runs.append(model.params)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_classifier_history_and_predictions():
    X, y = nn.datasets.rings(120, seed=0)
    (Xt, yt), (Xv, yv) = nn.datasets.split(X, y, 0.25, seed=0)
    model = nn.MLP([2, 6, 2], loss="softmax_xent", seed=0)
    history = model.fit(Xt, yt, epochs=30, lr=0.05, validation=(Xv, yv))
    assert len(history.accuracy) == len(history.val_accuracy) == len(history.val_loss) == 30
    p = model.predict(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict_classes(X), p.argmax(axis=1))
    assert model.score(Xv, yv) == history.val_accuracy[-1]
    binary = nn.MLP([2, 4, 1], loss="bce", seed=0)
    binary.fit(X, y, epochs=5)
    probabilities = binary.predict(X)
    assert np.all((probabilities > 0) & (probabilities < 1))
    np.testing.assert_array_equal(binary.predict_classes(X), probabilities >= 0.5)  # 1-d y
    with pytest.raises(ValueError, match="needs a classifier"):
        nn.MLP([1, 2, 1]).predict_classes(X[:, :1])


def test_early_stopping_restores_the_best_weights():
    X, Y = nn.datasets.noisy_regression(n=60, noise=0.4, seed=0)
    (Xt, Yt), (Xv, Yv) = nn.datasets.split(X, Y, 0.3, seed=1)
    model = nn.MLP([1, 40, 40, 1], seed=0)
    history = model.fit(Xt, Yt, epochs=2000, lr=0.01, validation=(Xv, Yv), early_stopping=25)
    assert history.stopped_early and history.epochs < 2000
    assert history.epochs == history.best_epoch + 1 + 25
    assert history.val_loss[history.best_epoch] == min(history.val_loss)
    assert model.evaluate(Xv, Yv) == pytest.approx(min(history.val_loss), rel=1e-12)


def test_dropout_is_off_at_prediction():
    X, Y = nn.datasets.noisy_regression(n=30, seed=2)
    model = nn.MLP([1, 16, 16, 1], seed=0)
    model.fit(X, Y, epochs=30, lr=0.01, dropout=0.5)
    first, second = model.predict(X), model.predict(X)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, backprop.forward(model.params, X, "tanh"))


class Recording(nn.MLP):
    """An MLP whose step records what fit hands it: the pluggable piece in use."""

    def _make_step(self, dropout=False, weight_decay=0.0, int_labels=False):
        self.made = getattr(self, "made", []) + [(dropout, weight_decay, int_labels)]
        inner = super()._make_step(dropout, weight_decay, int_labels)

        def step(params, X, Y, masks):
            self.masks_seen.append(None if masks is None else [m.copy() for m in masks])
            return inner(params, X, Y, masks)

        step.source = "recorded"
        self.masks_seen = []
        return step


def test_dropout_masks_follow_the_lecture_definition():
    X, Y = nn.datasets.noisy_regression(n=200, seed=0)
    model = Recording([1, 50, 30, 1], seed=0)
    model.fit(X, Y, epochs=3, keep_prob=0.8)
    masks = model.masks_seen
    assert len(masks) == 3 and [m.shape for m in masks[0]] == [(200, 50), (200, 30)]
    values = np.concatenate([m.ravel() for step in masks for m in step])
    assert set(np.unique(values)) == {0.0, 1 / 0.8}  # kept units scaled by 1/keep_prob
    assert np.mean(values > 0) == pytest.approx(0.8, abs=0.02)  # kept with prob keep_prob
    assert not np.array_equal(masks[0][0], masks[1][0])  # fresh masks every step
    model.fit(X, Y, epochs=1, dropout=0.0)
    assert model.masks_seen[-1] is None


def test_the_step_is_made_once_per_configuration(sinusoid):
    X, Y = sinusoid
    model = Recording([1, 3, 1], seed=0)
    for _ in range(2):
        model.fit(X, Y, epochs=5, batch_size=3)
    model.fit(X, Y, epochs=5, dropout=0.1, weight_decay=0.01)
    model.fit(X, Y, epochs=5)
    assert model.made == [(False, 0.0, False), (True, 0.01, False)]
    classifier = Recording([2, 3, 2], loss="softmax_xent")
    X, y = nn.datasets.rings(20, seed=0)
    classifier.fit(X, y, epochs=2)
    classifier.fit(X, np.eye(2)[y], epochs=2)
    assert classifier.made == [(False, 0.0, True), (False, 0.0, False)]
    assert model.step.source == "recorded" and model.graph is None
    plain = nn.MLP([1, 2, 1])
    assert "def loss_and_grads(X, Y, W1, b1, W2, b2):" in plain.step.source
    assert plain.graph.inputs == ("X", "Y", "W1", "b1", "W2", "b2")


def test_weight_decay_shrinks_the_weights(sinusoid):
    X, Y = sinusoid
    norms = []
    for decay in (0.0, 0.05):
        model = nn.MLP([1, 10, 1], seed=0)
        model.fit(X, Y, epochs=300, lr=0.02, weight_decay=decay)
        norms.append(sum(float((W**2).sum()) for W in model.params[0::2]))
    assert norms[1] < 0.7 * norms[0]


def test_full_batch_methods(sinusoid):
    X, Y = sinusoid
    model = nn.MLP([1, 3, 1], seed=0)
    history = model.fit(X, Y, epochs=300, optimizer="scg")
    assert history.loss[-1] < 0.05 and model.evaluate(X, Y) == pytest.approx(history.loss[-1])
    pytest.importorskip("scipy")
    Xv, Yv = nn.datasets.sinusoid(n=20, seed=1, spacing="random")
    model = nn.MLP([1, 10, 1], seed=0)
    history = model.fit(X, Y, epochs=500, optimizer="lbfgs", validation=(Xv, Yv),
                        early_stopping=5)
    assert history.stopped_early
    assert model.evaluate(Xv, Yv) == pytest.approx(min(history.val_loss), rel=1e-12)
    with pytest.raises(ValueError, match="full-batch method: batch_size must be None"):
        model.fit(X, Y, optimizer="lbfgs", batch_size=2)
    with pytest.raises(ValueError, match="full-batch method .* cannot follow"):
        model.fit(X, Y, optimizer="scg", dropout=0.5)


def test_callback_and_progress(sinusoid):
    X, Y = sinusoid
    seen = []
    history = nn.MLP([1, 3, 1]).fit(X, Y, epochs=50,
                                    callback=lambda epoch, logs: seen.append(logs) or epoch == 4)
    assert history.epochs == 5 and list(seen[0]) == ["loss"]
    stream = io.StringIO()
    progress = _Progress(True, epochs=3, stream=stream)
    for epoch in range(3):
        progress.update(epoch, {"loss": 0.5, "val_loss": 0.25})
    assert "epoch 1/3  loss 0.5  val_loss 0.25" in stream.getvalue()
    assert "epoch 3/3" in stream.getvalue()
    quiet = io.StringIO()
    _Progress(None, epochs=1, stream=quiet).update(0, {"loss": 1.0})  # not a terminal
    assert quiet.getvalue() == ""


def test_save_and_load_round_trip(tmp_path):
    X, y = nn.datasets.rings(50, seed=0)
    model = nn.MLP([2, 5, 4, 3], activation="leaky_relu", loss="softmax_xent", seed=7,
                   dtype=np.float32)
    model.fit(X, y % 3, epochs=5)
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as data:  # nothing needs pickling
        assert str(data["activation"]) == "leaky_relu"
    loaded = nn.MLP.load(path)
    assert repr(loaded) == repr(model) and loaded.seed == 7
    for a, b in zip(model.params, loaded.params):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    regression = nn.MLP([1, 2, 1], output_activation="tanh", seed=None)
    regression.save(tmp_path / "r.npz")
    again = nn.MLP.load(tmp_path / "r.npz")
    assert again.output_activation == "tanh" and again.seed is None


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    nn.MLP([1, 2, 1], seed=0).save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        nn.MLP([1, 2, 1], seed=1).save(path)
    assert path.read_bytes() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["model.npz"]  # and no temporary file is left


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved graphdiff MLP"):
        nn.MLP.load(tmp_path / "other.npz")
    np.save(tmp_path / "object.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        nn.MLP.load(tmp_path / "object.npy")  # pickles are never loaded
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a saved graphdiff MLP"):
        nn.MLP.load(tmp_path / "plain.npy")


@pytest.mark.parametrize("kwargs, message", [
    ({"layer_sizes": [3]}, "at least an input and an output"),
    ({"layer_sizes": [2, 0, 1]}, "every layer size must be a positive integer"),
    ({"layer_sizes": [2, 1], "activation": "swish"}, "unknown activation 'swish'; known:"),
    ({"layer_sizes": [2, 1], "activation": "prelu"}, "use leaky_relu"),
    ({"layer_sizes": [2, 1], "loss": "hinge"}, "unknown loss 'hinge'"),
    ({"layer_sizes": [2, 1], "loss": "bce", "output_activation": "tanh"}, "takes logits"),
    ({"layer_sizes": [2, 1], "loss": "softmax_xent"}, "at least 2 outputs"),
    ({"layer_sizes": [2, 1], "init": "lecun"}, "unknown init 'lecun'"),
    ({"layer_sizes": [2, 1], "dtype": np.int64}, "dtype must be float32 or float64"),
    ({"layer_sizes": [2, 1], "seed": -1}, "seed must be a non-negative integer or None"),
])
def test_bad_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.MLP(**kwargs)


def _fit_error(model, X, Y, **kwargs):
    with pytest.raises(ValueError) as info:
        model.fit(X, Y, epochs=2, **kwargs)
    return str(info.value)


def test_bad_data_is_named():
    X, Y = np.zeros((5, 2)), np.zeros((5, 1))
    reg = nn.MLP([2, 3, 1])
    bad = X.copy()
    bad[3, 1] = np.nan
    assert "X contains nan at index (3, 1)" in _fit_error(reg, bad, Y)
    assert "Y contains inf" in _fit_error(reg, X, np.full((5, 1), np.inf))
    assert "X is empty" in _fit_error(reg, np.zeros((0, 2)), np.zeros((0, 1)))
    assert "X has 3 feature(s)" in _fit_error(reg, np.zeros((5, 3)), Y)
    assert "X has 5 samples but Y has 4" in _fit_error(reg, X, Y[:4])
    assert "Y has shape (5, 2)" in _fit_error(reg, X, np.zeros((5, 2)))
    assert "must hold numbers" in _fit_error(reg, X.astype(str), Y)
    assert "X_val has 1 feature" in _fit_error(reg, X, Y, validation=(np.zeros((2, 1)), Y[:2]))
    xent = nn.MLP([2, 3, 3], loss="softmax_xent")
    assert "Y[2] = 3 is out of range: labels must be in [0, 3)" in _fit_error(
        xent, X, np.array([0, 1, 3, 2, 0]))
    assert "out of range" in _fit_error(xent, X, np.array([0, -1, 1, 2, 0]))
    assert "must be integers" in _fit_error(xent, X, np.array([0, 0.5, 1, 2, 0]))
    assert "one-hot or probabilities" in _fit_error(xent, X, np.ones((5, 3)))
    bce = nn.MLP([2, 3, 1], loss="bce")
    assert "must lie in [0, 1] for bce" in _fit_error(bce, X, np.full(5, 2.0))
    with pytest.raises(ValueError, match="X contains nan"):
        reg.predict(bad)


def test_bad_training_options_are_named():
    X, Y = np.zeros((5, 2)), np.zeros((5, 1))
    model = nn.MLP([2, 3, 1])
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        model.fit(X, Y, epochs=0)
    assert "pass validation=" in _fit_error(model, X, Y, early_stopping=5)
    assert "dropout (probability of dropping a unit) must be in [0, 1)" in _fit_error(
        model, X, Y, dropout=1.0)
    assert "keep_prob must be in (0, 1]" in _fit_error(model, X, Y, keep_prob=0.0)
    assert "either dropout" in _fit_error(model, X, Y, dropout=0.5, keep_prob=0.5)
    assert "weight_decay must be" in _fit_error(model, X, Y, weight_decay=-1.0)
    assert "batch_size must be" in _fit_error(model, X, Y, batch_size=0)
    assert "learning rate must be a positive number" in _fit_error(model, X, Y, lr=0.0)
    assert "unknown optimizer" in _fit_error(model, X, Y, optimizer="newton")
    assert "give the learning rate to the optimizer" in _fit_error(
        model, X, Y, optimizer=nn.SGD(0.1), lr=0.1)


def test_a_diverging_learning_rate_stops_with_a_warning(sinusoid):
    X, Y = sinusoid
    model = nn.MLP([1, 10, 1], seed=0)
    with pytest.warns(nn.DivergenceWarning, match="training diverged in epoch .*learning "
                                                  "rate 50.0 too large"):
        history = model.fit(X, 100 * Y, epochs=200, optimizer="sgd", lr=50.0)
    assert history.diverged and history.epochs < 200
    assert all(np.isfinite(p).all() for p in model.params)
    assert np.isfinite(model.predict(X)).all()
    best = history.best_epoch
    assert best is None or history.loss[best] == min(history.loss)


def test_divergence_to_nan_in_the_first_step_keeps_the_initial_weights():
    X = np.array([[1e200], [-1e200]])
    model = nn.MLP([1, 2, 1], activation="identity", seed=0)
    initial = [p.copy() for p in model.params]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow warnings
        with pytest.warns(nn.DivergenceWarning, match="restored the initial weights"):
            model.fit(X, np.zeros((2, 1)), epochs=3, optimizer="sgd", lr=1.0)
    for p, q in zip(model.params, initial):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_warm_start_after_divergence_trains_from_finite_state(sinusoid, optimizer):
    # the fused step updates the optimizer's moments in the same call that computes the
    # loss, so the diverged step has moved them: they restart, and the next fit (warm,
    # the same optimizer, a sane rate) trains from the restored weights
    X, Y = sinusoid
    model = nn.MLP([1, 10, 1], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(nn.DivergenceWarning):
            model.fit(X, 1e3 * Y, epochs=50, optimizer=optimizer, lr=1e4, verbose=False)
    state = model.optimizer._state or []
    assert all(np.isfinite(b).all() for buffers in state for b in buffers)
    model.optimizer.lr = 0.01
    history = model.fit(X, Y, epochs=5, optimizer=model.optimizer, verbose=False)
    assert not history.diverged and np.isfinite(history.loss).all()
    assert history.loss[-1] < history.loss[0]


@pytest.mark.parametrize("activation", ["sin", "arcsinh", "softplus", "isru"])
def test_any_unary_registry_activation_trains_and_predicts(activation, tmp_path):
    # the generated step takes any elementwise primitive of the registry; prediction
    # evaluates the ones the hand-written reference lacks through the registry
    from graphdiff.nn.model import unary_activations

    assert activation in unary_activations()
    X, Y = nn.datasets.noisy_regression(n=20, seed=0)
    model = nn.MLP([1, 4, 1], activation=activation, output_activation="sin", seed=0)
    rng = np.random.default_rng(0)
    params = [p + 0.3 * rng.standard_normal(p.shape) for p in model.params]
    value, grads = model.step(params, X, Y, None)

    def loss(ps):
        h = X
        for W, b in zip(ps[0:-2:2], ps[1:-2:2]):
            h = gd.call(activation, h @ W + b)
        return float(np.mean((np.sin(h @ ps[-2] + ps[-1]) - Y) ** 2))

    assert value == pytest.approx(loss(params), rel=1e-12)
    eps = 1e-6
    for p, g in zip(params, grads):
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = loss(params)
            p[i] = old - eps
            down = loss(params)
            p[i] = old
            assert g[i] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)
    history = model.fit(X, Y, epochs=100, lr=0.02)
    assert history.loss[-1] < history.loss[0]
    np.testing.assert_allclose(model.predict(X)[:, 0], np.sin(
        gd.call(activation, X @ model.params[0] + model.params[1]) @ model.params[2]
        + model.params[3])[:, 0], rtol=1e-12)
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(nn.MLP.load(tmp_path / "m.npz").predict(X), model.predict(X))
    single = nn.MLP([1, 3, 1], activation=activation, dtype=np.float32)
    assert single.predict(X).dtype == np.float32


@pytest.mark.parametrize("name, message", [
    ("prelu", "learnable parameter, which MLP does not train: use leaky_relu"),
    ("log", "log is not an elementwise function of every real number"),
    ("softmax", "unknown activation 'softmax'"),
])
def test_activations_outside_the_registry_rules_are_named(name, message):
    with pytest.raises(ValueError, match=message):
        nn.MLP([2, 3, 1], activation=name)
    with pytest.raises(ValueError, match="unknown output activation"):
        nn.MLP([2, 3, 1], output_activation=name)
