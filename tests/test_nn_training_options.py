"""fit's training options: schedules, clipping, per-layer activations, validation_split,
early stopping on a chosen metric, warm starts, default mini-batches, the divergence guard
for every loss, NumPy scalars, 1-d predictions and saving into a missing folder."""

import math
import warnings

import numpy as np
import pytest

from graphdiff import nn
from graphdiff.nn import backprop
from graphdiff.nn.optimizers import CosineDecay, ExponentialDecay, StepDecay, make_schedule


@pytest.fixture
def regression():
    return nn.datasets.noisy_regression(n=60, seed=0)


@pytest.fixture
def rings():
    return nn.datasets.rings(200, seed=0)


class BatchRecording(nn.MLP):
    """An MLP that records the number of rows of every step and the gradients it was given."""

    def _make_step(self, dropout=False, weight_decay=0.0, int_labels=False):
        inner = super()._make_step(dropout, weight_decay, int_labels)
        self.rows, self.grads = [], []

        def step(params, X, Y, masks):
            value, grads = inner(params, X, Y, masks)
            self.rows.append(len(X))
            self.grads.append([g.copy() for g in grads])
            return value, grads

        return step


# --- learning-rate schedules and gradient clipping ---------------------------------------

@pytest.mark.parametrize("schedule, expected", [
    ("step", [0.1] * 3 + [0.01] * 3 + [0.001] * 3),
    ("exponential", [0.1 * 0.01 ** (e / 8) for e in range(9)]),
    ("cosine", [0.1 * 0.5 * (1 + math.cos(math.pi * e / 8)) for e in range(9)]),
    (StepDecay(every=2, factor=0.5), [0.1 * 0.5 ** (e // 2) for e in range(9)]),
    (ExponentialDecay(0.9), [0.1 * 0.9**e for e in range(9)]),
    (CosineDecay(period=4, floor=0.1), [0.1 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi *
                                                                                min(e, 4) / 4)))
                                        for e in range(9)]),
])
def test_learning_rate_schedules(regression, schedule, expected):
    X, Y = regression
    model = nn.MLP([1, 4, 1], seed=0)
    history = model.fit(X, Y, epochs=9, optimizer="sgd", lr=0.1, lr_schedule=schedule)
    np.testing.assert_allclose(history.lr, expected, rtol=1e-12)
    assert model.optimizer.lr == 0.1  # the optimizer keeps its own rate for the next fit


def test_a_schedule_changes_the_steps_taken(regression):
    X, Y = regression
    plain, decayed = nn.MLP([1, 4, 1], seed=0), nn.MLP([1, 4, 1], seed=0)
    plain.fit(X, Y, epochs=1, optimizer="sgd", lr=0.1)
    decayed.fit(X, Y, epochs=1, optimizer="sgd", lr=0.1, lr_schedule="cosine")
    for a, b in zip(plain.params, decayed.params):  # the first epoch runs at the full rate
        np.testing.assert_array_equal(a, b)
    plain.fit(X, Y, epochs=3, optimizer="sgd", lr=0.1, warm_start=False)
    decayed.fit(X, Y, epochs=3, optimizer="sgd", lr=0.1, lr_schedule="cosine", warm_start=False)
    assert not np.array_equal(plain.params[0], decayed.params[0])


def test_bad_schedules_are_named(regression):
    X, Y = regression
    model = nn.MLP([1, 4, 1])
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'; known: step"):
        model.fit(X, Y, epochs=2, lr_schedule="linear")
    with pytest.raises(ValueError, match="decay factor must be in"):
        ExponentialDecay(1.5)
    with pytest.raises(ValueError, match="full-batch method that chooses its own steps"):
        model.fit(X, Y, epochs=2, optimizer="scg", lr_schedule="step")
    with pytest.raises(ValueError, match="full-batch method that chooses its own steps"):
        model.fit(X, Y, epochs=2, optimizer="scg", clip_norm=1.0)
    with pytest.raises(ValueError, match="clip_norm must be a positive number"):
        model.fit(X, Y, epochs=2, clip_norm=0.0)
    assert make_schedule("Cosine")(0, 10) == 1.0


