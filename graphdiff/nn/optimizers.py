"""Optimizers: SGD, momentum and Adam update a list of parameter arrays in place; scaled
conjugate gradients (Møller) and SciPy's quasi-Newton methods minimize the full-batch loss.
Learning-rate schedules (step, exponential, cosine) and gradient clipping serve the per-step
optimizers.

Per-step optimizers allocate their state once and then only write into it (`out=`), so a
step creates no arrays and float32 parameters stay float32.  Full-batch methods work on
the flattened parameter vector and call `fun(x) -> (loss, flat gradient)`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .checks import is_real

__all__ = ["OPTIMIZERS", "SCG", "SCHEDULES", "SGD", "Adam", "CosineDecay", "ExponentialDecay",
           "FullBatch", "Momentum", "Optimizer", "Schedule", "ScipyMinimizer", "StepDecay",
           "clip_gradients", "flatten", "make_optimizer", "make_schedule", "unflatten_into"]

Fun = Callable[[np.ndarray], tuple[float, np.ndarray]]
IterationCallback = Callable[[np.ndarray, float], None]


class Optimizer:
    """A per-step optimizer: `update(params, grads)` changes `params` in place."""

    name = "optimizer"

    def __init__(self, lr: float):
        if not (is_real(lr) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self._state: list[list[np.ndarray]] | None = None
        self.t = 0

    def reset(self) -> None:
        """Forget the state (moments, step count): the next update starts afresh."""
        self._state, self.t = None, 0

    def _buffers(self, params: Sequence[np.ndarray], count: int) -> list[list[np.ndarray]]:
        """`count` zero arrays per parameter, allocated at the first update."""
        state = self._state
        if state is None or len(state) != len(params) or any(
                s[0].shape != p.shape or s[0].dtype != p.dtype for s, p in zip(state, params)):
            state = self._state = [[np.zeros_like(p) for _ in range(count)] for p in params]
        return state

    def update(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """p ← p - lr g."""

    name = "sgd"

    def __init__(self, lr: float = 0.01):
        super().__init__(lr)

    def update(self, params, grads):
        self.t += 1
        for p, g, (t,) in zip(params, grads, self._buffers(params, 1)):
            np.multiply(g, self.lr, out=t)
            np.subtract(p, t, out=p)


class Momentum(Optimizer):
    """v ← μ v + g,  p ← p - lr v  (heavy ball, in PyTorch's form)."""

    name = "momentum"

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)

    def update(self, params, grads):
        self.t += 1
        for p, g, (v, t) in zip(params, grads, self._buffers(params, 2)):
            np.multiply(v, self.momentum, out=v)
            np.add(v, g, out=v)
            np.multiply(v, self.lr, out=t)
            np.subtract(p, t, out=p)

    def __repr__(self) -> str:
        return f"Momentum(lr={self.lr}, momentum={self.momentum})"


