"""The tracer: a graph evaluated at a point, as the lecture's table of variables with their
values, local partials (formula and number), tangents (forward sweep) and adjoints (reverse
sweep).  It computes; the pretty notations (text, LaTeX, HTML) live in `render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .graph import Graph, Node, Store, as_array, format_call, format_number, paused_gc
from .parse import parse
from .simplify import stabilized
from .primitives import PREC_ATOM, REGISTRY

__all__ = ["Formula", "Partial", "Term", "Trace", "TraceRow", "trace", "MODES"]

MODES = ("values", "forward", "reverse", "all")

# Templates are small graphs over slots: the arguments a0, a1, ..., the output `out`, the
# arguments' tangents d0, d1, ... and the output's adjoint `bar`.  A node's partials, tangent
# recursion and adjoint contributions depend only on its operation, parameters and constant
# arguments, so one template serves every node of that shape.
_MARK = "\x00"


class Term(NamedTuple):
    """One summand of a formula: a template graph over slots, the table variable bound to
    each slot (``v3``, a tangent ``dot_v3`` or an adjoint ``bar_v3``), and the template's
    Python text split at its slots (odd positions name a slot)."""

    template: Graph
    binding: tuple[tuple[str, str], ...]
    pieces: list[str]

    @property
    def text(self) -> str:
        names = dict(self.binding)
        return "".join(names[p] if k % 2 else p for k, p in enumerate(self.pieces))


class Formula:
    """A sum of terms over the table's variables.  `str(formula)` is Python syntax, which
    `graphdiff.parse` reads back: ``v4/v3``, ``dot_v1*v2 + v1*dot_v2``, ``bar_v3*v2``."""

    __slots__ = ("terms", "_text")

    def __init__(self, terms: tuple[Term, ...]):
        self.terms = terms
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = join_terms([t.text for t in self.terms])
        return self._text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"


class Partial(NamedTuple):
    """The local partial derivative of a row with respect to one of its arguments: its
    formula over the v's and its number (or array) at the point; `expr` is the formula's
    Python syntax (``-v4*v3**(-2)``)."""

    formula: Formula
    value: Any

    @property
    def expr(self) -> str:
        return self.formula.text

    def __repr__(self) -> str:
        return f"Partial({self.expr!r}, {self.value!r})"


class TraceRow(NamedTuple):
    """One variable of the table (an input or an operation; constants are not numbered).

    `partials` maps each argument's v-name to a `Partial` (an argument used twice, as in
    ``v1*v1``, gets the sum).  `tangent`/`adjoint` are None when that sweep did not run;
    the formulas are None for seeds: the inputs' tangents and the output's adjoint.
    `expr`, `tangent_expr` and `adjoint_expr` give the formulas in Python syntax.
    """

    index: int  # the node's index in `graph.nodes`
    name: str  # "v4"
    op: str  # "input" or a primitive's name
    input: str | None  # the input's name, for inputs
    value: Any
    partials: dict[str, Partial]
    tangent: Any
    adjoint: Any
    definition: Formula | None  # None for inputs
    tangent_formula: Formula | None
    adjoint_formula: Formula | None

    @property
    def expr(self) -> str:
        """The definition in Python syntax over the v's ("v1 - v2"); an input's name."""
        return self.input if self.definition is None else self.definition.text

    @property
    def tangent_expr(self) -> str | None:
        """The forward recursion ``dot_v3 = ...`` in Python syntax (None for a seed)."""
        return None if self.tangent_formula is None else self.tangent_formula.text

    @property
    def adjoint_expr(self) -> str | None:
        """The reverse recursion ``bar_v1 = ...`` in Python syntax (None for the seed)."""
        return None if self.adjoint_formula is None else self.adjoint_formula.text

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"expr={self.expr!r}", f"value={self.value!r}",
                 f"partials={self.partials!r}"]
        if self.tangent is not None:
            parts.append(f"tangent={self.tangent!r}")
        if self.adjoint is not None:
            parts.append(f"adjoint={self.adjoint!r}")
        return f"TraceRow({', '.join(parts)})"


class Trace:
    """The table of a graph at a point: `rows` (v1, v2, ... in evaluation order), the output
    `value`, the `gradient` from the reverse sweep, and with a direction the forward sweep's
    `directional_derivative`.  Prints as the lecture's table: `str(t)`, `to_markdown`,
    `to_latex`, `to_html`, each with `mode` in values | forward | reverse | all.
    """

    def __init__(self, graph: Graph, expr: str, point: dict[str, Any],
                 direction: dict[str, Any] | None, rows: tuple[TraceRow, ...], value: Any,
                 output: TraceRow | None, rewrites: tuple = ()):
        self.graph = graph
        # the stability rewrites made before tracing (graphdiff.simplify.Rewrite), shown
        # in a note under the table
        self.rewrites = tuple(rewrites)
        self.expr = expr
        self.point = point
        self.direction = direction
        self.rows = rows
        self.value = value
        self.output = output
        # every output's row (several for "a*b, a + b"); `output` is the one seeded
        self.outputs: tuple[TraceRow, ...] = () if output is None else (output,)
        self._by_name = {r.input: r for r in rows if r.input is not None}
        self._by_name.update({r.name: r for r in rows})  # a v-name wins over an input's name

    @property
    def gradient(self) -> dict[str, Any]:
        """∂f/∂input for every input, read off the reverse sweep's adjoints."""
        return {r.input: r.adjoint for r in self.rows if r.input is not None}

    @property
    def directional_derivative(self) -> Any:
        """Σ direction[x]·∂f/∂x: the output's tangent (None without a direction)."""
        if self.direction is None:
            return None
        return self.output.tangent if self.output is not None else 0.0

    def __getitem__(self, name: str) -> TraceRow:
        """The row of a v-name ("v4") or of an input's name ("sigma")."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no row {name!r}; the rows are "
                           f"{', '.join(r.name for r in self.rows) or '(none)'}") from None

    def __len__(self) -> int:
        return len(self.rows)

    # --- printing (in graphdiff.render) ---------------------------------------------------
    def to_text(self, mode: str = "all", digits: int = 6) -> str:
        """The table as aligned plain text (Unicode), as `print(t)` shows it."""
        from .render import trace_text

        return trace_text(self, mode, digits)

    def to_markdown(self, mode: str = "all", digits: int = 6) -> str:
        """The table as GitHub-flavoured Markdown."""
        from .render import trace_markdown

        return trace_markdown(self, mode, digits)

    def to_latex(self, mode: str = "all", digits: int = 6, env: str = "tabular") -> str:
        """The table as LaTeX: `tabular` environments, or `array` for MathJax/Jupyter."""
        from .render import trace_latex

        return trace_latex(self, mode, digits, env)

    def to_html(self, mode: str = "all", digits: int = 6) -> str:
        """The table as an HTML fragment (one <table> per sweep)."""
        from .render import trace_html

        return trace_html(self, mode, digits)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        at = ", ".join(f"{k}={_short(v)}" for k, v in self.point.items())
        return f"<Trace of {self.expr} at {at or '()'}: {len(self.rows)} rows, " \
               f"value {_short(self.value)}>"

    # Jupyter shows at most this many rows per table, like a Graph's display
    DISPLAY_ROWS = 200

    def _repr_html_(self) -> str:
        from .render import trace_html

        return trace_html(self, limit=self.DISPLAY_ROWS)

    def _repr_latex_(self) -> str:
        from .render import trace_latex

        return "$$" + trace_latex(self, env="array", limit=self.DISPLAY_ROWS) + "$$"


def trace(source: Any, /, direction: Mapping[str, Any] | None = None, *,
          at: Mapping[str, Any] | None = None, stable: bool = True, output: int = 0,
          **values: Any) -> Trace:
    """Evaluate `source` (text, SymPy or Graph) at a point and record the lecture's table.

    Input values come as keywords (or in `at`, for inputs named like this function's
    parameters); they may be NumPy arrays.  `direction` seeds the forward sweep (inputs not
    named get tangent 0).  The reverse sweep always runs, seeded with 1 at the output (ones for
    an array output, so the adjoints are the gradient of the sum of its entries); for a
    graph of several outputs ("a*b, a + b"), at output number `output` (counting from 0),
    and `value` is the tuple of their values.

    Compositions that overflow are traced in their stable forms, as `compile` computes
    them (log(sigmoid(x)) as -softplus(-x)); the table says so in a note and `.rewrites`
    lists them.  `stable=False` traces the expression as written.

    >>> t = trace("x1*x2 + sin(x1)", x1=2.0, x2=3.0, direction={"x1": 1.0})
    >>> t.value, t.directional_derivative
    (6.909297426825682, 2.5838531634528574)
    >>> t.gradient
    {'x1': 2.5838531634528574, 'x2': 2.0}
    >>> t.rows[2].expr, t.rows[2].partials
    ('v1*v2', {'v1': Partial('v2', 3.0), 'v2': Partial('v1', 2.0)})
    """
    g = parse(source)
    if not isinstance(output, int) or not 0 <= output < len(g.outputs):
        raise ValueError(f"trace(): output={output!r} is not one of the graph's "
                         f"{len(g.outputs)} outputs (0 to {len(g.outputs) - 1})")
    g, rewrites = stabilized(g) if stable else (g, ())
    point = bind_point(g, at, values)
    seeds = None if direction is None else _seeds(g, direction, point)
    # the text names the trace (its repr, the tables' titles): past _EXPR_LIMIT characters
    # writing out shared subexpressions again costs more than the trace itself
    expr = source if isinstance(source, str) else g.to_string(_EXPR_LIMIT) or \
        f"<a graph of {len(g.nodes)} nodes>"
    with paused_gc(), np.errstate(all="ignore"):
        t = _Tracer(g, point, seeds, g.outputs[output]).run(expr)
    t.rewrites = rewrites
    return t


def bind_point(g: Graph, at: Mapping[str, Any] | None, values: Mapping[str, Any]) -> dict:
    """The inputs' values from `at` and keywords together (a name in both is an error)."""
    given = dict(at or {})
    twice = sorted(set(given) & set(values))
    if twice:
        raise TypeError(f"input {twice[0]!r} given twice (in at= and as a keyword)")
    given.update(values)
    return g.bind((), given)