@pytest.mark.parametrize("clip", [{"clip_norm": 0.05}, {"clip_value": 0.01}])
def test_gradient_clipping_bounds_each_update(regression, clip):
    X, Y = regression
    model = BatchRecording([1, 8, 1], seed=0)
    before = [p.copy() for p in model.params]
    model.fit(X, 50 * Y, epochs=1, optimizer="sgd", lr=1.0, batch_size=None, **clip)
    change = [b - p for b, p in zip(before, model.params)]
    raw = model.grads[0]  # what the step returned, before clipping
    if "clip_norm" in clip:
        norm = math.sqrt(sum(float((g**2).sum()) for g in raw))
        assert norm > 0.05
        for c, g in zip(change, raw):  # the same direction, scaled to the norm
            np.testing.assert_allclose(c, g * 0.05 / norm, rtol=1e-10, atol=1e-15)
    else:
        assert max(float(np.abs(g).max()) for g in raw) > 0.01
        for c, g in zip(change, raw):
            np.testing.assert_allclose(c, np.clip(g, -0.01, 0.01), rtol=1e-10, atol=1e-15)


# --- a different activation per hidden layer ---------------------------------------------

def test_one_activation_per_hidden_layer(rings, tmp_path):
    X, y = rings
    model = nn.MLP([2, 6, 5, 1], activation=["relu", "tanh"], loss="bce", seed=0)
    assert repr(model) == "MLP([2, 6, 5, 1], activation=['relu', 'tanh'], loss='bce')"
    rng = np.random.default_rng(1)
    params = [p + 0.2 * rng.standard_normal(p.shape) for p in model.params]
    Y = y[:, None].astype(float)
    value, grads = model._get_step(int_labels=False)(params, X, Y, None)
    expected, reference = backprop.loss_and_grads(params, X, Y, activation=["relu", "tanh"],
                                                  loss="bce")
    assert value == pytest.approx(expected, rel=1e-12)
    for g, r in zip(grads, reference):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-14)
    history = model.fit(X, y, epochs=200, lr=0.05)
    assert history.accuracy[-1] > 0.9
    W1, b1, W2, b2, W3, b3 = model.params
    by_hand = np.tanh(np.maximum(X @ W1 + b1, 0) @ W2 + b2) @ W3 + b3
    np.testing.assert_allclose(model.predict(X), 1 / (1 + np.exp(-by_hand[:, 0])), rtol=1e-12)
    model.save(tmp_path / "m.npz")
    loaded = nn.MLP.load(tmp_path / "m.npz")
    assert loaded.activation == ["relu", "tanh"]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    mixed = nn.MLP([2, 3, 3, 1], activation=["sin", "relu"], seed=0)  # registry and reference
    np.testing.assert_allclose(mixed.predict(X), np.maximum(
        np.sin(X @ mixed.params[0]) @ mixed.params[2], 0) @ mixed.params[4], rtol=1e-12)
    with pytest.raises(ValueError, match="activation lists 1 name.* 2 hidden layer"):
        nn.MLP([2, 3, 3, 1], activation=["relu"])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([2, 3, 3, 1], activation=["relu", "swish"])


def test_he_initialisation_follows_each_layers_activation():
    model = nn.MLP([300, 300, 300, 1], activation=["relu", "tanh"], seed=0)
    assert model.params[0].std() == pytest.approx(math.sqrt(2 / 300), rel=0.05)  # He
    assert np.abs(model.params[2]).max() <= math.sqrt(6 / 600)  # Xavier


# --- validation_split, early stopping, warm starts, default mini-batches -----------------

