"""Differentiation as graph transformations, built from the registry's rules.

Reverse mode (adjoints v̄ᵢ = ∂f/∂vᵢ) and forward mode (tangents v̇ᵢ) return new graphs, so a
derivative can be traced, simplified, compiled and differentiated again.  Nothing here
evaluates numbers or prints code.

A non-scalar output is differentiated as the sum of its entries, so each gradient has the
shape of its input: a scalar parameter's gradient is summed over the points.

Every entry point first applies the stability rewrites (`graphdiff.stable`), as evaluation
and code generation do; `stable=False` differentiates the expression as written.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Mapping

from .graph import Graph, Store, copy_nodes, paused_gc
from .primitives import REGISTRY, call
from .simplify import stabilize

__all__ = ["grad_graph", "value_and_grad_graph", "jvp_graph", "tangent_graph",
           "jacobian_graph", "hessian_graph"]


class _Builder:
    """A simplifying store holding a copy of the primal graph, plus the names handed out.

    Every simplification pass happens as nodes are added: hash-consing merges common
    subexpressions (commutative ones too), constants fold, identities drop, negations
    move outwards, and only what the outputs need is ever part of the result.
    """

    def __init__(self, g: Graph, stable: bool = True):
        self.g = g  # already in stable form (see the entry points)
        self.nodes = g.nodes
        self.store = Store(simplify=2, stable=stable)
        # the primal is copied as written (constants still fold): an identity that drops
        # an operand (x - x -> 0 for a known scalar) would also drop its dtype
        self.store.simplify = 0
        self.ids = copy_nodes(g, self.store)
        self.store.simplify = 2
        self.store.kept = len(self.store)
        self.hints: dict[int, str] = {}
        old = g.hints
        for n, sid in zip(g.nodes, self.ids):
            if n.op != "const":
                self.hints.setdefault(sid, old[n.index] or n.name or n.var)
        self._handles: dict[int, Graph] = {}
        # only elementwise operations (and gradient reductions): every node's shape then
        # broadcasts to the output's, so each gradient can be reduced once at the end
        self.elementwise = all(REGISTRY[n.op].is_elementwise or n.op == "sum_to"
                               for n in g.nodes if n.op not in ("input", "const"))

    def handle(self, i: int) -> Graph:
        """Node i of the primal graph as a handle in the builder's store."""
        h = self._handles.get(i)
        if h is None:
            h = self._handles[i] = Graph(self.store, (self.ids[i],))
        return h

    def const(self, value: float) -> Graph:
        return Graph(self.store, (self.store.const(value),))

    def name(self, h: Any, name: str) -> None:
        """Give a derivative node (a handle) a readable name, unless it already has one."""
        if isinstance(h, Graph):
            self.name_id(h._roots[0], name)

    def name_id(self, sid: int | None, name: str) -> None:
        """Give the derivative node `sid` of the store a readable name, unless it has one."""
        if sid is not None and self.store.op[sid] != "const" and sid not in self.hints:
            self.hints[sid] = name

    def node_id(self, value: Any) -> int:
        """The store id of a handle or a number (a constant)."""
        if type(value) is Graph:
            return value._roots[0] if value._store is self.store else \
                value._root_in(self.store)
        return self.store.const(float(value))

    def label(self, i: int) -> str:
        """The name a node of the primal goes by (its v-number, an input's name)."""
        return self.hints.get(self.ids[i]) or f"c{i}"  # constants have no name of their own

    def as_graph(self, value: Any) -> Graph:
        return value if isinstance(value, Graph) else self.const(value)

    def finish(self, outputs: list[Any], inputs: Iterable[str]) -> Graph:
        roots = [self.as_graph(o)._roots[0] for o in outputs]
        return Graph(self.store, roots, inputs=tuple(inputs), hints=self.hints)


def _is_zero(v: Any) -> bool:
    # a graph first: asking numbers.Number (an abstract class) costs more than the rest
    return v is None or (type(v) is not Graph and isinstance(v, numbers.Number) and v == 0)


def _scale(b: _Builder, seed: int, partial: Any) -> int | None:
    """The store id of seed * partial (seed a store id, partial a handle or a number),
    without building a node for the common partials 0, 1 and -1."""
    if type(partial) is not Graph and isinstance(partial, numbers.Number):
        if partial == 0:
            return None
        if partial == 1:
            return seed
        if partial == -1:
            return b.store.apply("neg", (seed,))
    return b.store.apply("mul", (seed, b.node_id(partial)))