_EXPR_LIMIT = 10_000


def _seeds(g: Graph, direction: Mapping[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """The tangent of each input: the direction's entry (broadcast to the input's shape),
    zero for inputs the direction does not name."""
    if not isinstance(direction, Mapping):
        raise TypeError(f"direction must map input names to tangents, e.g. "
                        f"{{{g.inputs[0] if g.inputs else 'x'!r}: 1.0}}, "
                        f"not {type(direction).__name__}")
    for name in direction:
        if name not in g.inputs:
            raise TypeError(f"direction: unknown input {name!r}; the inputs are "
                            f"{', '.join(g.inputs) or '(none)'}")
    seeds = {}
    for name in g.inputs:
        shape = np.shape(point[name])
        seed = as_array(direction.get(name, 0.0))
        try:
            seeds[name] = np.broadcast_to(seed, shape).copy() if seed.shape != shape else seed
        except ValueError:
            raise ValueError(f"direction: the tangent of {name!r} has shape {seed.shape}, "
                             f"which does not fit the input's shape {shape}") from None
    return seeds


class _Pattern(NamedTuple):
    definition: Graph
    partials: tuple[Graph | None, ...]  # per argument position; None for a constant
    tangent: tuple[Graph, ...]  # the forward recursion's terms, summed
    adjoint: tuple[Graph | None, ...]  # per argument position: its adjoint contribution


class _Tracer:
    """One trace: the numeric sweeps, then the rows with their formulas."""

    def __init__(self, g: Graph, point: dict[str, Any], seeds: dict[str, Any] | None,
                 out: int):
        self.g, self.point, self.seeds = g, point, seeds
        self.out = out  # the output the reverse sweep is seeded at
        self.defs = Store()  # definitions as written
        self.rules = Store(simplify=True)  # partials and recursions, tidied as they are built
        self.patterns: dict[tuple, _Pattern] = {}
        self.texts: dict[int, list[str]] = {}  # id(template) -> Python text, split at slots
        self.values: list[Any] = []
        self.pats: dict[int, _Pattern] = {}  # node index -> its pattern
        self.binds: dict[int, tuple] = {}  # node index -> its slots' variables

    def run(self, expr: str) -> Trace:
        nodes = self.g.nodes
        values = self.values = self.g.evaluate(self.point)
        for n in nodes:
            if n.op == "const":
                # a Python float, weakly typed as in the generated code: float32 stays float32
                values[n.index] = n.value
        # local partials, one per edge from a variable (constants have no derivative);
        # a primitive with vector rules (vjp/jvp) has edges with partial None
        edges: list[list[tuple[int, int, Any]]] = [[] for _ in nodes]
        uses: list[list[tuple[int, int]]] = [[] for _ in nodes]
        for n in nodes:
            if n.op in ("input", "const"):
                continue
            prim = REGISTRY[n.op]
            args = [values[a] for a in n.args]
            params = dict(n.params)
            for j, a in enumerate(n.args):
                if nodes[a].var is not None:
                    p = (prim.partials[j](*args, values[n.index], **params)
                         if prim.vjp is None else None)
                    edges[n.index].append((j, a, p))
                    uses[a].append((n.index, j))
        tangents = self._forward(nodes, values, edges) if self.seeds is not None else None
        adjoints = self._reverse(nodes, values, edges)
        out = self.out
        ops = [n for n in nodes if n.op not in ("input", "const")]
        self.pats = {n.index: self._pattern(n) for n in ops}
        self.binds = {n.index: self._binding(n) for n in ops}
        rows = tuple(self._row(n, values, edges, uses, tangents, adjoints, out)
                     for n in nodes if n.var is not None)
        output = next((r for r in rows if r.index == out), None)
        outs = self.g.outputs
        value = _tidy(values[out]) if len(outs) == 1 else tuple(_tidy(values[o]) for o in outs)
        t = Trace(self.g, expr, {k: _tidy(as_array(v)) for k, v in self.point.items()},
                  None if self.seeds is None else {k: _tidy(v) for k, v in self.seeds.items()},
                  rows, value, output)
        t.outputs = tuple(r for o in outs for r in rows if r.index == o)
        return t

    # --- numbers -------------------------------------------------------------------------
    def _forward(self, nodes, values, edges) -> list[Any]:
        """Tangents: v̇ᵢ = Σⱼ (∂vᵢ/∂vⱼ) v̇ⱼ, inputs seeded with the direction."""
        tangents: list[Any] = [None] * len(nodes)
        for n in nodes:
            if n.op == "input":
                tangents[n.index] = self.seeds[n.name]
                continue
            if n.op == "const":
                continue
            prim = REGISTRY[n.op]
            if prim.vjp is not None:
                dots = [tangents[a] if nodes[a].var is not None else None for a in n.args]
                total = prim.jvp(dots, *[values[a] for a in n.args], values[n.index],
                                 **dict(n.params))
            else:
                total = 0.0
                for _, a, p in edges[n.index]:
                    total = total + p * tangents[a]
            tangents[n.index] = _fit(0.0 if total is None else total, values[n.index])
        return tangents

    def _reverse(self, nodes, values, edges) -> list[Any]:
        """Adjoints: v̄ⱼ = Σᵢ v̄ᵢ (∂vᵢ/∂vⱼ), seeded with 1 at the output."""
        out = self.out
        adjoints: list[Any] = [None] * len(nodes)
        adjoints[out] = np.ones(np.shape(values[out]), _float_dtype(values[out]))
        for n in reversed(nodes):
            bar = adjoints[n.index]
            if bar is None or n.op in ("input", "const"):
                continue
            prim = REGISTRY[n.op]
            if prim.vjp is not None:
                contribs = prim.vjp(bar, *[values[a] for a in n.args], values[n.index],
                                    **dict(n.params))
                pairs = [(a, contribs[j]) for j, a, _ in edges[n.index]]
            else:
                pairs = [(a, bar * p) for _, a, p in edges[n.index]]
            for a, c in pairs:
                if c is None:
                    continue
                c = _sum_to(c, np.shape(values[a]))
                adjoints[a] = c if adjoints[a] is None else adjoints[a] + c
        for n in nodes:
            if n.var is not None and adjoints[n.index] is None:
                adjoints[n.index] = np.zeros(np.shape(values[n.index]),
                                             _float_dtype(values[n.index]))
        return adjoints

    # --- rows and formulas ---------------------------------------------------------------
    def _row(self, n: Node, values, edges, uses, tangents, adjoints, out: int) -> TraceRow:
        nodes = self.g.nodes
        adjoint_formula = None
        if n.index != out:
            terms = []
            for i, j in uses[n.index]:
                template = self.pats[i].adjoint[j]
                if template is not None:
                    terms.append(self._term(template, self.binds[i]
                                            + (("bar", "bar_" + nodes[i].var),)))
            adjoint_formula = Formula(tuple(terms))
        tangent = None if tangents is None else _tidy(tangents[n.index])
        if n.op == "input":
            return TraceRow(n.index, n.var, "input", n.name, _tidy(values[n.index]),
                            {}, tangent, _tidy(adjoints[n.index]), None, None,
                            adjoint_formula)
        pattern = self.pats[n.index]
        binding = self.binds[n.index]
        definition = Formula((self._term(pattern.definition, binding),))
        grouped: dict[str, list[tuple[int, Any]]] = {}
        for j, a, p in edges[n.index]:
            if p is not None:
                grouped.setdefault(nodes[a].var, []).append((j, p))
        partials: dict[str, Partial] = {}
        for name, parts in grouped.items():
            formula = Formula(tuple(self._term(pattern.partials[j], binding) for j, _ in parts))
            total = parts[0][1]
            for _, p in parts[1:]:
                total = total + p
            partials[name] = Partial(formula, _tidy(total))
        tangent_formula = None
        if tangents is not None:
            dots = tuple((f"d{j}", "dot_" + nodes[a].var) for j, a, _ in edges[n.index])
            tangent_formula = Formula(tuple(self._term(t, binding + dots)
                                            for t in pattern.tangent))
        return TraceRow(n.index, n.var, n.op, None, _tidy(values[n.index]),
                        partials, tangent, _tidy(adjoints[n.index]), definition,
                        tangent_formula, adjoint_formula)

    def _binding(self, n: Node) -> tuple[tuple[str, str], ...]:
        nodes = self.g.nodes
        return tuple((f"a{j}", nodes[a].var) for j, a in enumerate(n.args)
                     if nodes[a].var is not None) + (("out", n.var),)

    def _pattern(self, n: Node) -> _Pattern:
        nodes = self.g.nodes
        consts = tuple(None if nodes[a].var is not None else (nodes[a].value, nodes[a].origin)
                       for a in n.args)
        # vector rules (matmul, sum, ...) look at their operands' shapes
        shapes = None if REGISTRY[n.op].vjp is None else \
            tuple(np.shape(self.values[i]) for i in (*n.args, n.index))
        key = (n.op, n.params, consts, shapes)
        found = self.patterns.get(key)
        if found is None:
            found = self.patterns[key] = self._build_pattern(n.op, n.params, consts, shapes)
        return found

    def _build_pattern(self, op: str, params: tuple, consts: tuple,
                       shapes: tuple | None) -> _Pattern:
        d = self.defs
        s = self.rules if shapes is None else Store(simplify=True)
        shapes = shapes or (None,) * (len(consts) + 1)
        prim = REGISTRY[op]
        kw = dict(params)
        definition = Graph(d, (d.apply(op, tuple(_slot(d, j, c) for j, c in enumerate(consts)),
                                       params),))
        args = [Graph(s, (_slot(s, j, c, shapes[j]),)) for j, c in enumerate(consts)]
        out = Graph(s, (s.input("out", shapes[-1]),))
        bar = Graph(s, (s.input("bar", shapes[-1]),))
        dots = [None if c is not None else Graph(s, (s.input(f"d{j}", shapes[j]),))
                for j, c in enumerate(consts)]
        if prim.vjp is not None:  # a vector rule: no scalar partials
            tangent = prim.jvp(dots, *args, out, **kw)
            adjoint = [None if c is not None or v is None else _as_graph(s, v)
                       for c, v in zip(consts, prim.vjp(bar, *args, out, **kw))]
            return _Pattern(definition, (None,) * len(consts),
                            () if tangent is None else (_as_graph(s, tangent),), tuple(adjoint))
        partials: list[Graph | None] = []
        adjoint = []
        tangent_terms = []
        for j, c in enumerate(consts):
            if c is not None:
                partials.append(None)
                adjoint.append(None)
                continue
            p = _as_graph(s, prim.partials[j](*args, out, **kw))
            # the product rule reads v̇1·v2 + v1·v̇2: a partial that is a later argument
            # stands after the tangent, any other partial before it (cos(v1)·v̇1)
            later = [f"a{m}" for m in range(j + 1, len(consts))]
            root = p.output
            tangent_terms.append(dots[j] * p if root.op == "input" and root.name in later
                                 else p * dots[j])
            partials.append(p)
            adjoint.append(bar * p)
        return _Pattern(definition, tuple(partials), tuple(tangent_terms), tuple(adjoint))

    def _term(self, template: Graph, binding: tuple[tuple[str, str], ...]) -> Term:
        return Term(template, binding, self._pieces(template))

    def _pieces(self, template: Graph) -> list[str]:
        """The template's Python text split at its slots (odd positions are slot names)."""
        found = self.texts.get(id(template))
        if found is None:
            texts: list[tuple[str, int]] = []
            for n in template.nodes:
                if n.op == "input":
                    texts.append((_MARK + n.name + _MARK, PREC_ATOM))
                elif n.op == "const":
                    texts.append(constant_text(n.value, n.origin))
                else:
                    texts.append(format_call(n.op, [texts[a] for a in n.args], n.params))
            found = self.texts[id(template)] = texts[template.outputs[0]][0].split(_MARK)
        return found


def join_terms(texts: list[str]) -> str:
    """Python text of a sum of terms: "a + b", with "a - b" for a term that reads "-b"."""
    if not texts:
        return "0"
    out = [texts[0]]
    for t in texts[1:]:
        out.append(f" - {t[1:]}" if t.startswith("-") else f" + {t}")
    return "".join(out)


def constant_text(value: float, origin: Any) -> tuple[str, int]:
    """A constant in Python syntax, with its precedence: the expression it was folded from
    ("0.5*log(2*pi)") if it remembers one, else its number."""
    return format_number(value) if origin is None else _origin_text(origin)


def _origin_text(origin: Any) -> tuple[str, int]:
    if isinstance(origin, str):
        return origin, PREC_ATOM
    if not isinstance(origin, tuple):
        return format_number(origin)
    op, args, params = origin
    return format_call(op, [_origin_text(a) for a in args], params)


def _slot(store: Store, j: int, const: tuple | None, shape: tuple | None = None) -> int:
    return store.input(f"a{j}", shape) if const is None else store.const(*const)


def _as_graph(store: Store, value: Any) -> Graph:
    if isinstance(value, Graph):
        return value
    return Graph(store, (store.const(float(value)),))


def _float_dtype(v: Any) -> np.dtype:
    dtype = np.result_type(v)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _fit(total: Any, like: Any) -> Any:
    """A tangent with the shape of its value (a sum of constant partials may be a number)."""
    shape = np.shape(like)
    return total if np.shape(total) == shape else np.broadcast_to(total, shape).copy()


def _sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """An adjoint contribution in its argument's shape: summed down where the argument was
    broadcast, broadcast up where a vector rule left it implicit (mean's 1/n)."""
    x_shape = np.shape(x)
    if x_shape == shape:
        return x
    if len(x_shape) <= len(shape) and all(a in (1, b) for a, b in
                                          zip(reversed(x_shape), reversed(shape))):
        return np.broadcast_to(x, shape).copy()
    lead = len(x_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and x_shape[lead + i] != 1)
    summed = np.sum(x, axis=axes) if axes else x
    return np.reshape(summed, shape) if np.shape(summed) != shape else summed


def _tidy(v: Any) -> Any:
    """Scalars as Python floats (float32 stays a NumPy float32); arrays unchanged."""
    kind = type(v)
    if kind is np.float64 or kind is int:
        return float(v)
    if kind is np.ndarray and v.ndim == 0:
        v = v[()]
    if isinstance(v, (int, np.integer, np.float64)) and not isinstance(v, bool):
        return float(v)
    return v


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    return repr(v)
