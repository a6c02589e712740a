"""Simplification passes: each takes a graph and returns an equivalent, simpler graph.

Every pass rebuilds the graph in evaluation order into a fresh hash-consed store, so dead
code disappears as a side effect of rebuilding only what the outputs need.
"""

from __future__ import annotations

from typing import Callable

from .graph import Graph, Store, paused_gc
from .primitives import REGISTRY

__all__ = ["fold_constants", "eliminate_common_subexpressions", "apply_identities",
           "remove_dead_code", "stabilize", "simplify", "PASSES"]


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


def stabilize(g: Graph) -> Graph:
    """Rewrite compositions that overflow into stable forms: log(sigmoid(x)) ->
    -softplus(-x), log(1 - sigmoid(x)) -> -softplus(x), log(1 + exp(x)) -> softplus(x).
    Returns g itself when there is nothing to rewrite."""
    if not any(n.op in ("log", "log1p") for n in g.nodes):
        return g
    return _rebuild(g, Store(stable=True))


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