def _local_contributions(b: _Builder, node, seed: int) -> list[int | None]:
    """The adjoint contribution of `node` to each argument: seed * ∂node/∂arg, as store
    ids (None: no contribution).  The sweep works on store ids, not handles: a handle
    costs an object per operation, and the sweep makes several per node.

    An adjoint may be smaller than its node (a scalar 1 stands for ones of the node's
    shape).  In graphs with reductions or matrix products, an argument that broadcast up
    to the node's shape gets its contribution summed back down here; in graphs of
    elementwise operations only, every node broadcasts to the output's shape, so that sum
    happens once per input at the end instead (see `_gradients`).
    """
    prim = REGISTRY[node.op]
    handle = b.handle
    args = [handle(a) for a in node.args]
    out = handle(node.index)
    params = dict(node.params) if node.params else {}
    nodes = b.nodes
    if prim.vjp is not None:
        contribs = [None if _is_zero(c) else b.node_id(c) for c in
                    prim.vjp(Graph(b.store, (seed,)), *args, out, **params)]
    else:
        contribs = []
        hints, store = b.hints, b.store
        for j, a in enumerate(node.args):
            if nodes[a].op == "const":
                contribs.append(None)
                continue
            partial = _partial_rule(b, node, j)(*args, out, **params)
            if type(partial) is Graph and partial._roots[0] not in hints \
                    and partial._store is store:  # named only when new (most are not)
                b.name(partial, f"d{node.var}_d{b.label(a)}")
            contribs.append(_scale(b, seed, partial))
    if prim.is_elementwise and not b.elementwise:
        ids = b.ids
        for j, a in enumerate(node.args):
            shape_a, shape_v = nodes[a].shape, node.shape
            if contribs[j] is not None and (shape_a is None or shape_a != shape_v):
                contribs[j] = b.store.apply("sum_to", (contribs[j], ids[a], ids[node.index]))
    return contribs


def _partial_rule(b: _Builder, node, j: int):
    """The registry's rule for ∂node/∂(argument j), or `_quotient_partial` for a divisor."""
    if node.op == "div" and j == 1 and b.g.nodes[node.args[0]].op != "input":
        return _quotient_partial
    return REGISTRY[node.op].partials[j]


def _quotient_partial(x: Graph, y: Graph, out: Graph) -> Graph:
    """∂(x/y)/∂y as -(x/y)/y: the quotient, which its users usually keep alive anyway,
    rather than an intermediate x that can then be freed.  (Tables show -x·y⁻².)"""
    return -(out / y)


def _reverse_sweep(b: _Builder, out: int) -> dict[int, int]:
    """Adjoints of every node that the output depends on, seeded with 1 at `out`: the
    store id of each."""
    nodes = b.nodes
    store = b.store
    bar: dict[int, int] = {out: store.const(1.0)}
    for node in reversed(nodes[: out + 1]):
        seed = bar.get(node.index)
        if seed is None or node.op in ("input", "const"):
            continue
        if seed not in b.hints:
            b.name_id(seed, f"bar_{b.label(node.index)}")
        for a, c in zip(node.args, _local_contributions(b, node, seed)):
            if c is None or nodes[a].op == "const":
                continue
            bar[a] = store.apply("add", (bar[a], c)) if a in bar else c
    return bar


def _wrt_indices(g: Graph, wrt: Iterable[str] | str | None) -> list[int]:
    names = g.inputs
    if wrt is None:
        wrt = names
    elif isinstance(wrt, str):
        wrt = [w.strip() for w in wrt.split(",") if w.strip()]
    index = {n.name: n.index for n in g.nodes if n.op == "input"}
    wrt = list(wrt)
    for w in wrt:
        if w not in index:
            raise ValueError(f"cannot differentiate with respect to {w!r}: not an input "
                             f"(the inputs are {', '.join(names) or 'none'})")
    return [index[w] for w in wrt]


def _single_output(g: Graph, what: str) -> int:
    if len(g.outputs) != 1:
        raise ValueError(f"{what} needs a graph with one output, this one has "
                         f"{len(g.outputs)}; gd.jacobian differentiates several outputs")
    return g.outputs[0]


def _gradients(b: _Builder, out: int, wrt: list[int]) -> list[Graph]:
    bar = _reverse_sweep(b, out)
    grads = []
    ids = b.ids
    for i in wrt:
        adj = bar.get(i)
        if adj is None:
            adj = b.store.const(0.0)
        b.name_id(adj, f"bar_{b.label(i)}")
        # the input's exact shape: in elementwise graphs, summed over the points a scalar
        # parameter met (taken at the output's shape); elsewhere the sweep summed already
        grad = b.store.apply("sum_to", (adj, ids[i], ids[out] if b.elementwise else ids[i]))
        b.name_id(grad, f"grad_{b.label(i)}")
        grads.append(Graph(b.store, (grad,)))
    return grads