def test_validation_split_holds_out_a_stratified_fraction(rings):
    X, y = rings
    y = np.where(np.arange(200) < 150, y, 2)  # three classes: 2 is a fifth of the data
    model = BatchRecording([2, 4, 3], loss="softmax_xent", seed=0)
    history = model.fit(X, y, epochs=2, validation_split=0.25, batch_size=None)
    assert model.rows == [150, 150] and len(history.val_loss) == 2
    # the held-out rows are the ones missing from training: recover them from the model's rng
    again = nn.MLP([2, 4, 3], loss="softmax_xent", seed=0)
    (Xt, yt), (Xv, yv) = again._split(again._inputs(X), again._targets(y), 0.25)
    assert len(Xv) == 50 and len(Xt) == 150
    assert all(abs(v - c / 4) < 1 for v, c in zip(np.bincount(yv), np.bincount(y)))
    assert not set(map(tuple, Xv)) & set(map(tuple, Xt))
    with pytest.raises(ValueError, match="either validation=.* or validation_split"):
        model.fit(X, y, epochs=1, validation=(X, y), validation_split=0.2)
    with pytest.raises(ValueError, match="validation_split must be a fraction in"):
        model.fit(X, y, epochs=1, validation_split=1.0)


def test_early_stopping_with_min_delta_and_a_chosen_metric(rings):
    X, y = rings
    (Xt, yt), (Xv, yv) = nn.datasets.split(X, y, 0.3, seed=0)
    model = nn.MLP([2, 8, 2], loss="softmax_xent", seed=0)
    # no epoch improves the loss by 10: the first one stays the best
    history = model.fit(Xt, yt, epochs=50, lr=0.05, validation=(Xv, yv), early_stopping=4,
                        min_delta=10.0)
    assert history.stopped_early and history.epochs == 5 and history.best_epoch == 0
    model = nn.MLP([2, 8, 2], loss="softmax_xent", seed=0)
    history = model.fit(Xt, yt, epochs=300, lr=0.05, validation=(Xv, yv),
                        early_stopping=20, monitor="val_accuracy")
    best = history.best_epoch
    assert history.val_accuracy[best] == max(history.val_accuracy)
    assert history.val_accuracy.index(max(history.val_accuracy)) == best  # first of the best
    assert model.score(Xv, yv) == max(history.val_accuracy)  # its weights are back
    # the training loss, without validation data: the weights that had the best loss
    model = nn.MLP([2, 8, 2], loss="softmax_xent", seed=0)
    history = model.fit(Xt, yt, epochs=40, optimizer="sgd", lr=3.0, batch_size=None,
                        early_stopping=3, monitor="loss")
    assert model.evaluate(Xt, yt) == pytest.approx(min(history.loss), rel=1e-12)
    with pytest.raises(ValueError, match="monitor='val_loss' needs validation data"):
        model.fit(Xt, yt, epochs=2, early_stopping=3, monitor="val_loss")
    with pytest.raises(ValueError, match="unknown monitor 'auc'"):
        model.fit(Xt, yt, epochs=2, monitor="auc")
    with pytest.raises(ValueError, match="needs a classifier"):
        nn.MLP([2, 3, 1]).fit(Xt, yt, epochs=2, monitor="accuracy")


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_a_second_fit_continues_the_optimizer_state(regression, optimizer):
    X, Y = regression
    once, twice = nn.MLP([1, 6, 1], seed=0), nn.MLP([1, 6, 1], seed=0)
    once.fit(X, Y, epochs=20, optimizer=optimizer, lr=0.01, batch_size=None)
    twice.fit(X, Y, epochs=12, optimizer=optimizer, lr=0.01, batch_size=None)
    kept = twice.optimizer
    twice.fit(X, Y, epochs=8, optimizer=optimizer, lr=0.01, batch_size=None)
    assert twice.optimizer is kept and kept.t == 20
    for a, b in zip(once.params, twice.params):  # exactly one longer run
        np.testing.assert_array_equal(a, b)
    twice.fit(X, Y, epochs=1, optimizer=optimizer, lr=0.02, batch_size=None)
    assert twice.optimizer is not kept and twice.optimizer.t == 1  # other settings: afresh


