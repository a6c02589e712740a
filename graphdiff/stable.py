"""The catalogue of stability rewrites: compositions that overflow, underflow or lose every
digit in floating point, and the primitive that computes the same value stably.

Each rule is matched while a node is added to a store built with `stable` (see
`graph.Store.apply`), so evaluation, tracing and code generation share one set of
numerics.  This module imports nothing of graphdiff: it reads a store's `op`/`args`/`params`
lists and builds with its `apply`, as the registry's rules build with handles.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

__all__ = ["StableForm", "CATALOGUE", "ROOTS", "rewrite"]


class StableForm(NamedTuple):
    """One rule: what is written, what is computed instead, and where the written form
    fails (the point each rule is tested at)."""

    name: str
    naive: str
    stable: str
    fails: str


CATALOGUE = (
    StableForm("log_sigmoid", "log(sigmoid(x))", "-softplus(-x)",
               "x = -800: sigmoid(x) underflows to 0 and the log is -inf (exact: -800)"),
    StableForm("log_one_minus_sigmoid", "log(1 - sigmoid(x)), log1p(-sigmoid(x))",
               "-softplus(x)", "x = 800: 1 - sigmoid(x) is 0 and the log is -inf (exact: -800)"),
    StableForm("softplus", "log(1 + exp(x)), log(exp(x) + 1), log1p(exp(x))", "softplus(x)",
               "x = 800: exp(x) overflows to inf (exact: 800)"),
    StableForm("log_softmax", "log(softmax(x))", "log_softmax(x)",
               "x = [-800, 0]: softmax underflows to 0 and the log is -inf (exact: -800)"),
    StableForm("logsumexp", "log(sum(exp(x)))", "logsumexp(x)",
               "x = [1000, 1000]: exp(x) overflows to inf (exact: 1000.693)"),
    StableForm("logaddexp", "log(exp(a) + exp(b))", "logaddexp(a, b)",
               "a = b = 1000: exp overflows to inf (exact: 1000.693)"),
    StableForm("log1p", "log(1 + x), log(x + 1), log(1 - x)", "log1p(x), log1p(-x)",
               "x = 1e-20: 1 + x rounds to 1 and the log is 0 (exact: 1e-20)"),
    StableForm("expm1", "exp(x) - 1, exp(x) + -1", "expm1(x)",
               "x = 1e-20: exp(x) rounds to 1 and the difference is 0 (exact: 1e-20)"),
    StableForm("hypot", "sqrt(x**2 + y**2) (x*x or square(x) alike)", "hypot(x, y)",
               "x = y = 1e200: the squares overflow to inf (exact: 1.414e200)"),
)


def _one(store: Any, i: int) -> bool:
    return store.op[i] == "const" and store.value[i] == 1.0


def _the_other(store: Any, a: int, op: str) -> int | None:
    """x for a node 1 + x or x + 1 (op "add"), or 1 - x (op "sub"); else None."""
    if store.op[a] != op:
        return None
    x, y = store.args[a]
    if _one(store, x):
        return y
    return x if op == "add" and _one(store, y) else None


def _log(store: Any, args: tuple, params: tuple) -> tuple[str, int] | None:
    (a,) = args
    sop, sargs, apply = store.op, store.args, store.apply
    if sop[a] == "sigmoid":
        neg = apply("neg", sargs[a])
        return "log_sigmoid", apply("neg", (apply("softplus", (neg,)),))
    if sop[a] == "softmax":
        return "log_softmax", apply("log_softmax", sargs[a], store.params[a])
    if sop[a] == "sum" and sop[sargs[a][0]] == "exp":
        # sum's parameters (axis, keepdims) are logsumexp's, with sum's defaults
        return "logsumexp", apply("logsumexp", sargs[sargs[a][0]], store.params[a])
    minus = _the_other(store, a, "sub")
    if minus is not None:
        if sop[minus] == "sigmoid":
            return "log_one_minus_sigmoid", apply("neg", (apply("softplus", sargs[minus]),))
        return "log1p", apply("log1p", (apply("neg", (minus,)),))
    plus = _the_other(store, a, "add")
    if plus is not None:
        if sop[plus] == "exp":
            return "softplus", apply("softplus", sargs[plus])
        return "log1p", apply("log1p", (plus,))
    if sop[a] == "add" and all(sop[t] == "exp" for t in sargs[a]):
        x, y = sargs[a]
        return "logaddexp", apply("logaddexp", (sargs[x][0], sargs[y][0]))
    return None


def _log1p(store: Any, args: tuple, params: tuple) -> tuple[str, int] | None:
    (a,) = args
    sop, sargs = store.op, store.args
    if sop[a] == "exp":
        return "softplus", store.apply("softplus", sargs[a])
    if sop[a] == "neg" and sop[sargs[a][0]] == "sigmoid":
        inner = sargs[sargs[a][0]]
        return "log_one_minus_sigmoid", store.apply("neg", (store.apply("softplus", inner),))
    return None


def _square_of(store: Any, i: int) -> int | None:
    """x for x**2, x*x or square(x); else None."""
    op, args = store.op[i], store.args[i]
    if op == "square" or (op == "mul" and args[0] == args[1]):
        return args[0]
    if op == "pow" and store.op[args[1]] == "const" and store.value[args[1]] == 2.0:
        return args[0]
    return None


def _sqrt(store: Any, args: tuple, params: tuple) -> tuple[str, int] | None:
    (a,) = args
    if store.op[a] != "add":
        return None
    x, y = (_square_of(store, t) for t in store.args[a])
    if x is None or y is None:
        return None
    return "hypot", store.apply("hypot", (x, y))


def _sub(store: Any, args: tuple, params: tuple) -> tuple[str, int] | None:
    x, y = args
    if store.op[x] == "exp" and _one(store, y):
        return "expm1", store.apply("expm1", store.args[x])
    return None


def _add(store: Any, args: tuple, params: tuple) -> tuple[str, int] | None:
    for e, c in (args, args[::-1]):
        if store.op[e] == "exp" and store.op[c] == "const" and store.value[c] == -1.0:
            return "expm1", store.apply("expm1", store.args[e])
    return None


# the operation at the root of each rule's written form -> its matcher
_MATCHERS: dict[str, Callable[..., tuple[str, int] | None]] = {
    "log": _log, "log1p": _log1p, "sub": _sub, "add": _add, "sqrt": _sqrt}
ROOTS = frozenset(_MATCHERS)


def rewrite(store: Any, op: str, args: tuple, params: tuple) -> int | None:
    """The store id of the stable form of op(args), or None when no rule matches; each
    rewrite is recorded in `store.rewrites` as (rule, op, args, params, result)."""
    match = _MATCHERS.get(op)
    found = None if match is None else match(store, args, params)
    if found is None:
        return None
    store.rewrites.append((found[0], op, args, params, found[1]))
    return found[1]