def value_and_grad_graph(g: Graph, wrt: Iterable[str] | str | None = None,
                         stable: bool = True) -> Graph:
    """A graph with outputs (f, ∂f/∂w1, ∂f/∂w2, ...) by reverse accumulation.

    >>> import graphdiff as gd
    >>> vg = gd.value_and_grad_graph(gd.parse("x1*x2 + sin(x1)"))
    >>> [round(float(v), 6) for v in vg(x1=2.0, x2=3.0)]
    [6.909297, 2.583853, 2.0]
    """
    # differentiate log(sigmoid(x)) through softplus, not 1/sigmoid (stable=False: as written)
    g = stabilize(g) if stable else g
    out = _single_output(g, "reverse mode")
    idx = _wrt_indices(g, wrt)
    with paused_gc():
        b = _Builder(g, stable)
        grads = _gradients(b, out, idx)
        return b.finish([b.handle(out)] + grads, g.inputs)


def grad_graph(g: Graph, wrt: Iterable[str] | str | None = None,
               stable: bool = True) -> Graph:
    """A graph whose outputs are the gradient ∂f/∂w for each input w (default: all inputs)."""
    # differentiate log(sigmoid(x)) through softplus, not 1/sigmoid (stable=False: as written)
    g = stabilize(g) if stable else g
    out = _single_output(g, "reverse mode")
    idx = _wrt_indices(g, wrt)
    with paused_gc():
        b = _Builder(g, stable)
        return b.finish(_gradients(b, out, idx), g.inputs)


def _forward_sweep(b: _Builder, seeds: dict[int, Any], suffix: str = "") -> dict[int, Any]:
    """Tangents of every node, given the tangents of some inputs."""
    dot: dict[int, Any] = dict(seeds)
    for node in b.g.nodes:
        if node.op in ("input", "const"):
            continue
        tangents = [dot.get(a) for a in node.args]
        if all(_is_zero(t) for t in tangents):
            continue
        prim = REGISTRY[node.op]
        args = [b.handle(a) for a in node.args]
        out = b.handle(node.index)
        params = dict(node.params)
        if prim.jvp is not None:
            t = prim.jvp(tuple(None if _is_zero(t) else t for t in tangents), *args, out,
                         **params)
        else:
            t = 0
            for j, tj in enumerate(tangents):
                if _is_zero(tj):
                    continue
                partial = _partial_rule(b, node, j)(*args, out, **params)
                b.name(partial, f"d{node.var}_d{b.label(node.args[j])}")
                if not _is_zero(partial):
                    t = t + partial * tj if not _is_zero(t) else partial * tj
        if not _is_zero(t):
            b.name(t, f"dot_{b.label(node.index)}{suffix}")
            dot[node.index] = t
    return dot


def _output_tangents(b: _Builder, dot: dict[int, Any], outs: Iterable[int]) -> list[Graph]:
    # a tangent that came out as a constant still needs the output's shape
    res = []
    for o in outs:
        like = b.handle(o)
        t = call("sum_to", b.as_graph(dot.get(o, 0.0)), like, like)
        b.name(t, f"dot_{b.label(o)}")
        res.append(t)
    return res


