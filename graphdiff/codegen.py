"""Code generation: a graph becomes the source of one flat NumPy function, and a callable.

One assignment per operation, names from the user's inputs and the table's v-numbers
(adjoints bar_v3, tangents dot_v3, partials dv5_dv3), constants inlined.  Every identifier
in the source is generated or validated here, so no input can inject code.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import functools
import inspect
import itertools
import keyword
import linecache
import operator
import os
import re
import string
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .graph import Graph, as_arrays, bind, format_call, format_number, paused_gc
from . import array_api as xp_helpers
from .passes import _INFIX_UFUNCS, MemoryPlan, Schedule, out_ufunc, plan_memory, schedule
from .primitives import (FUSED_LOSSES, PREC_ADD, PREC_ATOM, PREC_CMP, PREC_MUL, PREC_POW,
                         PREC_UNARY, REGISTRY, _dim_text)

__all__ = ["CompiledFunction", "emit_numpy", "emit_array_api", "compile_graph", "compile_jacobian",
           "safe_identifier", "check_function_name"]

# np, xp and math: the modules the generated functions call (xp: the array-API namespace)
_RESERVED = re.compile(r"^(v\d+|t\d+|r\d+|(bar|dot|grad)_\w*|d\w*_d\w*|np|xp|math|_\w*)$")
# Above this many operations nobody reads the lines beside a table, and CPython compiles a
# function with few distinct local names about twice as fast: intermediates then share a
# pool of names r1, r2, ..., each rebound once its value is dead.
RECYCLE_ABOVE = 5000
# Functions of up to this many operations get variants for the shapes they are called with
# (see CompiledFunction): a variant costs a few times what the function cost to build, once
# per signature, on its second call (about a second for 10,000 operations: the 1,000-layer
# chain's value and gradient); beyond this size that wait is longer than most calls repay,
# and the general function answers every call.
SPECIALIZE_UP_TO = 20_000
_COMMENT_LIMIT = 48
_counter = itertools.count(1)


def safe_identifier(name: str, taken: set[str]) -> str:
    """`name` if it is a plain ASCII identifier free for a user's input, else a mangled
    variant (invalid characters replaced, a prefix or suffix added) that is; records it."""
    # (most names are plain identifiers already: no substitution to make)
    base = name if name.isascii() and name.isidentifier() else \
        re.sub(r"[^A-Za-z0-9_]", "_", name) or "x"
    if base[0].isdigit():
        base = "x_" + base
    if _RESERVED.match(base):  # a generated name (v4, bar_x, np, ...) is never a user's
        base = "in_" + base
    if keyword.iskeyword(base) or base != name:
        base += "_"
    while base in taken:
        base += "_"
    taken.add(base)
    return base


def check_function_name(name: Any) -> None:
    """A ValueError unless `name` can name the generated function without hiding a global
    of its module (`np`, a `_helper`, a builtin the helpers call)."""
    _check_identifier(name)
    if name in _MODULE_NAMES or name.startswith("_") or hasattr(builtins, name):
        raise ValueError(f"function name {name!r} would hide a name the generated module "
                         "uses (np, the _helpers, builtins); choose another")


# the globals of generated modules: NumPy's, and the array-API module's imports
_MODULE_NAMES = frozenset(("np", "xp", "math", "array_namespace", "device", "is_array_api_obj",
                           "is_lazy_array", "is_numpy_array"))


def _check_identifier(name: Any) -> None:
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier() \
            or keyword.iskeyword(name):
        raise ValueError(f"function name {_shorten(name)} is not a Python identifier")


def _shorten(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _literal(value: float) -> tuple[str, int]:
    text, prec = format_number(value)
    if text in ("inf", "-inf", "nan"):
        text = text.replace("inf", "np.inf").replace("nan", "np.nan")
    return text, prec


def emit_numpy(g: Graph, name: str = "f", returns: Callable[[list[str]], str] | None = None,
               doc: str = "", marks: dict[int, str] | None = None,
               free: bool = True, inplace: bool = False,
               dtypes: Sequence[str] | None = None,
               updates: dict[int, str] | None = None) -> tuple[str, list[str]]:
    """Python source of a module defining `name`, a NumPy function computing g's outputs.

    Returns the source and the function's parameter names (the inputs, mangled where
    needed).  `returns` turns the output expressions into the return expression (default:
    one value, or a tuple); `marks` puts a comment line before chosen nodes.  With `free`,
    each intermediate is deleted after its last use, so large arrays are released (and
    their memory reused) as soon as possible rather than at the return; in functions of
    more than RECYCLE_ABOVE operations, dead names are reused instead (see there).

    With `inplace`, an elementwise operation writes into the buffer of an argument that
    dies there (`np.tanh(v8, out=v8)`) when static shapes show it fits.  All arrays must
    share one dtype (a float64 result written into a float32 buffer would be rounded):
    with `dtypes` (one per input) the function refuses others, as a variant does;
    without, the caller vouches for it (the training step of an MLP, whose parameters
    and data have one dtype).

    Inputs with declared shapes are checked on entry (one size for each symbolic size),
    since the code is simplified for those shapes; results never share memory with an
    input or with each other.

    `updates` (output position -> input name) makes the function update those inputs in
    place, an optimizer's step: each such output is computed into the input's buffer
    (`out=` on its own line where the memory plan proves the input is read no more, else
    copied there before the return).  `returns` should then leave those outputs out.
    """
    _check_identifier(name)  # graphdiff's own helpers (_tangents) are emitted here too
    with paused_gc():
        return _emit(g, name, returns, doc, marks or {}, free, inplace, dtypes,
                     _update_nodes(g, updates or {}))


def _update_nodes(g: Graph, updates: dict[int, str]) -> dict[int, int]:
    """Output positions and input names as nodes: output node -> input node."""
    inputs = {n.name: n.index for n in g.nodes if n.op == "input"}
    nodes: dict[int, int] = {}
    for pos, name in updates.items():
        if name not in inputs or not 0 <= pos < len(g.outputs):
            raise ValueError(f"update of output {pos} into {name!r}: the graph has "
                             f"{len(g.outputs)} outputs and inputs {', '.join(inputs)}")
        if g.outputs[pos] in nodes:
            raise ValueError(f"output {pos} is also another output: it can update one input")
        nodes[g.outputs[pos]] = inputs[name]
    if len(set(nodes.values())) < len(nodes):
        raise ValueError("two outputs update the same input")
    return nodes


@dataclass(frozen=True)
class Spelling:
    """How one backend prints what the passes decided: the module's head, a primitive's
    template and helpers (from the registry record, or the table beside it), literals,
    the returned values, and (for mutable backends) masks and writes into buffers."""

    head: tuple[str, ...]
    template: Callable[[Any], Any]  # prim -> its template (str or callable)
    helpers: Callable[[Any], tuple]  # prim -> the helper functions the template calls
    fused: Callable[[str], tuple]  # a loss's name -> its value-and-gradient helper, last,
    # after those it calls
    literal: Callable[[float], tuple[str, int]]
    returned: Callable[..., list[str]]
    prologue: Callable[..., list[str]] = lambda params, helpers: []
    first: str = ""  # the first arguments of every helper call (the namespace)
    mask: Callable[[str], str] | None = None  # a boolean mask's expression
    written: Callable[..., str] | None = None  # rhs written into a dying buffer
    copied: Callable[[str, str], str] | None = None  # a value copied into an input's buffer
    kept: Callable[[str], str] | None = None  # a copy of a value, taken before those


def _numpy_written(n, rhs: str, into: int, nodes, expr) -> str:
    """rhs rewritten to write into the buffer of `into`, a dying argument (see passes)."""
    ufunc, operands = out_ufunc(n, nodes)
    if n.op == "pow" or n.op in _INFIX_UFUNCS:
        texts = ", ".join(expr[b][0] for b in operands)
        return f"np.{ufunc}({texts}, out={expr[into][0]})"
    return f"{rhs[:-1]}, out={expr[into][0]})"  # the template's own call


NUMPY = Spelling(
    head=("import numpy as np", ""),
    template=lambda prim: prim.numpy,
    helpers=lambda prim: prim.helpers,
    fused=lambda op: (FUSED_LOSSES[op][1],),
    literal=lambda value: _literal(value),
    returned=lambda *a: _returned(*a),
    mask=lambda arg: f"np.greater_equal({arg}, 0)",
    written=_numpy_written,
    copied=lambda into, value: f"np.copyto({into}, {value})",
    kept=lambda value: f"np.array({value})",
)


def _xp_prologue(params: list[str], helpers: dict[str, Callable]) -> list[str]:
    helpers["_namespace"] = xp_helpers._namespace
    return [f"    xp, {_tuple_of(params)} = _namespace({', '.join(params)})"]


ARRAY_API = Spelling(
    head=xp_helpers.HEAD,
    template=lambda prim: xp_helpers.spelled(prim.name)[0],
    helpers=lambda prim: xp_helpers.spelled(prim.name)[1],
    fused=lambda op: xp_helpers.FUSED[op],
    first="xp, ",
    literal=lambda value: _xp_literal(value),
    returned=lambda *a: _returned(*a, constant=_xp_constant, owned=xp_helpers._owned,
                                  scalar=None),
    prologue=_xp_prologue,
)

BACKENDS = {"numpy": NUMPY, "array_api": ARRAY_API}


def _xp_literal(value: float) -> tuple[str, int]:
    text, prec = format_number(value)
    if text in ("inf", "-inf", "nan"):
        text = text.replace("inf", "math.inf").replace("nan", "math.nan")
    return text, prec


def _tuple_of(names: list[str]) -> str:
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def emit_array_api(g: Graph, name: str = "f", returns: Callable[[list[str]], str] | None = None,
                   doc: str = "", marks: dict[int, str] | None = None,
                   free: bool = True) -> tuple[str, list[str]]:
    """Python source of a module defining `name`, an array-API function computing g's
    outputs on the namespace of its inputs (NumPy, CuPy, torch, Dask, ...; see
    graphdiff.array_api): the schedule of emit_numpy in the graph's own order, no memory
    plan beyond releasing dead names (the standard has no out= and no in-place updates)."""
    _check_name(name)
    with paused_gc():
        sched = schedule(g)
        plan = plan_memory(g, sched, free, inplace=False, recycle_above=RECYCLE_ABOVE)
        for n in g.nodes:
            if n.op not in ("input", "const"):
                xp_helpers.spelled(n.op)  # a primitive without a spelling: say which
        return print_module(g, sched, plan, ARRAY_API, name, returns, doc, marks or {}, None)


def _check_name(name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"function name {name!r} is not a Python identifier")


def _emit(g, name, returns, doc, marks, free, inplace, dtypes, updates=None
          ) -> tuple[str, list[str]]:
    sched = schedule(g, reorder=inplace)
    plan = plan_memory(g, sched, free, inplace, RECYCLE_ABOVE, updates, inline=True)
    return print_module(g, sched, plan, NUMPY, name, returns, doc, marks, dtypes)


def print_module(g: Graph, sched: Schedule, plan: MemoryPlan, spell: Spelling, name: str,
                 returns: Callable[[list[str]], str] | None, doc: str, marks: dict[int, str],
                 dtypes: Sequence[str] | None) -> tuple[str, list[str]]:
    """The source of a module defining `name`, printed from the schedule and the memory
    plan in one backend's spelling; and the function's parameter names."""
    nodes = g.nodes
    hints = g.hints if not plan.recycle else None  # recycled names need no hints
    named_by_hint = bool(hints) and any(hints)
    taken: set[str] = set()
    expr: list[tuple[str, int]] = [("", PREC_ATOM)] * len(nodes)
    params = []
    for n in nodes:
        if n.op == "input":
            p = safe_identifier(n.name, taken)
            params.append(p)
            expr[n.index] = (p, PREC_ATOM)
    # comments show each operation in terms of the inputs while that stays short; a
    # function too large to read beside a table (`plan.recycle`) has none
    commented = not plan.recycle
    short: list[tuple[str, int] | None] = [None] * len(nodes)
    fused, masks, writes, release, inline = (sched.fused, plan.masks, plan.writes, plan.release,
                                             plan.inline)
    # inlined expressions: Python's precedence of each node's text (see _precedence_of)
    py_prec = [_PY_ATOM] * len(nodes) if inline else None
    fillings: dict[str, tuple] = {}  # op -> _filling of its template
    lines: list[str] = []
    helpers: dict[str, Callable] = {}
    seen_ops: set[str] = set()  # whose helpers are in `helpers`
    fused_grads = set(fused.values())
    pool: list[str] = []
    pending_mark = None
    for n in (nodes[i] for i in sched.order):
        op, index = n.op, n.index
        if op == "input":
            short[index] = expr[index]
            continue
        if op == "const":
            expr[index] = spell.literal(n.value)
            short[index] = format_number(n.value)
            if inline:
                py_prec[index] = _PY_FROM[expr[index][1]]
            continue
        prim = REGISTRY[op]
        if op not in seen_ops and index not in fused_grads:
            seen_ops.add(op)
            for h in spell.helpers(prim):
                helpers[h.__name__] = h
        if index in fused:
            *called, helper = spell.fused(op)
            for h in (*called, helper):  # it calls the loss's own
                helpers[h.__name__] = h
            rhs = f"{helper.__name__}({spell.first}{', '.join(expr[a][0] for a in n.args)})"
        elif index in fused_grads:  # computed on its value's line, just before
            rhs = None
        elif inline:
            filling = fillings.get(op)
            if filling is None:
                filling = fillings[op] = _filling(prim, spell.template(prim))
            template, out, needs, plain = filling
            if needs is None:  # a template made by a function: any number of arguments
                needs = (_PY_ATOM,) * len(n.args)
            texts = [expr[a][0] if py_prec[a] >= need else f"({expr[a][0]})"
                     for a, need in zip(n.args, needs)]
            py_prec[index] = py_prec[n.args[out[1]]] if type(out) is tuple else out
            rhs = template.format(*texts) if plain and not n.params else _apply_template(
                prim, template, [(t, PREC_ATOM) for t in texts], n.params)
            if index in inline:  # no line of its own: its reader's line computes it
                expr[index] = (rhs, PREC_ATOM)
                if index in marks:
                    pending_mark = index
                continue
        else:
            rhs = _apply_template(prim, spell.template(prim), [expr[a] for a in n.args],
                                  n.params)
        if index in masks:
            # only multiplied with arrays of its shape: a boolean array does, at 1/8 the size
            rhs = spell.mask(expr[n.args[0]][0])
        elif index in writes:
            rhs = spell.written(n, rhs, writes[index], nodes, expr)
        targets: list[str] = []
        if rhs is not None:
            for k in (index, fused[index]) if index in fused else (index,):
                if plan.recycle:
                    target = pool.pop() if pool else _local_name(f"r{len(taken)}", None, True,
                                                                 taken)
                else:
                    target = _local_name(hints[k], nodes[k].var, named_by_hint, taken)
                expr[k] = (target, PREC_ATOM)
                targets.append(target)
            comment = ""
            if commented:
                parts = [short[a] for a in n.args]
                if all(p is not None for p in parts):
                    text = format_call(op, parts, n.params)
                    if len(text[0]) <= _COMMENT_LIMIT:
                        short[index] = text
                        if text[0] != rhs:
                            comment = f"  # {text[0]}"
            for k in (pending_mark, index):
                if k in marks:
                    lines.append(f"    # {marks[k]}")
            pending_mark = None
            lines.append(f"    {', '.join(targets)} = {rhs}{comment}")
        elif index in marks:  # a gradient computed with its value: the next line
            pending_mark = index
        dying = release.get(index)
        if dying:
            dead = sorted({expr[a][0] for a in dying})
            if plan.recycle:
                pool.extend(d for d in dead if d not in targets)
            else:
                lines.append(f"    del {', '.join(dead)}")
    outs = spell.returned(nodes, g.outputs, [expr[i][0] for i in g.outputs], params, helpers)
    ret = returns(outs) if returns else (outs[0] if len(outs) == 1 else ", ".join(outs))
    if plan.copies:
        ret = _copied_updates(plan.copies, expr, ret, spell, lines)
    prologue = spell.prologue(params, helpers)
    head = list(spell.head)
    for h in helpers.values():
        head += ["", _helper_source(h), ""]
    doc_line = f'    """{_clean(doc)}"""' if doc else None
    body = [f"def {name}({', '.join(params)}):"] + ([doc_line] if doc_line else [])
    body += prologue + _shape_guard(name, nodes, params, dtypes)
    body += lines
    body.append(f"    return {ret}")
    return "\n".join(head + [""] + body) + "\n", params


def _copied_updates(copies, expr, ret: str, spell: Spelling, lines: list[str]) -> str:
    """Lines that copy updates into their inputs' buffers (see MemoryPlan.copies), after
    the results are taken (one may be a view of an updated input) and after any value
    that may be a view of an updated input is kept; the name to return."""
    lines.append(f"    _result = {ret}")
    kept = {}
    for u, a, aliased in copies:
        if aliased:
            kept[u] = f"_kept{len(kept)}"
            lines.append(f"    {kept[u]} = {spell.kept(expr[u][0])}")
    for u, a, _ in copies:
        lines.append(f"    {spell.copied(expr[a][0], kept.get(u, expr[u][0]))}")
    return "_result"


def _owned(a):
    """A copy of a result that could share memory with an input or another result, so
    the caller owns every array returned (0-d: a NumPy scalar)."""
    a = np.array(a)
    return a[()] if a.ndim == 0 else a


def _scalar(a):
    """A 0-d result as a NumPy scalar, as NumPy's own operations return it."""
    return np.asarray(a)[()]


