"""nn.MLPClassifier and nn.MLPRegressor as scikit-learn estimators: scikit-learn's own
estimator checks, labels of the user's kind, probabilities, scores, model selection,
pipelines, warm starts, pickling, and a clear error without scikit-learn."""

import doctest
import pickle
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits, make_blobs  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from graphdiff import nn  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# small networks and few epochs keep scikit-learn's ~110 checks at a few seconds
@parametrize_with_checks([
    nn.MLPClassifier((10,), max_iter=100, learning_rate_init=0.05, random_state=0),
    nn.MLPRegressor((10,), max_iter=100, learning_rate_init=0.05, random_state=0),
])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.mark.parametrize("relabel", [
    lambda y: y + 1,  # 1..10
    lambda y: np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                        "eight", "nine"])[y],
    lambda y: y.astype(float),  # floats that are labels: 0.0, 1.0, ...
    lambda y: y >= 5,  # booleans
])
def test_labels_of_the_users_kind_round_trip(digits, relabel):
    X, y = digits
    labels = relabel(y)
    clf = nn.MLPClassifier((32,), learning_rate_init=0.02, max_iter=100, random_state=0)
    clf.fit(X[:500], labels[:500])
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    predicted = clf.predict(X[500:])
    assert predicted.dtype == labels.dtype and set(predicted) <= set(labels)
    # scikit-learn's own MLPClassifier scores 0.83 on these 100 held-out digits
    assert clf.score(X[500:], labels[500:]) == accuracy_score(labels[500:], predicted) > 0.75
    proba = clf.predict_proba(X[500:])
    assert proba.shape == (100, len(clf.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)
    np.testing.assert_allclose(clf.predict_log_proba(X[500:]), np.log(proba), atol=1e-12)


def test_two_classes_train_one_sigmoid_output():
    X, y = nn.datasets.rings(200, seed=0)
    labels = np.where(y == 1, "ring", "disk")
    clf = nn.MLPClassifier((8,), activation="tanh", solver="lbfgs", max_iter=300,
                           random_state=0).fit(X, labels)
    assert clf.model_.loss == "bce" and clf.model_.layer_sizes == [2, 8, 1]
    assert clf.score(X, labels) == 1.0
    assert clf.predict([[0.0, 0.0], [0.8, 0.0]]).tolist() == ["disk", "ring"]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(proba[:, 1], clf.model_.predict(X), rtol=1e-12)
    # the check, now meaningful: MLP's own 1-d prediction against 1-d labels
    assert (clf.model_.predict(X).round() == y).mean() == 1.0


def test_multilabel_targets_train_one_sigmoid_per_label():
    X, y = make_blobs(300, centers=4, random_state=0)
    Y = np.stack([y % 2, y // 2, (y == 3)], axis=1).astype(int)  # three labels per sample
    clf = nn.MLPClassifier((16,), learning_rate_init=0.02, max_iter=200,
                           random_state=0).fit(X, Y)
    assert clf.model_.loss == "bce" and clf.model_.layer_sizes == [2, 16, 3]
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    predicted = clf.predict(X)
    assert predicted.shape == (300, 3) and set(np.unique(predicted)) <= {0, 1}
    assert clf.score(X, Y) == accuracy_score(Y, predicted) > 0.9  # every label right
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    with pytest.raises(ValueError, match="partial_fit takes one label per sample"):
        nn.MLPClassifier().partial_fit(X, Y, classes=[0, 1, 2])


def test_regressor_predicts_the_shape_of_its_targets():
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    reg = make_pipeline(StandardScaler(), nn.MLPRegressor((16,), activation="tanh",
                                                          solver="lbfgs", max_iter=100,
                                                          weight_decay=1e-3, random_state=0))
    reg.fit(X[:350], y[:350])
    predicted = reg.predict(X[350:])
    assert predicted.shape == (92,)
    assert reg.score(X[350:], y[350:]) == pytest.approx(r2_score(y[350:], predicted))
    assert reg.score(X[350:], y[350:]) > 0.35
    # the number: a mean squared error of 1-d arrays, not of a (n, n) grid
    assert ((predicted - y[350:]) ** 2).mean() < 0.7
    both = nn.MLPRegressor((8,), max_iter=50, random_state=0)
    both.fit(X[:100], np.stack([y[:100], -y[:100]], axis=1))
    assert both.predict(X[:5]).shape == (5, 2)


def test_cross_validation_grid_search_and_pipelines(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(),
                         nn.MLPClassifier((32,), max_iter=20, learning_rate_init=0.01,
                                          random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.7
    grid = GridSearchCV(nn.MLPClassifier(max_iter=20, learning_rate_init=0.01, random_state=0),
                        {"hidden_layer_sizes": [(4,), (32,)],
                         "activation": ["relu", ["tanh"]]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["hidden_layer_sizes"] == (32,)  # 4 units are too few for digits
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.model_.layer_sizes == [64, 32, 10]
    assert grid.score(X, y) == grid.best_estimator_.score(X, y)


def test_parameters_reach_the_network_and_its_training():
    X, y = make_blobs(200, centers=3, random_state=0)
    clf = nn.MLPClassifier((6, 5), activation=["logistic", "relu"], solver="momentum",
                           learning_rate_init=0.02, momentum=0.5, batch_size=50, max_iter=7,
                           lr_schedule="cosine", clip_norm=1.0, weight_decay=0.01,
                           dropout=0.1, dtype=np.float32, n_iter_no_change=100,
                           random_state=0).fit(X, y)
    model = clf.model_
    assert model.layer_sizes == [2, 6, 5, 3] and model.activation == ["sigmoid", "relu"]
    assert model.dtype == np.float32 and clf.coefs_[0].dtype == np.float32
    assert repr(model.optimizer) == "Momentum(lr=0.02, momentum=0.5)"
    assert clf.n_iter_ == 7 and len(clf.loss_curve_) == 7 and clf.loss_ == clf.loss_curve_[-1]
    assert clf.history_.lr[-1] == pytest.approx(0.0)  # cosine, down to 0 in the last epoch
    assert [c.shape for c in clf.coefs_] == [(2, 6), (6, 5), (5, 3)]
    assert clf.get_params()["activation"] == ["logistic", "relu"]
    again = clone(clf).set_params(hidden_layer_sizes=(3,), activation="tanh").fit(X, y)
    assert again.model_.layer_sizes == [2, 3, 3]


def test_convergence_and_early_stopping_follow_scikit_learn():
    X, y = make_blobs(300, centers=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=3 epochs ended"):
        nn.MLPClassifier((4,), max_iter=3, random_state=0).fit(X, y)
    clf = nn.MLPClassifier((4,), max_iter=2000, learning_rate_init=0.05, tol=1e-3,
                           n_iter_no_change=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.history_.stopped_early and clf.n_iter_ < 2000
    stopped = nn.MLPClassifier((4,), max_iter=2000, learning_rate_init=0.05,
                               early_stopping=True, validation_fraction=0.2,
                               random_state=0).fit(X, y)
    assert len(stopped.history_.val_loss) == stopped.n_iter_ and stopped.history_.stopped_early
    assert sum(stopped.model_.history.val_loss) > 0


def test_warm_start_continues_the_network_and_its_optimizer():
    X, y = make_blobs(120, centers=3, random_state=1)
    kwargs = dict(hidden_layer_sizes=(5,), max_iter=10, n_iter_no_change=100, random_state=0,
                  batch_size=None)
    once = nn.MLPClassifier(**{**kwargs, "max_iter": 20}).fit(X, y)
    warm = nn.MLPClassifier(warm_start=True, **kwargs).fit(X, y)
    first = warm.model_
    warm.fit(X, y)
    assert warm.model_ is first and first.optimizer.t == 20 and warm.n_iter_ == 20
    assert warm.loss_curve_ == once.loss_curve_
    for a, b in zip(once.coefs_, warm.coefs_):  # two fits of 10 epochs are one of 20
        np.testing.assert_array_equal(a, b)
    cold = nn.MLPClassifier(**kwargs).fit(X, y)
    cold.fit(X, y)  # warm_start=False: the same as the first fit
    np.testing.assert_array_equal(cold.coefs_[0], nn.MLPClassifier(**kwargs).fit(X, y).coefs_[0])
    with pytest.raises(ValueError, match="warm_start needs the classes of the last fit"):
        warm.fit(X, y + 1)


def test_partial_fit_trains_one_epoch_at_a_time():
    X, y = make_blobs(150, centers=3, random_state=2)
    labels = np.array(["a", "b", "c"])[y]
    kwargs = dict(hidden_layer_sizes=(5,), batch_size=None, n_iter_no_change=100,
                  random_state=0)
    streamed = nn.MLPClassifier(**kwargs)
    with pytest.raises(ValueError, match="first call to partial_fit needs classes="):
        streamed.partial_fit(X, labels)
    streamed.partial_fit(X, labels, classes=["c", "b", "a"])
    for _ in range(4):
        streamed.partial_fit(X, labels)
    assert streamed.n_iter_ == 5 and len(streamed.loss_curve_) == 5
    whole = nn.MLPClassifier(max_iter=5, **kwargs).fit(X, labels)  # the same five epochs
    for a, b in zip(whole.coefs_, streamed.coefs_):
        np.testing.assert_array_equal(a, b)
    assert streamed.loss_curve_ == whole.loss_curve_
    with pytest.raises(ValueError, match=r"labels that are not among classes_: \['d'\]"):
        streamed.partial_fit(X[:2], ["a", "d"])
    with pytest.raises(ValueError, match="needs a per-step solver"):
        nn.MLPClassifier(solver="lbfgs").partial_fit(X, labels, classes=["a", "b", "c"])
    reg = nn.MLPRegressor((4,), random_state=0)
    for start in range(0, 150, 50):  # a stream of chunks
        reg.partial_fit(X[start:start + 50], X[start:start + 50, 0] - X[start:start + 50, 1])
    assert reg.n_iter_ == 3 and reg.predict(X).shape == (150,)


def test_a_fitted_estimator_pickles():
    X, y = make_blobs(100, centers=3, random_state=0)
    clf = nn.MLPClassifier((5,), max_iter=20, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    back.set_params(warm_start=True).fit(X, y)  # and trains on
    assert back.model_.optimizer.t == 2 * clf.model_.optimizer.t
    np.testing.assert_array_equal(clf.predict(X), pickle.loads(pickle.dumps(clf)).predict(X))


def test_without_scikit_learn_the_message_says_how_to_install_it():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "from graphdiff import nn\n"
            "nn.MLP([1, 2, 1])\n"
            "try:\n    nn.MLPClassifier\n"
            "except ImportError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "need scikit-learn >= 1.6: pip install 'graphdiff[sklearn]'" in done.stdout


def test_the_docs_page_shows_what_its_snippets_print(tmp_path, monkeypatch):
    page = Path(__file__).resolve().parents[1] / "docs" / "estimators.md"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the page's mkdtemp
    monkeypatch.setattr(sys, "path", list(sys.path))  # it puts its folder on the path
    modules = set(sys.modules)
    try:
        failures, tried = doctest.testfile(
            str(page), module_relative=False,
            optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    finally:
        for name in set(sys.modules) - modules:
            if name.endswith("_predict"):
                del sys.modules[name]
    assert tried >= 50 and failures == 0
