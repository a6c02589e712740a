"""The numba backend: a graph printed as one `numba.njit` kernel per call signature, in
which elementwise chains of one loop shape are one fused loop nest, reductions fold into
those loops as accumulators and matrix products call BLAS.

Two steps, each returning data: `shapes_of` (every node's shape for a signature, with
sizes as size variables read from the inputs at run time) and `fuse` (the blocks: loop
nests and whole-array lines); `print_kernel` only prints.  numba is imported only when a
kernel is loaded (`pip install graphdiff[numba]`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .codegen import (
    CompiledFunction,
    _block,
    _clean,
    _jacobian,
    _local_name,
    _rewrites_comment,
    safe_identifier,
    write_atomic,
)
from .graph import Graph, as_arrays, bind, format_call, format_number
from .numba_table import (
    BOOLEAN,
    FUSED,
    FUSED_INTO,
    INTO,
    LOOP,
    LOOP_HELPERS,
    SHAPED,
    WHOLE,
    refused,
)
from .passes import schedule
from .primitives import REGISTRY, broadcast_shapes

__all__ = [
    "MISSING",
    "NumbaFunction",
    "available",
    "cache_dir",
    "emit_numba",
    "fuse",
    "signature_of",
]

MISSING = "the numba backend needs numba: pip install graphdiff[numba]"
_COMMENT_LIMIT = 48
# stand-ins for the sizes of a signature's dimensions while shapes are worked out: the
# registry's shape rules run on them, and each maps back to a size variable n0, n1, ...
_SIZES = [1_000_003 + 7_919 * k * k + 104_729 * k for k in range(256)]


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def _require() -> None:
    if not available():
        raise ImportError(MISSING)


def cache_dir() -> str:
    """Where generated kernel modules are written so numba's `cache=True` can keep their
    machine code between processes: $XDG_CACHE_HOME/graphdiff/numba (or ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphdiff", "numba")


# --- signatures ---------------------------------------------------------------------------

def signature_of(arrays: Sequence[np.ndarray]) -> tuple:
    """A call's signature for the kernels: per input its dimensions (1, or the number of
    the size class: equal sizes share one) and the float type.  One kernel serves every
    call with this signature, whatever the sizes."""
    classes: dict[int, int] = {}
    dims = tuple(tuple(1 if d == 1 else classes.setdefault(d, len(classes) + 2)
                       for d in a.shape) for a in arrays)
    floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
    return dims, (np.result_type(*floats).str if floats else "<f8")


def _default_signatures(g: Graph) -> list[tuple]:
    """The signatures tried for `.source` before any call: declared shapes (a symbolic
    size is one size throughout), and inputs without a shape as vectors of one length, or
    else scalars, or else matrices."""
    out = []
    for undeclared in (("n",), (), ("n", "m")):
        classes: dict[Any, int] = {}
        dims = []
        for n in g.nodes:
            if n.op != "input":
                continue
            shape = n.shape if n.shape is not None else undeclared
            dims.append(tuple(1 if d == 1 else classes.setdefault(d, len(classes) + 2)
                              for d in shape))
        out.append((tuple(dims), "<f8"))
    return out


# --- shapes -------------------------------------------------------------------------------

def shapes_of(g: Graph, dims: tuple) -> list[tuple]:
    """Every node's shape for input dimensions `dims` (see signature_of), with each size
    class standing for itself; the registry's shape rules check they fit."""
    stand = {c: _SIZES[c] for shape in dims for c in shape if c != 1}
    out: list[tuple] = []
    inputs = iter(dims)
    for n in g.nodes:
        if n.op == "input":
            out.append(tuple(stand.get(d, d) for d in next(inputs)))
        elif n.op == "const":
            out.append(())
        else:
            out.append(tuple(REGISTRY[n.op].out_shape([out[a] for a in n.args],
                                                      dict(n.params))))
    return out


# --- fusion -------------------------------------------------------------------------------

@dataclass
class Loop:
    """One loop nest over `shape`: its operations in order (elementwise lines and the
    reductions folded in as accumulators)."""

    shape: tuple
    members: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Fusion:
    """The kernel's blocks in order (a Loop, or a node index computed on whole arrays),
    which loop each node is computed in, and which loop values are stored to arrays (used
    outside their loop, or returned)."""

    blocks: tuple
    loop_of: dict[int, int]
    stored: frozenset[int]


def _loop_shape(n, shapes: list[tuple]) -> tuple | None:
    """The shape of the loop node n is computed in, None for a whole-array operation."""
    if n.op in LOOP or n.op == "broadcast_like":
        return shapes[n.index]
    if n.op in ("sum", "mean"):
        return shapes[n.args[0]]
    if n.op == "sum_to":
        return broadcast_shapes(*(shapes[a] for a in n.args))
    return None


def _value_args(n) -> tuple[int, ...]:
    """The arguments whose values n reads (sum_to and broadcast_like read only the shapes
    of the others, size only its argument's shape)."""
    if n.op in ("sum_to", "broadcast_like"):
        return n.args[:1]
    if n.op == "size":
        return ()
    return n.args


def _reduces(n, shapes: list[tuple]) -> bool:
    """Whether n is a sum into an accumulator (a sum_to onto the loop's own shape is an
    elementwise copy: the sum of one term)."""
    if n.op in ("sum", "mean"):
        return True
    return n.op == "sum_to" and shapes[n.index] != _loop_shape(n, shapes)


def fuse(g: Graph, shapes: list[tuple], order: Sequence[int],
         fused: dict[int, int] | None = None) -> Fusion:
    """Group the operations into blocks: each elementwise operation or reduction joins the
    earliest loop of its shape that comes after everything it reads (an argument may be
    computed in that loop itself, unless it is an accumulator, whose total exists only
    after its loop), or opens a new loop there; a whole-array operation is a block of its
    own, as early as its arguments allow.  Every value exists before the block that
    reads it."""
    nodes = g.nodes
    blocks: list = []  # Loop, or [index] of a whole-array node
    at: dict[int, int] = {}  # id(block) -> its position
    block_of: dict[int, Any] = {}  # node -> its block

    def position(b) -> int:
        return at[id(b)]

    def insert(b, k: int) -> None:
        blocks.insert(k, b)
        for q in range(k, len(blocks)):
            at[id(blocks[q])] = q

    fused = fused or {}
    pairs = set(fused.values())  # a loss's gradient: on its value's line (schedule)
    for i in order:
        n = nodes[i]
        if n.op in ("input", "const") or i in pairs:
            continue
        shape = _loop_shape(n, shapes)
        bound = 0  # the earliest block that may compute n
        for a in _value_args(n):
            b = block_of.get(a)
            if b is None:
                continue
            inside = shape is not None and isinstance(b, Loop) and b.shape == shape \
                and not _reduces(nodes[a], shapes)
            bound = max(bound, position(b) if inside else position(b) + 1)
        if shape is None:
            b = [i]  # a box, so that its id is its own
            insert(b, bound)
            block_of[i] = b
            if i in fused:
                block_of[fused[i]] = b
            continue
        b = next((b for b in blocks[bound:] if isinstance(b, Loop) and b.shape == shape),
                 None)
        if b is None:
            b = Loop(shape)
            insert(b, bound)
        b.members.append(i)
        block_of[i] = b
    loop_of = {i: position(b) for i, b in block_of.items() if isinstance(b, Loop)}
    stored = set()
    for n in nodes:
        for a in _value_args(n):
            if a in loop_of and block_of.get(n.index) is not block_of[a]:
                stored.add(a)
    stored |= {i for i in g.outputs if i in loop_of}
    stored |= {i for i in loop_of if _reduces(nodes[i], shapes)}
    out = tuple(b if isinstance(b, Loop) else b[0] for b in blocks)
    return Fusion(out, loop_of, frozenset(stored))


# --- the workspace ------------------------------------------------------------------------

@dataclass(frozen=True)
class Workspace:
    """Which arrays live in the kernel's workspace, one buffer its entry keeps between
    calls (fresh arrays of megabytes cost the kernel a page fault every 4 kB on every
    call), and in which slot: `slots` holds each slot's shape (stand-in sizes); arrays
    whose lives do not overlap share a slot of their number of entries."""

    slot_of: dict[int, int]
    slots: tuple[tuple, ...]


def plan_workspace(g: Graph, shapes: list[tuple], fusion: Fusion, fused: dict[int, int],
                   candidates: set[int]) -> Workspace:
    """Slots for the `candidates` (arrays the kernel makes and does not return).  An array
    lives from its block to the last block that reads it (or reads a view of it; the
    kernel's end for an output); a slot is reused only by an array of as many entries
    made in a later block than its owner's last reader, so no block writes a slot that
    it, or a later block, still reads through another name."""
    pos, base, readers = _reads(g, fusion, fused)
    last = {i: max(r) for i, r in readers.items()}
    for i in g.outputs:
        last[base.get(i, i)] = len(fusion.blocks)
    slot_of: dict[int, int] = {}
    slots: list[tuple] = []
    free: dict[tuple, list[int]] = {}
    live: list[tuple[int, int]] = []  # (last reader, slot)
    for i in sorted(candidates, key=lambda i: (pos[i], i)):
        for entry in [e for e in live if e[0] < pos[i]]:
            live.remove(entry)
            free.setdefault(_entries(slots[entry[1]]), []).append(entry[1])
        key = _entries(shapes[i])
        if free.get(key):
            slot = free[key].pop()
        else:
            slot = len(slots)
            slots.append(shapes[i])
        slot_of[i] = slot
        live.append((last.get(i, pos[i]), slot))
    return Workspace(slot_of, tuple(slots))


def _reads(g: Graph, fusion: Fusion, fused: dict[int, int]
           ) -> tuple[dict[int, int], dict[int, int], dict[int, list[int]]]:
    """Each node's block (its position), the array each whole-array view reads the memory
    of, and the blocks that read each array (directly or through a view)."""
    pos: dict[int, int] = {}
    for k, b in enumerate(fusion.blocks):
        for i in (b.members if isinstance(b, Loop) else [b]):
            pos[i] = k
    for value, gradient in fused.items():
        pos[gradient] = pos[value]
    base: dict[int, int] = {}
    readers: dict[int, list[int]] = {}
    for n in g.nodes:
        if n.op in ("input", "const"):
            continue
        if REGISTRY[n.op].view and n.index not in fusion.loop_of:
            base[n.index] = base.get(n.args[0], n.args[0])
        for a in _value_args(n):
            readers.setdefault(base.get(a, a), []).append(pos[n.index])
    return pos, base, readers


def _entries(shape: tuple) -> tuple:
    """A key equal for shapes of the same number of entries (as sizes, not values)."""
    return tuple(sorted(d for d in shape if d != 1))


# --- printing -----------------------------------------------------------------------------

class _Printer:
    """Prints one kernel from the shapes and the fusion: names, loop nests, accumulators."""

    def __init__(self, g: Graph, shapes: list[tuple], dtype: str, params: list[str]):
        self.g, self.nodes, self.shapes = g, g.nodes, shapes
        self.T = f"np.{np.dtype(dtype).name}"
        self.f32 = np.dtype(dtype) == np.float32
        self.params = params
        self.sizes: dict[int, str] = {}  # stand-in size -> size variable
        self.short: list[tuple | None] = [None] * len(g.nodes)
        self.helpers: dict[str, Callable] = {}
        self.workspace = Workspace({}, ())
        self.direct: dict[int, str] = {}  # update -> the input its loop writes it into

    def array(self, i: int, name: str, shape: tuple, kind: str | None = None,
              zero: bool = False) -> list[str]:
        """The lines that give node i's array `name`: its workspace slot, or a new one."""
        slot = self.workspace.slot_of.get(i)
        if slot is None:
            make = "np.zeros" if zero else "np.empty"
            return [f"    {name} = {make}({self.dims(shape)}, {kind or self.T})"]
        end = f"w{slot + 1}"
        start = f"w{slot}" if slot else "0"
        lines = [f"    {name} = _ws[{start}:{end}].reshape({self.dims(shape)})"]
        return lines + ([f"    {name}[...] = 0"] if zero else [])

    def literal(self, value: float) -> str:
        text = format_number(value)[0]
        if text in ("inf", "-inf", "nan"):
            text = text.replace("inf", "np.inf").replace("nan", "np.nan")
        return f"{self.T}({text})" if self.f32 or text.startswith(("np.", "-np.")) else text

    def size(self, d: int) -> str:
        return "1" if d == 1 else self.sizes[d]

    def dims(self, shape: tuple) -> str:
        texts = [self.size(d) for d in shape]
        return "(" + ", ".join(texts) + ("," if len(texts) == 1 else "") + ")"

    def count(self, dims: Sequence[int]) -> str:
        texts = [self.size(d) for d in dims if d != 1]
        return " * ".join(texts) if texts else "1"


def _node_names(g: Graph, params: list[str]) -> list[str]:
    """The table's names: inputs as the user wrote them (mangled by codegen), the rest by
    their hint or v-number, as the NumPy printer names them."""
    nodes, hints = g.nodes, g.hints
    by_hint = any(hints)
    taken = set(params)
    names = []
    inputs = iter(params)
    for n in nodes:
        if n.op == "input":
            names.append(next(inputs))
        elif n.op == "const":
            names.append("")
        else:
            name = _local_name(hints[n.index], n.var, by_hint, taken)
            if _KERNEL_NAMES.match(name):  # a name the kernel uses itself
                name = _local_name(None, None, True, taken)
            names.append(name)
    return names


# the kernel's own names: sizes n0, loop indices i0, workspace offsets w1, the entry's r,
# the modules, and the loop-local values v5_i; a user's input or a hint of that form is
# renamed (and _ws, _POOL are reserved as every name with a leading underscore)
_KERNEL_NAMES = re.compile(r"^(n\d+|i\d+|w\d+|r|numba|math|\w+_i)$")


def print_kernel(g: Graph, params: list[str], signature: tuple, name: str,
                 returns: Callable[[list[str]], str] | None, doc: str,
                 updates: dict[int, str] | None = None) -> str:
    """The source of a module with `_kernel` (njit, cache=True) computing g's outputs for
    calls of `signature`, and `name`, which converts scalars and shapes the results.
    `updates` (output position -> input name): those outputs are written into the input
    arrays at the end of the kernel (an optimizer's new parameters) instead of returned."""
    dims, dtype = signature
    shapes = shapes_of(g, dims)
    nodes = g.nodes
    bad = refused(n.op for n in nodes if n.op not in ("input", "const"))
    if bad:
        raise ValueError(f"no numba spelling for {', '.join(bad)}; the numba backend "
                         f"spells: {', '.join(sorted({*LOOP, *WHOLE, *SHAPED}))}")
    # reductions as early as their arguments allow: they fold into the loop that computes
    # what they sum before anything closes it
    sched = schedule(g, reorder=True)
    fusion = fuse(g, shapes, sched.order, sched.fused)
    p = _Printer(g, shapes, dtype, params)
    names = _node_names(g, params)
    # sizes read from the inputs, once
    head = []
    inputs = [n for n in nodes if n.op == "input"]
    for n in inputs:
        for k, d in enumerate(shapes[n.index]):
            if d != 1 and d not in p.sizes:
                p.sizes[d] = f"n{len(p.sizes)}"
                head.append(f"    {p.sizes[d]} = {names[n.index]}.shape[{k}]")
    for n in nodes:
        if n.op == "const":
            names[n.index] = p.literal(n.value)
        if n.op in ("input", "const"):
            p.short[n.index] = (names[n.index] if n.op == "input"
                                else format_number(n.value)[0], 5)
    _short_texts(p)
    returned = {i for k, i in enumerate(g.outputs) if k not in (updates or {})}
    direct = _direct_updates(g, shapes, fusion, sched.fused, updates or {})
    p.direct = {i: params[g.inputs.index(updates[k])] for i, k in direct.items()}
    p.workspace = plan_workspace(g, shapes, fusion, sched.fused, _workspace_candidates(
        g, shapes, fusion, sched.fused, returned, set(p.sizes)) - set(direct))
    slots = p.workspace.slots
    if slots:
        head.append(f"    # the workspace the entry keeps between calls: {len(slots)} "
                    f"arrays' slots, one after another")
        for k, shape in enumerate(slots):
            start = f"w{k} + " if k else ""
            head.append(f"    w{k + 1} = {start}{p.count(shape)}")
        head += [f"    if _ws.size < w{len(slots)}:  # a first call, or larger sizes",
                 f"        _ws = np.empty(w{len(slots)}, {p.T})"]
    body: list[str] = []
    fused_pair = sched.fused
    for block in fusion.blocks:
        if isinstance(block, Loop):
            body += _print_loop(p, block, names, fusion)
        elif block in fused_pair.values():
            continue  # computed on its value's line
        else:
            body += _print_whole(p, nodes[block], names, fused_pair)
            for k, d in enumerate(shapes[block]):
                if d != 1 and d not in p.sizes:
                    p.sizes[d] = f"n{len(p.sizes)}"
                    body.append(f"    {p.sizes[d]} = {names[block]}.shape[{k}]")
    outs = []
    seen: set[int] = set()
    for i in g.outputs:
        n = nodes[i]
        text = names[i]
        if n.op == "const":
            text = p.literal(n.value)
        elif i in seen or n.op == "input" or (REGISTRY[n.op].view and i not in fusion.loop_of):
            # a loop's arrays are fresh; an input, or a whole-array view of one, is not
            text = f"{text}.copy()" if shapes[i] else text
        seen.add(i)
        outs.append(text)
    writes, outs, returned = _updates(g, params, inputs, shapes, outs, updates or {},
                                      set(direct.values()))
    body += writes
    kernel_sig = ", ".join(params)
    if slots:  # the kernel takes the workspace and says how much it needed
        outs.append(f"w{len(slots)}")
    uses_math = any("math." in line for line in body)
    src = (["import math", ""] if uses_math else []) + ["import numpy as np", "import numba", ""]
    for h in p.helpers.values():
        src += ["", _JIT, inspect.getsource(h).rstrip(), ""]
    doc_line = f'    """{doc} (numba kernel, {_describe(dims, dtype)})"""'
    src += ["", _JIT, f"def _kernel({kernel_sig}{', _ws' if slots else ''}):", doc_line]
    src += head + body
    src.append(f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
    # the entry point: scalars in the kernel's type (one already of it is taken as it is:
    # a fused step passes NumPy scalars), 0-d results as NumPy scalars
    conv = [f"    {q} = {q} if type({q}) is {p.T} else {p.T}({q})"
            for q, d in zip(params, dims) if not d]
    results = [f"r[{k}]" if shapes[i] else f"{p.T}(r[{k}])" for k, i in enumerate(returned)]
    # `returns` sees every output, as the NumPy printer's does (it should leave the
    # updated ones out; one it keeps is a copy of the input's new value)
    for k in sorted(updates or {}):
        results.insert(k, f"{params[g.inputs.index(updates[k])]}.copy()")
    ret = returns(results) if returns else (results[0] if len(results) == 1
                                            else ", ".join(results))
    call = conv + [f"    r = _kernel({kernel_sig})"]
    if slots:
        # a call takes the pool's workspace, so two calls at once never share one
        call = conv + [f"    _ws = _POOL.pop() if _POOL else np.empty(0, {p.T})",
                       f"    r = _kernel({kernel_sig}, _ws)",
                       f"    _POOL.append(_ws if _ws.size >= r[-1] else np.empty(r[-1], {p.T}))"]
        src += ["", "", "_POOL = []  # the kernel's workspaces, each used by one call at a time"]
    src += ["", "", f"def {name}({kernel_sig}):", f'    """{doc}"""'] + call + [
        f"    return {ret}", ""]
    return "\n".join(src)


_JIT = '@numba.njit(cache=True, error_model="numpy")'


def _updates(g: Graph, params: list[str], inputs: list, shapes: list[tuple], outs: list[str],
             updates: dict[int, str], written: set[int] = frozenset()
             ) -> tuple[list[str], list[str], list[int]]:
    """The kernel's last lines for `updates` (each such output written into its input's
    array), the returned outputs' texts and nodes.  Every output, returned or written, is
    taken before any input is written (a named array is fresh; one that reads an input's
    memory is a copy, bound first), so no written value reads an input another write
    has changed."""
    if not updates:
        return [], outs, list(g.outputs)
    lines, kept, returned = [], [], []
    for k, (i, text) in enumerate(zip(g.outputs, outs)):
        if k not in updates:
            lines.append(f"    r{k} = {text}")
            kept.append(f"r{k}")
            returned.append(i)
    writes = []
    for k, name in updates.items():
        at = g.inputs.index(name)
        if not shapes[inputs[at].index] or shapes[inputs[at].index] != shapes[g.outputs[k]]:
            raise ValueError(f"an update of {name!r} needs an array input of the new "
                             f"value's shape")
        if k in written:
            continue  # its loop wrote it
        value = outs[k]
        if not value.isidentifier():  # a copy of an input's memory: taken before writes
            lines.append(f"    u{k} = {value}")
            value = f"u{k}"
        writes.append(f"    {params[at]}[...] = {value}  # updated in place")
    return lines + writes, kept, returned


def _direct_updates(g: Graph, shapes: list[tuple], fusion: Fusion, fused: dict[int, int],
                    updates: dict[int, str]) -> dict[int, int]:
    """The updates a loop can write straight into their input (new value node -> output
    position): computed in a loop of the input's shape that reads the input, if at all,
    only at the entry it writes, with nothing after that loop reading the input (or a
    view of it), and the new value read nowhere else and not returned.  This saves the
    new value's array and the copy at the kernel's end."""
    nodes = g.nodes
    end = len(fusion.blocks)
    _, base, readers = _reads(g, fusion, fused)
    counts: dict[int, int] = {}
    for i in g.outputs:
        counts[i] = counts.get(i, 0) + 1
    out = {}
    for k, name in updates.items():
        i, target = g.outputs[k], nodes[g.inputs.index(name)].index
        for o in g.outputs:  # an output that reads the input's memory is read at the end
            if base.get(o, o) == target and o != i:
                readers.setdefault(target, []).append(end)
        if i not in fusion.loop_of or counts[i] != 1 or shapes[i] != shapes[target] \
                or not shapes[i]:
            continue
        loop = fusion.loop_of[i]
        if any(r > loop for r in readers.get(target, ())) or \
                any(r != loop for r in readers.get(i, ())) or \
                fusion.blocks[loop].shape != shapes[target]:
            continue
        out[i] = k
    return out


def _workspace_candidates(g: Graph, shapes: list[tuple], fusion: Fusion,
                          fused: dict[int, int], returned: set[int], known: set[int]) -> set[int]:
    """The arrays a kernel may keep in its workspace: stored loop values and accumulators
    of the float type, matrix products and fused losses' gradients that can be written
    into a given array; not a returned one (the caller owns those), and only of sizes
    read from the inputs (the workspace's size is worked out first)."""
    nodes = g.nodes
    out = set()
    for i, n in enumerate(nodes):
        if i in returned or not shapes[i] or any(d != 1 and d not in known for d in shapes[i]):
            continue
        if i in fusion.loop_of:
            if i in fusion.stored and n.op not in BOOLEAN:
                out.add(i)
        elif n.op in INTO and not any(v == i for v in fused.values()):
            out.add(i)
    for value, gradient in fused.items():
        args = nodes[value].args
        if gradient in out or gradient in returned or nodes[value].op not in FUSED_INTO:
            continue
        if shapes[gradient] and all(shapes[a] == shapes[gradient] for a in args
                                    if nodes[value].op == "mse" or a == args[0]) \
                and all(d == 1 or d in known for d in shapes[gradient]):
            out.add(gradient)
    return out


def _describe(dims: tuple, dtype: str) -> str:
    texts = []
    for shape in dims:
        texts.append("(" + ", ".join("1" if d == 1 else f"n{d - 2}" for d in shape) +
                     ("," if len(shape) == 1 else "") + ")")
    return f"shapes {', '.join(texts)}, {np.dtype(dtype).name}"


def _comment(p: _Printer, n) -> str:
    """The operation in terms of the inputs, while that stays short (as the NumPy
    printer's comments); worked out in the table's order, so loops may run in another."""
    text = p.short[n.index]
    return f"  # {text[0]}" if text is not None else ""


def _short_texts(p: _Printer) -> None:
    for n in p.nodes:
        if n.op in ("input", "const"):
            continue
        parts = [p.short[a] for a in n.args]
        if any(q is None for q in parts):
            continue
        text = format_call(n.op, parts, n.params)
        if len(text[0]) <= _COMMENT_LIMIT:
            p.short[n.index] = text


def _print_whole(p: _Printer, n, names: list[str], fused: dict[int, int]) -> list[str]:
    shapes = [p.shapes[a] for a in n.args]
    args = [names[a] for a in n.args]
    if n.op != "size" and not all(shapes):  # 0-d arrays are not what the helpers take
        raise ValueError(f"numba backend: {n.op} of a scalar operand has no spelling; "
                         f"use the numpy backend")
    if n.index in fused and fused[n.index] in p.workspace.slot_of:
        template, helpers = FUSED_INTO[n.op]
        gradient = fused[n.index]
        for h in helpers:
            p.helpers[h.__name__] = h
        line = f"    {names[n.index]} = {template.format(*args, out=names[gradient])}"
        return p.array(gradient, names[gradient], p.shapes[gradient]) + [
            line + _comment(p, n)]
    if n.index in fused:
        template, helpers = FUSED[n.op]
        targets = f"{names[n.index]}, {names[fused[n.index]]}"
    elif n.op == "size":
        shape = p.shapes[n.args[0]]
        return [f"    {names[n.index]} = {p.T}({p.count(shape)}){_comment(p, n)}"]
    else:
        template, helpers, fits = WHOLE[n.op]
        if fits is not None and not fits(shapes):
            raise ValueError(f"numba backend: {n.op} of operands with shapes "
                             f"{', '.join(p.dims(s) for s in shapes)} has no spelling")
        targets = names[n.index]
        if n.op == "transpose" and dict(n.params).get("axes") not in (None, (1, 0)) \
                and len(shapes[0]) == 2:
            raise ValueError("numba backend: transpose with axes has no spelling")
    for h in helpers:
        p.helpers[h.__name__] = h
    if n.index in p.workspace.slot_of:  # computed into its workspace slot
        into, helpers = INTO[n.op]
        for h in helpers:
            p.helpers[h.__name__] = h
        return p.array(n.index, targets, p.shapes[n.index]) + [
            f"    {into.format(*args, out=targets)}{_comment(p, n)}"]
    return [f"    {targets} = {template.format(*args)}{_comment(p, n)}"]


def _index(p: _Printer, shape: tuple, loop: tuple, axes: Sequence[int] | None = None) -> str:
    """The index of an operand of `shape` inside a loop over `loop`: its dimensions are
    the loop's trailing ones (or those at `axes`), a dimension of 1 is read at 0."""
    if not shape:
        return ""
    if axes is None:
        axes = range(len(loop) - len(shape), len(loop))
    idx = ["0" if d == 1 or loop[k] == 1 else f"i{k}" for d, k in zip(shape, axes)]
    return "[" + ", ".join(idx) + "]"


def _print_loop(p: _Printer, loop: Loop, names: list[str], fusion: Fusion) -> list[str]:
    nodes, shapes = p.nodes, p.shapes
    members = set(loop.members)
    depth = sum(d != 1 for d in loop.shape)
    pad = "    " * (1 + depth)
    arrays = len(loop.shape) > 0  # values stored to arrays, else scalars
    local = {i: (f"{names[i]}_i" if i in fusion.stored and arrays else names[i])
             for i in loop.members}
    before: list[str] = []
    inside: list[str] = []
    after: list[str] = []

    def operand(a: int, axes=None) -> str:
        if a in members and not _reduces(nodes[a], shapes):
            return local[a]
        if nodes[a].op == "const":
            text = names[a]
            return f"({text})" if text.startswith("-") else text
        return names[a] + _index(p, shapes[a], loop.shape, axes)

    comments = []
    for i in loop.members:
        n = nodes[i]
        comment = _comment(p, n)
        comments.append(names[i])
        if _reduces(n, shapes):
            x = n.args[0]
            if n.op == "sum_to":
                target = shapes[n.args[1]]
                axes = None
            else:
                axis, keepdims = dict(n.params).get("axis"), dict(n.params).get("keepdims")
                nd = len(loop.shape)
                summed = set(range(nd)) if axis is None else {
                    a % nd for a in (axis if isinstance(axis, tuple) else (axis,))}
                target = shapes[i]
                axes = [k for k in range(nd) if keepdims or k not in summed]
                if keepdims:
                    target = tuple(1 if k in summed else loop.shape[k] for k in range(nd))
            acc = names[i]
            if target:
                made = p.array(i, acc, target, zero=True)
                before += [made[0] + comment] + made[1:]
                inside.append(f"{pad}{acc}{_index(p, target, loop.shape, axes)} "
                              f"+= {operand(x)}")
            else:
                before.append(f"    {acc} = {p.T}(0.0){comment}")
                inside.append(f"{pad}{acc} += {operand(x)}")
            if n.op == "mean":
                summed_dims = [loop.shape[k] for k in summed]
                if target:
                    after.append(f"    {acc} /= {p.T}({p.count(summed_dims)})")
                else:
                    after.append(f"    {acc} = {acc} / {p.T}({p.count(summed_dims)})")
            continue
        if n.op == "sum_to" and i not in fusion.stored:
            # onto the loop's shape: the one term itself, read under its own name
            local[i] = operand(n.args[0])
            continue
        if n.op == "sum_to":
            rhs = operand(n.args[0])
        elif n.op == "broadcast_like":
            params = dict(n.params)
            t = n.args[0]
            nd = len(loop.shape)
            axis = params.get("axis")
            if axis is None or params.get("keepdims"):
                axes = None  # t's dimensions are x's trailing ones (or it is a scalar)
            else:
                cut = {a % nd for a in (axis if isinstance(axis, tuple) else (axis,))}
                axes = [k for k in range(nd) if k not in cut]
            rhs = operand(t, axes)
            if params.get("mean"):
                rhs = f"{rhs} / {p.T}({_broadcast_count(p, shapes[t], loop.shape)})"
        else:
            template = LOOP[n.op]
            rhs = _fill(p, template, [operand(a) for a in n.args], n.params)
            for h in LOOP_HELPERS.get(n.op, ()):
                if f"{h.__name__}(" in rhs:
                    p.helpers[h.__name__] = h
            if n.op == "pow" and nodes[n.args[1]].op == "const" and nodes[n.args[1]].value == 2:
                rhs = f"{operand(n.args[0])} * {operand(n.args[0])}"
        inside.append(f"{pad}{local[i]} = {rhs}{comment}")
        if i in p.direct:
            continue  # written into its input at the end of the iteration
        if i in fusion.stored and arrays:
            kind = "np.bool_" if n.op in BOOLEAN else p.T
            before += p.array(i, names[i], loop.shape, kind)
            inside.append(f"{pad}{names[i]}{_index(p, loop.shape, loop.shape)} = {local[i]}")
    head = []
    if depth:
        listed = comments if len(comments) <= 6 else \
            comments[:3] + ["...", comments[-1], f"({len(comments)} operations)"]
        head.append(f"    # one loop over {p.dims(loop.shape)}: {' '.join(listed)}")
    # an input's new value, once this iteration has read the old one
    inside += [f"{pad}{p.direct[i]}{_index(p, loop.shape, loop.shape)} = {local[i]}"
               f"  # updated in place" for i in loop.members if i in p.direct]
    lines = head + before
    level = 1
    for k, d in enumerate(loop.shape):
        if d != 1:
            lines.append(f"{'    ' * level}for i{k} in range({p.size(d)}):")
            level += 1
    return lines + inside + after


def _broadcast_count(p: _Printer, small: tuple, full: tuple) -> str:
    """The number of entries of `full` each entry of `small` (a reduction of it) stands
    for: the sizes of full's dimensions that small does not keep."""
    rest = [d for d in full if d != 1]
    for d in small:
        if d != 1 and d in rest:
            rest.remove(d)
    return p.count(rest)


def _fill(p: _Printer, template: str, args: list[str], params) -> str:
    """A LOOP template with its operands, parameters and typed literals filled in."""
    values = dict(params)

    def field(m):
        key = m.group(1)
        if key.isdigit():
            return args[int(key)]
        if key == "T":
            return p.T
        if key == "bits":
            return "32" if p.f32 else "64"
        if key in values:
            return p.literal(values[key])
        return p.literal(float(key))
    return re.sub(r"\{([\w.]+)\}", field, template)


def emit_numba(g: Graph, name: str, returns, doc: str, signature: tuple | None = None,
               updates: dict[int, str] | None = None) -> tuple[str, list[str]]:
    """The module's source for calls of `signature` (default: the first of
    _default_signatures that fits) and the function's parameter names."""
    taken: set[str] = set()
    params = [safe_identifier(("in_" if _KERNEL_NAMES.match(n.name) else "") + n.name, taken)
              for n in g.nodes if n.op == "input"]
    if signature is not None:
        return print_kernel(g, params, signature, name, returns, _clean(doc), updates), params
    first = None
    for sig in _default_signatures(g):
        try:
            return print_kernel(g, params, sig, name, returns, _clean(doc), updates), params
        except ValueError as e:  # shapes that do not fit the expression: the next guess
            if "no numba spelling" in str(e):
                raise
            first = first or e
    # no guess fits (shapes only a call tells): kernels are printed per call signature
    return (f"# {name}: no kernel printed before a call ({_clean(str(first))}); the numba "
            f"backend prints one per call signature: see specialized(*args).source\n"), params


# --- loading ------------------------------------------------------------------------------

def load(source: str, name: str) -> tuple[Callable, Any, str]:
    """Import a generated module from a real file in the cache folder (named by the hash
    of its source, written once, atomically), so numba's cache=True finds its machine
    code again in another process.  Returns the entry point, the njit kernel, the path."""
    _require()
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    folder = cache_dir()
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:  # a read-only home: this session's temporary folder still works
        user = getattr(os, "getuid", os.getpid)()
        folder = os.path.join(tempfile.gettempdir(), f"graphdiff-numba-{user}")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        # a shared temporary folder: only a folder of our own is imported from
        if hasattr(os, "getuid") and os.stat(folder).st_uid != os.getuid():
            raise OSError(f"{folder} belongs to another user; set XDG_CACHE_HOME to a "
                          f"folder of your own for the numba backend's cache") from None
    path = os.path.join(folder, f"gd_{digest}.py")
    # the module imported is exactly the source generated now: a file that differs (cut
    # short, or changed by anything else) is written again before it is run
    if _read(path) != source:
        write_atomic(path, source)
    modname = f"graphdiff_numba_{digest}"
    module = sys.modules.get(modname)
    if module is None:
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[modname] = module
    return getattr(module, name), module._kernel, path


def _read(path: str) -> str | None:
    """The text of the file at `path`, or None when there is none to read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


class _Dispatch:
    """`fn(*values)`: the kernel for the values' signature (built on first sight), found
    by one dict lookup on the arrays' shapes and dtypes when the call repeats."""

    MAX_FAST = 512

    def __init__(self, build: Callable[[tuple], Callable], params: int,
                 updated: Sequence[int] = ()):
        self._build = build
        # inputs the kernel writes into: they must reach it as they are, not converted
        self.updated = tuple(updated)
        self._fast: dict[tuple, Callable] = {}
        self.kernels: dict[tuple, Any] = {}
        self.compile_seconds: float | None = None
        self.params = params

    def __call__(self, *values):
        # arrays by shape and dtype, numbers by their type (the entry converts them)
        key = tuple([(v.shape, v.dtype) if type(v) is np.ndarray else type(v)
                     for v in values])
        entry = self._fast.get(key)
        if entry is not None:
            return entry(*values)
        return self._slow(key, values)

    def _slow(self, key, values):
        if len(values) != self.params:
            raise TypeError(f"expected {self.params} arguments, got {len(values)}")
        arrays, dtype = _converted(values)
        for k in self.updated:
            if arrays[k] is not values[k]:
                raise TypeError(f"argument {k + 1} is updated in place, so it must be a NumPy "
                                f"array of the computation's float type ({dtype}), not "
                                f"{type(values[k]).__name__} "
                                f"{getattr(values[k], 'dtype', '')}".rstrip())
        sig = signature_of(arrays)
        entry = self.kernels.get(sig)
        first = entry is None
        if first:
            entry = self.kernels[sig] = self._build(sig)
        args = [a if a.ndim else a[()] for a in arrays]
        start = time.perf_counter()
        out = entry(*args)
        if first and self.compile_seconds is None:
            self.compile_seconds = time.perf_counter() - start
        # the entry converts numbers, NumPy float scalars and 0-d arrays to the kernel's
        # type itself, so those repeat through the fast path too (a fused step's rates)
        if all(type(v) in (float, int, np.float32, np.float64) or type(v) is np.ndarray and (
                v.dtype == dtype or v.dtype.kind in "iu" or not v.ndim and v.dtype.kind == "f")
               for v in values):
            if len(self._fast) > self.MAX_FAST:
                self._fast.clear()
            self._fast[key] = entry
        return out


def _converted(values: Sequence[Any]) -> tuple[list[np.ndarray], np.dtype]:
    """The call's values as arrays of one float type: that of the float arrays (float32
    stays float32; Python numbers take it, as in NumPy), float64 without any.  Integer
    arrays (class labels) are passed as they are: numba types them and their arithmetic
    is done in the float type."""
    arrays = [as_arrays([v])[0] if isinstance(v, (bool, np.bool_)) else np.asarray(v)
              for v in values]
    floats = [a.dtype for a, v in zip(arrays, values)
              if a.dtype.kind == "f" and not isinstance(v, (int, float))]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    if dtype not in (np.float32, np.float64):  # numba's kernels: float32 or float64
        dtype = np.dtype(np.float64)
    out = []
    for a in arrays:
        if a.dtype.kind in "iu" and a.ndim:
            out.append(a)
        elif a.dtype.kind in "fiub":
            out.append(a if a.dtype == dtype else a.astype(dtype))
        else:
            as_arrays([a])  # the NumPy backend's TypeError for complex and other kinds
            raise TypeError(f"cannot use a value of dtype {a.dtype} as an input")
    return out, dtype


class NumbaFunction(CompiledFunction):
    """A CompiledFunction whose `.fn` runs numba kernels (see graphdiff.numba_backend):
    one per call signature, built on first sight and cached on disk.  `.source` is
    the kernel module for the default signature (declared shapes; vectors otherwise);
    `specialized(*args)` the one for these arguments; `compile_seconds` the first
    call's compile (or cache load) time."""

    def __init__(self, g: Graph, name: str, returns, doc: str, rewrites=(),
                 signature: tuple | None = None, jacobian: tuple | None = None,
                 updates: dict[int, str] | None = None):
        self._numba = (g, returns, doc, jacobian)
        self._updates = updates
        self._inner = "_tangents" if jacobian else name
        source, params = emit_numba(g, self._inner, returns, doc, signature, updates)
        if jacobian:
            source = _jacobian_module(source, name, params[:len(g.inputs) -
                                                         len(jacobian[0])], jacobian, doc)
        source = _rewrites_comment(rewrites) + source
        inputs = g.inputs[:len(g.inputs) - len(jacobian[0])] if jacobian else g.inputs
        super().__init__(source, name, inputs, params[:len(inputs)], g, None, rewrites,
                         "numba")
        self.filename = self._path  # a real file: tracebacks and inspect show it

    def _entry_point(self) -> Callable:
        """`.fn` is the dispatcher itself: the kernels take numbers and integer labels as
        they are (no NumPy entry check)."""
        return self._raw

    def _load(self, source: str, name: str, filename: str) -> Callable:
        g, returns, doc, jacobian = self._numba
        _require()

        def build(sig: tuple) -> Callable:
            text, _ = emit_numba(g, self._inner, returns, doc, sig, self._updates)
            entry, kernel, _ = load(text, self._inner)
            self._kernels[sig] = kernel
            return entry

        self._kernels: dict[tuple, Any] = {}
        updated = [g.inputs.index(u) for u in (self._updates or {}).values()]
        self._dispatch = _Dispatch(build, len(g.inputs), updated)
        fn = self._dispatch
        if jacobian:
            wrt, single_out, single_wrt = jacobian
            tangents = self._dispatch

            def fn(*args):
                return _jacobian(tangents, args, wrt, single_out, single_wrt)
        self._path = load(source, name)[2] if "def _kernel(" in source else filename
        return fn

    @property
    def compile_seconds(self) -> float | None:
        """The first call's time in numba (compiling, or loading its cache)."""
        return self._dispatch.compile_seconds

    def cache_hits(self) -> int:
        """How many signatures numba loaded from its disk cache instead of compiling."""
        return sum(sum(k.stats.cache_hits.values()) for k in self._kernels.values())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != len(self.inputs):
            bound = bind(self.inputs, args, kwargs)
            args = tuple(bound[n] for n in self.inputs)
        return self.fn(*args)

    def specialized(self, *args: Any, **kwargs: Any):
        """The kernel module for arguments like these (its `.source`, `save()`)."""
        bound = bind(self.inputs, args, kwargs)
        arrays = as_arrays([bound[n] for n in self.inputs])
        g, returns, doc, jacobian = self._numba
        if jacobian:
            arrays += [arrays[w] for w in jacobian[0]]
        return NumbaFunction(g, self.name, returns, doc, self.rewrites,
                             signature_of(arrays), jacobian, self._updates)

def _jacobian_module(source: str, name: str, primal: list[str], jacobian: tuple,
                     doc: str) -> str:
    """The tangent module plus the entry that assembles the Jacobian column by column
    (codegen._jacobian), as the NumPy backend's module does."""
    wrt, single_out, single_wrt = jacobian
    args = "(" + ", ".join(primal) + ("," if len(primal) == 1 else "") + ")"
    helpers = [inspect.getsource(h).rstrip() for h in (_jacobian, _block)]
    call = f"_jacobian(_tangents, {args}, {tuple(wrt)!r}, {single_out}, {single_wrt})"
    entry = [f"def {name}({', '.join(primal)}):", f'    """{_clean(doc)}"""',
             f"    return {call}"]
    return source.rstrip() + "\n\n\n" + "\n\n\n".join(helpers + ["\n".join(entry)]) + "\n"
