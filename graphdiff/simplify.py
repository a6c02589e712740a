"""Simplification passes: each takes a graph and returns an equivalent, simpler graph.

Every pass rebuilds the graph in evaluation order into a fresh hash-consed store, so dead
code disappears as a side effect of rebuilding only what the outputs need.
"""

from __future__ import annotations

from typing import NamedTuple

from .graph import Graph, Store, format_call, format_number, paused_gc
from .primitives import PREC_ATOM, PREC_UNARY, REGISTRY
from .stable import CATALOGUE, ROOTS
from .stable import rewrite as _stable_rewrite

__all__ = ["fold_constants", "eliminate_common_subexpressions", "apply_identities",
           "remove_dead_code", "stabilize", "stabilized", "simplify", "PASSES", "Rewrite",
           "CATALOGUE"]


def _rebuild(g: Graph, store: Store, merge_commutative: bool = False) -> Graph:
    """Copy g's nodes into `store` (whose `apply` does the actual simplifying).

    With `merge_commutative`, y*x is replaced by an earlier x*y; the first spelling is
    kept, so the code still reads as written.
    """
    with paused_gc():
        ids: list[int] = []
        old_hints = g.hints
        hints: dict[int, str] = {}
        seen: dict[tuple, int] = {}
        for n in g.nodes:
            if n.op == "input":
                sid = store.input(n.name, n.shape)
            elif n.op == "const":
                sid = store.const(n.value, n.origin)
            else:
                args = tuple(ids[a] for a in n.args)
                if merge_commutative and REGISTRY[n.op].commutative:
                    key = (n.op, tuple(sorted(args)), n.params)
                    sid = seen.get(key)
                    if sid is None:
                        sid = seen[key] = store.apply(n.op, args, n.params)
                else:
                    sid = store.apply(n.op, args, n.params)
            ids.append(sid)
            if old_hints[n.index] and store.op[sid] != "const":
                hints.setdefault(sid, old_hints[n.index])
        roots = [ids[i] for i in g.outputs]
        return Graph(store, roots, inputs=g.inputs, hints=hints or None)


def fold_constants(g: Graph) -> Graph:
    """Replace every operation whose arguments are all constants by its value."""
    return _rebuild(g, Store())


def eliminate_common_subexpressions(g: Graph) -> Graph:
    """Merge structurally equal nodes, treating x*y and y*x (and other commutative
    primitives) as equal."""
    return _rebuild(g, Store(), merge_commutative=True)


def apply_identities(g: Graph) -> Graph:
    """Drop algebraic identities: x*1, x+0, x*0, x-x, --x, x**1, x*(1/y), ... and move
    negations outwards where they cancel (see `graphdiff.graph._identity`)."""
    return _rebuild(g, Store(simplify=2))


class Rewrite(NamedTuple):
    """One stability rewrite applied to a graph: the catalogue's rule (see
    `graphdiff.stable.CATALOGUE`), the subexpression as written and what computes it."""

    rule: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.before} -> {self.after}  ({self.rule})"


def stabilize(g: Graph) -> Graph:
    """Rewrite compositions that overflow or cancel into their stable forms, following the
    catalogue `graphdiff.stable.CATALOGUE`: log(sigmoid(x)) -> -softplus(-x),
    log(1 - sigmoid(x)) -> -softplus(x), log(1 + exp(x)) -> softplus(x), log(softmax(x)) ->
    log_softmax(x), log(sum(exp(x))) -> logsumexp(x), log(exp(a) + exp(b)) ->
    logaddexp(a, b), log(1 + x) -> log1p(x), exp(x) - 1 -> expm1(x), sqrt(x**2 + y**2) ->
    hypot(x, y).  Returns g itself when there is nothing to rewrite."""
    return stabilized(g)[0]


def stabilized(g: Graph) -> tuple[Graph, tuple[Rewrite, ...]]:
    """`stabilize(g)` and the rewrites it made, in the order they were made.

    >>> import graphdiff as gd
    >>> g, done = stabilized(gd.parse("log(sigmoid(w*x + b))"))
    >>> str(g), [str(r) for r in done]
    ('-softplus(-(w*x + b))', ['log(sigmoid(w*x + b)) -> -softplus(-(w*x + b))  (log_sigmoid)'])
    """
    if not _any_rule_matches(g):
        return g, ()
    store = Store(stable=True)
    out = _rebuild(g, store)
    if not store.rewrites:
        return g, ()
    return out, tuple(_describe(store, r) for r in store.rewrites)


class _Matched(Exception):
    """A stability rule matched (raised by `_Probe.apply`)."""


class _Probe:
    """A graph's nodes read as a store's columns (`op`, `args`, `value`, `params`), so the
    catalogue's matchers can look at the graph as written; a rule that matches builds its
    stable form with `apply`, which raises `_Matched` instead."""

    def __init__(self, g: Graph):
        nodes = g.nodes
        self.op = [n.op for n in nodes]
        self.args = [n.args for n in nodes]
        self.value = [n.value for n in nodes]
        self.params = [n.params for n in nodes]
        self.rewrites: list[tuple] = []

    def apply(self, op: str, args: tuple, params: tuple = ()) -> int:
        raise _Matched


def _any_rule_matches(g: Graph) -> bool:
    """Whether a stability rule applies anywhere in g.  Rules only read a node's arguments
    (and theirs), so when none matches the graph as written a rebuild would rewrite
    nothing either: asking first saves copying a large graph for nothing."""
    probe = None
    for n in g.nodes:
        if n.op in ROOTS:
            probe = probe or _Probe(g)
            try:
                if _stable_rewrite(probe, n.op, n.args, n.params) is not None:
                    return True
            except _Matched:
                return True
    return False


_TEXT_LIMIT = 60


def _text(store: Store, i: int) -> tuple[str, int]:
    """A store node as Python text with its precedence, shortened past _TEXT_LIMIT."""
    op = store.op[i]
    if op == "const":
        return format_number(store.value[i])
    text = Graph(store, (i,)).to_string(limit=_TEXT_LIMIT)
    if text is None:
        return "…", PREC_ATOM
    if op == "input":
        return text, PREC_ATOM
    prim = REGISTRY[op]
    if prim.symbol is None:
        return text, PREC_ATOM
    return text, PREC_UNARY if prim.arity == 1 else prim.prec


def _describe(store: Store, applied: tuple) -> Rewrite:
    rule, op, args, params, result = applied
    before = format_call(op, [_text(store, a) for a in args], params)[0]
    return Rewrite(rule, before, _text(store, result)[0])


def remove_dead_code(g: Graph) -> Graph:
    """Keep only the nodes the outputs depend on (and the declared inputs)."""
    return _rebuild(g, Store())


PASSES = (fold_constants, apply_identities, eliminate_common_subexpressions, stabilize,
          remove_dead_code)


def simplify(g: Graph) -> Graph:
    """All passes (constants, identities, common subexpressions, dead code) fused into one
    rebuild, repeated while it still shrinks the graph (one pass can expose work for
    another: CSE turns x*y - y*x into a - a).

    >>> import graphdiff as gd
    >>> x, y = gd.symbols("x y", shape=())  # known scalars: x - x may become 0
    >>> str(gd.simplify((x*1 + 0)*y - y*x))
    '0'
    """
    for _ in range(4):
        size = len(g.nodes)
        g = _rebuild(g, Store(simplify=2), merge_commutative=True)
        if len(g.nodes) == size:
            break
    return g
