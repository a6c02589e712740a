"""The MLP: parameters, initialisation, training loop (optimizers, mini-batches, dropout,
weight decay, learning-rate schedules, gradient clipping, validation, early stopping,
divergence guard), prediction, saving and export as a standalone module.

The loss-and-gradient function comes from one factory, `MLP._make_step`; everything else
here only calls it, so the way gradients are computed can be swapped without touching fit.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import graphdiff as gd

from ..display import in_notebook, progress_html
from . import backprop, export
from .archive import ArchiveError, npz_headers, read_members
from .checks import as_inputs, as_targets, check_pair, hidden_activations, is_real
from .chunked import ChunkBatches, ChunkedStep, as_chunked_pair, is_chunked
from .compiled_step import FusedStep, GeneratedStep
from .files import write_atomically
from .losses import LINKS, LOSSES, REGRESSION, accuracy, baseline_loss, link, loss_value
from .optimizers import (SGD, Adam, FullBatch, Momentum, Optimizer, Schedule, clip_gradients,
                         flatten, make_optimizer, make_schedule, unflatten_into)

__all__ = ["INITS", "MLP", "DivergenceWarning", "History", "unary_activations"]

INITS = ("auto", "xavier", "he")
OptimizerLike = str | Optimizer | FullBatch
_FORMAT = "graphdiff.nn.MLP/1"
_DIVERGENCE_FACTOR = 1e6  # a step's loss this many times the first one counts as diverged
# an epoch's mean loss this many times the larger of the starting loss and a constant
# output's loss counts as diverged: cross-entropy grows only linearly in the logits, so a
# run at chance accuracy never reaches the factor above
_EXPLOSION_FACTOR = 100.0
_AUTO_BATCH = 200  # batch_size="auto": min(200, n), scikit-learn's default
MONITORS = ("loss", "val_loss", "accuracy", "val_accuracy")


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss became non-finite or exploded."""