def test_warm_start_false_starts_afresh(regression):
    X, Y = regression
    fresh, reused = nn.MLP([1, 6, 1], seed=3), nn.MLP([1, 6, 1], seed=3)
    fresh.fit(X, Y, epochs=10, lr=0.01)
    reused.fit(X, 2 * Y, epochs=30, lr=0.05, dropout=0.2)
    reused.fit(X, Y, epochs=10, lr=0.01, warm_start=False)
    for a, b in zip(fresh.params, reused.params):
        np.testing.assert_array_equal(a, b)
    adam = nn.Adam(0.01)  # an optimizer object keeps its state across fits, as in PyTorch
    reused.fit(X, Y, epochs=3, optimizer=adam)
    reused.fit(X, Y, epochs=2, optimizer=adam)
    assert adam.t == 3 + 2  # one full-batch step an epoch (60 rows)


def test_stochastic_optimizers_use_mini_batches_by_default():
    X, Y = nn.datasets.noisy_regression(n=450, seed=0)
    model = BatchRecording([1, 3, 1], seed=0)
    model.fit(X, Y, epochs=2, lr=0.01)
    assert model.rows == [200, 200, 50] * 2  # min(200, n) rows a step, like scikit-learn
    model = BatchRecording([1, 3, 1], seed=0)
    model.fit(X, Y, epochs=2, optimizer="scg")
    assert set(model.rows) == {450}  # a full-batch method sees the full batch
    model = BatchRecording([1, 3, 1], seed=0)
    model.fit(X, Y, epochs=2, batch_size=None)
    assert model.rows == [450, 450]
    with pytest.raises(ValueError, match="batch_size must be a positive integer, 'auto' or"):
        model.fit(X, Y, epochs=1, batch_size="all")


# --- divergence, for every loss ----------------------------------------------------------

@pytest.mark.parametrize("loss, outputs", [("softmax_xent", 2), ("bce", 1), ("mse", 1)])
@pytest.mark.parametrize("batch_size", [None, 32])
def test_divergence_is_caught_for_every_loss(rings, loss, outputs, batch_size):
    X, y = rings
    model = nn.MLP([2, 8, outputs], activation="relu", loss=loss, seed=0)
    initial = [p.copy() for p in model.params]
    with pytest.warns(nn.DivergenceWarning, match="training diverged in epoch [12]: .*"
                                                  "learning rate 1000.0 too large"):
        history = model.fit(X, y, epochs=30, optimizer="sgd", lr=1e3, batch_size=batch_size)
    assert history.diverged and history.epochs <= 1
    # the loss an epoch records is that of the weights it began with: the initial ones here
    for p, q in zip(model.params, initial):
        np.testing.assert_array_equal(p, q)


def test_divergence_after_progress_restores_the_best_weights(rings):
    X, y = rings
    model = nn.MLP([2, 8, 2], loss="softmax_xent", seed=0)
    model.fit(X, y, epochs=200, lr=0.05, batch_size=None)
    trained = [p.copy() for p in model.params]
    accuracy = model.score(X, y)
    assert accuracy > 0.95
    with pytest.warns(nn.DivergenceWarning):
        history = model.fit(X, y, epochs=20, optimizer="sgd", lr=1e4, batch_size=None)
    assert history.diverged and model.score(X, y) == accuracy
    for p, q in zip(model.params, trained):
        np.testing.assert_array_equal(p, q)


def test_a_large_weight_decay_is_not_called_divergence(rings):
    # the penalty λ Σ sum(W²) dwarfs the data loss at the start; it is part of the reference
    X, y = rings
    model = nn.MLP([2, 256, 2], activation="relu", loss="softmax_xent", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nn.DivergenceWarning)
        history = model.fit(X, y, epochs=5, lr=0.01, weight_decay=10.0)
    assert history.loss[0] > 100 * math.log(2) and history.loss[-1] < history.loss[0]


