"""A derivative checked node by node: every local partial, forward tangent and reverse
adjoint of a trace against central finite differences, in one table.

It computes with `trace` and the registry's implementations and prints with `render`'s
table helpers; it adds no derivative rule of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .autodiff import _wrt_indices
from .graph import Graph, as_arrays
from .parse import parse
from .primitives import REGISTRY
from .simplify import stabilized
from .trace import Trace, bind_point, trace

__all__ = ["check", "Check", "Comparison"]

_EPS = float(np.finfo(np.float64).eps)
# central differences: truncation ~h², rounding ~eps/h, balanced at h ~ eps**(1/3)
_STEP = _EPS ** (1 / 3)
# entries of an array node whose adjoint is checked one by one (beyond: along a direction)
_MOST_ENTRIES = 64


class Comparison(NamedTuple):
    """One derivative of one node, as graphdiff computes it and by central differences.

    `error` is the relative disagreement beyond what the difference quotient can resolve:
    (|computed - reference| - u) / max(|computed|, |reference|), at least 0, the largest over
    an array's entries.  `u`, the quotient's own uncertainty, is its rounding error
    (eps·|value|/h: large where the node's value is large next to its derivative, a badly
    conditioned node) plus its truncation error (the change between steps h and 2h).
    `where` names an array's worst entry."""

    node: str  # "v3"
    kind: str  # "partial", "tangent" or "adjoint"
    label: str  # "∂v3/∂v1", "v̇3 along x", "v̄3"
    computed: Any
    reference: Any
    error: float
    agrees: bool
    where: tuple | None = None


class CheckRow(NamedTuple):
    name: str
    definition: str
    value: Any
    comparisons: tuple[Comparison, ...]


class Check:
    """The result of `check`: `rows` (one per variable of the trace), `comparisons` (all of
    them), `ok`, and `worst` (the comparison with the largest error).  Prints as a table:
    `str(c)`, `to_markdown()`, `to_html()`."""

    def __init__(self, expr: str, point: dict[str, Any], rows: tuple[CheckRow, ...],
                 tol: float, rewrites: tuple):
        self.expr, self.point, self.rows, self.tol = expr, point, rows, tol
        self.rewrites = rewrites
        self.comparisons = tuple(c for r in rows for c in r.comparisons)

    @property
    def ok(self) -> bool:
        return all(c.agrees for c in self.comparisons)

    @property
    def worst(self) -> Comparison | None:
        return max(self.comparisons, key=lambda c: (np.nan_to_num(c.error, nan=np.inf), not c.agrees),
                   default=None)

    def summary(self) -> str:
        worst = self.worst
        if worst is None:
            return "nothing to check: the expression has no variables"
        bad = sum(not c.agrees for c in self.comparisons)
        where = f" at {worst.node} ({worst.label}" + \
            (f", entry {list(worst.where)}" if worst.where else "") + ")"
        head = (f"all {len(self.comparisons)} checks agree within {self.tol:g}" if not bad else
                f"DISAGREE: {bad} of {len(self.comparisons)} checks beyond {self.tol:g}")
        if worst.error == 0:
            return f"{head}; every difference is within the central differences' own uncertainty"
        return f"{head}; worst relative error {worst.error:.2g}{where}"

    def __bool__(self) -> bool:
        return self.ok

    def to_text(self, digits: int = 6) -> str:
        from .render import text_grid

        header, rows = self._cells(digits)
        return "\n".join([self._title(), ""] + text_grid(header, rows) + ["", self.summary()]
                         + self._notes())

    def to_markdown(self, digits: int = 6) -> str:
        from .render import _md_escape, markdown_table

        header, rows = self._cells(digits)
        body = [["<br>".join(_md_escape(x) for x in cell) for cell in row] for row in rows]
        lines = [_md_escape(self._title()), ""] + markdown_table(header, body) + \
            ["", _md_escape(self.summary())] + [_md_escape(n) + "  " for n in self._notes()]
        return "\n".join(lines) + "\n"

    def to_html(self, digits: int = 6) -> str:
        import html

        from .render import html_table

        header, rows = self._cells(digits)
        body = [["<br>".join(html.escape(x) for x in cell) for cell in row] for row in rows]
        notes = "".join(f"<br>{html.escape(n)}" for n in self._notes())
        return (html_table(header, body, caption=html.escape(self._title()))
                + f"\n<p>{html.escape(self.summary())}{notes}</p>\n")

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Check of {self.expr}: {self.summary()}>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def _title(self) -> str:
        at = ", ".join(f"{k} = {_short(v)}" for k, v in self.point.items())
        return f"Derivative check of {self.expr} at {at or '()'}"

    def _notes(self) -> list[str]:
        if not self.rewrites:
            return []
        return ["Rewritten for numerical stability before checking (stable=False keeps the "
                "expression as written):"] + [f"  {r.before} -> {r.after}  ({r.rule})"
                                               for r in self.rewrites]

    def _cells(self, digits: int) -> tuple[list[str], list[list[list[str]]]]:
        from .render import format_value

        header = ["var", "definition", "value", "derivative", "graphdiff", "central diff.",
                  "rel. error", "mark"]
        rows = []
        for r in self.rows:
            cs = r.comparisons
            rows.append([[r.name], [r.definition], [format_value(r.value, digits)],
                         [c.label for c in cs], [format_value(c.computed, digits) for c in cs],
                         [format_value(c.reference, digits) for c in cs],
                         [f"{c.error:.1e}" + (f" at {list(c.where)}" if c.where else "")
                          for c in cs],
                         ["" if c.agrees else "✗ DISAGREE" for c in cs]])
        return header, rows


