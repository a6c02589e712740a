"""The compiled-function API: compile, value_and_grad, grad, jvp, jacobian, hessian.

Each takes an expression (text, SymPy or Graph), differentiates it as a graph, simplifies
the result and compiles it to one NumPy function whose source can be printed and saved.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from .autodiff import (_wrt_indices, grad_graph, hessian_graph, jacobian_graph, jvp_graph,
                       tangent_graph, value_and_grad_graph)
from .codegen import (SPECIALIZE_UP_TO, CompiledFunction, _tuple_of, compile_graph,
                      compile_jacobian, rebuildable)
from .graph import Graph
from .parse import parse
from .repeated import compile_on_terms, find_terms
from .simplify import Rewrite, stabilize, stabilized

__all__ = ["compile", "value_and_grad", "grad", "jvp", "jacobian", "hessian"]


def _graph(expr: Any) -> Graph:
    return parse(expr)


def _sweep_marks(g: Graph, primal_out: int) -> dict[int, str]:
    """Comment lines that separate the forward sweep from the derivative lines."""
    for n in g.nodes[primal_out + 1:]:
        if n.op not in ("input", "const"):
            return {n.index: "derivatives"}
    return {}


def _compiled(g: Graph, transform: Callable[[Graph], Graph], name: str,
              returns: Callable[[list[str]], str] | None = None, doc: str = "",
              marks: Callable[[Graph], dict[int, str]] | None = None,
              inplace: bool = False, build: Callable[..., CompiledFunction] | None = None,
              stable: bool = True, backend: str = "numpy",
              terms: tuple[str, list[str], bool] | None = None) -> CompiledFunction:
    """transform(g) compiled, with variants for the shapes it is called with (see
    `CompiledFunction`) unless it is too large to compile twice cheaply.  `build(d,
    inplace, specialize, dtypes, rewrites)` compiles a transformed graph (default:
    compile_graph with `returns`, `doc` and `marks`).  The stability rewrites made to g
    (`stable`) are listed in `.rewrites` and atop the source.  `backend`: "numpy",
    "array_api" or "numba" (see graphdiff.codegen); the others are built from the same
    graph on demand (`for_backend`, `source_for`).  `terms` (kind, wrt names, single):
    a NumPy function of a sum of many terms of one form is built on arrays of terms
    (graphdiff.repeated), the other backends from the sum as written."""
    if terms is not None and backend == "numpy":
        plan = find_terms(g, stable=stable)
        if plan is not None:
            f = compile_on_terms(g, plan, name, *terms, doc=doc, stable=stable)
            f._rebuild = lambda other: _compiled(g, transform, name, returns, doc, marks,
                                                 inplace, build, stable, other)
            return f
    if build is None:
        def build(d, inplace, specialize, dtypes, rewrites, backend="numpy"):
            return compile_graph(d, name, returns, doc, marks(d) if marks else None,
                                 inplace=inplace, specialize=specialize, dtypes=dtypes,
                                 rewrites=rewrites, backend=backend)
    d = transform(g)
    rewrites = _rewrites(g) if stable else ()

    def specialize(shapes: dict[str, tuple], dtypes: list[str]) -> CompiledFunction:
        return build(transform(g.with_shapes(shapes)), True, None, dtypes, rewrites)

    small = sum(n.op not in ("input", "const") for n in d.nodes) <= SPECIALIZE_UP_TO
    numpy = backend == "numpy"
    f = build(d, inplace and numpy, specialize if small and numpy else None, None, rewrites,
              backend)
    f._rebuild = lambda other: build(d, inplace and other == "numpy",
                                     specialize if small and other == "numpy" else None,
                                     None, rewrites, other)
    return f


def _rewrites(g: Graph) -> tuple[Rewrite, ...]:
    return stabilized(g)[1]


@rebuildable
def compile(expr: Any, name: str = "f", stable: bool = True,  # noqa: A001
            backend: str = "numpy") -> CompiledFunction:
    """The expression as one flat NumPy function (like jax.jit).  `stable=False` keeps
    compositions that overflow as written (see graphdiff.stable; `.rewrites` lists what
    was rewritten).

    >>> import graphdiff as gd
    >>> f = gd.compile("x1*x2 + sin(x1)")
    >>> float(f(2.0, 3.0))
    6.909297426825682
    """
    g = _graph(expr)
    # not simplified, so the lines keep the table's numbering; only compositions that
    # would overflow are rewritten (log(sigmoid(x)) -> -softplus(-x), ...)
    return _compiled(g, stabilize if stable else (lambda h: h), name,
                     doc=f"{', '.join(g.inputs)} -> the expression's value", stable=stable,
                     backend=backend, terms=("value", [], False))


def _wrt_names(g: Graph, wrt: Iterable[str] | str | None) -> list[str]:
    return [g.nodes[i].name for i in _wrt_indices(g, wrt)]


@rebuildable
def value_and_grad(expr: Any, wrt: Iterable[str] | str | None = None,
                   name: str = "value_and_grad", inplace: bool = False,
                   stable: bool = True, backend: str = "numpy") -> CompiledFunction:
    """f and its gradient by reverse accumulation, as one generated function returning
    `(value, (grad_w1, grad_w2, ...))`, each gradient shaped like its input.  `inplace`
    lets elementwise operations reuse dead buffers, for graphs whose arrays share one
    dtype (see `emit_numpy`).

    >>> import graphdiff as gd
    >>> vg = gd.value_and_grad("x1*x2 + sin(x1)")
    >>> value, (g1, g2) = vg(x1=2.0, x2=3.0)
    >>> round(float(g1), 6), float(g2)
    (2.583853, 2.0)
    """
    g = _graph(expr)
    names = _wrt_names(g, wrt)
    doc = f"value and gradient with respect to ({', '.join(names)}), by reverse mode"
    # built simplified (see autodiff._Builder)
    return _compiled(g, lambda h: value_and_grad_graph(h, names, stable), name,
                     returns=lambda outs: f"{outs[0]}, {_tuple_of(outs[1:])}", doc=doc,
                     marks=_reverse_marks, inplace=inplace, stable=stable, backend=backend,
                     terms=("value_and_grad", names, False))


def _reverse_marks(d: Graph) -> dict[int, str]:
    marks = _sweep_marks(d, d.outputs[0])
    return {i: "reverse sweep: bar_v = df/dv, seeded with 1 at the output" for i in marks}


@rebuildable
def grad(expr: Any, wrt: Iterable[str] | str | None = None, name: str = "grad",
         stable: bool = True, backend: str = "numpy") -> CompiledFunction:
    """The gradient only, like `jax.grad`: one array when differentiating with respect to
    one input (named alone, or the only input), else a tuple in `wrt` order."""
    g = _graph(expr)
    names = _wrt_names(g, wrt)
    single = _single(names, wrt)
    returns = (lambda outs: outs[0]) if single else _tuple_of
    return _compiled(g, lambda h: grad_graph(h, names, stable), name, returns=returns,
                     doc=f"gradient with respect to ({', '.join(names)}), by reverse mode",
                     stable=stable, backend=backend, terms=("grad", names, single))


@rebuildable
def jvp(expr: Any, direction: Mapping[str, float] | None = None,
        name: str = "jvp", stable: bool = True, backend: str = "numpy") -> CompiledFunction:
    """Forward mode: returns `(value, directional derivative)`.

    With `direction` (input -> number) the direction is fixed in the code; without it the
    function takes one tangent argument `dot_<input>` after the inputs.
    """
    g = _graph(expr)
    def marks(d: Graph) -> dict[int, str]:
        return {i: "forward sweep: tangents dot_v = dv/dt" for i in _sweep_marks(d, d.outputs[0])}

    return _compiled(g, lambda h: jvp_graph(h, direction, stable), name,
                     returns=lambda outs: f"{outs[0]}, {outs[1]}",
                     doc="value and directional derivative, by forward mode", marks=marks,
                     stable=stable, backend=backend)


@rebuildable
def jacobian(expr: Any, wrt: Iterable[str] | str | None = None, name: str = "jacobian",
             elementwise: bool = False, stable: bool = True,
             backend: str = "numpy") -> CompiledFunction:
    """The Jacobian, with JAX's shapes: d out / d w has shape out.shape + w.shape.

    One array for one output and one input (named alone, or the only input), else a
    tuple over `wrt`, inside a tuple over the outputs when there are several.  Built by
    forward mode along each basis direction of each input (see `tangent_graph`).  With
    `elementwise=True`, an elementwise graph's per point derivatives instead (the
    diagonal, each of the output's shape, as a tuple of rows).

    >>> import graphdiff as gd, numpy as np
    >>> gd.jacobian("x**2")(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    g = _graph(expr)
    names = _wrt_names(g, wrt)
    if elementwise:
        return _per_point(g, jacobian_graph, names, name, "Jacobian", stable, backend)
    return _full_matrix(g, lambda h: tangent_graph(h, names, stable), names, name,
                        f"Jacobian with respect to ({', '.join(names)}): shapes output + input",
                        single_out=len(g.outputs) == 1, single_wrt=_single(names, wrt),
                        stable=stable, backend=backend)


@rebuildable
def hessian(expr: Any, wrt: Iterable[str] | str | None = None, name: str = "hessian",
            elementwise: bool = False, stable: bool = True,
            backend: str = "numpy") -> CompiledFunction:
    """The Hessian of a scalar (of the sum of a non-scalar output's entries, as `grad`
    differentiates it): block (i, j) = d²f / dw_i dw_j has shape w_i.shape + w_j.shape.
    One array for one input (named alone, or the only input), else a tuple of rows.  Built
    by forward mode over the reverse-mode gradient.  With `elementwise=True`, an
    elementwise graph's per point second derivatives instead (each of the output's shape).

    >>> import graphdiff as gd, numpy as np
    >>> gd.hessian("sum(x)**2")(np.array([1.0, 2.0]))
    array([[2., 2.],
           [2., 2.]])
    """
    g = _graph(expr)
    names = _wrt_names(g, wrt)
    if elementwise:
        return _per_point(g, hessian_graph, names, name, "Hessian", stable, backend)
    if len(g.outputs) != 1:
        raise ValueError(f"hessian needs an expression with one output, this one has "
                         f"{len(g.outputs)}")
    single = _single(names, wrt)
    return _full_matrix(g, lambda h: tangent_graph(grad_graph(h, names, stable), names, stable),
                        names, name,
                        f"Hessian with respect to ({', '.join(names)}): blocks input + input",
                        single_out=single, single_wrt=single, stable=stable, backend=backend)


def _per_point(g: Graph, transform: Callable[..., Graph], names: list[str], name: str,
               title: str, stable: bool, backend: str = "numpy") -> CompiledFunction:
    """An elementwise graph's per point derivatives, compiled as a tuple of rows."""
    return _compiled(g, lambda h: transform(h, names, elementwise=True, stable=stable), name,
                     returns=_rows(len(names)), stable=stable, backend=backend,
                     doc=f"per point {title} with respect to ({', '.join(names)})")


def _single(names: list[str], wrt: Iterable[str] | str | None) -> bool:
    """One result rather than a tuple: one input, named alone or the only one (as grad)."""
    return len(names) == 1 and (wrt is None or isinstance(wrt, str))


def _full_matrix(g: Graph, transform: Callable[[Graph], Graph], names: list[str], name: str,
                 doc: str, single_out: bool, single_wrt: bool,
                 stable: bool = True, backend: str = "numpy") -> CompiledFunction:
    """A Jacobian-shaped result assembled from a tangent graph (see `compile_jacobian`)."""
    wrt = [g.inputs.index(n) for n in names]

    def build(d, inplace, specialize, dtypes, rewrites, backend="numpy"):
        return compile_jacobian(d, g.inputs, wrt, name, doc, single_out, single_wrt,
                                inplace=inplace, specialize=specialize, dtypes=dtypes,
                                rewrites=rewrites, backend=backend)

    return _compiled(g, transform, name, build=build, stable=stable, backend=backend)


def _rows(width: int):
    def returns(outs: list[str]) -> str:
        if not width:
            return "()"
        rows = [_tuple_of(outs[i:i + width]) for i in range(0, len(outs), width)]
        return _tuple_of(rows)
    return returns