def _numpy_constant(text: str, params: list[str], helpers: dict[str, Callable]) -> str:
    if params:
        return f"np.result_type({', '.join(params)}, 0.0).type({text})"
    return f"np.float64({text})"


def _xp_constant(text: str, params: list[str], helpers: dict[str, Callable]) -> str:
    helpers["_constant"] = xp_helpers._constant
    return f"_constant(xp, {', '.join([text] + params)})"


def _returned(nodes, outputs: Sequence[int], texts: list[str], params: list[str],
              helpers: dict[str, Callable], constant: Callable[..., str] = _numpy_constant,
              owned: Callable = _owned, scalar: Callable | None = _scalar) -> list[str]:
    """The expressions returned for the outputs: each a value the caller owns (no memory
    shared with an input or another output) and of NumPy's kind (0-d: a NumPy scalar).
    `constant(text, params, helpers)` spells a number of the inputs' floating type, `owned`
    and `scalar` are the helpers that copy and unwrap (default: NumPy's, below; a backend
    without scalars gives scalar=None)."""
    # whether each node depends on the inputs' values at all (size() reads a shape only)
    values = _value_dependent(nodes)
    claimed: set[int] = set()
    out = []
    for i, text in zip(outputs, texts):
        n = nodes[i]
        roots, broadcast = _memory_of(nodes, i)
        if n.op == "const":
            # an output that simplified to a constant (x - x of a known scalar) is still
            # a number of the inputs' floating type, as the computation would have given
            text = constant(text, params, helpers)
        elif not claimed.isdisjoint(roots) or any(nodes[r].op == "input" for r in roots) \
                or broadcast:  # read-only, entries overlapping
            helpers["_owned"] = owned
            text = f"_owned({text})"
        elif not values[i] and params:
            # made of constants and sizes only (the gradient of mean(x) - x): a Python
            # number, which takes the inputs' floating type as the computation would
            text = constant(text, params, helpers)
        elif n.shape in (None, ()) and REGISTRY[n.op].zero_d_array and scalar:
            helpers["_scalar"] = scalar
            text = f"_scalar({text})"
        claimed |= roots
        out.append(text)
    return out


