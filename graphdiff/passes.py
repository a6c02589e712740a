"""The code generator's deciding passes: a schedule (order, fused losses, early reductions)
and a memory plan (in-place writes, boolean masks, what dies where).  Each returns data a
test can inspect; neither prints anything (the printers in codegen do that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .graph import Graph
from .primitives import FUSED_LOSSES, REGISTRY

__all__ = ["MemoryPlan", "Schedule", "plan_memory", "schedule", "ufunc_of"]


@dataclass(frozen=True)
class Schedule:
    """The order in which a graph's operations run.

    `order` lists every node (inputs and constants too) in evaluation order; `position[i]`
    is node i's place in it.  `fused` maps a loss's value node to its gradient node (same
    arguments): both are computed by one helper, on the value's line."""

    order: tuple[int, ...]
    position: tuple[int, ...]
    fused: dict[int, int]

    @property
    def end(self) -> int:
        """The position of the return, after every operation."""
        return len(self.order)


@dataclass(frozen=True)
class MemoryPlan:
    """What a mutable backend does with memory, decided once for the printer to follow.

    `masks`: binary_step nodes computed as boolean arrays (only multiplied with arrays of
    their shape).  `writes[i] = a`: node i is written into the buffer of its dying argument
    a (`out=`).  `release[i]`: the nodes whose last reader is node i's line (their names
    may be deleted or recycled after it).  `recycle`: names are pooled instead of deleted.
    `copies`: (output, input, aliased) for updates (see `plan_memory`) that could not be
    written into the input's buffer on their own line: copied into it before the return,
    from a copy taken first when `aliased` (the value may be a view of an updated input).
    `inline`: nodes with no line of their own, written into their one user's expression
    (large functions only, see `plan_memory`)."""

    masks: frozenset[int]
    writes: dict[int, int]
    release: dict[int, tuple[int, ...]]
    recycle: bool
    copies: tuple[tuple[int, int, bool], ...] = ()
    inline: frozenset[int] = frozenset()


# An inlined expression nests at most this deep: short lines, and far from the parser's
# limits on nesting
INLINE_DEPTH = 6


def schedule(g: Graph, reorder: bool = False) -> Schedule:
    """The evaluation order of g: the graph's own (the table's numbering), or with
    `reorder`, reductions (and boolean masks) as early as their arguments allow, so the
    large arrays they read die earlier; a fused loss's value and gradient side by side."""
    nodes = g.nodes
    early = boolean_masks(nodes, g.outputs) if reorder else set()
    order = _reductions_early(nodes, early) if reorder else list(range(len(nodes)))
    fused = _fused_losses(nodes)
    if fused:
        # the pair is computed where the first of the two is needed (both read the same
        # arguments, which exist by then)
        pair = {k: (v, g_) for v, g_ in fused.items() for k in (v, g_)}
        done: set[int] = set()
        order = [j for i in order if i not in done
                 for j in (pair[i] if i in pair else (i,)) if not done.add(j)]
    position = [0] * len(nodes)
    for k, i in enumerate(order):
        position[i] = k
    return Schedule(tuple(order), tuple(position), fused)


