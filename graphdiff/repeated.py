"""Sums of many terms of one form, compiled on arrays with one entry per term.

Σ wᵢ tanh(aᵢx + bᵢ) written out for i = 1..10⁴ is 5·10⁴ operations, and its gradient
10⁵ more: printing and compiling them line by line takes seconds, and calling them makes
10⁵ NumPy calls on scalars.  When many terms of a sum have one form (the same elementwise
primitives, wired alike, over inputs of their own and nodes they share, such as x), the
function is built from the form instead: each of the form's own inputs becomes one array
with an entry per term (`w_terms` holds w0, w1, ...), the form runs once on those arrays,
and a sum over their first axis adds the terms.  The generated module keeps the
function's signature and results: it packs the arguments into those arrays on entry and
unpacks each term's gradient, in its input's shape and dtype, on return.

Terms may be added or subtracted (the subtracted ones of a form are a group of their
own).  Only elementwise forms qualify, so the stacked first axis never mixes terms; an
input qualifies as a term's own only if no other term reads it.  The arrays of terms are
broadcast as the terms' arguments would be, so inputs of any shapes give what the
written-out sum gives; the sums run in another order, so results agree to rounding.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .autodiff import value_and_grad_graph
from .codegen import CompiledFunction, _rewrites_comment, _tuple_of, emit_numpy, safe_identifier
from .graph import Graph, Store, paused_gc
from .primitives import _BUILT_IN, REGISTRY
from .simplify import stabilized

__all__ = ["MIN_TERMS", "Group", "OnTerms", "TermPlan", "compile_on_terms", "find_terms", "on_terms"]

# Fewer terms than this compile quickly enough written out, and read better so
MIN_TERMS = 64

_CHAIN, _SHARED, _UNSET = -1, -2, -3


@dataclass(frozen=True)
class Group:
    """Terms of one form, at `roots`: `form` lists the form's operations as (op, params,
    args), an argument being an earlier operation (k >= 0) or slot ~k.  `slots[s]` is
    what the terms read at slot s: a node of g all of them read (an int), a constant (its
    float.hex string), or each term's own input (a tuple of nodes, in `roots` order)."""

    form: tuple[tuple[str, tuple, tuple[int, ...]], ...]
    roots: tuple[int, ...]
    slots: tuple[tuple[int, ...] | int | str, ...]


@dataclass(frozen=True)
class TermPlan:
    """How a sum's graph splits: its terms in the sum's order with their signs (+1, or -1
    for a subtracted term), the additions and subtractions that join them (`chain`), the
    groups computed on arrays of terms and the operations inside their terms (`inside`,
    roots included); other terms stay as written."""

    terms: tuple[tuple[int, int], ...]
    chain: frozenset[int]
    groups: tuple[Group, ...]
    inside: frozenset[int]


def find_terms(g: Graph, min_terms: int = MIN_TERMS, stable: bool = True) -> TermPlan | None:
    """The groups of at least `min_terms` terms of one form in g's top-level sum, or None
    when g is not such a sum.  Linear in g's size, without recursion."""
    if len(g.outputs) != 1:
        return None
    nodes = g.nodes
    out = g.outputs[0]
    if nodes[out].op not in _JOINS:
        return None
    uses = [0] * len(nodes)
    for n in nodes:
        for a in n.args:
            uses[a] += 1
    signed, chain, stack = [], [], [(out, 1)]
    while stack:  # the tree of additions and subtractions: its leaves, left to right
        i, sign = stack.pop()
        n = nodes[i]
        if n.op in _JOINS and (i == out or uses[i] == 1):
            chain.append(i)
            stack += ((n.args[1], sign if n.op == "add" else -sign), (n.args[0], sign))
        else:
            signed.append((i, sign))
    if len(signed) < min_terms:
        return None
    if stable and any(_stable_join(nodes, i) for i in chain):
        return None  # exp(t) - 1 becomes expm1(t) when written out: leave it so
    terms = [t for t, _ in signed]
    with paused_gc():
        owner = _owners(nodes, out, terms, chain)
        inner: list[list[int]] = [[] for _ in terms]
        for n in nodes:
            o = owner[n.index]
            if o >= 0 and n.op not in ("input", "const"):
                inner[o].append(n.index)
        groups = _groups(nodes, owner, signed, inner, min_terms)
    if not groups:
        return None
    position = {t: k for k, t in enumerate(terms)}
    inside = frozenset(i for grp in groups for r in grp.roots for i in inner[position[r]])
    return TermPlan(tuple(signed), frozenset(chain), tuple(groups), inside)