def _memory_of(nodes, i: int) -> tuple[set[int], bool]:
    """The computed arrays (or inputs) whose memory node i's value may share: itself and,
    through views, what it views; and whether it is a read-only broadcast view or a view
    of one.  A walk down one chain of views, so only the returned nodes cost anything."""
    roots: set[int] = set()
    broadcast = None
    n = nodes[i]
    while n.op != "const":
        roots.add(n.index)
        view = REGISTRY[n.op].view if n.op != "input" else None
        if broadcast is None and view != "same":
            broadcast = view == "broadcast"
        if view is None:
            break
        n = nodes[n.args[0]]
    return roots, bool(broadcast)


def _tuple(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "(" + ", ".join(items) + ")"


def _value_dependent(nodes) -> list[bool]:
    """Whether each node depends on an input's values (not only on constants and sizes)."""
    reads = {op: REGISTRY[op].reads_values for op in {n.op for n in nodes}
             if op != "input" and op != "const"}
    out = [False] * len(nodes)
    for n in nodes:
        if n.op == "input":
            out[n.index] = True
        elif reads.get(n.op):
            for a in n.args:
                if out[a]:
                    out[n.index] = True
                    break
    return out


def _shape_guard(name: str, nodes, params: list[str], dtypes: Sequence[str] | None) -> list[str]:
    """Lines that refuse arguments of other shapes than the graph declares (and, for a
    variant, other dtypes): the code below was simplified for exactly those shapes.  A
    symbolic size (None, the batch) is one size for every input."""
    inputs = [n for n in nodes if n.op == "input"]
    got, want, described = [], [], []
    batch = None
    for n, p in zip(inputs, params):
        if n.shape is None:
            continue
        dims = []
        for k, d in enumerate(n.shape):
            if d is None and batch is None:
                batch = f"{p}.shape[{k}]"
                # read only where the input has the declared rank
                batch = f"({batch} if {p}.ndim == {len(n.shape)} else -1)"
            dims.append("_n" if d is None else str(d))
        got.append(f"{p}.shape")
        want.append("(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")")
        described.append(f"{p} {_dim_text(n.shape)}")
    if dtypes is not None:
        for n, p, dt in zip(inputs, params, dtypes):
            got.append(f"{p}.dtype.str")
            want.append(repr(dt))
        described.append(f"dtype {np.dtype(dtypes[0]).name}" if len(set(dtypes)) == 1
                         else "dtypes " + ", ".join(np.dtype(d).name for d in dtypes))
    if not got:
        return []
    lines = [f"    _n = {batch}"] if batch is not None else []
    half = len(got) // 2 if dtypes is not None else len(got)
    tests = [f"{_tuple(got[:half])} != {_tuple(want[:half])}"]
    if half < len(got):
        tests.append(f"{_tuple(got[half:])} != {_tuple(want[half:])}")
    what = ", ".join(described) + (" (N: one size throughout)" if batch else "")
    # every name and number in the message is graphdiff's own (validated identifiers)
    lines += [f"    if {tests[0]}" + "".join(f" \\\n            or {t}" for t in tests[1:]) + ":",
              f"        raise ValueError(f\"{name}() was compiled for {what}; got \"",
              f"                         f\"{{{_tuple(got)}}}\")"]
    return lines


def _helper_source(h: Callable) -> str:
    """A helper's source; a user primitive's implementation that cannot stand alone (see
    graphdiff.custom) is a comment, and the function is lent by the compiling session."""
    reason = getattr(h, "graphdiff_not_standalone", None)
    if reason:
        return f"# {h.__name__}: lent by the session that compiled this ({_clean(reason)})"
    return inspect.getsource(h).rstrip()


def _external_helpers(g: Graph) -> dict[str, Callable]:
    """The helpers of g's primitives whose source is not emitted (see _helper_source)."""
    ops = dict.fromkeys(n.op for n in g.nodes)  # each once, in order of first use
    return {h.__name__: h for op in ops if op not in ("input", "const")
            for h in REGISTRY[op].helpers if getattr(h, "graphdiff_not_standalone", None)}


def _rewrites_comment(rewrites: Sequence[Any]) -> str:
    """The stability rewrites as a comment block for the top of a generated module."""
    if not rewrites:
        return ""
    lines = ["# Rewritten for numerical stability (stable=False keeps the expression as written):"]
    lines += [f"#   {_clean(str(r))}" for r in rewrites]
    return "\n".join(lines) + "\n"


def _clean(text: str) -> str:
    # docstrings carry only graphdiff's own words, but keep them inert regardless
    return re.sub(r"[^\w .,:;()+\-*/=<>'\[\]]", " ", text).replace('"""', "")


def _local_name(hint: str | None, var: str | None, by_hint: bool, taken: set[str]) -> str:
    base = hint if (hint and hint.isascii() and hint.isidentifier()) else None
    if base is None and not by_hint:
        base = var
    if base is None or base in taken or keyword.iskeyword(base):
        k = len(taken)
        base = f"t{k}"
        while base in taken:
            k += 1
            base = f"t{k}"
    taken.add(base)
    return base


def _apply_template(prim, template, args: list[tuple[str, int]], params) -> str:
    texts = []
    for pos, (text, prec) in enumerate(args):
        # a negative literal needs parentheses as the base of ** or under a unary minus
        if prec == PREC_UNARY and (prim.name == "neg" or (prim.name == "pow" and pos == 0)):
            text = f"({text})"
        texts.append(text)
    if not params and not prim.params and not callable(template):
        return template.format(*texts)
    defaults = dict(prim.params)
    # parameters at their defaults are left out of calls that take `{opts}`
    opts = "".join(f", {k}={_param_text(v)}" for k, v in params
                   if v != defaults.get(k) or type(v) is not type(defaults.get(k)))
    if callable(template):
        return template(*texts, **dict(params), opts=opts)
    return template.format(*texts, **{k: _param_text(v) for k, v in params}, opts=opts)


# Python's operator precedence, lowest first (lambda 0 ... atoms 15), for inlined
# expressions: an argument is parenthesized only where its text binds more loosely than
# its place in the reader's template needs
_PY_ATOM = 15
_PY_BINOP = {ast.BitOr: 6, ast.BitXor: 7, ast.BitAnd: 8, ast.LShift: 9, ast.RShift: 9,
             ast.Add: 10, ast.Sub: 10, ast.Mult: 11, ast.Div: 11, ast.FloorDiv: 11,
             ast.Mod: 11, ast.MatMult: 11, ast.Pow: 13}
_PY_FROM = {PREC_CMP: 5, PREC_ADD: 10, PREC_MUL: 11, PREC_UNARY: 12, PREC_POW: 13,
            PREC_ATOM: _PY_ATOM}  # graphdiff's precedences (primitives.PREC_*)
_TEMPLATE_PRECEDENCE: dict[str, tuple | None] = {}


def _filling(prim, template) -> tuple:
    """How to print an operation whose arguments may be inlined expressions: (template,
    the text's precedence or ("arg", k) for argument k's, the least precedence each
    argument needs to go unparenthesized (None: an atom, for every argument), whether
    str.format alone fills it)."""
    shape = _precedence_of(template, prim.arity) if isinstance(template, str) else None
    if shape is None:  # an unknown template: anything but a name or number in parentheses
        return template, 0, None, False
    return template, shape[0], shape[1], not prim.params


def _precedence_of(template: str, arity: int) -> tuple | None:
    """(the precedence of the template's text, the least precedence each argument needs
    to go unparenthesized), or None if the template is not one expression naming each
    argument once; computed once per template from Python's own parse of it."""
    if template in _TEMPLATE_PRECEDENCE:
        return _TEMPLATE_PRECEDENCE[template]
    found = None
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    marks = [f"_gd_arg{k}" for k in range(arity)]
    try:
        text = template.format(*marks, **{f: "1" for f in fields if not f.isdigit()}
                               | {"opts": ""})
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, KeyError, IndexError, ValueError):
        tree = None
    if tree is not None and all(text.count(m) == 1 for m in marks):
        needs = {}
        stack = [(tree, 0)]
        while stack:
            node, need = stack.pop()
            if isinstance(node, ast.Name) and node.id in marks:
                needs[marks.index(node.id)] = need
                continue
            stack.extend(_children_needs(node))
        out = ("arg", marks.index(tree.id)) if isinstance(tree, ast.Name) and \
            tree.id in marks else _py_precedence(tree)
        found = (out, tuple(needs.get(k, _PY_ATOM) for k in range(arity)))
    _TEMPLATE_PRECEDENCE[template] = found
    return found