def plan_memory(g: Graph, sched: Schedule, free: bool = True, inplace: bool = False,
                recycle_above: int = 5000, updates: dict[int, int] | None = None,
                inline: bool = False) -> MemoryPlan:
    """Where each result may overwrite a dead buffer (`inplace`, for backends whose arrays
    may be mutated, when static shapes prove it fits), and which names die where (`free`:
    deleted after their last use when they may be large; in functions of more than
    `recycle_above` operations, pooled for reuse instead).

    `updates` maps output nodes to the input nodes whose buffers receive them (an
    optimizer's new parameters): written there by their own ufunc (`out=`) where the
    input, and every view of it, is read for the last time at or before that line and the
    shapes match; else copied there before the return (`copies`).

    With `inline`, a function of more than `recycle_above` operations (and no in-place
    writes) computes each intermediate that has one reader inside that reader's
    expression (see `inlined`): CPython compiles fewer, larger statements faster."""
    nodes = g.nodes
    position, end = sched.position, sched.end
    leaves = sum(n.op in ("input", "const") for n in nodes)
    recycle = free and len(nodes) - leaves > recycle_above
    masks = frozenset(boolean_masks(nodes, g.outputs)) if inplace else frozenset()
    folded = inlined(nodes, g.outputs, sched) if inline and recycle and not inplace \
        else frozenset()
    # the line that evaluates each node: its own, or (inlined) its reader's
    line = list(range(len(nodes)))
    if folded:
        for n in reversed(nodes):
            for a in n.args:
                if a in folded:
                    line[a] = line[n.index]
    dies_at = [-1] * len(nodes)  # position of the last line that reads each node
    for n in nodes:
        at = position[line[n.index]]
        for a in n.args:
            if dies_at[a] < at:  # noqa: PLR1730 (a call of max per argument costs more)
                dies_at[a] = at
    for i in g.outputs:
        dies_at[i] = end
    writes: dict[int, int] = {}
    if inplace:
        owned = _buffers(nodes, masks)
        fused = set(sched.fused) | set(sched.fused.values())
        for n in nodes:
            if n.op in ("input", "const") or n.index in masks or n.index in fused \
                    or n.shape in (None, ()):
                continue
            dying = [a for a in n.args if owned[a] and dies_at[a] == position[n.index]
                     and nodes[a].shape == n.shape]
            into = _written_into(n, dying, nodes) if dying else None
            if into is not None:
                writes[n.index] = into
    copies: list[tuple[int, int, bool]] = []
    if updates:
        viewed = _viewed(nodes)
        last = _last_reads(nodes, g.outputs, position, end, viewed)
        targets = set(updates.values())
        for u, a in updates.items():
            n = nodes[u]
            if inplace and n.op not in ("input", "const") and u not in masks \
                    and u not in sched.fused and u not in sched.fused.values() \
                    and n.shape not in (None, ()) and n.shape == nodes[a].shape \
                    and last[a] <= position[u] and out_ufunc(n, nodes)[0] is not None:
                writes[u] = a
            else:
                copies.append((u, a, any(r in targets for r in viewed[u])))
    release: dict[int, tuple[int, ...]] = {}
    if free:
        sized: dict[Any, bool] = {}  # _may_be_large of each shape met
        large = [n.op != "input" and n.op != "const" and n.index not in folded and (
            sized[n.shape] if n.shape in sized else sized.setdefault(n.shape,
                                                                    _may_be_large(n.shape)))
                 for n in nodes]
        for n in nodes:
            at = line[n.index]
            here = position[at]
            dead = [a for a in n.args if large[a] and dies_at[a] == here]
            if dead:
                if at in release:  # an inlined argument's readers die on its reader's line
                    release[at] += tuple(dead)
                else:
                    release[at] = tuple(dead)
        if folded:
            # a name is released once, whichever argument of the line read it last
            release = {i: tuple(dict.fromkeys(d)) for i, d in release.items()}
    return MemoryPlan(masks, writes, release, recycle, tuple(copies), folded)


def _viewed(nodes) -> list[tuple[int, ...]]:
    """For each node, the nodes whose memory it may be: itself, and what it is a view of."""
    viewed: list[tuple[int, ...]] = []
    for n in nodes:
        view = REGISTRY[n.op].view if n.op not in ("input", "const") else None
        viewed.append(viewed[n.args[0]] + (n.index,) if view is not None else (n.index,))
    return viewed


def _last_reads(nodes, outputs: Sequence[int], position: Sequence[int], end: int,
                viewed: list[tuple[int, ...]]) -> list[int]:
    """For each node, the position of the last operation that reads it or a view of it
    (`end` when it, or a view of it, is returned): its buffer is free after that."""
    last = [-1] * len(nodes)
    for n in nodes:
        for a in n.args:
            for r in viewed[a]:
                last[r] = max(last[r], position[n.index])
    for i in outputs:
        for r in viewed[i]:
            last[r] = end
    return last


def inlined(nodes, outputs: Sequence[int], sched: Schedule) -> frozenset[int]:
    """Operations that can be written inside the expression of their only reader: read
    once (x*x reads x twice), not returned, not a fused loss, and read by a primitive
    whose template names each argument once (a template that repeats one would compute
    it twice); nested at most INLINE_DEPTH deep."""
    reads = [0] * len(nodes)
    for n in nodes:
        for a in n.args:
            reads[a] += 1
    fused = set(sched.fused) | set(sched.fused.values())
    for i in (*outputs, *fused):
        reads[i] = 0  # computed on a line of its own
    depth = [0] * len(nodes)
    out = set()
    takes = {op: _takes_expressions(op) for op in {n.op for n in nodes}
             if op != "input" and op != "const"}
    for n in nodes:
        if not takes.get(n.op) or n.index in fused:
            continue
        for a in n.args:
            if reads[a] == 1 and depth[a] < INLINE_DEPTH and nodes[a].op in takes:
                out.add(a)
                if depth[n.index] <= depth[a]:
                    depth[n.index] = depth[a] + 1
    return frozenset(out)


_TAKES = {}


def _takes_expressions(op: str) -> bool:
    """Whether op's NumPy template is text naming each of its arguments at most once."""
    found = _TAKES.get(op)
    if found is None:
        template = REGISTRY[op].numpy
        found = _TAKES[op] = isinstance(template, str) and all(
            template.count(f"{{{k}}}") <= 1 for k in range(REGISTRY[op].arity))
    return found


