"""graphdiff.nn: multilayer perceptrons trained on a loss-and-gradient function.

`MLP` holds the parameters and the training loop; `datasets` the lecture's data;
`optimizers` SGD, momentum, Adam, full-batch methods and learning-rate schedules; `losses`
the loss definitions; `backprop` a hand-written NumPy back-propagation, the reference for
gradients; `MLPClassifier` and `MLPRegressor` scikit-learn estimators (they need
scikit-learn, imported only when they are first used).

>>> from graphdiff import nn
>>> X, y = nn.datasets.rings(100, seed=0)
>>> model = nn.MLP([2, 3, 1], loss="bce", seed=0)
>>> model.predict(X).shape
(100, 1)
"""

from . import backprop, datasets, losses, optimizers
from .backprop import ACTIVATIONS
from .losses import LOSSES
from .model import MLP, DivergenceWarning, History
from .optimizers import OPTIMIZERS, SCG, SGD, Adam, Momentum, ScipyMinimizer, make_optimizer

__all__ = ["ACTIVATIONS", "LOSSES", "MLP", "OPTIMIZERS", "SCG", "SGD", "Adam", "DivergenceWarning",
           "History", "Momentum", "ScipyMinimizer", "backprop", "datasets", "losses",
           "make_optimizer", "optimizers"]  # and MLPClassifier, MLPRegressor (see below)

_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def __getattr__(name: str):
    # the estimators import scikit-learn, an optional dependency: only when asked for (and
    # not by `from graphdiff.nn import *`, which must work without it)
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'graphdiff.nn' has no attribute {name!r}")