def _py_precedence(node: ast.AST) -> int:
    if isinstance(node, ast.BinOp):
        return _PY_BINOP[type(node.op)]
    if isinstance(node, ast.UnaryOp):
        return 4 if isinstance(node.op, ast.Not) else 12
    if isinstance(node, ast.Compare):
        return 5
    if isinstance(node, ast.BoolOp):
        return 3 if isinstance(node.op, ast.And) else 2
    if isinstance(node, (ast.Call, ast.Name, ast.Attribute, ast.Subscript, ast.Constant,
                         ast.List, ast.Dict)):
        return _PY_ATOM
    return 0  # a conditional expression, a lambda, ...: parenthesized wherever it goes


def _children_needs(node: ast.AST) -> list[tuple[ast.AST, int]]:
    """The children of `node` with the least precedence each may have unparenthesized."""
    if isinstance(node, ast.BinOp):
        p = _PY_BINOP[type(node.op)]
        if isinstance(node.op, ast.Pow):  # right-associative; the base is a primary
            return [(node.left, _PY_ATOM), (node.right, 12)]
        return [(node.left, p), (node.right, p + 1)]
    if isinstance(node, ast.UnaryOp):  # -(-x), not --x
        return [(node.operand, 4 if isinstance(node.op, ast.Not) else 13)]
    if isinstance(node, ast.Compare):
        return [(c, 6) for c in (node.left, *node.comparators)]
    if isinstance(node, ast.BoolOp):
        return [(v, 4 if isinstance(node.op, ast.And) else 3) for v in node.values]
    if isinstance(node, ast.IfExp):
        return [(node.test, 2), (node.body, 2), (node.orelse, 1)]
    if isinstance(node, ast.Call):
        return [(node.func, _PY_ATOM)] + [(a, _PY_ATOM if isinstance(a, ast.Starred) else 1)
                                         for a in node.args] + \
            [(k.value, 1) for k in node.keywords]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [(e, 1) for e in node.elts]
    if isinstance(node, ast.Subscript):
        return [(node.value, _PY_ATOM), (node.slice, 1)]
    if isinstance(node, ast.Slice):
        return [(e, 1) for e in (node.lower, node.upper, node.step) if e is not None]
    return [(c, _PY_ATOM) for c in ast.iter_child_nodes(node)]


