"""References that the derivative tests compare graphdiff against: SymPy's derivatives of a
graph's own SymPy expression, and central finite differences.

Not a test module (no `test_` prefix): the autodiff, primitive and codegen tests import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

import graphdiff as gd

# Tolerances: SymPy is exact (evaluated with 30 digits), so the generated float64 code must
# match to rounding; central differences carry O(h^2) truncation and O(eps/h) rounding.
RTOL, ATOL = 1e-9, 1e-12
FD_RTOL, FD_ATOL = 1e-6, 1e-8


class SympyReference:
    """A graph's SymPy expression over real symbols, with derivatives evaluated at points.

    Real symbols make Abs, sign, Max and Piecewise differentiate to their real-line forms.
    """

    def __init__(self, g: gd.Graph):
        self.inputs = g.inputs
        self.symbols = {n: sp.Symbol(n, real=True) for n in g.inputs}
        plain = {sp.Symbol(n): s for n, s in self.symbols.items()}
        self.expr = g.to_sympy().xreplace(plain)
        self._derivatives: dict[tuple[str, ...], Any] = {(): self.expr}

    def derivative(self, *names: str):
        key = tuple(names)
        if key not in self._derivatives:
            self._derivatives[key] = sp.diff(self.expr, *[self.symbols[n] for n in names])
        return self._derivatives[key]

    def at(self, expr, point: Mapping[str, Any]) -> np.ndarray:
        """expr at each of the points (inputs may be arrays of one shape), as float64."""
        arrays = {n: np.asarray(point[n], dtype=float) for n in self.inputs}
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
        flat = {n: np.broadcast_to(a, shape).ravel() for n, a in arrays.items()}
        size = int(np.prod(shape))
        out = np.empty(size)
        for k in range(size):
            subs = {self.symbols[n]: sp.Float(float(flat[n][k]), 30) for n in self.inputs}
            value = sp.N(expr.subs(subs), 30)
            if not value.is_real:
                raise AssertionError(f"SymPy gives the non-real value {value} for {expr} "
                                     f"at {subs}")
            out[k] = float(value)
        return out.reshape(shape)

    def value(self, point):
        return self.at(self.expr, point)

    def gradient(self, point, wrt: Sequence[str] | None = None) -> list[np.ndarray]:
        return [self.at(self.derivative(n), point) for n in (wrt or self.inputs)]

    def hessian(self, point, wrt: Sequence[str] | None = None) -> list[list[np.ndarray]]:
        wrt = list(wrt or self.inputs)
        return [[self.at(self.derivative(a, b), point) for b in wrt] for a in wrt]

    def jvp(self, point, direction: Mapping[str, float]) -> np.ndarray:
        return sum((direction.get(n, 0.0) * d for n, d in
                    zip(self.inputs, self.gradient(point))), np.zeros(()))


def central_difference(fun: Callable[..., Any], point: Mapping[str, Any], name: str,
                       h: float | None = None) -> np.ndarray:
    """d fun / d point[name] by central differences, per point for array inputs (fun must act
    elementwise, as every expression of scalar primitives does).  The step is h, or
    1e-5 * max(1, |x|); the divisor is the distance actually stepped (x + h is rounded)."""
    x = np.asarray(point[name], dtype=float)
    step = 1e-5 * np.maximum(1.0, np.abs(x)) if h is None else h
    up, down = dict(point), dict(point)
    up[name], down[name] = x + step, x - step
    rise = np.asarray(fun(**up), dtype=float) - np.asarray(fun(**down), dtype=float)
    return rise / (up[name] - down[name])


def assert_close(actual, expected, rtol: float = RTOL, atol: float = ATOL, what: str = ""):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, float),
                               rtol=rtol, atol=atol, err_msg=what)


def rows(matrix) -> list[list[np.ndarray]]:
    """A Hessian or Jacobian returned as a tuple of row tuples, as nested lists of arrays."""
    return [[np.asarray(v, dtype=float) for v in row] for row in matrix]


def entrywise_difference(fun: Callable[..., Any], point: Mapping[str, Any], name: str,
                         h: float = 1e-6) -> np.ndarray:
    """The gradient of the scalar fun(**point) with respect to point[name] by central
    differences, one entry at a time (fun need not act elementwise)."""
    x = np.asarray(point[name], dtype=float)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (fun(**{**point, name: up}) - fun(**{**point, name: down})) / (2 * h)
    return grad


def reduce_to(value, shape) -> np.ndarray:
    """A per-point derivative summed over the axes along which an argument of `shape` was
    broadcast (as reverse mode sums an adjoint down to its input's shape)."""
    value = np.asarray(value, dtype=float)
    value = np.broadcast_to(value, np.broadcast_shapes(value.shape, shape))
    while value.ndim > len(shape):
        value = value.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and value.shape[i] != 1:
            value = value.sum(axis=i, keepdims=True)
    return value