def check(expr: Any, at: Mapping[str, Any] | None = None,
          direction: Mapping[str, Any] | None = None, *, tol: float = 1e-6,
          wrt: Iterable[str] | str | None = None, stable: bool = True,
          **values: Any) -> Check:
    """Check every derivative of `expr` at a point, node by node, against central finite
    differences: each local partial (the primitive alone, its argument moved), the forward
    tangent (the node's value with the inputs moved along `direction`; without one, along
    each input in turn) and the reverse adjoint (the output with the node's value moved,
    entry by entry for small arrays).  This is how a user checks the partials of their
    own primitives (see `graphdiff.primitive`).  `wrt` names the inputs to move (default:
    all); leave out those with no derivative, such as integer class labels.  Everything is
    computed in float64, whatever the inputs' type.

    >>> import graphdiff as gd
    >>> c = gd.check("x1*x2 + sin(x1)", at={"x1": 2.0, "x2": 3.0})
    >>> c.ok, len(c.comparisons)
    (True, 16)
    >>> c.worst.error < 1e-9
    True
    """
    g = parse(expr)
    if len(g.outputs) != 1:
        raise ValueError(f"check() needs a graph with one output, not {len(g.outputs)}")
    rewrites: tuple = ()
    if stable:
        g, rewrites = stabilized(g)
    bound = bind_point(g, at, values)
    point = dict(zip(bound, as_arrays([np.asarray(v, dtype=np.float64) for v in bound.values()])))
    if not isinstance(tol, (int, float)) or not tol > 0:
        raise ValueError(f"tol must be a positive number, not {tol!r}")
    moved = [g.nodes[i].name for i in _wrt_indices(g, wrt)]
    fixed = {n.var for n in g.nodes if n.op == "input" and n.name not in moved}
    directions = _directions(moved, direction)
    with np.errstate(all="ignore"):
        traces = {label: trace(g, d, at=point, stable=False) for label, d in directions}
        base = g.evaluate(point)
        rows = _rows(g, traces, directions, base, point, tol, fixed)
    text = expr if isinstance(expr, str) else str(g)
    return Check(text, {k: v[()] if v.ndim == 0 else v for k, v in point.items()}, rows, tol,
                 rewrites)


def _directions(moved: list[str], direction: Mapping[str, Any] | None) -> list[tuple[str, dict]]:
    if direction is not None:
        if not isinstance(direction, Mapping):
            raise TypeError("direction must map input names to tangents, e.g. {'x': 1.0}")
        return [("direction", dict(direction))]
    return [(name, {name: 1.0}) for name in moved] or [("none", {})]


def _rows(g: Graph, traces: dict[str, Trace], directions, base: list, point: dict,
          tol: float, fixed: set[str]) -> tuple[CheckRow, ...]:
    """The comparisons of each variable; inputs in `fixed` (v-names) are never moved."""
    first = next(iter(traces.values()))
    shifted = {label: _shifted_values(g, point, d) for label, d in directions}
    out = []
    for r in first.rows:
        comps: list[Comparison] = []
        n = g.nodes[r.index]
        if n.op != "input":
            comps += _partials(g, n, r, base, tol, fixed)
        for label, d in directions if n.op != "input" else ():  # an input's tangent is its seed
            t = traces[label][r.name].tangent
            steps = [(p[r.index], m[r.index]) for p, m in shifted[label][0]]
            what = "direction" if label == "direction" else label
            comps.append(_compare(r.name, "tangent", f"v̇{r.name[1:]} along {what}", t,
                                  steps, shifted[label][1], tol))
        if r.name not in fixed:
            comps.append(_adjoint(g, r, base, tol))
        out.append(CheckRow(r.name, r.expr, r.value, tuple(comps)))
    return tuple(out)


def _shifted_values(g: Graph, point: dict, d: Mapping[str, Any]) -> tuple[list, float]:
    """Every node's value at point ± h·direction and point ± 2h·direction, and h."""
    scale = max([1.0] + [float(np.max(np.abs(v))) for v in point.values() if np.size(v)])
    h = _STEP * scale
    pairs = []
    for step in (h, 2 * h):
        moved = [{k: v + sign * step * np.asarray(d.get(k, 0.0), dtype=np.float64)
                  for k, v in point.items()} for sign in (1, -1)]
        pairs.append((g.evaluate(moved[0]), g.evaluate(moved[1])))
    return pairs, h