def _param_text(value: Any) -> str:
    if isinstance(value, float):
        return _literal(value)[0]
    return repr(value)  # ints, bools, None and tuples of ints: graphdiff's own values


class CompiledFunction:
    """A generated NumPy function with its source.

    Call it with keywords or positionals in `inputs` order; `.source` is the module text,
    `.fn` its function called positionally (NumPy arrays of one floating dtype go straight
    in, anything else is converted as a call converts it, and a variant refuses other
    shapes and dtypes), `.save(path)` writes a module that needs only NumPy.

    Like `jax.jit`, a function that is called again with arguments of the same shapes and
    dtype gets a variant compiled for them (see `specialized`): with every shape known,
    scalar factors leave sums, reductions run early and dead arrays lend their buffers.
    `.source` stays the general function that takes any shapes.

    A positional call with NumPy arrays of the signature it last ran costs a few checks
    on top of the generated function: each function has an entry (`_entry`) that tests the
    arguments' types, shapes and dtypes inline and calls the body, or else takes the full
    path (keywords, numbers, lists, other shapes: binding, conversion, variant lookup).

    Called with another library's arrays (Dask, CuPy, torch, array_api_strict: anything
    `array_api_compat` knows that is not NumPy), it runs the array-API module of the same
    graph (`source_for("array_api")`) and returns that library's arrays: lazy Dask arrays
    for Dask inputs.
    """

    # a signature is specialised on its second call, and only this many per function
    SPECIALIZE_AFTER = 2
    MAX_VARIANTS = 8

    def __init__(self, source: str, name: str, inputs: Sequence[str], params: Sequence[str],
                 graph: Graph, specialize: Callable[[dict[str, tuple]], Any] | None = None,
                 rewrites: Sequence[Any] = (), backend: str = "numpy"):
        self.source = source
        self.backend = _backend(backend)
        # backend -> the same function printed for it (see for_backend); set by the
        # compile functions, which know how the graph was built
        self._rebuild: Callable[[str], CompiledFunction] | None = None
        self._backends: dict[str, CompiledFunction | None] = {}
        # the stability rewrites made to the expression (graphdiff.simplify.Rewrite)
        self.rewrites = tuple(rewrites)
        self.name = name
        self.inputs = tuple(inputs)
        self.params = tuple(params)
        self.graph = graph
        check_function_name(name)
        filename = f"<graphdiff-{name}-{next(_counter)}>"
        self._external = _external_helpers(graph)
        # the function of `.source`, as printed (declared shapes checked, nothing converted)
        self._raw = self._load(source, name, filename)
        # what a caller that has proved the arguments' shapes and dtypes may run (a
        # variant's body without its check, see `_adopt`)
        self._fast = self._raw
        self.filename = filename
        self._specialize = specialize
        self._variants: dict[tuple, CompiledFunction | None] = {}
        self._calls: dict[tuple, int] = {}
        # signature -> the entry that runs its variant straight away (see _build_variant)
        self._dispatchers: dict[tuple, Callable] = {}
        self._arity = len(self.params)
        self.fn = self._entry_point()
        self.fn.__doc__ = self._raw.__doc__
        self.__doc__ = self._raw.__doc__
        self.__wrapped__ = self.fn
        # __call__'s positional path: NumPy arrays of one floating dtype go straight to
        # the general function when it has no variants; otherwise the full path decides
        # (and makes the entry of the variant it picks the next call's)
        self._hot = (_entry(name, self.params, _float_arrays(self.params), self._raw,
                            self._slow)
                     if specialize is None and self.backend == "numpy" else self._slow)

    def _entry_point(self) -> Callable:
        """`.fn`: the generated function behind an entry that converts what a call
        converts (a backend whose function takes arguments as they are overrides this)."""
        return _entry(self.name, self.params, _float_arrays(self.params), self._raw,
                      self._converting(self._raw))

    def _load(self, source: str, name: str, filename: str) -> Callable:
        """The generated function, executed from `source` (a backend that must import a
        real file, numba's, overrides this)."""
        return _exec_registered(source, filename, name, dict(self._external))

    def _arrays(self, args: tuple, kwargs: dict) -> list[np.ndarray]:
        """The call's values in `inputs` order, as arrays (see graph.as_arrays)."""
        bound = bind(self.inputs, args, kwargs)
        return as_arrays([bound[n] for n in self.inputs])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != self._arity:
            return self._call(args, kwargs)
        return self._hot(*args)

    def _slow(self, *args: Any) -> Any:
        """The full path for positional arguments the current entry did not take."""
        return self._call(args, {})

    def _call(self, args: tuple, kwargs: dict) -> Any:
        """Bind, convert, pick the variant (building it on a signature's second call)."""
        # NumPy arrays and Python numbers, positionally: converted in one pass
        arrays = _plain(args) if not kwargs and len(args) == self._arity and \
            self.backend == "numpy" else None
        if arrays is None:
            bound = bind(self.inputs, args, kwargs)
            values = [bound[n] for n in self.inputs]
            if self.backend != "numpy" or any(_foreign(v) for v in values):
                spelled = self._spelled()
                if spelled is not None:
                    return spelled._raw(*values)
            arrays = as_arrays(values)
        if self._specialize is not None:
            key = _signature(arrays)
            variant = self._variants.get(key)
            if variant is None and key not in self._variants:
                if len(self._calls) > 1000:  # shapes that never repeat: forget them
                    self._calls.clear()
                calls = self._calls[key] = self._calls.get(key, 0) + 1
                if calls >= self.SPECIALIZE_AFTER and len(self._variants) < self.MAX_VARIANTS:
                    variant = self._build_variant(key)
            if variant is not None:
                # the next positional call with these shapes runs the variant at once
                self._hot = self._dispatchers.get(key, self._slow)
                return variant._fast(*arrays)  # the key is the variant's signature
        return self._raw(*arrays)

    def entry(self, integer: Sequence[str] = ()) -> Callable:
        """`.fn` for a caller that passes class labels: the inputs named in `integer` may
        also be integer arrays, given to the generated code as they are (it reads them as
        indices and refuses any that is not a class) rather than converted to floats."""
        names = [p for n, p in zip(self.inputs, self.params) if n in integer]
        entry = _entry(self.name, self.params, _float_arrays(self.params, names), self._raw,
                       self._converting(self._raw))
        entry.__doc__ = self._raw.__doc__
        return entry

    def _converting(self, target: Callable) -> Callable:
        """`target` after the conversion `__call__` makes (Python numbers, lists, integer
        arrays: graph.as_arrays); another library's arrays are passed on as they are."""
        def converted(*args: Any) -> Any:
            arrays = _plain(args)  # NumPy arrays and Python numbers: in one pass
            if arrays is not None:
                return target(*arrays)
            if any(_foreign(v) for v in args):
                return target(*args)
            return target(*as_arrays(list(args)))
        return converted

    def _adopt(self, key: tuple) -> None:
        """Become the variant for `key`, ((shape, dtype) per input): `.fn` runs the body
        without its check for exactly these arguments, and the checked one otherwise."""
        unguarded = _without_guard(self.source, self.name)
        if unguarded is not None:
            self._fast = _exec_registered(unguarded, f"{self.filename[:-1]}-unchecked>",
                                          self.name, dict(self._external))
        check = _exact(self.params, key)
        self.fn = _entry(self.name, self.params, check, self._fast,
                         self._converting(self._raw))
        self.fn.__doc__ = self._raw.__doc__
        self.__wrapped__ = self.fn
        self._hot = _entry(self.name, self.params, check, self._fast, self._slow)

    def specialized(self, *args: Any, **kwargs: Any) -> CompiledFunction:
        """The variant compiled for arguments of these shapes and dtype (built now if it
        does not exist yet), to read its `.source` or `save()` it; the function itself
        when it cannot be specialised (mixed dtypes, shapes that do not fit)."""
        if self._specialize is None:
            bind(self.inputs, args, kwargs)  # the same errors for arguments that do not fit
            return self
        key = _signature(self._arrays(args, kwargs))
        variant = self._variants.get(key) if key in self._variants else self._build_variant(key)
        return self if variant is None else variant

    @property
    def variants(self) -> dict[tuple, CompiledFunction]:
        """The specialised variants so far: ((shape, dtype) per input) -> function."""
        return {k: v for k, v in self._variants.items() if v is not None}

    def _build_variant(self, key: tuple) -> CompiledFunction | None:
        variant = None
        # buffers are reused only when every array has one dtype (see emit_numpy)
        if len({dtype for _, dtype in key}) <= 1:
            try:
                variant = self._specialize(dict(zip(self.inputs, (s for s, _ in key))),
                                           [d for _, d in key])
            except Exception:  # noqa: BLE001
                # shapes that do not fit (NumPy's own error will say so), or anything else
                # that stops a variant: it is an optimisation, the general function answers
                variant = None
        if variant is not None:
            variant._adopt(key)
            self._dispatchers[key] = _entry(self.name, self.params, _exact(self.params, key),
                                            variant._fast, self._slow)
        self._variants[key] = variant
        self._calls.pop(key, None)
        return variant

    def for_backend(self, backend: str) -> CompiledFunction:
        """The same function printed for `backend` ("numpy", "array_api" or "numba"),
        built on first use from the same graph."""
        if _backend(backend) == self.backend:
            return self
        done = self._backends.get(backend)
        if done is None:
            if backend in self._backends:  # tried: a primitive without a spelling
                self._rebuild(backend)  # raises the ValueError that names it
            if self._rebuild is None:
                raise ValueError(f"{self.name} was compiled for {self.backend} only (a "
                                 f"variant, or built by hand); compile it with "
                                 f"backend={backend!r}")
            done = self._backends[backend] = self._rebuild(backend)
            done._rebuild = self._rebuild
            recipe = getattr(self, "_recipe", None)
            if recipe is not None:  # pickled as the same call, for the other backend
                call, (build, args, kwargs) = recipe
                done._recipe = (call, (build, args, {**kwargs, "backend": backend}))
        return done

    def _spelled(self) -> CompiledFunction | None:
        """The array-API function of the same graph, or None when a primitive of the graph
        has no array-API spelling yet (then other libraries' arrays are converted to
        NumPy, as they were before there was an array-API backend)."""
        if self.backend == "array_api":
            return self
        if "array_api" not in self._backends:
            try:
                return self.for_backend("array_api")
            except ValueError as e:
                if "no array-API spelling" not in str(e):
                    raise
                self._backends["array_api"] = None
        return self._backends["array_api"]

    def source_for(self, backend: str) -> str:
        """The module's source for `backend` (see `for_backend`)."""
        return self.for_backend(backend).source

    def save(self, path: str | os.PathLike, backend: str | None = None) -> None:
        """Write the source (for `backend`, default this function's own) as a standalone
        module, atomically (see `write_atomic`).  A user primitive whose
        implementation cannot stand alone makes this a ValueError."""
        if backend is not None and backend != self.backend:
            return self.for_backend(backend).save(path)
        if self._external:
            reasons = "; ".join(getattr(h, "graphdiff_not_standalone") for h in
                                self._external.values())
            raise ValueError(f"cannot save {self.name}: the module would not stand alone "
                             f"({reasons})")
        write_atomic(path, self.source)

    def __reduce__(self) -> tuple:
        """Pickled as the call that built it (`rebuildable`): unpickling regenerates the
        source from the graph, so no stored code is ever executed."""
        recipe = getattr(self, "_recipe", None)
        if recipe is None:
            raise TypeError(f"{self!r} cannot be pickled: it was not made by graphdiff's "
                            "compile functions (pickle the function its variants came from)")
        return recipe

    def __repr__(self) -> str:
        return f"<CompiledFunction {self.name}({', '.join(self.inputs)})>"

    def _repr_html_(self) -> str:  # Jupyter; the printer is looked up by name
        return importlib.import_module("graphdiff.display").compiled_html(self)