_JOINS = ("add", "sub")


def _stable_join(nodes, i: int) -> bool:
    """Whether a stability rule may rewrite this addition (exp(t) + -1, exp(t) - 1)."""
    ops = [nodes[a].op for a in nodes[i].args]
    return "exp" in ops and "const" in ops


def _owners(nodes, out: int, terms: list[int], chain: list[int]) -> list[int]:
    """For each node, the term (its position in `terms`) whose root alone reads it,
    directly or through other nodes only that term reads; else _CHAIN for the sum's own
    additions, or _SHARED (a term's root too, if anything but the sum reads it: it is
    then computed as written).  Users come after their arguments: one backward pass."""
    owner = [_UNSET] * len(nodes)
    seen = [_UNSET] * len(nodes)  # the owner of the users met so far
    for i in chain:
        owner[i] = _CHAIN
    counts = Counter(terms)
    for k, t in enumerate(terms):
        # a term written twice (t + t) is nobody's own
        owner[t] = k if counts[t] == 1 else _SHARED
    for i in range(out, -1, -1):
        o = owner[i]
        if o == _UNSET:
            o = seen[i] if seen[i] >= 0 else _SHARED
            owner[i] = o
        elif o >= 0 and seen[i] != _CHAIN:  # a term that another term reads too
            o = owner[i] = _SHARED
        for a in nodes[i].args:
            s = seen[a]
            seen[a] = o if s == _UNSET or s == o else _SHARED
    return owner


def _groups(nodes, owner, signed, inner, min_terms) -> list[Group]:
    """Terms of one form and one sign, grouped (see `_group`)."""
    terms = [t for t, _ in signed]
    by_form: dict[tuple, list[tuple[int, list[int]]]] = {}
    for k, (t, sign) in enumerate(signed):
        if owner[t] != k or nodes[t].op in ("input", "const"):
            continue
        found = _form(nodes, inner[k])
        if found is not None:
            by_form.setdefault((found[0], sign), []).append((t, found[1]))
    groups = []
    for (form, _), members in by_form.items():
        if len(members) >= min_terms:
            group = _group(nodes, owner, terms, form, members, min_terms)
            if group is not None:
                groups.append(group)
    return groups


def _form(nodes, inner: list[int]) -> tuple[tuple, list[int]] | None:
    """A term's form (its operations with arguments numbered within the term, leaves by
    slot, constants by value, inputs with their declared shapes) and the node at each
    slot; None if an operation is not elementwise."""
    local: dict[int, int] = {}
    slot_of: dict[int, int] = {}
    leaves: list[int] = []
    form = []
    for i in inner:  # in evaluation order
        n = nodes[i]
        prim = REGISTRY.get(n.op)
        # entry by entry with broadcasting, so a leading axis of terms stays apart: not
        # size (it counts the entries), nor a user's primitive (its code may reduce)
        if prim is None or not prim.is_elementwise or prim.shape is not None \
                or n.op not in _BUILT_IN:
            return None
        refs = []
        for a in n.args:
            k = local.get(a)
            if k is None:
                k = slot_of.get(a)
                if k is None:
                    k = slot_of[a] = len(leaves)
                    leaves.append(a)
                k = ~k
            refs.append(k)
        local[i] = len(form)
        form.append((n.op, n.params, tuple(refs)))
    kinds = tuple(nodes[a].value.hex() if nodes[a].op == "const" else
                  ("input", nodes[a].shape) if nodes[a].op == "input" else ("node",)
                  for a in leaves)
    key = (tuple(form), kinds)
    try:
        hash(key)
    except TypeError:  # an unhashable parameter: this term stays as written
        return None
    return key, leaves