_INFIX_UFUNCS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide",
                 "neg": "negative"}  # not pow: `x ** 2` has a fast path np.power lacks


# a template that is one ufunc call on the arguments and number literals, such as
# np.maximum({0}, 0.0): it can take `out=` as a last argument
_UFUNC_CALL = re.compile(r"np\.(\w+)\(((?:\{\d\}|-?[\d.]+(?:e-?\d+)?)"
                         r"(?:, (?:\{\d\}|-?[\d.]+(?:e-?\d+)?))*)\)")


def ufunc_of(prim) -> str | None:
    """The NumPy ufunc a primitive's template calls with its arguments, if any."""
    if prim.name in _INFIX_UFUNCS:
        return _INFIX_UFUNCS[prim.name]
    template = prim.numpy
    if isinstance(template, str) and not prim.params:
        m = _UFUNC_CALL.fullmatch(template)
        if m and isinstance(getattr(np, m.group(1), None), np.ufunc):
            return m.group(1)
    return None


def out_ufunc(n, nodes) -> tuple[str | None, tuple[int, ...]]:
    """The ufunc that computes node n with `out=`, and the arguments it takes (x ** 2 is
    np.square(x))."""
    prim = REGISTRY[n.op]
    if n.op == "pow" and nodes[n.args[1]].op == "const" and nodes[n.args[1]].value == 2:
        return "square", n.args[:1]
    return ufunc_of(prim), n.args


def _written_into(n, dying: list[int], nodes) -> int | None:
    """The dying argument whose buffer node n's ufunc can write into, if any."""
    ufunc, operands = out_ufunc(n, nodes)
    if ufunc is None:
        return None
    for a in operands:
        if a in dying:
            return a
    return None


def _buffers(nodes, masks: frozenset[int]) -> list[bool]:
    """Which nodes own a fresh array (of the computation's float type: not a boolean mask)
    that an elementwise operation may overwrite."""
    viewed = set(masks)
    for n in nodes:
        if n.op not in ("input", "const") and REGISTRY[n.op].view is not None:
            # a result that may share memory with an argument: that argument is never
            # overwritten
            viewed.update(n.args)
    return [n.op not in ("input", "const") and n.index not in viewed
            and n.shape is not None and n.shape != ()
            and (n.op in ("matmul", "pow") or ufunc_of(REGISTRY[n.op]) is not None)
            for n in nodes]


def _fused_losses(nodes) -> dict[int, int]:
    """Loss nodes whose gradient node (same arguments) is in the graph too: value -> grad."""
    wanted = {}
    for n in nodes:
        if n.op in FUSED_LOSSES:
            wanted[(FUSED_LOSSES[n.op][0], n.args, n.params)] = n.index
    if not wanted:
        return {}
    return {wanted[(n.op, n.args, n.params)]: n.index for n in nodes
            if (n.op, n.args, n.params) in wanted}


def boolean_masks(nodes, outputs: Sequence[int]) -> set[int]:
    """binary_step nodes, not returned, whose every use multiplies them with an array of
    their own shape (relu's derivative times an adjoint): these can be boolean arrays, as
    NumPy's float * bool is float."""
    users: dict[int, list] = {}
    for n in nodes:
        for a in n.args:
            users.setdefault(a, []).append(n)

    def scales_an_array(u, mask) -> bool:
        if u.op != "mul" or u.args[0] == u.args[1]:
            return False
        other = nodes[u.args[1] if u.args[0] == mask.index else u.args[0]]
        return other.shape == mask.shape and other.op != "binary_step"

    return {n.index for n in nodes
            if n.op == "binary_step" and n.shape not in (None, ()) and n.index in users
            and n.index not in outputs
            and all(scales_an_array(u, n) for u in users[n.index])}


def _reductions_early(nodes, masks: set[int] = frozenset()) -> list[int]:
    """An evaluation order in which every operation that turns large arrays into a small
    result (a sum to a scalar, a boolean mask) runs as soon as its arguments exist, so the
    arrays it reads may die (and lend their buffers) earlier; the rest keep their order."""
    key: list[tuple[int, int, int]] = []
    for n in nodes:
        if n.index in masks or n.op not in ("input", "const") and n.args and \
                not _may_be_large(n.shape) and any(_may_be_large(nodes[a].shape) for a in n.args):
            key.append((max(key[a][0] for a in n.args), 1, n.index))
        else:
            key.append((n.index, 0, n.index))
    return sorted(range(len(nodes)), key=key.__getitem__)


# Deleting a name costs a statement, which arrays of a few numbers do not repay; anything
# that may be large (an unknown shape, a symbolic batch, or this many entries) is freed early.
_FREE_FROM = 256


def _may_be_large(shape: Any) -> bool:
    if shape is None or None in shape:
        return True
    size = 1
    for d in shape:
        size *= d
    return size >= _FREE_FROM