def _exec_registered(source: str, filename: str, name: str, namespace: dict[str, Any]
                     ) -> Callable:
    """Run a generated module and return its function `name`; the source is registered
    so tracebacks and inspect.getsource show its lines, for as long as the function
    lives (then dropped, so compiling many functions leaves no source behind)."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace["__name__"] = f"graphdiff_generated_{name}"
    exec(compile(source, filename, "exec"), namespace)  # graphdiff's own source only
    fn = namespace[name]
    weakref.finalize(fn, linecache.cache.pop, filename, None)
    return fn


def _float_arrays(params: Sequence[str], integer: Sequence[str] = ()
                  ) -> tuple[str, dict[str, Any]]:
    """The entry's test that every argument is a NumPy array, all of one floating dtype
    (those in `integer`: of that dtype or an integer one)."""
    if not params:
        return "True", {}
    if len(params) > _INLINE_CHECKS:
        return _LOOPED, {"_ready": _float_arrays_ready([p in integer for p in params])}
    tests = [f"_type({p}) is _ndarray" for p in params]
    floats = [p for p in params if p not in integer]
    if floats:
        tests.append(f"{floats[0]}.dtype.kind == 'f'")
    if len(floats) > 1:
        tests.append(" is ".join(f"{p}.dtype" for p in floats))
    tests += [f"({p}.dtype.kind in 'iu'" + (f" or {p}.dtype is {floats[0]}.dtype)" if floats
                                             else ")") for p in params if p in integer]
    return " and ".join(tests), {}


def _exact(params: Sequence[str], key: tuple) -> tuple[str, dict[str, Any]]:
    """The entry's test that the arguments are NumPy arrays of exactly the signature `key`
    ((shape, dtype string) per argument), and the dtypes it names."""
    if not params:
        return "True", {}
    dtypes = {dt: np.dtype(dt) for _, dt in key}
    if any(d is not _DTYPES.get(dt) for dt, d in dtypes.items()):
        return "False", {}  # not one of NumPy's own float dtypes: always the checked path
    if len(params) > _INLINE_CHECKS:
        wanted = [(tuple(int(d) for d in shape), dtypes[dt]) for shape, dt in key]
        return _LOOPED, {"_ready": _exact_ready(wanted)}
    names = {dt: f"_dtype{k}" for k, dt in enumerate(dtypes)}
    tests = [f"_type({p}) is _ndarray" for p in params]
    tests += [f"{p}.shape == {tuple(int(d) for d in shape)!r}"
              for p, (shape, _) in zip(params, key)]
    # a builtin dtype is one object, so `is` tells it apart from any other in one step
    tests += [f"{p}.dtype is {names[dt]}" for p, (_, dt) in zip(params, key)]
    return " and ".join(tests), {names[dt]: d for dt, d in dtypes.items()}


_ENTRY = """def {name}({args}):
    if {check}:
        return _body({args})
    return _otherwise({args})
