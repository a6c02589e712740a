"""A shared corpus of named expressions with a point to evaluate each at.

Each entry is `(name, expression, point)`: a name for test ids, an expression in graphdiff's
grammar, and a dict of input values.  Pipeline tests (evaluation, tables, derivatives,
generated code) import `CORPUS`; `NUMPY_REFERENCE` holds an independent NumPy spelling of
each entry for checking values.  Points are chosen away from kinks (relu, abs, minimum) so
every entry is differentiable there; the "near_*" entries sit close to a singularity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Entry(NamedTuple):
    name: str
    expr: str
    point: dict[str, float]


def _nested(func: str, inner: str, depth: int) -> str:
    return f"{func}(" * depth + inner + ")" * depth


LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"

CORPUS: list[Entry] = [
    # --- one input ------------------------------------------------------------------------
    Entry("x_times_x", "x*x", {"x": 1.7}),
    Entry("cubic", "3*x**3 - 2*x + 1", {"x": 0.7}),
    Entry("damped_sine", "sin(x)*exp(-x)", {"x": 1.3}),
    Entry("unary_minus_power", "-x**2 + 2**-x", {"x": 0.9}),
    Entry("power_tower", "x**x**0.5", {"x": 1.6}),
    Entry("activations", "sigmoid(x)*tanh(x) + softsign(x) - isru(x, alpha=0.5)", {"x": 0.4}),
    Entry("relu_family", "relu(x) + leaky_relu(x) + 2*relu(-x)", {"x": -0.6}),
    Entry("softplus_arctan", "softplus(x) + arctan(x) + atan(2*x)", {"x": -1.1}),
    Entry("hyperbolic", "sinh(x) + cosh(x) - tanh(x) + arcsinh(x)", {"x": 0.8}),
    Entry("inverse_trig", "arcsin(x) + arccos(x)*arctanh(x)", {"x": 0.35}),
    Entry("logs", "log2(x) + log10(x) + log1p(x) + expm1(x) + sqrt(x)", {"x": 2.5}),
    # --- several inputs -------------------------------------------------------------------
    Entry("intro", "x1*x2 + sin(x1)", {"x1": 2.0, "x2": 3.0}),
    Entry("lognormal", LOGNORMAL, {"y": 1.5, "mu": 0.5, "sigma": 2.0}),
    Entry("three_inputs", "x*y*z + x/y - z**2", {"x": 1.2, "y": -0.7, "z": 2.1}),
    Entry("left_assoc", "x - y - z + x/y/z", {"x": 1.5, "y": 0.4, "z": 2.5}),
    Entry("two_arg_functions", "hypot(x, y) + arctan2(y, x) + logaddexp(x, y)",
          {"x": 0.6, "y": -1.4}),
    Entry("min_max", "minimum(x, y)*maximum(x, y) + abs(x - y)", {"x": 0.3, "y": 1.1}),
    Entry("prelu", "prelu(x, a) + prelu(y, a)", {"x": -0.8, "y": 1.3, "a": 0.25}),
    Entry("neuron", "tanh(w1*x1 + w2*x2 + b)", {"x1": 0.5, "x2": -1.0, "w1": 0.8,
                                                  "w2": -0.3, "b": 0.1}),
    # --- shared subexpressions --------------------------------------------------------------
    Entry("shared_sum", "(x + y)*(x + y) + sin(x + y)", {"x": 0.3, "y": 0.9}),
    Entry("shared_product", "exp(x*y) + x*y + log(1 + exp(x*y))", {"x": 0.5, "y": -1.5}),
    Entry("shared_square", "(x*x)*(x*x) - x*x", {"x": 1.1}),
    # --- constants only -------------------------------------------------------------------
    Entry("constants_only", "2*pi + e - 0.5*log(2*pi)", {}),
    Entry("constant_function", "sqrt(2)*cos(pi/3)", {}),
    # --- deep chains ----------------------------------------------------------------------
    Entry("deep_sin", _nested("sin", "x", 200), {"x": 1.2}),
    # (not tanh: SymPy takes exponential time to build tanh(tanh(...)), see test_parse.py)
    Entry("deep_cos_times_x", _nested("cos", "x", 30) + " * x", {"x": 0.7}),
    Entry("long_sum", " + ".join(f"{k}*x" for k in range(1, 301)), {"x": 0.01}),
    Entry("long_product", "*".join(["(1 + x/50)"] * 100), {"x": 0.3}),
    # --- points near singularities ------------------------------------------------------------
    Entry("near_log_zero", "log(x)", {"x": 1e-12}),
    Entry("near_pole", "1/x", {"x": 1e-9}),
    Entry("near_sqrt_zero", "sqrt(x) + x", {"x": 1e-14}),
    Entry("near_arctanh_one", "arctanh(x)", {"x": 1 - 1e-9}),
    Entry("near_arcsin_one", "arcsin(x)", {"x": 1 - 1e-8}),
    Entry("near_tan_pole", "tan(x)", {"x": 1.5707963}),
    Entry("near_ratio_pole", "x/(1 - x)", {"x": 0.999999}),
    Entry("tiny_log1p_expm1", "log1p(x) + expm1(x)", {"x": 1e-15}),
    Entry("sigmoid_far_left", "sigmoid(x)", {"x": -700.0}),
    Entry("softplus_far_right", "softplus(x)", {"x": 800.0}),
    Entry("logaddexp_large", "logaddexp(x, y)", {"x": 1000.0, "y": 999.0}),
]

_sigmoid = lambda x: 1 / (1 + np.exp(-x))  # fine away from x << 0


def _deep(f: Callable, x: float, depth: int) -> float:
    for _ in range(depth):
        x = f(x)
    return x


NUMPY_REFERENCE: dict[str, Callable[..., float]] = {
    "x_times_x": lambda x: x * x,
    "cubic": lambda x: 3 * x**3 - 2 * x + 1,
    "damped_sine": lambda x: np.sin(x) * np.exp(-x),
    "unary_minus_power": lambda x: -(x**2) + 2 ** (-x),
    "power_tower": lambda x: x ** (x**0.5),
    "activations": lambda x: (_sigmoid(x) * np.tanh(x) + x / (1 + abs(x))
                              - x / np.sqrt(1 + 0.5 * x * x)),
    "relu_family": lambda x: max(x, 0) + (x if x >= 0 else 0.01 * x) + 2 * max(-x, 0),
    "softplus_arctan": lambda x: np.log(1 + np.exp(x)) + np.arctan(x) + np.arctan(2 * x),
    "hyperbolic": lambda x: np.sinh(x) + np.cosh(x) - np.tanh(x) + np.arcsinh(x),
    "inverse_trig": lambda x: np.arcsin(x) + np.arccos(x) * np.arctanh(x),
    "logs": lambda x: (np.log(x) / np.log(2) + np.log(x) / np.log(10) + np.log(1 + x)
                       + np.exp(x) - 1 + np.sqrt(x)),
    "intro": lambda x1, x2: x1 * x2 + np.sin(x1),
    "lognormal": lambda y, mu, sigma: (-0.5 * ((y - mu) / sigma) ** 2 - np.log(sigma)
                                       - 0.5 * np.log(2 * np.pi)),
    "three_inputs": lambda x, y, z: x * y * z + x / y - z**2,
    "left_assoc": lambda x, y, z: (x - y) - z + (x / y) / z,
    "two_arg_functions": lambda x, y: (np.sqrt(x * x + y * y) + np.arctan2(y, x)
                                       + np.log(np.exp(x) + np.exp(y))),
    "min_max": lambda x, y: min(x, y) * max(x, y) + abs(x - y),
    "prelu": lambda x, y, a: (x if x >= 0 else a * x) + (y if y >= 0 else a * y),
    "neuron": lambda x1, x2, w1, w2, b: np.tanh(w1 * x1 + w2 * x2 + b),
    "shared_sum": lambda x, y: (x + y) ** 2 + np.sin(x + y),
    "shared_product": lambda x, y: np.exp(x * y) + x * y + np.log(1 + np.exp(x * y)),
    "shared_square": lambda x: x**4 - x**2,
    "constants_only": lambda: 2 * np.pi + np.e - 0.5 * np.log(2 * np.pi),
    "constant_function": lambda: np.sqrt(2) * np.cos(np.pi / 3),
    "deep_sin": lambda x: _deep(np.sin, x, 200),
    "deep_cos_times_x": lambda x: _deep(np.cos, x, 30) * x,
    "long_sum": lambda x: sum(k * x for k in range(1, 301)),
    "long_product": lambda x: (1 + x / 50) ** 100,
    "near_log_zero": lambda x: np.log(x),
    "near_pole": lambda x: 1 / x,
    "near_sqrt_zero": lambda x: np.sqrt(x) + x,
    "near_arctanh_one": lambda x: 0.5 * np.log((1 + x) / (1 - x)),
    "near_arcsin_one": lambda x: np.arctan2(x, np.sqrt((1 - x) * (1 + x))),
    "near_tan_pole": lambda x: np.sin(x) / np.cos(x),
    "near_ratio_pole": lambda x: x / (1 - x),
    "tiny_log1p_expm1": lambda x: 2 * x,  # both are x + O(x**2)
    "sigmoid_far_left": lambda x: np.exp(x),  # 1/(1 + e**-x) = e**x (1 - e**x + ...)
    "softplus_far_right": lambda x: x,  # log(1 + e**x) = x + log(1 + e**-x)
    "logaddexp_large": lambda x, y: x + np.log1p(np.exp(y - x)),
}
