"""Where each registry primitive may be evaluated, for the differential harness
(tests/test_differential.py): every primitive is either drawn there, with the domain of its
arguments, or excluded here with the reason.

Not a test module (no `test_` prefix).  A primitive added to the registry must get an entry
in one of the two tables; `test_every_primitive_has_a_domain` checks it.
"""

from __future__ import annotations

# Elementwise primitives of one argument -> the interval their argument is mapped into
# (lo + (hi - lo) * sigmoid(a)), or None for the whole real line.  The intervals stay clear
# of poles and of overflow, so central differences hold.
UNARY: dict[str, tuple[float, float] | None] = {
    "neg": None, "identity": None, "square": None, "sin": None, "cos": None,
    "arctan": None, "tanh": None, "arcsinh": None, "abs": None, "sign": None,
    "binary_step": None, "sigmoid": None, "softsign": None, "isru": None, "relu": None,
    "leaky_relu": None, "softplus": None,
    "exp": (-3.0, 3.0), "sinh": (-3.0, 3.0), "cosh": (-3.0, 3.0), "expm1": (-3.0, 3.0),
    "log": (0.2, 3.0), "log2": (0.2, 3.0), "log10": (0.2, 3.0), "sqrt": (0.2, 3.0),
    "log1p": (-0.8, 3.0), "tan": (-1.2, 1.2), "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9),
    "arctanh": (-0.9, 0.9), "arccosh": (1.2, 3.0),
    # the array vocabulary (issue 11)
    "exp2": (-3.0, 3.0), "reciprocal": (0.5, 2.5), "rsqrt": (0.2, 3.0), "cbrt": (0.2, 3.0),
    "sinc": None, "deg2rad": None, "rad2deg": None, "erf": None, "erfc": None,
    "erfinv": (-0.9, 0.9), "gelu": None, "gelu_tanh": None,
    "spherical_jn": (0.2, 6.0),  # SymPy evaluates jn on the wrong branch for z < 0
}

# Elementwise primitives of two arguments -> the interval of each argument (None: any).
BINARY: dict[str, tuple[tuple[float, float] | None, tuple[float, float] | None]] = {
    "add": (None, None), "sub": (None, None), "mul": (None, None),
    "div": (None, (0.5, 2.5)), "pow": ((0.3, 2.3), (-2.0, 3.0)),
    "hypot": (None, None), "arctan2": (None, (0.5, 2.5)), "logaddexp": (None, None),
    "minimum": (None, None), "maximum": (None, None), "prelu": (None, None),
    "fmax": (None, None), "fmin": (None, None), "logaddexp2": (None, None),
}

# Primitives that the harness builds with shapes in mind (see test_differential._tensor_op).
TENSOR = {"where", "sum", "mean", "logsumexp", "softmax", "log_softmax", "matmul", "outer",
          "transpose", "size", "mse", "bce_with_logits", "softmax_xent",
          # the array vocabulary (issue 11)
          "max", "min", "prod", "var", "cumsum", "sort", "flip", "roll", "ravel",
          "getitem"}

# Primitives the harness does not draw, and why.  Each is still met: they are what the
# drawn primitives' derivatives are made of.
EXCLUDED = {
    "sum_to": "the reduction reverse mode builds; met in every gradient of a broadcast",
    "broadcast_like": "the expansion reverse mode builds for sum and mean; met in their "
                      "gradients",
    "one_hot": "takes integer labels, not differentiable; tested in test_primitives",
    "mse_grad": "the gradient reverse mode builds for mse (no second derivative rule "
                "needed: it is linear); met in every mse gradient",
    "bce_with_logits_grad": "the gradient reverse mode builds for bce_with_logits; has no "
                            "second derivative by design (NotImplementedError)",
    "softmax_xent_grad": "the gradient reverse mode builds for softmax_xent; has no second "
                         "derivative by design (NotImplementedError)",
}

_VOCABULARY_TESTS = "tested in tests/test_vocabulary.py at shapes (), (3,), (2, 3), (2, 3, 4) " \
    "and broadcasting pairs, to second order, through the in-place and specialised paths"
EXCLUDED.update({
    **{name: "a comparison: a boolean result, which NumPy refuses in arithmetic such as "
             "-b; " + _VOCABULARY_TESTS
       for name in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")},
    **{name: "piecewise constant with jumps (central differences across a jump fail) and "
             "SymPy leaves its derivative unevaluated; " + _VOCABULARY_TESTS
       for name in ("floor", "ceil", "round", "mod")},
    "clip": "three arguments; " + _VOCABULARY_TESTS,
    "std": "its derivative is infinite where std = 0, which a constant subexpression or a "
           "single entry makes common (0 * inf: nan in the table, 0 once simplified); "
           + _VOCABULARY_TESTS,
    **{name: "the adjoint rules build it (of reshape/ravel, getitem, take, sort); met in "
             "their gradients; " + _VOCABULARY_TESTS
       for name in ("reshape_like", "index_add", "take_add", "sort_by", "unsort_by")},
    **{name: "not drawn by the harness's tensor drawer yet; " + _VOCABULARY_TESTS
       for name in ("cumprod", "reshape", "squeeze", "expand_dims", "swapaxes",
                    "moveaxis", "broadcast_to", "take", "einsum", "concatenate", "stack",
                    "cross", "tril", "triu", "diff", "diagonal",
                    "diagonal_add", "trace", "repeat", "unrepeat", "tile", "untile", "pad",
                    "unpad", "tensordot", "inner", "dot", "kron", "vstack", "hstack",
                    "diag")},
})

EXCLUDED.update({
    "split": "one part of np.split (several results, one node each); "
             "not drawn by the harness's tensor drawer yet; " + _VOCABULARY_TESTS,
    **{name: "the adjoint rules build it (of einsum over a repeated index, of a join, of "
             "tensordot/inner/dot/kron and of diag when shapes are known only when they "
             "run); met in their gradients; " + _VOCABULARY_TESTS
       for name in ("einsum_embed", "unjoin", "bilinear_adjoint", "undiag")},
    "linear_scan": "the recurrence cumprod's derivatives build; met in their gradients; "
                   + _VOCABULARY_TESTS,
})

# Losses whose second derivative is refused by design: no Hessian is asked of them.
FIRST_ORDER_ONLY = {"bce_with_logits", "softmax_xent"}