def _group(nodes, owner, terms, form, members, min_terms) -> Group | None:
    """The group of `members` ((root, slot nodes) of one form), keeping the terms whose
    slots fit: a slot most terms read from one node is shared (terms reading another
    node there leave); at any other slot each term must read an input of its own."""
    ops, kinds = form
    keep = [True] * len(members)
    slots: list[Any] = []
    for s, kind in enumerate(kinds):
        if type(kind) is str:  # a constant
            slots.append(kind)
            continue
        column = [leaves[s] for _, leaves in members]
        common, count = Counter(column).most_common(1)[0]
        if 2 * count >= len(column):
            for m, node in enumerate(column):
                keep[m] = keep[m] and node == common
            slots.append(common)
        elif kind not in (("input", None), ("input", ())):
            # inputs of declared shapes other than scalars (or not inputs): the written
            # sum checks those shapes, arrays of terms could not
            return None
        else:
            for m, node in enumerate(column):
                keep[m] = keep[m] and owner[node] >= 0 and terms[owner[node]] == members[m][0]
            slots.append(column)
    kept = [m for m in range(len(members)) if keep[m]]
    if len(kept) < min_terms:
        return None
    fixed = tuple(tuple(s[m] for m in kept) if isinstance(s, list) else s for s in slots)
    return Group(ops, tuple(members[m][0] for m in kept), fixed)


# --- the graph on arrays of terms ---------------------------------------------------------

@dataclass(frozen=True)
class OnTerms:
    """A sum's graph with its groups on arrays of terms: `graph`'s inputs are g's inputs
    that no group holds (in g's order), then one per varying slot (`stacks`: its name and
    the g inputs it holds, in term order); `forms` writes each group's first term;
    `scalars`: the stacks whose inputs were declared scalars (shape ())."""

    graph: Graph
    stacks: tuple[tuple[str, tuple[str, ...]], ...]
    forms: tuple[tuple[str, int], ...]
    scalars: frozenset[str]


def on_terms(g: Graph, plan: TermPlan) -> OnTerms:
    """g rebuilt with each group's terms as one form on arrays of terms, summed over the
    first axis; the other terms as written, in the order of the sum."""
    nodes = g.nodes
    varying = {n for grp in plan.groups for s in grp.slots if type(s) is tuple for n in s}
    store = Store()
    ids: dict[int, int] = {}
    taken = set(g.inputs)
    for n in nodes:
        i = n.index
        if i in plan.inside or i in plan.chain or i in varying:
            continue
        if n.op == "input":
            ids[i] = store.input(n.name, n.shape)
        elif n.op == "const":
            ids[i] = store.const(n.value, n.origin)
        else:
            ids[i] = store.apply(n.op, tuple(ids[a] for a in n.args), n.params)
    stacks: list[tuple[str, tuple[str, ...]]] = []
    scalars = set()
    sums: dict[int, int] = {}
    forms = []
    over_terms = tuple(sorted(REGISTRY["sum"].resolve_params({"axis": 0}).items()))
    for grp in plan.groups:
        slot_ids = []
        for s in grp.slots:
            if type(s) is str:  # a constant, by its hex value
                slot_ids.append(store.const(float.fromhex(s)))
            elif type(s) is int:
                slot_ids.append(ids[s])
            else:
                names = tuple(nodes[i].name for i in s)
                stack = _stack_name(names[0], taken)
                stacks.append((stack, names))
                if nodes[s[0]].shape == ():
                    scalars.add(stack)
                slot_ids.append(store.input(stack))
        local: list[int] = []
        for op, params, refs in grp.form:
            local.append(store.apply(op, tuple(local[r] if r >= 0 else slot_ids[~r]
                                               for r in refs), params))
        sums[grp.roots[0]] = store.apply("sum", (local[-1],), over_terms)
        forms.append((g.node_graph(grp.roots[0]).to_string(200) or "...", len(grp.roots)))
    grouped = {r for grp in plan.groups for r in grp.roots}
    total = None
    for t, sign in plan.terms:  # a group's sum where its first term was, with its sign
        if t in grouped and t not in sums:
            continue
        term = sums[t] if t in sums else ids[t]
        if total is None:
            total = term if sign > 0 else store.apply("neg", (term,))
        else:
            total = store.apply("add" if sign > 0 else "sub", (total, term))
    kept = [n.name for n in nodes if n.op == "input" and n.index not in varying]
    return OnTerms(Graph(store, (total,), inputs=kept + [name for name, _ in stacks]),
                   tuple(stacks), tuple(forms), frozenset(scalars))


