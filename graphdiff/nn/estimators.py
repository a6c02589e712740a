"""scikit-learn estimators over graphdiff's MLP: `MLPClassifier` and `MLPRegressor`.

scikit-learn is an optional dependency (`pip install 'graphdiff[sklearn]'`), imported only
by this module; the network, its training and its generated step are `nn.MLP`'s.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - exercised without scikit-learn
    raise ImportError("graphdiff.nn.MLPClassifier and MLPRegressor are scikit-learn "
                      "estimators and need scikit-learn >= 1.6: "
                      "pip install 'graphdiff[sklearn]'") from error

from . import export
from .losses import log_softmax
from .model import MLP
from .optimizers import FullBatch, make_optimizer

__all__ = ["MLPClassifier", "MLPRegressor"]

_ALIASES = {"logistic": "sigmoid"}  # scikit-learn's name for the sigmoid
_PREDICTING = object()  # _validate's y when there is none to check
_STEPWISE = ("sgd", "momentum", "adam")  # the solvers that take a learning rate


class _BaseMLP(BaseEstimator):
    """The parameters and the training shared by both estimators (see MLPClassifier)."""

    def __init__(self, hidden_layer_sizes: Sequence[int] = (100,),
                 activation: str | Sequence[str] = "relu", *, solver: str = "adam",
                 learning_rate_init: float = 0.001, lr_schedule: Any = None,
                 batch_size: int | str | None = "auto", max_iter: int = 200,
                 weight_decay: float = 0.0, dropout: float = 0.0, clip_norm: float | None = None,
                 momentum: float = 0.9, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, shuffle: bool = True, random_state: Any = None,
                 tol: float = 1e-4, n_iter_no_change: int = 10, early_stopping: bool = False,
                 validation_fraction: float = 0.1, warm_start: bool = False,
                 dtype: Any = np.float64, verbose: bool = False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.clip_norm = clip_norm
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.dtype = dtype
        self.verbose = verbose

    # --- training ------------------------------------------------------------------------
    def _network(self, n_features: int, n_outputs: int, loss: str, keep: bool) -> MLP:
        """The fitted network to continue (when `keep`, and of the same shape), else a new
        one."""
        hidden = ([self.hidden_layer_sizes] if np.isscalar(self.hidden_layer_sizes)
                  else list(self.hidden_layer_sizes))
        sizes = [n_features, *hidden, n_outputs]
        activation = self.activation
        activation = (_ALIASES.get(activation, activation) if isinstance(activation, str)
                      else [_ALIASES.get(a, a) for a in activation])
        kept = getattr(self, "model_", None)
        if (keep and kept is not None and kept.layer_sizes == sizes and kept.loss == loss
                and kept.activation == activation and kept.dtype == np.dtype(self.dtype)):
            return kept
        seed = self.random_state
        if seed is not None and not isinstance(seed, (int, np.integer)):
            seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
        return MLP(sizes, activation=activation, loss=loss, seed=seed, dtype=self.dtype)

    def _optimizer(self, model: MLP) -> Any:
        """The solver as an optimizer object; the network's own (its state kept) when it is
        continued with the same settings."""
        options = {"momentum": {"momentum": self.momentum},
                   "adam": {"beta1": self.beta_1, "beta2": self.beta_2, "eps": self.epsilon}}
        name = str(self.solver).lower()
        lr = self.learning_rate_init if name in _STEPWISE else None
        opt = make_optimizer(name, lr, **options.get(name, {}))
        kept = model.optimizer
        return kept if type(kept) is type(opt) and repr(kept) == repr(opt) else opt

    def _train(self, X: np.ndarray, targets: np.ndarray, n_outputs: int, loss: str,
               partial: bool = False) -> None:
        """fit (max_iter epochs, stopping as scikit-learn does) or, `partial`, one more
        epoch of the same network and optimizer."""
        model = self._network(X.shape[1], n_outputs, loss, keep=partial or self.warm_start)
        opt = self._optimizer(model)
        if partial:
            options: dict[str, Any] = {"epochs": 1, "monitor": "loss"}
        else:
            # scikit-learn's convergence test: n_iter_no_change epochs without an improvement
            # of tol (of the validation loss with early_stopping, else of the training loss)
            options = {"epochs": self.max_iter, "early_stopping": self.n_iter_no_change,
                       "min_delta": self.tol, "lr_schedule": self.lr_schedule,
                       "monitor": "val_loss" if self.early_stopping else "loss"}
            if self.early_stopping:
                options["validation_split"] = self.validation_fraction
        history = model.fit(
            X, targets, optimizer=opt, batch_size=self.batch_size,
            weight_decay=self.weight_decay, dropout=self.dropout, shuffle=self.shuffle,
            clip_norm=None if isinstance(opt, FullBatch) else self.clip_norm,
            verbose=self.verbose, **options)
        # a continued network continues the curve too (n_iter_ counts every epoch it had)
        before = self.loss_curve_ if model is getattr(self, "model_", None) else []
        self.model_, self.history_ = model, history
        self.loss_curve_ = before + list(history.loss)
        self.n_iter_ = len(self.loss_curve_)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        self.coefs_, self.intercepts_ = model.params[0::2], model.params[1::2]
        if (not partial and not (history.stopped_early or history.diverged)
                and history.epochs == self.max_iter):
            warnings.warn(f"{type(self).__name__}: max_iter={self.max_iter} epochs ended "
                          f"before the loss stopped improving by tol={self.tol}; raise "
                          "max_iter or learning_rate_init", ConvergenceWarning, stacklevel=3)

    def _check_partial(self) -> None:
        if str(self.solver).lower() not in _STEPWISE:
            raise ValueError(f"partial_fit trains one epoch at a time, which needs a per-step "
                             f"solver (sgd, momentum, adam), not {self.solver!r}")

    def _validate(self, X: Any, y: Any = _PREDICTING, **options: Any) -> Any:
        """X (and y, when fitting) checked and converted by scikit-learn's rules."""
        dtype = np.dtype(self.dtype)
        if y is _PREDICTING:
            return validate_data(self, X, reset=False, dtype=dtype)
        return validate_data(self, X, y, dtype=dtype, **options)

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.model_.forward(self._validate(X))

    # --- the rest ------------------------------------------------------------------------
    def _exported_network(self) -> export.Network:
        model = self.model_
        classes = getattr(self, "classes_", None)
        return export.Network(model.layer_sizes, model.activation, model.output_activation,
                              model.params, model.flat_targets,
                              f"{type(self).__name__} ({model!r})", classes)

    def export(self, path: str | os.PathLike, weights: str = "inline") -> None:
        """Write `predict(X)` (and, for classifiers, `predict_proba(X)`) as a module that
        needs only NumPy; see `MLP.export`."""
        check_is_fitted(self)
        export.write_module(os.fspath(path), self._exported_network(), weights)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier with scikit-learn's interface, trained by
    graphdiff's generated step.

    hidden_layer_sizes: the widths of the hidden layers.  activation: one name for every
    hidden layer or a list of one per layer (any of `nn.model.unary_activations()`;
    "logistic" is the sigmoid).  solver: "adam", "sgd", "momentum" (per step, with
    learning_rate_init, lr_schedule, batch_size, clip_norm, momentum, beta_1, beta_2,
    epsilon) or a full-batch method "lbfgs", "scg", "bfgs", "cg".  weight_decay: λ of the
    penalty λ Σ sum(W²) (scikit-learn's alpha is λ = alpha / (2 batch size)).  dropout: the
    probability of dropping a hidden unit while training.  max_iter: epochs.  Training stops
    after n_iter_no_change epochs without an improvement of tol in the training loss, or in
    the loss on a validation_fraction held out when early_stopping; the best weights are
    kept.  warm_start: continue from the last fit's weights and optimizer state;
    partial_fit trains one more epoch on the data it is given.  Two classes train one
    sigmoid output (binary cross-entropy), more a softmax layer, a multilabel indicator
    matrix one sigmoid output per label.

    Fitted: classes_, model_ (the nn.MLP), history_, n_iter_, loss_, loss_curve_, coefs_,
    intercepts_, n_features_in_.

    >>> import numpy as np
    >>> from graphdiff import nn
    >>> X, y = nn.datasets.rings(200, seed=0)
    >>> labels = np.array(["inner", "outer"])[y]
    >>> clf = nn.MLPClassifier((8,), activation="tanh", solver="lbfgs",
    ...                        random_state=0).fit(X, labels)
    >>> clf.predict([[0.0, 0.0], [0.8, 0.0]]).tolist(), clf.score(X, labels)
    (['inner', 'outer'], 1.0)
    """

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on X (n, features) and the labels y (n,) of any kind — numbers, strings —
        or a multilabel indicator matrix (n, labels) of 0 and 1."""
        X, y = self._labelled(X, y, reset=True)
        if y.ndim == 2:  # multilabel: classes_ numbers the columns, as in scikit-learn
            classes, codes = np.arange(y.shape[1]), y
        else:
            classes, codes = np.unique(y, return_inverse=True)
        if self.warm_start and hasattr(self, "classes_") and not np.array_equal(
                classes, self.classes_):
            raise ValueError(f"warm_start needs the classes of the last fit, "
                             f"{self.classes_.tolist()}; got {classes.tolist()}")
        self._train_classes(X, codes, self._checked_classes(classes))
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One more epoch on (X, y), continuing the network and its optimizer; the first
        call names every class the data will ever have (`classes`)."""
        self._check_partial()
        first = not hasattr(self, "classes_")
        X, y = self._labelled(X, y, reset=first)
        if y.ndim == 2:
            raise ValueError("partial_fit takes one label per sample; fit takes multilabel "
                             "indicator matrices")
        if first and classes is None:
            raise ValueError("the first call to partial_fit needs classes=, every class the "
                             "data will have")
        known = self._checked_classes(np.unique(classes)) if first else self.classes_
        if classes is not None and not np.array_equal(np.unique(classes), known):
            raise ValueError(f"classes {np.unique(classes).tolist()} differ from those of the "
                             f"first call, {known.tolist()}")
        unknown = np.setdiff1d(y, known)
        if unknown.size:
            raise ValueError(f"y has labels that are not among classes_: {unknown.tolist()}")
        self._train_classes(X, np.searchsorted(known, y), known, partial=True)
        return self

    def _labelled(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """X, and y as labels (n,) or a multilabel indicator matrix (n, labels)."""
        X, y = self._validate(X, y, reset=reset, multi_output=True)
        check_classification_targets(y)
        if type_of_target(y) == "multilabel-indicator":
            return X, y
        return X, column_or_1d(y, warn=True)

    def _checked_classes(self, classes: np.ndarray) -> np.ndarray:
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; "
                             f"got {len(classes)} class(es): {classes.tolist()}")
        return classes

    def _train_classes(self, X: np.ndarray, codes: np.ndarray, classes: np.ndarray,
                       partial: bool = False) -> None:
        """Two classes train one sigmoid output, more a softmax layer, multilabel targets
        one sigmoid output per label."""
        self.classes_ = classes
        multilabel = codes.ndim == 2
        binary = len(classes) == 2 and not multilabel
        self._train(X, codes, 1 if binary else len(classes),
                    "bce" if binary or multilabel else "softmax_xent", partial)

    @property
    def _multilabel(self) -> bool:
        return self.model_.loss == "bce" and self.model_.layer_sizes[-1] > 1

    def predict_proba(self, X: Any) -> np.ndarray:
        """The probability of each class, (n, n_classes), columns in the order of classes_
        (multilabel: of each label, independently)."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of predict_proba, computed from the logits without overflow."""
        z = self._forward(X)
        if self._multilabel:  # log σ(z) = -softplus(-z)
            return -np.logaddexp(0.0, -z)
        if z.shape[1] == 1:  # and log(1 - σ(z)) = -softplus(z)
            return -np.logaddexp(0.0, np.concatenate([z, -z], axis=1))
        return log_softmax(z)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, as one of classes_ (multilabel: an
        indicator matrix of the labels with probability over 1/2)."""
        check_is_fitted(self)
        z = self._forward(X)  # logits: σ(z) > 1/2 <=> z > 0, and softmax keeps the argmax
        if self._multilabel:
            return (z > 0).astype(int)
        return self.classes_[(z[:, 0] > 0).astype(int) if z.shape[1] == 1 else z.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor with scikit-learn's interface: mean squared error,
    identity output, one output per target column (1-d y predicts 1-d).  The parameters
    are MLPClassifier's.

    >>> import numpy as np
    >>> from graphdiff import nn
    >>> X = np.linspace(0, 1, 50)[:, None]
    >>> reg = nn.MLPRegressor((10,), activation="tanh", solver="lbfgs", max_iter=500,
    ...                       random_state=0).fit(X, np.sin(2 * np.pi * X[:, 0]))
    >>> reg.predict(X).shape, reg.score(X, np.sin(2 * np.pi * X[:, 0])) > 0.99
    ((50,), True)
    """

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on X (n, features) and the targets y, (n,) or (n, outputs)."""
        X, y = self._validate(X, y, multi_output=True, y_numeric=True)
        self._train(X, y, 1 if y.ndim == 1 else y.shape[1], "mse")
        return self

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One more epoch on (X, y), continuing the network and its optimizer."""
        self._check_partial()
        X, y = self._validate(X, y, reset=not hasattr(self, "model_"), multi_output=True,
                              y_numeric=True)
        self._train(X, y, 1 if y.ndim == 1 else y.shape[1], "mse", partial=True)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The predicted targets: (n,) after a fit on 1-d y, else (n, outputs)."""
        check_is_fitted(self)
        return self.model_.predict(self._validate(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