def _unique_name(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def jvp_graph(g: Graph, direction: Mapping[str, float] | None = None,
              stable: bool = True) -> Graph:
    """Forward accumulation: a graph with outputs (f, ḟ) along `direction`.

    `direction` maps inputs to numbers (missing inputs get 0); without it the graph takes
    one tangent input `dot_<name>` per input, so the direction is chosen at call time.
    """
    # differentiate log(sigmoid(x)) through softplus, not 1/sigmoid (stable=False: as written)
    g = stabilize(g) if stable else g
    out = _single_output(g, "jvp_graph")
    with paused_gc():
        b = _Builder(g, stable)
        inputs = list(g.inputs)
        index = {n.name: n.index for n in g.nodes if n.op == "input"}
        seeds: dict[int, Any] = {}
        if direction is None:
            taken = set(inputs)
            for name in g.inputs:
                tname = _unique_name(f"dot_{name}", taken)
                inputs.append(tname)
                seeds[index[name]] = Graph(b.store, (b.store.input(tname),))
        else:
            for name, value in direction.items():
                if name not in index:
                    raise ValueError(f"direction names {name!r}, which is not an input "
                                     f"(the inputs are {', '.join(g.inputs)})")
                if not isinstance(value, numbers.Real):
                    raise TypeError(f"direction[{name!r}] must be a number")
                if value != 0:
                    seeds[index[name]] = b.const(float(value))
        dot = _forward_sweep(b, seeds)
        return b.finish([b.handle(out)] + _output_tangents(b, dot, [out]), inputs)


def tangent_graph(g: Graph, wrt: Iterable[str] | str | None = None,
                  stable: bool = True) -> Graph:
    """Forward accumulation with the direction as inputs: a graph from (inputs..., dot_w1,
    dot_w2, ...) to the tangent of every output, each of its output's exact shape.

    The full Jacobian is this graph evaluated along each basis direction in turn (see
    `gd.jacobian`); a direction `dot_w` has the shape of its input `w`.
    """
    # differentiate log(sigmoid(x)) through softplus, not 1/sigmoid (stable=False: as written)
    g = stabilize(g) if stable else g
    idx = _wrt_indices(g, wrt)
    with paused_gc():
        b = _Builder(g, stable)
        inputs = list(g.inputs)
        taken = set(inputs)
        seeds: dict[int, Any] = {}
        for i in idx:
            name = _unique_name(f"dot_{g.nodes[i].name}", taken)
            inputs.append(name)
            seeds[i] = Graph(b.store, (b.store.input(name, g.nodes[i].shape),))
        dot = _forward_sweep(b, seeds)
        return b.finish(_output_tangents(b, dot, g.outputs), inputs)


def _require_elementwise(b: _Builder, what: str) -> None:
    if not b.elementwise:
        ops = sorted({n.op for n in b.g.nodes if n.op not in ("input", "const")
                      and not REGISTRY[n.op].is_elementwise and n.op != "sum_to"})
        raise ValueError(f"{what} per point needs an elementwise graph, and this one has "
                         f"{', '.join(ops)}; gd.{what.lower()}(...) gives the full one")


def jacobian_graph(g: Graph, wrt: Iterable[str] | str | None = None, *,
                   elementwise: bool = False, stable: bool = True) -> Graph:
    """Per point derivatives ∂f_i/∂w_j of an elementwise graph, row by row (outputs i,
    inputs j), by forward accumulation along each input in turn: each entry has the shape
    of its output, the diagonal of the full Jacobian.  Only with `elementwise=True`, and
    only for graphs that are elementwise throughout; `gd.jacobian` gives the full Jacobian
    of shape S + T (see `tangent_graph`)."""
    _wrt_indices(g, wrt)  # names checked first
    if not elementwise:
        raise ValueError("jacobian_graph gives per point derivatives of an elementwise "
                         "graph: pass elementwise=True; gd.jacobian gives the full Jacobian "
                         "(output shape + input shape)")
    # differentiate log(sigmoid(x)) through softplus, not 1/sigmoid (stable=False: as written)
    g = stabilize(g) if stable else g
    idx = _wrt_indices(g, wrt)
    with paused_gc():
        b = _Builder(g, stable)
        _require_elementwise(b, "Jacobian")
        columns = []
        for j in idx:
            dot = _forward_sweep(b, {j: b.const(1.0)}, suffix=f"_{b.label(j)}")
            columns.append(_output_tangents(b, dot, g.outputs))
        entries = [columns[j][i] for i in range(len(g.outputs)) for j in range(len(idx))]
        return b.finish(entries, g.inputs)


def hessian_graph(g: Graph, wrt: Iterable[str] | str | None = None, *,
                  elementwise: bool = False, stable: bool = True) -> Graph:
    """Per point second derivatives ∂²f/∂w_i∂w_j of an elementwise graph, row by row, each
    of the output's shape: forward mode over a reverse sweep that is not summed over the
    points.  Only with `elementwise=True`; `gd.hessian` gives the full Hessian (blocks of
    shape T_i + T_j)."""
    _wrt_indices(g, wrt)  # names checked first
    if not elementwise:
        raise ValueError("hessian_graph gives per point second derivatives of an elementwise "
                         "graph: pass elementwise=True; gd.hessian gives the full Hessian "
                         "(input shape + input shape)")
    names = [g.nodes[i].name for i in _wrt_indices(g, wrt)]
    g = stabilize(g) if stable else g
    out = _single_output(g, "hessian_graph")
    with paused_gc():
        b = _Builder(g, stable)
        _require_elementwise(b, "Hessian")
        bar = _reverse_sweep(b, out)
        like = b.handle(out)
        per_point = [call("sum_to", Graph(b.store, (bar[i],)) if i in bar else 0.0, like, like)
                     for i in _wrt_indices(g, names)]
        grads = b.finish(per_point, g.inputs)
    return jacobian_graph(grads, names, elementwise=True, stable=stable)