def _stack_name(first: str, taken: set[str]) -> str:
    base = first.rstrip("0123456789_") or "t"
    name, k = f"{base}_terms", 2
    while name in taken:
        name, k = f"{base}_terms{k}", k + 1
    taken.add(name)
    return name


# --- helpers the generated module embeds -----------------------------------------------------

def _stacked(terms, shared, declared=None):
    """Each tuple of `terms` as one array, the terms along a new first axis and the other
    axes broadcast as the terms' arguments are against the `shared` arguments; one dtype
    for all, the one the terms' arithmetic would promote to (Python numbers are weak).
    `declared`: (function name, {position in terms: names}) of the tuples whose inputs
    were declared scalars, refused (ValueError) if one is not."""
    from operator import attrgetter  # (map with it runs at C speed over 10^4 terms)
    kinds = set()
    for items in (*terms, shared):
        if set(map(type, items)) <= {np.ndarray}:
            kinds.update(map(attrgetter("dtype"), items))
        else:
            kinds.update(a.dtype for a in items if hasattr(a, "dtype"))
    dtype = np.result_type(*kinds) if kinds else None
    arrays = []
    for items in terms:
        try:  # terms of one shape (numbers, most often) side by side
            arrays.append(np.array(items, dtype=dtype))
        except ValueError:  # shapes that broadcast against each other
            arrays.append(np.stack(np.broadcast_arrays(*items), dtype=dtype))
    for k, names in (declared[1].items() if declared else ()):
        if arrays[k].ndim != 1:
            name, shape = next((n, np.shape(a)) for n, a in zip(names, terms[k]) if np.ndim(a))
            raise ValueError(f"{declared[0]}() was compiled for {name} (); got {shape}")
    depth = max([np.ndim(a) for a in shared] + [a.ndim - 1 for a in arrays])
    return [a.reshape(a.shape[:1] + (1,) * (depth + 1 - a.ndim) + a.shape[1:])
            for a in arrays]


def _per_input(direct, grads, terms, order):
    """The gradient of each input in `order` (indices into `direct`, then into the
    entries of `grads`, one per term of `terms`): each entry summed to its input's shape
    and given its input's floating type, as the written-out sum's gradient is."""
    from operator import attrgetter, itemgetter
    pieces = list(direct)
    for g, items in zip(grads, terms):
        if g.size == len(items) and set(map(type, items)) == {np.ndarray} and \
                set(map(attrgetter("ndim"), items)) == {0} and \
                set(map(attrgetter("dtype"), items)) == {g.dtype}:
            pieces += list(g.reshape(len(items)))  # NumPy scalars, as NumPy's own give
            continue
        for t, a in zip(g, items):
            shape = np.shape(a)
            lead = t.ndim - len(shape)
            axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                              if d == 1 and t.shape[lead + i] != 1)
            kind = getattr(a, "dtype", None)
            t = np.array(t.sum(axis=axes).reshape(shape) if axes else t,
                         dtype=kind if kind is not None and kind.kind == "f" else t.dtype)
            pieces.append(t[()] if t.ndim == 0 else t)
    return itemgetter(*order)(pieces) if len(order) > 1 else tuple(pieces[k] for k in order)


# read now, not at each compile: the file on disk may have changed since (an upgrade)
_HELPERS = "\n\n\n".join(inspect.getsource(h).rstrip() for h in (_stacked, _per_input))


# --- the compiled function ---------------------------------------------------------------