"""
_entries = itertools.count(1)

# Functions of more parameters than this test them in a loop (`_ready`): one inline
# condition per parameter costs CPython's compile() more than the function is worth (a
# sum of 10^4 terms has 30,001 inputs)
_INLINE_CHECKS = 64
_LOOPED = "_ready"
_ENTRY_LOOPED = """def {name}(*args):
    if len(args) == {count}:
        arrays = _ready(args)
        if arrays is not None:
            return _body(*arrays)
    return _otherwise(*args)
"""


def _float_arrays_ready(integer: Sequence[bool]) -> Callable[[tuple], Sequence | None]:
    """`_float_arrays`' test as a loop over the arguments (see `_INLINE_CHECKS`) that also
    takes Python numbers: the arguments as the generated function takes them (numbers
    converted exactly as graph.as_arrays converts them), or None for the full path."""
    if not any(integer):
        return _plain

    def ready(args: tuple) -> Sequence | None:
        kind, numbers, labels, others = None, [], False, []
        for k, a in enumerate(args):
            t = type(a)
            if t is np.ndarray:
                d = a.dtype
                if integer[k]:  # class labels, or floats of the others' type
                    if d.kind in "iu":
                        labels = True
                    else:
                        others.append(d)
                elif kind is None:
                    if d.kind != "f":
                        return None
                    kind = d
                elif d is not kind:
                    return None
            elif t is float or t is int:
                numbers.append(k)
            else:
                return None
        if any(d is not kind for d in others):
            return None
        if not numbers:
            return args
        # the full path converts labels to floats too, and takes the numbers' type from
        # them: left to it
        return None if labels else _converted(args, numbers, kind)
    return ready


def _exact_ready(wanted: list[tuple[tuple, np.dtype]]) -> Callable[[tuple], Sequence | None]:
    """`_exact`'s test as a loop over the arguments (see `_INLINE_CHECKS`): the arguments
    when each is a NumPy array of exactly its shape and dtype in `wanted`, or a Python
    number where a 0-d array of the one dtype of `wanted` is (converted as graph.as_arrays
    converts it: to the dtype of the arrays given, so numbers alone must want float64);
    else None."""
    shapes = [shape for shape, _ in wanted]
    dtypes = [dtype for _, dtype in wanted]
    kinds = set(dtypes)
    one = kinds.pop() if len(kinds) == 1 else None

    def ready(args: tuple) -> Sequence | None:
        if set(map(type, args)) == _ARRAYS:  # arrays alone: tested at C speed
            return args if list(map(_SHAPE_OF, args)) == shapes and \
                all(map(operator.is_, map(_DTYPE_OF, args), dtypes)) else None
        numbers = []
        for k, a in enumerate(args):
            t = type(a)
            if t is np.ndarray:
                if a.shape != shapes[k] or a.dtype is not dtypes[k]:
                    return None
            elif (t is float or t is int) and not shapes[k] and one is not None:
                numbers.append(k)
            else:
                return None
        if not numbers:
            return args
        if len(numbers) == len(args) and one is not _F64:
            return None  # numbers alone are float64, as a call makes them
        return _converted(args, numbers, one)
    return ready


def _converted(args: tuple, numbers: list[int], kind: np.dtype | None) -> list | None:
    """The arguments with those at `numbers` (Python ints and floats, not bools) 0-d arrays
    of the arrays' floating type `kind` (None: there are no arrays, float64), as
    graph.as_arrays converts them; None when `kind` is not one of NumPy's own (a
    byte-swapped dtype: the full path)."""
    if kind is None:
        kind = _F64
    elif _DTYPES.get(kind.str) is not kind:
        return None
    out = list(args)
    for k in numbers:
        out[k] = np.asarray(out[k], kind)
    return out


def _plain(args: tuple) -> Sequence | None:
    """What graph.as_arrays makes of the arguments, found in one pass, when each is a NumPy
    array of one floating dtype or a Python number; None for anything else (lists, integer
    or mixed dtypes, subclasses, other libraries' arrays), which the full path converts."""
    if set(map(type, args)) == _ARRAYS:
        # arrays alone, the common case, tested at C speed (30,001 of them for the sum of
        # 10^4 terms)
        kinds = set(map(_DTYPE_OF, args))
        return args if len(kinds) == 1 and kinds.pop().kind == "f" else None
    kind, numbers = None, []
    for k, a in enumerate(args):
        t = type(a)
        if t is np.ndarray:
            d = a.dtype
            if d is not kind:
                if kind is not None or d.kind != "f":
                    return None
                kind = d
        elif t is float or t is int:
            numbers.append(k)
        else:
            return None
    return _converted(args, numbers, kind) if numbers else args


def _entry(name: str, params: Sequence[str], check: tuple[str, dict[str, Any]],
           body: Callable, otherwise: Callable) -> Callable:
    """A function of the same parameters that calls `body` when `check` (an expression
    of the parameters and the names it uses, from `_float_arrays` or `_exact`) holds, else
    `otherwise`: the cheap path of a call, tested inline with no binding, conversion or
    dict lookup."""
    args = ", ".join(params)
    test, names = check
    if test == _LOOPED:
        text = _ENTRY_LOOPED.format(name=name, count=len(params))
    else:
        text = _ENTRY.format(name=name, args=args, check=test)
    namespace = {"_type": type, "_ndarray": np.ndarray, "_body": body, "_otherwise": otherwise,
                 **names}
    fn = _exec_registered(text, f"<graphdiff-{name}-entry-{next(_entries)}>", name, namespace)
    fn.__wrapped__ = body  # inspect.getsource and signature show the generated function
    return fn


# NumPy's own floating dtypes, one object each (what `_exact` compares with `is`)
_DTYPES = {np.dtype(t).str: np.dtype(t) for t in (np.float16, np.float32, np.float64,
                                                  np.longdouble)}
_F64 = np.dtype(np.float64)
_ARRAYS = {np.ndarray}
_DTYPE_OF, _SHAPE_OF = operator.attrgetter("dtype"), operator.attrgetter("shape")


def _without_guard(source: str, name: str) -> str | None:
    """The module with the check atop `name` (see `_shape_guard`) left out: what runs
    once a caller has proved the arguments' shapes and dtypes.  None when the check is
    not where `_shape_guard` prints it."""
    lines = source.split("\n")
    head = f"def {name}("
    start = next((k for k, line in enumerate(lines) if line.startswith(head)), None)
    if start is None:
        return None
    first = start + 1 + (lines[start + 1].startswith('    """') if start + 1 < len(lines)
                         else 0)
    raise_line = f'        raise ValueError(f"{name}() was compiled for '
    end = next((k for k in range(first, min(first + 6, len(lines)))
                if lines[k].startswith(raise_line)), None)
    if end is None or not lines[first].startswith(("    _n = ", "    if ")):
        return None
    return "\n".join(lines[:first] + lines[end + 2:])


def rebuildable(build: Callable[..., CompiledFunction]) -> Callable[..., CompiledFunction]:
    """Decorate a public function that builds a CompiledFunction, so that what it returns
    pickles as the call (the function by name, its arguments: a graph, names, flags)."""
    @functools.wraps(build)
    def rebuild(*args: Any, **kwargs: Any) -> CompiledFunction:
        f = build(*args, **kwargs)
        f._recipe = (_call, (rebuild, args, kwargs))
        return f
    return rebuild


def _call(build: Callable[..., CompiledFunction], args: tuple, kwargs: dict) -> Any:
    if not getattr(build, "__module__", "").startswith("graphdiff."):
        raise TypeError(f"refusing to unpickle by calling {build!r}: not graphdiff's own")
    return build(*args, **kwargs)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one: a
    temporary file beside it, flushed to disk, then renamed over it.  An existing file
    keeps its permissions; a new one gets the umask's, like `open(path, "w")`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = os.path.join(folder, f".graphdiff-{os.getpid()}-{next(_counter)}.tmp")
    # created like open(path, "w") creates a file: 0o666 less the umask
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable, where the platform can open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _foreign(value: Any) -> bool:
    """Whether an input is another array library's array (not NumPy's, not a number)."""
    if isinstance(value, (np.ndarray, np.generic, float, int, list, tuple)):
        return False
    return xp_helpers.is_array_api_obj(value)


def _signature(arrays: list[np.ndarray]) -> tuple:
    return tuple((a.shape, a.dtype.str) for a in arrays)


def _jacobian(tangents, args, wrt, single_out, single_wrt):
    """Jacobian blocks d out_i / d args[w], each of shape out_i.shape + args[w].shape,
    built column by column: `tangents(*args, *directions)` along each basis direction of
    each differentiated input in turn (one of them 1, everything else 0)."""
    args = [np.asarray(a) for a in args]
    directions = [np.zeros_like(args[w]) for w in wrt]
    blocks = []  # per differentiated input, a block per output
    for k, w in enumerate(wrt):
        x, e = args[w], directions[k].reshape(-1)
        columns = []
        for j in range(x.size):
            e[j] = 1
            columns.append(tangents(*args, *directions))
            e[j] = 0
        if not columns:  # an empty input: the outputs' shapes from one evaluation
            columns = [tangents(*args, *directions)]
            blocks.append([np.zeros(np.shape(t) + x.shape, np.result_type(t)) for t in
                           columns[0]])
            continue
        blocks.append([_block(column, x.shape) for column in zip(*columns)])
    rows = [[b[i] for b in blocks] for i in range(len(blocks[0]))] if blocks else []
    rows = [r[0] if single_wrt else tuple(r) for r in rows]
    return rows[0] if single_out and rows else tuple(rows)


def _block(column, shape):
    """The tangents along each basis direction of an input of `shape`, as one array of
    shape (the output's shape + shape)."""
    out = np.stack(column, axis=-1).reshape(np.shape(column[0]) + shape)
    return out[()] if out.ndim == 0 else out


def compile_jacobian(d: Graph, inputs: Sequence[str], wrt: Sequence[int], name: str,
                     doc: str, single_out: bool, single_wrt: bool, inplace: bool = False,
                     specialize: Callable[[dict[str, tuple]], Any] | None = None,
                     dtypes: Sequence[str] | None = None,
                     rewrites: Sequence[Any] = (), backend: str = "numpy") -> CompiledFunction:
    """The full Jacobian from `d`, a tangent graph (see `autodiff.tangent_graph`) whose
    inputs are `inputs` and then one direction per differentiated input (`wrt`, positions
    in `inputs`): a module with the tangent function `_tangents` and `name`, which
    evaluates it along every basis direction (see `_jacobian`); `rewrites` and `backend`
    as in `compile_graph`."""
    returns = lambda outs: "(" + ", ".join(outs) + ("," if len(outs) == 1 else "") + ")"
    what = "the tangent of each output along the directions (the trailing arguments)"
    if _backend(backend) == "numba":
        return _numba().NumbaFunction(d, name, returns, doc, rewrites,
                                      jacobian=(tuple(wrt), single_out, single_wrt))
    if _backend(backend) == "numpy":
        if dtypes is not None:
            dtypes = list(dtypes) + [dtypes[w] for w in wrt]
        source, params = emit_numpy(d, "_tangents", returns, what, inplace=inplace,
                                    dtypes=dtypes)
        helpers, namespace, xp = (_jacobian, _block), [], ""
    else:
        source, params = emit_array_api(d, "_tangents", returns, what)
        helpers, xp = (xp_helpers._jacobian, xp_helpers._block), "xp, "
        specialize = None
    primal = params[:len(inputs)]
    args = "(" + ", ".join(primal) + ("," if len(primal) == 1 else "") + ")"
    if xp:
        namespace = [f"    xp, {args} = _namespace({', '.join(primal)})"]
    head, tail = source.split("\n\ndef _tangents(", 1)
    helpers = [inspect.getsource(h).rstrip() for h in helpers]
    entry = [f"def {name}({', '.join(primal)}):", f'    """{_clean(doc)}"""', *namespace,
             f"    return _jacobian({xp}_tangents, {args}, {tuple(wrt)!r}, {single_out}, "
             f"{single_wrt})"]
    source = "\n\n\n".join([head.rstrip()] + helpers + ["def _tangents(" + tail.rstrip(),
                                                       "\n".join(entry)]) + "\n"
    source = _rewrites_comment(rewrites) + source
    return CompiledFunction(source, name, inputs, primal, d, specialize, rewrites, backend)


def compile_graph(g: Graph, name: str = "f", returns: Callable[[list[str]], str] | None = None,
                  doc: str = "", marks: dict[int, str] | None = None,
                  inplace: bool = False,
                  specialize: Callable[[dict[str, tuple]], Any] | None = None,
                  dtypes: Sequence[str] | None = None,
                  rewrites: Sequence[Any] = (), backend: str = "numpy",
                  updates: dict[int, str] | None = None) -> CompiledFunction:
    """Generate and compile the function of `g` (see `emit_numpy`; `backend="array_api"`:
    `emit_array_api`, without variants; `backend="numba"`: graphdiff.numba_backend, one
    kernel per call signature); `specialize` maps declared input shapes and
    dtypes to a variant (see `CompiledFunction`); `rewrites`, the stability rewrites made
    before, are listed atop the source; `updates`: inputs updated in place (NumPy only,
    see `emit_numpy`)."""
    if _backend(backend) == "numba":  # one kernel per call signature (numba_backend)
        return _numba().NumbaFunction(g, name, returns, doc, rewrites, updates=updates)
    if _backend(backend) == "numpy":
        source, params = emit_numpy(g, name, returns, doc, marks, inplace=inplace,
                                    dtypes=dtypes, updates=updates)
    elif updates:
        raise ValueError(f"backend {backend!r} cannot update inputs in place")
    else:
        source, params = emit_array_api(g, name, returns, doc, marks)
        specialize = None
    source = _rewrites_comment(rewrites) + source
    return CompiledFunction(source, name, g.inputs, params, g, specialize, rewrites, backend)


def _numba():
    """graphdiff.numba_backend, imported only when the numba backend is asked for."""
    return importlib.import_module("graphdiff.numba_backend")


def _backend(name: str) -> str:
    if name == "numba":
        if not _numba().available():
            raise ImportError(_numba().MISSING)
        return name
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}, numba")
    if name == "array_api" and not xp_helpers.available():
        raise ImportError(xp_helpers.MISSING)
    return name