@dataclass
class History:
    """What fit recorded, one entry per epoch (per iteration for full-batch methods).

    loss: the training objective averaged over the epoch's steps (with the weight-decay
    penalty and dropout noise: what the optimizer saw).  val_loss: the data loss on the
    validation set at the end of the epoch.  accuracy / val_accuracy (classifiers): at the
    end of the epoch.  lr: the learning rate of each epoch (per-step optimizers).
    best_epoch: index of the best epoch by the monitored metric (lowest val_loss, or loss
    without validation, by default; the weights kept for the training loss are those the
    epoch started from, whose loss it is).  stopped_early: early stopping ended the run (and the
    best weights were restored).  diverged: the divergence guard ended it (and restored them).
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    diverged: bool = False

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def __repr__(self) -> str:
        last = {k: getattr(self, k)[-1] for k in ("loss", "val_loss", "accuracy",
                                                     "val_accuracy") if getattr(self, k)}
        fields = [f"epochs={self.epochs}", *(f"{k}={v:.4g}" for k, v in last.items()),
                  f"best_epoch={self.best_epoch}"]
        fields += [flag for flag in ("stopped_early", "diverged") if getattr(self, flag)]
        return f"History({', '.join(fields)})"

    def _repr_html_(self) -> str:  # Jupyter: the loss curves
        from ..display import history_html

        return history_html(self)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class MLP:
    """A feed-forward network  h_l = f(h_{l-1} W_l + b_l),  output = g(h W_L + b_L).

    `layer_sizes` lists the widths from input to output, e.g. [1, 3, 1].  `activation` f is
    used by every hidden layer, or lists one per hidden layer (["relu", "tanh"]): any of
    `unary_activations()` (the lecture's table, softplus, sin, ...).  The loss fixes what
    the output means: "mse" or the lecture's "sse" E = ½ Σ (y − t)² (regression, output
    activation g chosen freely, identity by default), "bce" (logits; g = sigmoid
    gives probabilities) or "softmax_xent" (logits; g = softmax).  Parameters are the list
    [W1, b1, W2, b2, ...] with W_l of shape (n_in, n_out) and b_l of shape (n_out,).

    >>> from graphdiff import nn
    >>> X, Y = nn.datasets.sinusoid(n=10, noise=0.3, seed=0)
    >>> model = nn.MLP([1, 3, 1], activation="tanh", loss="mse", seed=0)
    >>> history = model.fit(X, Y, epochs=200, optimizer="adam", lr=0.05, verbose=False)
    >>> history.loss[-1] < history.loss[0]
    True
    """

    # fit's mini-batch optimizers run as one generated function per batch (FusedStep)
    # where the options allow; False keeps the gradient step and `Optimizer.update` apart
    fused_steps = True

    def __init__(self, layer_sizes: Sequence[int], activation: str | Sequence[str] = "tanh",
                 output_activation: str | None = None, loss: str = "mse",
                 seed: int | None = 0, init: str = "auto", dtype: Any = np.float64,
                 backend: str = "numpy"):
        sizes = list(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least an input and an output width, "
                             f"got {layer_sizes!r}")
        self.layer_sizes = [_positive_int(n, "every layer size") for n in sizes]
        activation = _checked_activations(activation, len(sizes) - 2)
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
        if output_activation is None:
            output_activation = LINKS[loss]
        if loss in REGRESSION:
            _check_activation(output_activation, "output activation")
        if loss not in REGRESSION and output_activation != LINKS[loss]:
            raise ValueError(f"loss {loss!r} takes logits and its output activation is "
                             f"{LINKS[loss]!r}, got {output_activation!r}")
        if loss == "softmax_xent" and self.layer_sizes[-1] < 2:
            raise ValueError("softmax_xent needs at least 2 outputs (one per class); "
                             "use bce for one output")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; known: {', '.join(INITS)}")
        # the code generator's backend for the training step: "numba" compiles it into one
        # kernel (docs/numba.md)
        if backend not in ("numpy", "numba"):
            raise ValueError(f"unknown backend {backend!r}; known: numpy, numba")
        self.backend = backend
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.activation, self.output_activation, self.loss = activation, output_activation, loss
        self.seed, self.init = seed, init
        self.rng = np.random.default_rng(seed)
        self.params = self._initial_params()
        self.history: History | None = None
        self.keep_prob = 1.0  # of the last fit: what Monte Carlo dropout uses
        self.optimizer: Optimizer | FullBatch | None = None  # the last fit's, state and all
        self.flat_targets = False  # fitted on 1-d targets: predict returns 1-d too
        self._steps: dict[tuple[bool, float, bool], Any] = {}
        self._step: Any = None
        self._fused: dict[tuple[bool, float, bool, str], FusedStep] = {}
        self._mask_buffers: dict[int, list[np.ndarray]] = {}

    # --- structure -----------------------------------------------------------------------
    @property
    def is_classifier(self) -> bool:
        return self.loss not in REGRESSION

    @property
    def head(self) -> str:
        """The activation applied to the last layer inside the loss: mse's output
        activation, or identity when the loss takes logits."""
        return self.output_activation if self.loss in REGRESSION else "identity"

    @property
    def n_parameters(self) -> int:
        return sum(p.size for p in self.params)

    def _initial_params(self) -> list[np.ndarray]:
        """Xavier/Glorot uniform U(±√(6/(n_in + n_out))), or He normal N(0, 2/n_in) (the
        default for the ReLU family); biases start at zero."""
        n_layers = len(self.layer_sizes) - 1
        # a layer is initialised for the activation it feeds (the output layer: the last one's)
        feeds = hidden_activations(self.activation, n_layers - 1) or [self.activation]
        params = []
        for l, (n_in, n_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:])):
            if self.init == "he" or (self.init == "auto" and
                                     feeds[min(l, len(feeds) - 1)] in ("relu", "leaky_relu")):
                W = self.rng.normal(0.0, math.sqrt(2.0 / n_in), (n_in, n_out))
            else:
                limit = math.sqrt(6.0 / (n_in + n_out))
                W = self.rng.uniform(-limit, limit, (n_in, n_out))
            params += [W.astype(self.dtype), np.zeros(n_out, self.dtype)]
        return params

    def __repr__(self) -> str:
        extra = "" if self.output_activation == LINKS[self.loss] else \
            f", output_activation={self.output_activation!r}"
        return (f"MLP({self.layer_sizes}, activation={self.activation!r}{extra}, "
                f"loss={self.loss!r})")

    def _repr_html_(self) -> str:  # Jupyter: layers, parameter count, training state
        from ..display import mlp_html

        return mlp_html(self)

    def diagram(self, ax: Any = None, kept: list[np.ndarray] | None = None,
                notes: dict[tuple[int, int], str] | None = None, title: str | None = None
                ) -> Any:
        """The network as circles and connections (matplotlib figure); `kept` (a boolean
        array per hidden layer) draws the thinned network under dropout.  See
        `nn.plots.network_diagram`."""
        from .plots import network_diagram

        return network_diagram(self, ax, kept, notes, title)

    # --- the loss-and-gradient function ----------------------------------------------------
    def _make_step(self, dropout: bool = False, weight_decay: float = 0.0,
                   int_labels: bool = False) -> Any:
        """The loss-and-gradient function that fit calls once per step, made once per model
        and configuration (dropout on or off, weight-decay λ, integer labels or not).

        Contract: `step(params, X, Y, masks) -> (loss: float, grads: list[np.ndarray])`
        - params: [W1, b1, W2, b2, ...] of self.dtype (read only);
        - X: (batch, n_in) array of self.dtype;
        - Y: (batch, n_out) of self.dtype for mse, bce and one-hot (or probability)
          softmax_xent, or, when int_labels, (batch,) intp class labels for softmax_xent;
        - masks: with dropout, one (batch, units) array per hidden layer, already scaled by
          1/keep_prob, multiplying that layer's output f(z); else None;
        - loss: the mean loss of `losses` on the output of `self.head`, plus
          λ Σ_l sum(W_l²) (biases not decayed); grads: one array per parameter, same shape
          and dtype.  The step may reuse its gradient buffers between calls.
        The returned object may carry `.source` (generated code) and `.graph`.
        """
        head = self.head if self.loss in REGRESSION else "identity"  # the others take logits
        return GeneratedStep(self.layer_sizes, self.activation, head, self.loss,
                             weight_decay, dropout, int_labels, self.backend)

    def _get_step(self, dropout: bool = False, weight_decay: float = 0.0,
                  int_labels: bool | None = None) -> Any:
        if int_labels is None:  # what fit passes when given class labels
            int_labels = self.loss == "softmax_xent"
        key = (bool(dropout), float(weight_decay), bool(int_labels))
        if key not in self._steps:
            self._steps[key] = self._make_step(*key)
        self._step = self._steps[key]
        return self._step

    def _fused_step(self, opt: Optimizer, dropout: bool, weight_decay: float,
                    int_labels: bool) -> FusedStep | None:
        """The fused step (gradient and update in one generated function) for this fit, or
        None where fit keeps the separate step and `opt.update`: another optimizer class
        (a subclass may update differently), or steps replaced by hand (`_make_step`)."""
        if not self.fused_steps or type(opt) not in (SGD, Momentum, Adam) \
                or type(self)._make_step is not MLP._make_step:
            return None
        key = (bool(dropout), float(weight_decay), bool(int_labels), opt.name)
        if key not in self._fused:
            self._fused[key] = FusedStep(self.layer_sizes, self.activation, self.head,
                                         self.loss, weight_decay, dropout, int_labels,
                                         optimizer=opt.name, backend=self.backend)
        return self._fused[key]

    @property
    def step(self) -> Any:
        """The loss-and-gradient function of the last fit (before any fit: the one without
        dropout or weight decay, taking class labels for softmax_xent)."""
        return self._step if self._step is not None else self._get_step()

    @property
    def graph(self) -> Any:
        """The loss as a graphdiff Graph, when the step was built from one (else None)."""
        return getattr(self.step, "graph", None)

    # --- prediction ------------------------------------------------------------------------
    def _inputs(self, X: Any, name: str = "X") -> np.ndarray:
        return as_inputs(X, self.layer_sizes[0], self.dtype, name)

    def _targets(self, Y: Any, name: str = "Y") -> np.ndarray:
        return as_targets(Y, self.loss, self.layer_sizes[-1], self.dtype, name)

    def forward(self, X: Any) -> np.ndarray:
        """The last layer's output through `head`: predictions for mse, logits otherwise."""
        return self._output(self._inputs(X))

    def _output(self, X: np.ndarray, masks: list[np.ndarray] | None = None
                ) -> np.ndarray:  # X already validated
        hidden = hidden_activations(self.activation, len(self.layer_sizes) - 2)
        if all(a in backprop.ACTIVATIONS for a in (*hidden, self.head)):
            return backprop.forward(self.params, X, self.activation, self.head, masks)
        return _registry_forward(self.params, X, hidden, self.head, masks)

    def predict(self, X: Any, dropout_samples: int | None = None,
                keep_prob: float | None = None) -> Any:
        """Outputs for X, shape (n, n_out): values for mse and sse, probabilities for bce
        (sigmoid) and softmax_xent (softmax); shape (n,) after a fit on 1-d targets
        (`flat_targets`), so predictions compare with those targets entry by entry.
        Dropout is off, unless `dropout_samples`: then Monte Carlo dropout (Gal &
        Ghahramani, 2016), which returns the mean and the standard deviation of that many
        outputs, each with fresh masks (keep_prob: the last fit's, unless given), drawn
        from the model's random generator."""
        if dropout_samples is None:
            return self._shaped(link(self.loss, self.forward(X)))
        samples = _positive_int(dropout_samples, "dropout_samples")
        keep = self.keep_prob if keep_prob is None else _keep_prob(0.0, keep_prob)
        if keep == 1.0:
            raise ValueError("Monte Carlo dropout needs a model trained with dropout (or "
                             "keep_prob < 1): without it every sample is the same")
        X = self._inputs(X)
        # one mask row per sample, shared by every input: each sample is one thinned network
        outs = np.stack([link(self.loss, self._output(X, self._masks(1, keep)))
                         for _ in range(samples)])
        return self._shaped(outs.mean(axis=0)), self._shaped(outs.std(axis=0))

    def _shaped(self, out: np.ndarray) -> np.ndarray:
        """Predictions (n, n_out) as (n,) for a model fitted on 1-d targets."""
        return out[:, 0] if self.flat_targets else out

    def predict_classes(self, X: Any) -> np.ndarray:
        """Class labels: argmax for softmax_xent, probability >= 1/2 for bce (shape (n,)
        with one output, else (n, n_out))."""
        if not self.is_classifier:
            raise ValueError("predict_classes needs a classifier (loss bce or softmax_xent)")
        out = self.forward(X)
        if self.loss == "softmax_xent":
            return out.argmax(axis=1)
        classes = (out >= 0).astype(np.intp)
        return classes[:, 0] if classes.shape[1] == 1 else classes

    def evaluate(self, X: Any, Y: Any) -> float:
        """The data loss on (X, Y), without dropout or weight decay."""
        X, Y = self._inputs(X), self._targets(Y)
        check_pair(X, Y)
        return loss_value(self.loss, self.forward(X), Y)

    def score(self, X: Any, Y: Any) -> float:
        """Accuracy for classifiers; the coefficient of determination R² for regression."""
        X, Y = self._inputs(X), self._targets(Y)
        check_pair(X, Y)
        out = self.forward(X)
        if self.is_classifier:
            return accuracy(self.loss, out, Y)
        # averaged over outputs, like scikit-learn; a constant target scores 1 only if hit
        residual = ((Y - out) ** 2).sum(axis=0)
        total = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        scores = [1.0 - r / t if t > 0 else float(r == 0) for r, t in zip(residual, total)]
        return float(np.mean(scores))

    # --- training ------------------------------------------------------------------------
    def fit(self, X: Any, Y: Any, epochs: int = 200, optimizer: OptimizerLike = "adam",
            lr: float | None = None, batch_size: int | str | None = "auto",
            weight_decay: float = 0.0, dropout: float = 0.0, keep_prob: float | None = None,
            validation: tuple[Any, Any] | None = None, early_stopping: int | None = None,
            shuffle: bool = True, verbose: bool | None = None,
            callback: Callable[[int, dict[str, float]], bool | None] | None = None, *,
            validation_split: float = 0.0, monitor: str | None = None, min_delta: float = 0.0,
            lr_schedule: str | Schedule | None = None, clip_norm: float | None = None,
            clip_value: float | None = None, warm_start: bool = True) -> History:
        """Train on (X, Y) and return the History (also kept as `self.history`).

        optimizer: "sgd", "momentum", "adam" (per step, `lr`), or a full-batch method
        "scg", "lbfgs", "bfgs", "cg" (one epoch = one iteration), or an optimizer object.
        batch_size: "auto" = min(200, n) for per-step optimizers (full batch for full-batch
        methods), None for full batch, or a number; mini-batches are reshuffled every epoch.
        weight_decay: λ of the penalty λ Σ sum(W²).  dropout: probability of dropping a
        hidden unit (or give keep_prob = 1 - dropout).  validation: (X_val, Y_val), scored
        after every epoch, or validation_split: the fraction of (X, Y) held out for it
        (stratified for classifiers).  early_stopping: patience in epochs without an
        improvement larger than min_delta of `monitor` ("val_loss" with validation data,
        else "loss"; or "accuracy", "val_accuracy"); the best weights are restored.
        lr_schedule: "step", "exponential", "cosine" or a Schedule, applied per epoch.
        clip_norm / clip_value: clip the gradients' global L2 norm / each entry per step.
        warm_start: True continues from the current weights and, when the optimizer is the
        same (same name and settings, or the same object), from its state (Adam's moments,
        momentum's velocity) as one longer run would; False starts afresh from the
        initialisation of `seed`.  verbose: None shows progress only for runs longer than
        a few seconds, on a terminal or in a notebook (True: always, False: never).
        callback(epoch, logs) may return True to stop.
        A diverging loss stops the run with a DivergenceWarning and restores the best weights.
        """
        if not warm_start:
            self._restart()
        flat = np.ndim(Y) == 1 and self.loss != "softmax_xent"
        chunked = is_chunked(X, Y)  # Dask arrays: trained on chunk by chunk (nn/chunked.py)
        if chunked:
            if validation_split:
                raise ValueError("validation_split is not available on Dask arrays: give "
                                 "validation=(X_val, Y_val)")
            X, Y = as_chunked_pair(X, Y, self.layer_sizes[0], self.layer_sizes[-1], self.loss,
                                   self.dtype)
        else:
            X, Y = self._inputs(X), self._targets(Y)
            check_pair(X, Y)
        if validation is not None:
            if validation_split:
                raise ValueError("give either validation=(X_val, Y_val) or validation_split, "
                                 "not both")
            if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
                raise ValueError("validation must be a pair (X_val, Y_val)")
            validation = (self._inputs(validation[0], "X_val"),
                          self._targets(validation[1], "Y_val"))
            check_pair(*validation, names=("X_val", "Y_val"))
        elif validation_split:
            (X, Y), validation = self._split(X, Y, validation_split)
        epochs = _positive_int(epochs, "epochs")
        if not (is_real(weight_decay) and math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        keep_prob = _keep_prob(dropout, keep_prob)
        monitor = self._monitor(monitor, early_stopping, validation is not None)
        if not (is_real(min_delta) and min_delta >= 0):
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        if early_stopping is not None:
            early_stopping = _positive_int(early_stopping, "early_stopping (patience)")
        opt = self._optimizer_for(optimizer, lr)
        batch_size = _batch_size(batch_size, opt, len(X))
        schedule = None if lr_schedule is None else make_schedule(lr_schedule)
        clip = _clipping(clip_norm, clip_value)
        _check_full_batch(opt, optimizer, batch_size not in (None, len(X)), keep_prob < 1,
                          schedule is not None, clip is not None)
        self.flat_targets = flat
        step = self._get_step(keep_prob < 1, weight_decay, Y.ndim == 1)
        if chunked and keep_prob < 1:
            raise ValueError("dropout is not available when training on Dask arrays")
        run = _Run(self, X, Y, validation, early_stopping, callback,
                   _Progress(verbose, epochs), monitor, float(min_delta))
        base_lr = getattr(opt, "lr", None)
        try:
            if isinstance(opt, FullBatch):
                self._fit_full_batch(run, ChunkedStep(step) if chunked else step, opt, X, Y,
                                     epochs)
            else:
                # on Dask: the full batch as one Dask computation, or batches drawn chunk
                # by chunk (ChunkBatches); no reference loss (it would be another pass)
                whole = chunked and batch_size in (None, len(X))
                # Gradient clipping needs every gradient before any update, and Dask
                # batches are not NumPy arrays: those keep the separate step and update.
                # Weight decay and dropout are in the fused graph; schedules change its lr
                # input; the divergence guard, validation and early stopping act between
                # steps and epochs as before (a diverged step is undone by restoring the
                # best weights either way; after a fused one the optimizer restarts).
                fused = None if clip is not None or chunked else self._fused_step(
                    opt, keep_prob < 1, weight_decay, Y.ndim == 1)
                self._fit_steps(run, ChunkedStep(step) if whole else step, opt, X, Y, epochs,
                                batch_size, keep_prob, shuffle, schedule, clip,
                                math.inf if chunked else
                                self._reference_loss(X, Y, weight_decay), fused)
        finally:
            run.finish()
            if schedule is not None:
                opt.lr = base_lr  # the optimizer keeps its own rate for the next fit
        self.history, self.keep_prob = run.history, keep_prob
        return run.history

    def _restart(self) -> None:
        """Back to the state of a new model: the initial weights of `seed`, no optimizer."""
        self.rng = np.random.default_rng(self.seed)
        for p, initial in zip(self.params, self._initial_params()):
            np.copyto(p, initial)
        self.optimizer, self.history, self.keep_prob = None, None, 1.0

    def _optimizer_for(self, optimizer: OptimizerLike, lr: float | None) -> Optimizer | FullBatch:
        """The optimizer object for this fit: the last fit's (with its state) when asked for
        by the same name and settings."""
        opt = _optimizer(optimizer, lr)
        kept = self.optimizer
        if (isinstance(optimizer, str) and type(kept) is type(opt)
                and repr(kept) == repr(opt)):  # repr lists every setting
            opt = kept
        self.optimizer = opt
        return opt

    def _split(self, X: np.ndarray, Y: np.ndarray, fraction: Any
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """((X_train, Y_train), (X_val, Y_val)) with `fraction` of the samples held out,
        drawn with the model's RNG; classifiers keep each class's share in both parts."""
        n = len(X)
        if not (is_real(fraction) and 0.0 < fraction < 1.0):
            raise ValueError(f"validation_split must be a fraction in (0, 1), got {fraction!r}")
        n_val = max(1, round(float(fraction) * n))
        if n_val >= n:
            raise ValueError(f"validation_split={fraction} of {n} samples leaves none to "
                             "train on")
        order = self.rng.permutation(n)
        strata = _strata(self.loss, Y)
        if strata is not None:  # sorted by class, then every (n / n_val)-th sample held out
            order = order[np.argsort(strata[order], kind="stable")]
        held = np.zeros(n, bool)
        held[order[(np.arange(n_val) * n) // n_val]] = True
        return (X[~held], Y[~held]), (X[held], Y[held])

    def _monitor(self, monitor: str | None, patience: Any, validation: bool) -> str:
        if monitor is None:
            if patience is not None and not validation:
                raise ValueError("early_stopping watches the validation loss: pass "
                                 "validation=(X_val, Y_val) or validation_split=, or "
                                 "monitor='loss' to watch the training loss")
            return "val_loss" if validation else "loss"
        if monitor not in MONITORS:
            raise ValueError(f"unknown monitor {monitor!r}; known: {', '.join(MONITORS)}")
        if monitor.startswith("val_") and not validation:
            raise ValueError(f"monitor={monitor!r} needs validation data: pass "
                             "validation=(X_val, Y_val) or validation_split=")
        if monitor.endswith("accuracy") and not self.is_classifier:
            raise ValueError(f"monitor={monitor!r} needs a classifier (loss bce or "
                             "softmax_xent)")
        return monitor

    def _fit_steps(self, run: _Run, step: Any, opt: Optimizer, X: np.ndarray,
                   Y: np.ndarray, epochs: int, batch_size: int | None, keep_prob: float,
                   shuffle: bool, schedule: Schedule | None = None,
                   clip: tuple[float | None, float | None] | None = None,
                   reference: float = math.inf, fused: FusedStep | None = None) -> None:
        """Epochs of per-step updates; `reference`: see _reference_loss; `fused`: the
        step that computes and applies an update in one call, if fit may use it."""
        batches = (ChunkBatches if is_chunked(X) else _Batches)(
            X, Y, batch_size, self.rng if shuffle else None)
        base_lr = opt.lr  # fit puts it back afterwards
        # an epoch's training loss is that of the weights it started from (exactly so for
        # the full batch): those are the ones to keep when the loss is the watched metric
        begun = [p.copy() for p in self.params] if run.monitor == "loss" else None
        for epoch in range(epochs):
            if begun is not None and epoch:
                for kept, p in zip(begun, self.params):
                    np.copyto(kept, p)
            if schedule is not None:
                opt.lr = base_lr * schedule(epoch, epochs)
            run.history.lr.append(opt.lr)
            if fused is not None:
                loss = self._fused_epoch(run, fused, opt, batches, keep_prob, reference)
            else:
                loss = self._epoch(run, step, opt, batches, keep_prob, clip, reference)
            if loss is None or run.end_epoch(loss, begun):
                return

    def _epoch(self, run: _Run, step: Any, opt: Optimizer, batches: _Batches,
               keep_prob: float, clip: tuple[float | None, float | None] | None,
               reference: float) -> float | None:
        """One pass over the data; the mean loss, or None when the run diverged."""
        limit = max(_DIVERGENCE_FACTOR * reference, 1e3)
        total = 0.0
        for xb, yb in batches:
            masks = self._masks(len(xb), keep_prob) if keep_prob < 1 else None
            value, grads = step(self.params, xb, yb, masks)
            if not (math.isfinite(value) and value <= limit):
                run.diverged(f"the loss became {value:.4g}", opt)
                return None
            if clip is not None:
                clip_gradients(grads, *clip)
            opt.update(self.params, grads)
            total += value * len(xb)
        return self._epoch_end(run, opt, total, len(batches.X), reference)

    def _fused_epoch(self, run: _Run, fused: FusedStep, opt: Optimizer, batches: _Batches,
                     keep_prob: float, reference: float) -> float | None:
        """`_epoch` with one generated call per batch, which also updates the weights and
        the optimizer's state (the same buffers `opt.update` would use)."""
        limit = max(_DIVERGENCE_FACTOR * reference, 1e3)
        params = self.params
        buffers = opt._buffers(params, len(fused.slots) + 1)  # + update's scratch array
        state = [b[k] for k in range(len(fused.slots)) for b in buffers]
        total = 0.0
        for xb, yb in batches:
            masks = self._masks(len(xb), keep_prob) if keep_prob < 1 else None
            value = fused(params, state, xb, yb, masks, opt)
            if not (math.isfinite(value) and value <= limit):
                run.diverged(f"the loss became {value:.4g}", opt)
                # the step that diverged has already moved the optimizer's moments (the
                # separate path never applies it): they restart, so a warm-started fit
                # from the restored weights does not inherit non-finite state
                opt.reset()
                return None
            total += value * len(xb)
        return self._epoch_end(run, opt, total, len(batches.X), reference)

    def _epoch_end(self, run: _Run, opt: Optimizer, total: float, n: int,
                   reference: float) -> float | None:
        """The epoch's mean loss, or None when its weights or its mean diverged."""
        if not all(np.isfinite(p).all() for p in self.params):
            run.diverged("the parameters became non-finite", opt)
            return None
        mean = total / n
        if mean > _EXPLOSION_FACTOR * reference:
            run.diverged(f"the epoch's mean loss {mean:.4g} is over {_EXPLOSION_FACTOR:g} "
                         f"times the larger of the start's and a constant output's, "
                         f"{reference:.4g}", opt)
            return None
        return mean

    def _reference_loss(self, X: np.ndarray, Y: np.ndarray, weight_decay: float) -> float:
        """What the divergence guard compares an epoch's loss with: the larger of the
        objective at the current weights (with the penalty, as the steps report it) and the
        data loss of the best constant output (finite ones only)."""
        with np.errstate(all="ignore"):
            penalty = weight_decay * sum(float(np.vdot(W, W)) for W in self.params[0::2])
            values = [loss_value(self.loss, self._output(X), Y) + penalty,
                      baseline_loss(self.loss, Y)]
        return max((v for v in values if math.isfinite(v)), default=math.inf)

    def _fit_full_batch(self, run: _Run, step: Any, opt: FullBatch, X: np.ndarray,
                        Y: np.ndarray, epochs: int) -> None:
        params = self.params

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            unflatten_into(params, x)
            value, grads = step(params, X, Y, None)
            return value, flatten(grads)

        def each_iteration(x: np.ndarray, value: float) -> None:
            unflatten_into(params, x)
            if not math.isfinite(value):
                raise _Diverged(f"the loss became {value}")
            if run.end_epoch(value):
                raise StopIteration

        try:
            x = opt.minimize(fun, flatten(params), epochs, each_iteration)
        except StopIteration:
            return  # SCG lets it through; SciPy's wrapper returns instead
        except _Diverged as e:
            run.diverged(str(e), opt)
            return
        unflatten_into(params, x)
        if not all(np.isfinite(p).all() for p in params):
            run.diverged("the parameters became non-finite", opt)

    def _masks(self, rows: int, keep_prob: float) -> list[np.ndarray]:
        """Fresh dropout masks from the model's RNG, written into reused buffers.

        The lecture's definition: keep each unit with probability keep_prob and scale kept
        units by 1/keep_prob (so the expected output is unchanged).  Its code snippet,
        `np.random.binomial(..., 1 - keep_prob) / (1 - keep_prob)`, keeps with probability
        1 - keep_prob instead; we follow the words.
        """
        buffers = self._mask_buffers.get(rows)
        if buffers is None:
            buffers = self._mask_buffers[rows] = [
                np.empty((rows, units), self.dtype) for units in self.layer_sizes[1:-1]]
        for mask in buffers:
            self.rng.random(out=mask, dtype=self.dtype)
            np.less(mask, keep_prob, out=mask)  # 1.0 where kept, 0.0 where dropped
            mask *= 1.0 / keep_prob
        return buffers

    # --- saving --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write architecture and parameters to `path` as .npz (plain arrays and strings,
        no pickles), atomically: a temporary file in the same folder, then os.replace."""
        arrays: dict[str, np.ndarray] = {
            "format": np.array(_FORMAT), "layer_sizes": np.array(self.layer_sizes),
            # one string: a list of activations is written "relu,tanh"
            "activation": np.array(self.activation if isinstance(self.activation, str)
                                   else ",".join(self.activation)),
            "flat_targets": np.array(self.flat_targets),
            "output_activation": np.array(self.output_activation),
            "loss": np.array(self.loss), "init": np.array(self.init),
            "seed": np.array(-1 if self.seed is None else self.seed)}
        arrays.update({f"param_{i}": p for i, p in enumerate(self.params)})
        write_atomically(os.fspath(path), lambda f: np.savez(f, **arrays))

    def export(self, path: str | os.PathLike, weights: str = "inline") -> None:
        """Write `predict(X)` as a module that needs only NumPy: the generated forward pass
        with the trained parameters embedded (`weights="inline"`) or in an .npz beside it
        (`weights="npz"`).  It returns what `predict` returns."""
        export.write_module(os.fspath(path), export.Network(
            self.layer_sizes, self.activation, self.output_activation, self.params,
            self.flat_targets, repr(self)), weights)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MLP:
        """The model saved at `path`.  Every array's header is checked (sizes positive and
        matching the layer sizes, float parameters, no pickles) before any array is read,
        and parameters must be finite: anything else is one ValueError naming the file."""
        path = os.fspath(path)
        headers = npz_headers(path, f"a saved graphdiff MLP (format {_FORMAT})")
        missing = [k for k in _META if k not in headers]
        if missing or headers["format"][0] != ():
            raise ArchiveError(path, f"not a saved graphdiff MLP (format {_FORMAT}): no "
                                     f"{', '.join(missing) or 'format string'}")
        sizes_shape, sizes_dtype = headers["layer_sizes"]
        if len(sizes_shape) != 1 or not 2 <= sizes_shape[0] <= _MAX_LAYERS \
                or sizes_dtype.kind not in "iu":
            raise ArchiveError(path, f"layer_sizes must be 2 to {_MAX_LAYERS} integers, "
                                     f"not a {sizes_dtype} array of shape {sizes_shape}")
        if any(headers[k][0] != () for k in (*_META, *_OPTIONAL)
               if k in headers and k != "layer_sizes"):
            raise ArchiveError(path, "its settings must be single values")
        meta = {k: v[()] for k, v in read_members(path, _META).items()}
        if str(meta["format"]) != _FORMAT:
            raise ArchiveError(path, f"not a saved graphdiff MLP (format {_FORMAT}): format "
                                     f"{str(meta['format'])[:40]!r}")
        sizes = [int(n) for n in meta["layer_sizes"]]
        if min(sizes) < 1:
            raise ArchiveError(path, f"layer sizes must be positive, got {sizes}")
        shapes = [s for n_in, n_out in zip(sizes, sizes[1:]) for s in ((n_in, n_out), (n_out,))]
        names = [f"param_{i}" for i in range(len(shapes))]
        extra = sorted(set(headers) - set(_META) - set(_OPTIONAL) - set(names))
        if extra:
            raise ArchiveError(path, f"unexpected arrays {', '.join(extra)[:80]}")
        for name, shape in zip(names, shapes):
            if name not in headers:
                raise ArchiveError(path, f"{name} is missing")
            have, dtype = headers[name]
            if have != shape or dtype not in (np.float32, np.float64) \
                    or dtype != headers["param_0"][1]:
                raise ArchiveError(path, f"{name} is a {dtype} array of shape {have}; layer "
                                         f"sizes {sizes} need {shape}, in the dtype of param_0")
        params = read_members(path, names)
        for name in names:
            if not np.all(np.isfinite(params[name])):
                raise ArchiveError(path, f"{name} holds NaN or infinite values")
        try:
            seed = int(meta["seed"])
            activation = str(meta["activation"])
            model = cls(sizes, activation=activation.split(",") if "," in activation
                        else activation,
                        output_activation=str(meta["output_activation"]),
                        loss=str(meta["loss"]), seed=None if seed < 0 else seed,
                        init=str(meta["init"]), dtype=headers["param_0"][1])
        except (ValueError, TypeError) as exc:
            raise ArchiveError(path, str(exc)) from None
        model.params = [params[name] for name in names]
        if "flat_targets" in headers:
            model.flat_targets = bool(read_members(path, ["flat_targets"])["flat_targets"][()])
        return model

    # --- pickling: by value, the compiled step rebuilt from its graph ---------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # generated functions pickle by the call that made them; a step is cheaper to
        # rebuild than to carry, so only which one was in use travels
        state["_steps"] = {}
        state["_fused"] = {}
        state["_step"] = next((k for k, v in self._steps.items() if v is self._step), None)
        state["_mask_buffers"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        key = state.pop("_step")
        self.__dict__.update(state, _step=None)
        self.__dict__.setdefault("_fused", {})  # pickled before fused steps existed
        if key is not None:
            self._get_step(*key)


_META = ("format", "layer_sizes", "activation", "output_activation", "loss", "init", "seed")
_OPTIONAL = ("flat_targets",)  # absent from files written before it existed
_MAX_LAYERS = 1000


class _Diverged(Exception):
    pass


class _Batches:
    """Each pass over (X, Y) in batches of `size` rows (None: the full batch), reshuffled
    with `rng` every time (None: in order), written into buffers allocated once."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, size: int | None, rng: Any):
        self.X, self.Y, self.rng = X, Y, rng
        self.size = len(X) if size is None else size
        if self.size < len(X):
            self.Xb = np.empty((self.size,) + X.shape[1:], X.dtype)
            self.Yb = np.empty((self.size,) + Y.shape[1:], Y.dtype)

    def __iter__(self):
        n, size = len(self.X), self.size
        if size >= n:
            yield self.X, self.Y
            return
        order = self.rng.permutation(n) if self.rng is not None else np.arange(n)
        for start in range(0, n, size):
            rows = order[start:start + size]
            m = len(rows)
            yield (np.take(self.X, rows, axis=0, out=self.Xb[:m]),
                   np.take(self.Y, rows, axis=0, out=self.Yb[:m]))


_PROBE = np.linspace(-4.0, 4.0, 17)  # a layer's pre-activations can be any real number


def _defined_everywhere(name: str) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.isfinite(gd.call(name, _PROBE)).all())


@functools.cache
def unary_activations() -> tuple[str, ...]:
    """The activations a layer accepts: the lecture's table (PReLU aside: its slope would be
    a parameter) and every other elementwise unary primitive of the registry that has a
    derivative and is defined on the whole real line (softplus, sin, ...; not log or sqrt).

    >>> unary_activations()[:4]
    ('identity', 'binary_step', 'sigmoid', 'tanh')
    """
    table = [p.name for p in gd.activations() if p.arity == 1]
    others = [p.name for p in gd.REGISTRY.values()
              if p.arity == 1 and len(p.partials) == 1 and p.differentiable]
    return tuple(n for n in dict.fromkeys(table + others) if _defined_everywhere(n))


def _checked_activations(activation: Any, n_hidden: int) -> str | list[str]:
    """The activation argument, checked: one name, or a list of one per hidden layer."""
    if isinstance(activation, str):
        _check_activation(activation, "activation")
        return activation
    if not isinstance(activation, Sequence):
        raise ValueError(f"activation must be a name or a list of names, got {activation!r}")
    names = list(hidden_activations(activation, n_hidden))
    for name in names:
        _check_activation(name, "activation")
    return names


def _check_activation(name: Any, what: str) -> None:
    known = unary_activations()
    if name in known:
        return
    if name == "prelu":
        hint = "; prelu's slope is a learnable parameter, which MLP does not train: use leaky_relu"
    elif isinstance(name, str) and name in gd.REGISTRY and gd.REGISTRY[name].arity == 1:
        hint = f" ({name} is not an elementwise function of every real number)"
    else:
        hint = ""
    raise ValueError(f"unknown {what} {name!r}{hint}; known: {', '.join(known)}")


def _registry_forward(params: Sequence[np.ndarray], X: np.ndarray, hidden: Sequence[str],
                      head: str, masks: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The network's output with activations (one per hidden layer, then `head`) evaluated
    by the registry (for those the hand-written reference does not have), hidden layers
    times the dropout masks if given."""
    last = len(params) // 2 - 1
    h = X
    for l in range(last + 1):
        z = h @ params[2 * l]
        z += params[2 * l + 1]
        h = np.asarray(gd.call(hidden[l] if l < last else head, z), dtype=X.dtype)
        if masks is not None and l < last:
            h *= masks[l]
    return h


def _optimizer(optimizer: OptimizerLike, lr: float | None) -> Optimizer | FullBatch:
    """The optimizer object named, or given, for fit."""
    if isinstance(optimizer, str):
        return make_optimizer(optimizer, lr)
    if isinstance(optimizer, (Optimizer, FullBatch)):
        if lr is not None:
            raise ValueError("give the learning rate to the optimizer object, not to fit")
        return optimizer
    raise TypeError(f"optimizer must be a name or an optimizer object, got {optimizer!r}")


def _batch_size(batch_size: Any, opt: Optimizer | FullBatch, n: int) -> int | None:
    """Rows per step: "auto" is min(200, n) for per-step optimizers and the full batch
    for full-batch methods."""
    if isinstance(batch_size, str) and batch_size == "auto":
        return None if isinstance(opt, FullBatch) else min(_AUTO_BATCH, n)
    if batch_size is None:
        return None
    if isinstance(batch_size, str):
        raise ValueError(f"batch_size must be a positive integer, 'auto' or None, "
                         f"got {batch_size!r}")
    return min(_positive_int(batch_size, "batch_size"), n)


def _clipping(clip_norm: Any, clip_value: Any) -> tuple[float | None, float | None] | None:
    for name, value in (("clip_norm", clip_norm), ("clip_value", clip_value)):
        if value is not None and not (is_real(value) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number or None, got {value!r}")
    if clip_norm is None and clip_value is None:
        return None
    return (None if clip_norm is None else float(clip_norm),
            None if clip_value is None else float(clip_value))


def _check_full_batch(opt: Optimizer | FullBatch, asked: OptimizerLike, mini_batches: bool,
                      dropout: bool, schedule: bool, clip: bool) -> None:
    """The options that only per-step optimizers can follow."""
    if not isinstance(opt, FullBatch):
        return
    if mini_batches:
        raise ValueError(f"{asked!r} is a full-batch method: batch_size must be None")
    if dropout:
        raise ValueError(f"dropout draws new masks every step, which a full-batch method "
                         f"({asked!r}) cannot follow; use sgd, momentum or adam")
    if schedule or clip:
        raise ValueError(f"{asked!r} is a full-batch method that chooses its own steps: "
                         "lr_schedule, clip_norm and clip_value are for sgd, momentum and adam")


def _strata(loss: str, Y: np.ndarray) -> np.ndarray | None:
    """Each sample's class, for splits that keep the classes' shares (None for regression)."""
    if loss == "softmax_xent":
        return Y if Y.ndim == 1 else Y.argmax(axis=1)
    if loss == "bce":  # each row's pattern of labels, as one number
        return (Y >= 0.5) @ (2 ** np.arange(Y.shape[1]))
    return None


def _keep_prob(dropout: Any, keep_prob: Any) -> float:
    if keep_prob is not None:
        if dropout:
            raise ValueError("give either dropout (probability of dropping) or keep_prob, "
                             "not both")
        if not (is_real(keep_prob) and 0.0 < keep_prob <= 1.0):
            raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob!r}")
        return float(keep_prob)
    if not (is_real(dropout) and 0.0 <= dropout < 1.0):
        raise ValueError(f"dropout (probability of dropping a unit) must be in [0, 1), "
                         f"got {dropout!r}")
    return 1.0 - float(dropout)


class _Run:
    """Bookkeeping of one fit: history, the best weights so far, early stopping, callback,
    progress, and what to do when the loss diverges."""

    def __init__(self, model: MLP, X: np.ndarray, Y: np.ndarray,
                 validation: tuple[np.ndarray, np.ndarray] | None, patience: int | None,
                 callback: Callable[..., Any] | None, progress: _Progress,
                 monitor: str = "loss", min_delta: float = 0.0):
        self.model, self.X, self.Y, self.validation = model, X, Y, validation
        self.patience, self.callback, self.progress = patience, callback, progress
        self.monitor, self.min_delta = monitor, min_delta
        self.sign = -1.0 if monitor.endswith("accuracy") else 1.0  # lower is better, as signed
        self.history = History()
        self.best = [p.copy() for p in model.params]  # the initial weights until an epoch ends
        self.best_value = math.inf
        self.waited = 0

    def end_epoch(self, train_loss: float, weights: Sequence[np.ndarray] | None = None) -> bool:
        """Record one epoch; True when training should stop.  `weights`: those the training
        loss belongs to, when not the current ones."""
        model, h = self.model, self.history
        epoch = h.epochs
        h.loss.append(train_loss)
        logs = {"loss": train_loss}
        if model.is_classifier and not is_chunked(self.X):  # Dask: another pass, not taken
            logs["accuracy"] = accuracy(model.loss, model._output(self.X), self.Y)
        if self.validation is not None:
            Xv, Yv = self.validation
            out = model._output(Xv)
            logs["val_loss"] = loss_value(model.loss, out, Yv)
            if model.is_classifier:
                logs["val_accuracy"] = accuracy(model.loss, out, Yv)
        for key in ("accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                getattr(h, key).append(logs[key])
        watched = self.sign * logs[self.monitor]
        if watched < self.best_value - self.min_delta:
            self.best_value, h.best_epoch, self.waited = watched, epoch, 0
            source = weights if weights is not None and self.monitor == "loss" else model.params
            for kept, p in zip(self.best, source):
                np.copyto(kept, p)
        else:
            self.waited += 1
        self.progress.update(epoch, logs)
        asked = self.callback is not None and self.callback(epoch, logs) is True
        if self.patience is not None and self.waited >= self.patience:
            h.stopped_early = True
        return asked or h.stopped_early

    def diverged(self, cause: str, opt: Any) -> None:
        self.history.diverged = True
        where = ("the initial weights" if self.history.best_epoch is None
                 else f"the weights of epoch {self.history.best_epoch + 1}")
        lr = f" (learning rate {opt.lr} too large?)" if hasattr(opt, "lr") else ""
        warnings.warn(f"training diverged in epoch {self.history.epochs + 1}: {cause}{lr}; "
                      f"stopped and restored {where}", DivergenceWarning, stacklevel=4)
        self.restore()

    def restore(self) -> None:
        for p, kept in zip(self.model.params, self.best):
            np.copyto(p, kept)

    def finish(self) -> None:
        if self.history.stopped_early:
            self.restore()
        self.progress.close()


class _Progress:
    """One status line on stderr (in Jupyter: one output redrawn), at most twice a second.
    verbose=None: only on a terminal or in a notebook, once the run has lasted two seconds."""

    def __init__(self, verbose: bool | None, epochs: int, stream: Any = None):
        self.stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        # in Jupyter stderr is no terminal, but one output area can be redrawn in place
        self.notebook = stream is None and not tty and in_notebook()
        self.handle: Any = None
        self.enabled = (tty or self.notebook) if verbose is None else bool(verbose)
        self.patient = verbose is None
        self.tty, self.epochs = tty, epochs
        self.start = self.last = time.perf_counter()
        self.shown = False

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        final = epoch + 1 == self.epochs
        if (self.patient and now - self.start < 2.0) or (now - self.last < 0.5 and not final
                                                         and self.shown):
            return
        self.last, self.shown = now, True
        if self.notebook:
            self._redraw(progress_html(epoch, self.epochs, logs, now - self.start))
            return
        values = "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
        line = f"epoch {epoch + 1}/{self.epochs}  {values}  ({now - self.start:.1f} s)"
        self.stream.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        self.stream.flush()

    def _redraw(self, html: str) -> None:
        from IPython.display import HTML, display

        if self.handle is None:
            self.handle = display(HTML(html), display_id=True)
        else:
            self.handle.update(HTML(html))

    def close(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