def _partials(g: Graph, n, r, base: list, tol: float, fixed: set[str]) -> list[Comparison]:
    """Each symbolic partial against the primitive alone, its argument moved (an argument
    used twice, as in x*x, is moved in every place: the partial is their sum)."""
    prim = REGISTRY[n.op]
    if not r.partials:
        return []
    args = [np.asarray(base[a], dtype=np.float64) for a in n.args]
    params = dict(n.params)
    comps = []
    for wrt, partial in r.partials.items():
        if wrt in fixed:
            continue
        where = [j for j, a in enumerate(n.args) if g.nodes[a].var == wrt]
        h = _STEP * np.maximum(1.0, np.abs(args[where[0]]))
        steps = []
        for step in (h, 2 * h):
            up, down = list(args), list(args)
            for j in where:
                up[j], down[j] = args[j] + step, args[j] - step
            steps.append((prim.impl(*up, **params), prim.impl(*down, **params)))
        comps.append(_compare(r.name, "partial", f"∂{r.name}/∂{wrt}", partial.value, steps,
                              h, tol))
    return comps


def _adjoint(g: Graph, r, base: list, tol: float) -> Comparison:
    """The adjoint ∂f/∂v (f the sum of the output's entries) against f with v moved:
    entry by entry for arrays of up to _MOST_ENTRIES entries, else along a fixed ±1
    direction (then the adjoint shown is its inner product with that direction)."""
    v = np.asarray(base[r.index], dtype=np.float64)
    adj = np.asarray(r.adjoint, dtype=np.float64)
    h = _STEP * max(1.0, float(np.max(np.abs(v))) if v.size else 1.0)
    if v.size <= _MOST_ENTRIES:
        steps = []
        for step in (h, 2 * h):
            plus, minus = np.empty(v.shape), np.empty(v.shape)
            for k in np.ndindex(v.shape):
                e = np.zeros(v.shape)
                e[k] = step
                plus[k] = _output_sum(g, base, r.index, v + e)
                minus[k] = _output_sum(g, base, r.index, v - e)
            steps.append((plus, minus))
        return _compare(r.name, "adjoint", f"v̄{r.name[1:]}", adj, steps, h, tol)
    u = np.where(np.random.default_rng(0).random(v.shape) < 0.5, -1.0, 1.0)
    steps = [(_output_sum(g, base, r.index, v + step * u),
              _output_sum(g, base, r.index, v - step * u)) for step in (h, 2 * h)]
    return _compare(r.name, "adjoint", f"Σ v̄{r.name[1:]}·u (u = ±1)", float(np.sum(adj * u)),
                    steps, h, tol)


def _output_sum(g: Graph, base: list, index: int, value: np.ndarray) -> float:
    """Σ output with node `index` set to `value` (the nodes after it computed again)."""
    vals = list(base)
    vals[index] = value
    for n in g.nodes[index + 1:]:
        if n.op not in ("input", "const"):
            vals[n.index] = REGISTRY[n.op].impl(*[vals[a] for a in n.args], **dict(n.params))
    return float(np.sum(vals[g.outputs[0]]))


def _compare(node: str, kind: str, label: str, computed: Any, steps: list, h: Any,
             tol: float) -> Comparison:
    """computed against the central difference of steps [(f(+h), f(-h)), (f(+2h), f(-2h))]."""
    h = np.asarray(h, dtype=np.float64)
    (p1, m1), (p2, m2) = [(np.asarray(p, np.float64), np.asarray(m, np.float64))
                          for p, m in steps]
    with np.errstate(all="ignore"):
        b = (p1 - m1) / (2 * h)
        # rounding (a few ulps of the values, over 2h) and truncation (h² against 4h²)
        u = 4 * _EPS * (np.abs(p1) + np.abs(m1)) / (2 * h) + np.abs((p2 - m2) / (4 * h) - b)
        a, b = np.broadcast_arrays(np.asarray(computed, dtype=np.float64), b)
        scale = np.maximum(np.abs(a), np.abs(b))
        excess = np.maximum(np.abs(a - b) - np.nan_to_num(u, nan=0.0), 0.0)
        err = np.where(a == b, 0.0, excess / np.where(scale > 0, scale, 1.0))
    err = np.where(np.isnan(a) & np.isnan(b), 0.0, err)
    err = np.where(np.isnan(err), np.inf, err)
    worst = None
    if err.ndim and err.size:
        k = np.unravel_index(int(np.argmax(err)), err.shape)
        worst = tuple(int(i) for i in k) if err[k] > 0 else None
    e = float(np.max(err)) if err.size else 0.0
    return Comparison(node, kind, label, computed, b if b.ndim else float(b), e, e <= tol, worst)


def _short(v: Any) -> str:
    a = np.asarray(v)
    return f"array{a.shape}" if a.ndim else f"{float(a):g}"