def compile_on_terms(g: Graph, plan: TermPlan, name: str, kind: str, wrt: Sequence[str],
                     single: bool, doc: str, stable: bool) -> CompiledFunction:
    """The function of g (kind "value"), its value and gradient with respect to `wrt`
    ("value_and_grad") or its gradient ("grad"; one array if `single`), generated from
    g's groups on arrays of terms (see `on_terms`) behind a function of g's inputs."""
    split = on_terms(g, plan)
    holds = dict(split.stacks)
    wanted = set(wrt)
    if kind == "value":
        derived, rewrites = stabilized(split.graph) if stable else (split.graph, ())
        names: list[str] = []
    else:
        names = [n for n in split.graph.inputs
                 if n in wanted or any(m in wanted for m in holds.get(n, ()))]
        derived = value_and_grad_graph(split.graph, names, stable)
        rewrites = stabilized(split.graph)[1] if stable else ()
    inner = f"{name}_on_terms"
    what = ("the value" if kind == "value" else
            f"value and gradient with respect to ({', '.join(names)}), by reverse mode")
    source, _ = emit_numpy(derived, inner, None if kind == "value" else _tuple_of,
                           f"{what}, with each form's terms on arrays of terms")
    taken: set[str] = set()
    params = [safe_identifier(n, taken) for n in g.inputs]
    param = dict(zip(g.inputs, params))
    local = {s: safe_identifier(s, taken) for s, _ in split.stacks}
    args = ", ".join(local[n] if n in local else param[n] for n in derived.inputs)
    lines = [f"def {name}({', '.join(params)}):", f'    """{doc}"""']
    lines += _comment(split, local)
    lines.append("    _terms = (")
    for _, members in split.stacks:
        lines += _wrapped([param[m] for m in members], "        (", "),")
    lines.append("    )")
    shared = [param[n] for n in split.graph.inputs if n not in holds]
    stacks = [local[s] for s, _ in split.stacks]
    declared, constants = "", ""
    if split.scalars:  # the inputs' names, for the error that refuses another shape
        declared = f", ({name!r}, _DECLARED)"
        constants = "_DECLARED = {\n" + "".join(
            "\n".join(_wrapped([repr(param[m]) for m in members], f"    {k}: (", "),"))
            + "\n" for k, (s, members) in enumerate(split.stacks) if s in split.scalars
        ) + "}\n\n\n"
    lines.append(f"    {', '.join(stacks)}{',' if len(stacks) == 1 else ''} = "
                 f"_stacked(_terms, {_tuple_of(shared)}{declared})")
    call = f"{inner}({args})"
    order = ""
    if kind == "value":
        lines.append(f"    return {call}")
    else:
        direct = [n for n in names if n not in holds]
        stacked = [k for k, (s, _) in enumerate(split.stacks) if s in names]
        offset = {}
        at = len(direct)
        for k in stacked:
            offset[k] = at
            at += len(split.stacks[k][1])
        where = {n: k for k, n in enumerate(direct)}
        where.update({m: offset[k] + j for k in stacked
                      for j, m in enumerate(split.stacks[k][1])})
        # the gradients' positions, in `wrt` order, among the direct ones then the terms'
        order = "\n".join(_wrapped([str(where[n]) for n in wrt], "_ORDER = (",
                                    ",)" if len(wrt) == 1 else ")")) + "\n\n\n"
        terms = _tuple_of([f"_terms[{k}]" for k in stacked])
        first = 1  # the inner function returns the value first, then the gradients
        lines.append(f"    _out = {call}")
        grads = (f"_per_input(_out[{first}:{first + len(direct)}], "
                 f"_out[{first + len(direct)}:], {terms}, _ORDER)")
        if kind == "value_and_grad":
            lines.append(f"    return _out[0], {grads}")
        else:
            lines.append(f"    return {grads}{'[0]' if single else ''}")
    module = (source.rstrip() + "\n\n\n" + _HELPERS + "\n\n\n" + constants + order
              + "\n".join(lines) + "\n")
    return CompiledFunction(_rewrites_comment(rewrites) + module, name, g.inputs, params,
                            derived, None, rewrites, "numpy")


def _comment(split: OnTerms, local: dict[str, str]) -> list[str]:
    """Comment lines saying which terms run on arrays, and what each array holds."""
    lines = []
    for form, count in split.forms:
        lines += [f"    # {count:,} terms of the form {form}",
                  "    # run at once, on arrays with an entry per term:"]
    for stack, members in split.stacks:
        shown = ", ".join(members[:3]) + (f", ..., {members[-1]}" if len(members) > 3 else "")
        lines.append(f"    # {local[stack]} holds {shown} ({len(members):,} inputs)")
    return lines


def _wrapped(items: list[str], head: str, tail: str, width: int = 88) -> list[str]:
    """`items` joined by commas over lines of at most `width` characters."""
    lines, line = [], head
    for k, item in enumerate(items):
        piece = item + ("," if k < len(items) - 1 else "")
        if len(line) + len(piece) + 1 > width and line.strip() not in ("", head.strip()):
            lines.append(line.rstrip())
            line = " " * len(head)
        line += piece + " "
    lines.append(line.rstrip() + tail)
    return lines