def test_a_healthy_warm_start_is_not_called_divergence(regression):
    # a trained model's loss is far below the constant output's: a fresh Adam's first
    # steps may raise it a lot without anything having diverged
    X, Y = regression
    model = nn.MLP([1, 16, 1], seed=0)
    model.fit(X, Y, epochs=300, lr=0.02, batch_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nn.DivergenceWarning)
        history = model.fit(X, Y, epochs=20, optimizer=nn.Adam(0.05), batch_size=8)
    assert not history.diverged


# --- NumPy scalars, 1-d targets, saving ---------------------------------------------------

def test_hyperparameters_accept_numpy_scalars(regression):
    X, Y = regression
    model = nn.MLP(np.array([1, 4, 1]), seed=np.int64(0))
    history = model.fit(X, Y, epochs=np.int32(3), lr=np.float32(0.01),
                        batch_size=np.int64(16), weight_decay=np.float32(1e-3),
                        dropout=np.float64(0.1), validation_split=np.float32(0.2),
                        early_stopping=np.int16(5), min_delta=np.float32(0.0),
                        clip_norm=np.float32(1.0), clip_value=np.float16(1.0))
    assert history.epochs == 3 and model.optimizer.lr == pytest.approx(0.01)
    model.fit(X, Y, epochs=2, keep_prob=np.float32(0.9), optimizer="momentum",
              lr=np.float64(0.01))
    nn.Momentum(np.float32(0.1), momentum=np.float32(0.5))
    nn.Adam(np.float16(0.01), beta1=np.float32(0.8))
    StepDecay(every=np.int64(2), factor=np.float32(0.5))
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        nn.SGD(np.bool_(True))


def test_a_model_fitted_on_1d_targets_predicts_1d(rings, tmp_path):
    X, y = rings
    classifier = nn.MLP([2, 6, 1], loss="bce", seed=0)
    classifier.fit(X, y, epochs=300, lr=0.05)
    assert classifier.predict(X).shape == (200,)
    assert (classifier.predict(X).round() == y).mean() == classifier.score(X, y) > 0.9
    t = np.sin(3 * X[:, 0])
    regressor = nn.MLP([2, 8, 1], seed=0)
    regressor.fit(X, t, epochs=200, lr=0.02)
    assert regressor.predict(X).shape == (200,)
    assert ((regressor.predict(X) - t) ** 2).mean() == pytest.approx(regressor.evaluate(X, t))
    regressor.save(tmp_path / "r.npz")
    assert nn.MLP.load(tmp_path / "r.npz").predict(X).shape == (200,)
    regressor.fit(X, t, epochs=5, dropout=0.2)
    mean, std = regressor.predict(X, dropout_samples=4)  # Monte Carlo dropout: 1-d too
    assert mean.shape == std.shape == (200,)
    regressor.fit(X, t[:, None], epochs=1)  # 2-d targets: 2-d predictions again
    assert regressor.predict(X).shape == (200, 1)
    softmax = nn.MLP([2, 3, 2], loss="softmax_xent", seed=0)
    softmax.fit(X, y, epochs=1)  # labels: one probability per class
    assert softmax.predict(X).shape == (200, 2)


def test_saving_into_a_missing_folder_names_the_path(tmp_path):
    path = tmp_path / "models" / "m.npz"
    with pytest.raises(FileNotFoundError, match=f"cannot write '{path}': its folder"):
        nn.MLP([1, 2, 1]).save(path)
    with pytest.raises(FileNotFoundError) as info:
        nn.MLP([1, 2, 1]).export(tmp_path / "code" / "predict.py")
    assert info.value.filename == str(tmp_path / "code" / "predict.py")
    assert list(tmp_path.iterdir()) == []