class Adam(Optimizer):
    """Adam (Kingma & Ba): bias-corrected moments m, v;  p ← p - lr m̂ / (√v̂ + ε)."""

    name = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(lr)
        for label, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {beta!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def update(self, params, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        correction1 = 1.0 - b1**self.t
        root_correction2 = math.sqrt(1.0 - b2**self.t)
        for p, g, (m, v, t) in zip(params, grads, self._buffers(params, 3)):
            np.multiply(m, b1, out=m)  # m ← b1 m + (1 - b1) g
            np.multiply(g, 1.0 - b1, out=t)
            np.add(m, t, out=m)
            np.multiply(v, b2, out=v)  # v ← b2 v + (1 - b2) g²
            np.multiply(g, g, out=t)
            np.multiply(t, 1.0 - b2, out=t)
            np.add(v, t, out=v)
            np.sqrt(v, out=t)  # √v̂ + ε, with v̂ = v / (1 - b2^t)
            np.multiply(t, 1.0 / root_correction2, out=t)
            np.add(t, self.eps, out=t)
            np.divide(m, t, out=t)
            np.multiply(t, self.lr / correction1, out=t)  # m̂ = m / (1 - b1^t)
            np.subtract(p, t, out=p)

    def __repr__(self) -> str:
        return (f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2}, "
                f"eps={self.eps})")


# --- full-batch methods over the flattened parameter vector --------------------------------

def flatten(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """One float64 vector holding every array's entries in order."""
    return np.concatenate([np.ravel(a) for a in arrays]).astype(np.float64, copy=False)


def unflatten_into(params: Sequence[np.ndarray], x: np.ndarray) -> None:
    """Copy the vector x back into the arrays (in place, each keeping its dtype)."""
    start = 0
    for p in params:
        np.copyto(p, x[start:start + p.size].reshape(p.shape), casting="same_kind")
        start += p.size


class FullBatch:
    """A method that minimizes the full-batch loss: `minimize(fun, x0, maxiter, callback)`.

    `callback(x, loss)` is called after every iteration; it may raise StopIteration to end
    the run early.  Returns the final parameter vector.
    """

    name = "full_batch"

    def minimize(self, fun: Fun, x0: np.ndarray, maxiter: int,
                 callback: IterationCallback | None = None) -> np.ndarray:
        raise NotImplementedError


class SCG(FullBatch):
    """Møller's scaled conjugate gradients (1993), the method of the lecture's sinusoid fits.

    A conjugate-gradient method whose step length comes from a finite-difference curvature
    estimate along the search direction, regularised by a Levenberg-Marquardt scale β, so
    it needs no line search: two loss-and-gradient evaluations per iteration.  Follows
    Netlab's scg.m.
    """

    name = "scg"

    def __init__(self, xtol: float = 1e-10, ftol: float = 1e-12, sigma0: float = 1e-4):
        self.xtol, self.ftol, self.sigma0 = xtol, ftol, sigma0

    def minimize(self, fun, x0, maxiter, callback=None):
        x = np.array(x0, dtype=np.float64)
        f_old, g_new = fun(x)
        g_old = g_new
        d = -g_new
        success, n_success = True, 0
        beta, beta_min, beta_max = 1.0, 1e-15, 1e100
        mu = kappa = theta = 0.0
        converged = False
        for _ in range(maxiter):
            if success:
                mu = float(d @ g_new)
                if mu >= 0:  # not a descent direction: restart along -g
                    d = -g_new
                    mu = float(d @ g_new)
                kappa = float(d @ d)
                if kappa < np.finfo(float).eps:
                    break
                sigma = self.sigma0 / math.sqrt(kappa)
                _, g_plus = fun(x + sigma * d)
                theta = float(d @ (g_plus - g_new)) / sigma  # curvature along d, times |d|²
            delta = theta + beta * kappa
            if delta <= 0:  # make the scaled Hessian positive definite
                delta = beta * kappa
                beta -= theta / kappa
            alpha = -mu / delta
            x_new = x + alpha * d
            f_new, g_at_new = fun(x_new)
            # comparison of the actual and the quadratic model's decrease
            ratio = 2.0 * (f_new - f_old) / (alpha * mu) if math.isfinite(f_new) else -1.0
            success = ratio >= 0
            if success:
                converged = (np.max(np.abs(alpha * d)) < self.xtol
                             and abs(f_new - f_old) < self.ftol)
                x, f_old, g_old, g_new = x_new, f_new, g_new, g_at_new
                n_success += 1
            if callback is not None:
                callback(x, f_old)
            if success and (converged or not g_new.any()):
                break
            if ratio < 0.25:
                beta = min(4.0 * beta, beta_max)
            elif ratio > 0.75:
                beta = max(0.5 * beta, beta_min)
            if n_success == x.size:  # restart after n successful steps
                d, n_success = -g_new, 0
            elif success:
                gamma = float((g_old - g_new) @ g_new) / mu
                d = gamma * d - g_new
        return x

    def __repr__(self) -> str:
        return f"SCG(xtol={self.xtol}, ftol={self.ftol})"


class ScipyMinimizer(FullBatch):
    """scipy.optimize.minimize with method L-BFGS-B, BFGS or CG (SciPy is optional)."""

    METHODS = ("L-BFGS-B", "BFGS", "CG")

    def __init__(self, method: str = "L-BFGS-B", **options: Any):
        canonical = {m.lower(): m for m in self.METHODS}
        if method.lower() not in canonical:
            raise ValueError(f"unknown SciPy method {method!r}; known: "
                             f"{', '.join(self.METHODS)}")
        self.method, self.options = canonical[method.lower()], options
        self.name = self.method.lower()
        self.result: Any = None

    def minimize(self, fun, x0, maxiter, callback=None):
        try:
            from scipy.optimize import minimize
        except ImportError:
            raise ImportError(f"optimizer {self.method!r} needs SciPy: "
                              "pip install 'graphdiff[scipy]'") from None
        last: dict[str, Any] = {}

        def objective(x):
            value, grad = fun(x)
            if not math.isfinite(value):  # line searches back off from inf, not from nan
                value = math.inf
            last["x"], last["f"] = x.copy(), value
            return value, grad

        def each_iteration(xk):
            if callback is not None:
                same = "x" in last and np.array_equal(last["x"], xk)
                callback(xk, last["f"] if same else objective(xk)[0])

        options = {"maxiter": maxiter, **self.options}
        stopped: list[np.ndarray] = []

        def guarded(xk):
            try:
                each_iteration(xk)
            except StopIteration:
                stopped.append(np.array(xk))
                raise _Stop from None

        try:
            self.result = minimize(objective, np.asarray(x0, dtype=np.float64), jac=True,
                                   method=self.method, options=options, callback=guarded)
        except _Stop:
            return stopped[0]
        return self.result.x

    def __repr__(self) -> str:
        return f"ScipyMinimizer({self.method!r})"


class _Stop(Exception):
    """Raised through scipy.optimize.minimize to end a run from the callback."""


OPTIMIZERS = ("sgd", "momentum", "adam", "scg", "lbfgs", "bfgs", "cg")
_STEPWISE = {"sgd": SGD, "momentum": Momentum, "adam": Adam}
_SCIPY = {"lbfgs": "L-BFGS-B", "l-bfgs-b": "L-BFGS-B", "bfgs": "BFGS", "cg": "CG"}


def make_optimizer(name: str, lr: float | None = None, **options: Any) -> Optimizer | FullBatch:
    """The optimizer called `name`: sgd, momentum, adam (per step, `lr` and their options),
    scg (full batch, no SciPy needed), or lbfgs, bfgs, cg (full batch through SciPy; options
    go to scipy.optimize.minimize).  Full-batch methods choose their own step: no `lr`.

    >>> make_optimizer("adam", lr=0.01)
    Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08)
    """
    key = name.lower()
    if key in _STEPWISE:
        cls = _STEPWISE[key]
        return cls(**options) if lr is None else cls(lr, **options)
    if key in ("scg", *_SCIPY):
        if lr is not None:
            raise ValueError(f"optimizer {name!r} is a full-batch method that chooses its own "
                             "step; it takes no learning rate (lr)")
        return SCG(**options) if key == "scg" else ScipyMinimizer(_SCIPY[key], **options)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")


# --- learning-rate schedules ---------------------------------------------------------------

class Schedule:
    """The learning rate of each epoch as a multiple of the optimizer's own:
    `schedule(epoch, epochs) -> factor`, epoch counted from 0 within one fit."""

    name = "schedule"

    def __call__(self, epoch: int, epochs: int) -> float:
        raise NotImplementedError


class StepDecay(Schedule):
    """lr · factor^⌊epoch / every⌋ (PyTorch's StepLR); `every` defaults to a third of the run."""

    name = "step"

    def __init__(self, every: int | None = None, factor: float = 0.1):
        if every is not None and (isinstance(every, bool) or not isinstance(every, numbers.Integral)
                                  or every < 1):
            raise ValueError(f"every must be a positive number of epochs, got {every!r}")
        _check_factor(factor)
        self.every, self.factor = every, float(factor)

    def __call__(self, epoch, epochs):
        every = self.every if self.every is not None else max(1, epochs // 3)
        return self.factor ** (epoch // every)

    def __repr__(self) -> str:
        return f"StepDecay(every={self.every}, factor={self.factor})"


class ExponentialDecay(Schedule):
    """lr · factor^epoch (PyTorch's ExponentialLR); by default the factor that ends the run at
    1% of the initial rate."""

    name = "exponential"

    def __init__(self, factor: float | None = None):
        if factor is not None:
            _check_factor(factor)
        self.factor = None if factor is None else float(factor)

    def __call__(self, epoch, epochs):
        factor = self.factor if self.factor is not None else 0.01 ** (1.0 / max(epochs - 1, 1))
        return factor**epoch

    def __repr__(self) -> str:
        return f"ExponentialDecay(factor={self.factor})"


class CosineDecay(Schedule):
    """Half a cosine from lr down to lr · floor over `period` epochs (the run by default),
    then constant: PyTorch's CosineAnnealingLR without restarts."""

    name = "cosine"

    def __init__(self, period: int | None = None, floor: float = 0.0):
        if period is not None and (isinstance(period, bool)
                                   or not isinstance(period, numbers.Integral) or period < 1):
            raise ValueError(f"period must be a positive number of epochs, got {period!r}")
        if not (is_real(floor) and 0.0 <= floor <= 1.0):
            raise ValueError(f"floor (a fraction of the learning rate) must be in [0, 1], "
                             f"got {floor!r}")
        self.period, self.floor = period, float(floor)

    def __call__(self, epoch, epochs):
        period = self.period if self.period is not None else max(epochs - 1, 1)
        progress = min(epoch, period) / period
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def __repr__(self) -> str:
        return f"CosineDecay(period={self.period}, floor={self.floor})"


def _check_factor(factor: Any) -> None:
    if not (is_real(factor) and 0.0 < factor <= 1.0):
        raise ValueError(f"a decay factor must be in (0, 1], got {factor!r}")


SCHEDULES = {"step": StepDecay, "exponential": ExponentialDecay, "cosine": CosineDecay}


def make_schedule(schedule: str | Schedule) -> Schedule:
    """The schedule called `schedule` with its defaults (step, exponential, cosine), or the
    schedule object itself.

    >>> [round(make_schedule("cosine")(epoch, 5), 3) for epoch in range(5)]
    [1.0, 0.854, 0.5, 0.146, 0.0]
    """
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule.lower() in SCHEDULES:
        return SCHEDULES[schedule.lower()]()
    raise ValueError(f"unknown lr_schedule {schedule!r}; known: {', '.join(SCHEDULES)}, "
                     "or a Schedule object")


# --- gradient clipping ---------------------------------------------------------------------

def clip_gradients(grads: Sequence[np.ndarray], max_norm: float | None = None,
                   max_value: float | None = None) -> float:
    """Clip in place: each entry to [-max_value, max_value], then all gradients together
    to a global L2 norm of at most max_norm (PyTorch's clip_grad_value_ and
    clip_grad_norm_).  Returns the global norm before the norm clipping.

    >>> g = [np.array([3.0]), np.array([4.0])]
    >>> clip_gradients(g, max_norm=2.5), [float(a[0]) for a in g]
    (5.0, [1.5, 2.0])
    """
    if max_value is not None:
        for g in grads:
            np.clip(g, -max_value, max_value, out=g)
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if max_norm is not None and norm > max_norm:
        scale = max_norm / norm
        for g in grads:
            g *= scale
    return norm
