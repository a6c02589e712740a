"""The expression graph: a hash-consed DAG of primitives, numbered the way the lecture numbers it.

Owns node storage, numbering, evaluation, structural equality, the networkx view and the
plain-text (Python syntax) printer.  It knows nothing of parsing, differentiation or codegen.
"""

from __future__ import annotations

import gc
import importlib
import math
import numbers
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np

from .primitives import (PREC_ADD, PREC_ATOM, PREC_CMP, PREC_POW, PREC_UNARY, REGISTRY,
                         broadcast_shapes, lookup)
from .stable import ROOTS as _STABLE_ROOTS
from .stable import rewrite as _stable_rewrite
from .vocabulary import normalize_index

__all__ = ["Graph", "Node", "Store", "format_call", "paused_gc"]

# Folded constants remember the expression they came from (for the tables), unless it is big.
_ORIGIN_LIMIT = 40


class Node(NamedTuple):
    """One node of a graph, in evaluation order.  `args` index the same graph's nodes."""

    index: int
    op: str  # "input", "const" or a primitive's name
    args: tuple[int, ...]
    params: tuple[tuple[str, Any], ...]
    var: str | None  # "v1", "v2", ... for inputs and operations; None for constants
    name: str | None  # an input's name
    value: float | None  # a constant's value
    origin: Any  # a folded constant's source: nested (op, args, params) tuples, or a name
    shape: Any = None  # static shape: a tuple (None entries: symbolic sizes), None if unknown


class Store:
    """Append-only, hash-consed table of nodes that graphs built together share.

    Appending never changes an existing graph: a graph is the set of ancestors of its roots.
    With `simplify=True` (or 1), `apply` also drops algebraic identities (x*1, x+0, --x,
    ...); the stores that derivative rules build into use it so partials come out
    readable.  With `simplify=2` it also moves negations outwards ((-a)*b -> -(a*b),
    a + -b -> a - b), where they cancel or land on a reduced value: the form for
    generated code, not for tables.
    """

    __slots__ = ("op", "args", "params", "value", "origin", "shape", "_ids", "simplify",
                 "stable", "kept", "rewrites")

    def __init__(self, simplify: bool | int = False, stable: bool | None = None):
        self.op: list[str] = []
        self.args: list[tuple[int, ...]] = []
        self.params: list[tuple[tuple[str, Any], ...]] = []
        self.value: list[Any] = []  # input name or constant value
        self.origin: list[Any] = []
        self.shape: list[Any] = []  # static shapes; None where unknown
        self._ids: dict[tuple, int] = {}
        self.simplify = simplify
        # rewrite compositions that overflow (log(sigmoid(x)), log(1 + exp(x)), ...) into
        # their stable forms (the catalogue in graphdiff.stable); implied by simplify
        self.stable = bool(simplify) if stable is None else stable
        self.rewrites: list[tuple] = []  # (rule, op, args, params, result), as applied
        # nodes below this id are computed anyway (a derivative's primal): rewrites that
        # would rebuild one of them in another form leave it as it is
        self.kept = 0

    def __len__(self) -> int:
        return len(self.op)

    def _add(self, key: tuple, op: str, args: tuple, params: tuple, value: Any,
             origin: Any = None, shape: Any = None) -> int:
        i = self._ids.get(key)
        if i is None:
            i = self._ids[key] = len(self.op)
            self.op.append(op)
            self.args.append(args)
            self.params.append(params)
            self.value.append(value)
            self.origin.append(origin)
            self.shape.append(shape)
        return i

    def input(self, name: str, shape: Any = None) -> int:
        """The input called `name`; `shape` (a tuple, None entries for symbolic sizes such
        as the batch) makes shapes checked when the graph is built."""
        if shape is not None:
            shape = tuple(None if d is None else int(d) for d in shape)
        i = self._add(("input", name), "input", (), (), name, shape=shape)
        if shape is not None and self.shape[i] != shape:
            if self.shape[i] is not None:
                raise ValueError(f"input {name!r} already has shape {self.shape[i]}, "
                                 f"not {shape}")
            self.shape[i] = shape
        return i

    def const(self, value: float, origin: Any = None) -> int:
        value = float(value)
        return self._add(("const", value.hex()), "const", (), (), value, origin, ())

    def is_const(self, i: int, value: float | None = None) -> bool:
        return self.op[i] == "const" and (value is None or self.value[i] == value)

    def apply(self, op: str, args: tuple[int, ...], params: tuple = ()) -> int:
        """Add (or find) the node op(args); constant arguments only are folded into a constant."""
        key = (op, args, params)
        i = self._ids.get(key)
        if i is not None:  # built before, with every rule below already applied
            return i
        prim = REGISTRY[op]
        sop = self.op
        for a in args:
            if sop[a] != "const":
                break
        else:
            return self._fold(prim, args, params)
        if self.simplify:
            found = _identity(self, op, args)
            if found is not None:
                return found
        if self.stable and op in _STABLE_ROOTS:
            found = _stable_rewrite(self, op, args, params)
            if found is not None:
                self._ids[key] = found  # the written form, met again, is the same node
                return found
        commuted = None
        if prim.commutative and self.simplify >= 2:
            # y*x is the x*y already built; the first spelling stays
            commuted = (op, (args[1], args[0]), params)
            i = self._ids.get(commuted)
            if i is not None:
                return i
        sshape = self.shape
        if prim.shape is None and (len(args) == 1 or len(args) == 2
                                   and sshape[args[0]] == sshape[args[1]]):
            shape = sshape[args[0]]  # elementwise on equal (or unknown) shapes
        else:
            shape = prim.out_shape([sshape[a] for a in args], dict(params))
        i = self._ids.get(key)
        if i is None:  # (_add, without a call: this is the hot path of every pass)
            i = self._ids[key] = len(sop)
            sop.append(op)
            self.args.append(args)
            self.params.append(params)
            self.value.append(None)
            self.origin.append(None)
            sshape.append(shape)
        if commuted is not None:
            self._ids[commuted] = i
        return i

    def _fold(self, prim, args: tuple[int, ...], params: tuple) -> int:
        values = [self.value[a] for a in args]
        if prim.name in _EXACT_FLOAT_OPS:
            # Python floats give IEEE results for these (inf and nan too), without NumPy's
            # per-call overhead
            value = _EXACT_FLOAT_OPS[prim.name](*values)
        else:
            with np.errstate(all="ignore"):
                # float64 arithmetic is bounded: 9**9**9**9 overflows to inf at once
                value = float(prim.evaluate(*(np.float64(v) for v in values), **dict(params)))
        parts = [self.origin[a] if self.origin[a] is not None else self.value[a] for a in args]
        origin = (prim.name, tuple(parts), params)
        if _origin_size(origin) > _ORIGIN_LIMIT:
            origin = None
        return self.const(value, origin)


_EXACT_FLOAT_OPS = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
                    "mul": lambda x, y: x * y, "neg": lambda x: -x}


# Pauses nest and overlap across threads: the collector is disabled by the first to start
# and re-enabled (if it was on) by the last to end, never by a thread whose check raced.
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while a pass allocates many small tuples.

    Passes over 10**5 nodes otherwise spend most of their time in collections that find
    nothing (the nodes hold no cycles).  When the last pause ends, the objects allocated
    meanwhile join the oldest generation at once (`gc.freeze` then `gc.unfreeze`, two
    list splices), rather than being traversed by the young collection that re-enabling
    would start at the next allocation; a full collection still visits them."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                if gc.get_freeze_count() == 0:  # never thaw what the program itself froze
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()


def _origin_size(origin: Any) -> int:
    size, stack = 0, [origin]
    while stack and size <= _ORIGIN_LIMIT:
        item = stack.pop()
        size += 1
        if isinstance(item, tuple):
            stack.extend(item[1])
    return size


def _identity(store: Store, op: str, args: tuple[int, ...]) -> int | None:
    """The node that op(args) reduces to by an algebraic identity, or None.

    x+0, 0+x, x-0, x*1, 1*x, x/1, x**1 -> x;  x*0, 0*x, x-x -> 0;  x**0 -> 1;
    0-x, x*-1, -1*x -> -x;  -(-x) -> x;  x*(1/y) -> x/y;  a*(b*x) -> (a*b)*x for
    constants a, b;  sum_to(-t) -> -sum_to(t), so a negation happens after the reduction.
    Multiplying by zero drops the other factor even if it could be inf or nan: these
    stores hold derivatives, where a zero partial means "no dependence", as in every AD
    system.
    """
    c = store.is_const
    sop, sargs = store.op, store.args
    if op == "neg":
        (a,) = args
        if sop[a] == "neg":
            return sargs[a][0]
        return _negate_scalar_factor(store, a) if store.simplify >= 2 else None
    if op == "identity" and store.simplify >= 2:
        return args[0]
    if op == "where" and args[1] == args[2] and store.kept:
        # in derivatives, where(c, t, t) is t: a tangent or adjoint may be smaller than
        # its node (1 for ones), and np.where(c, 1.0, 1.0) would be float64 whatever c is
        return args[1]
    if op == "where" and c(args[0]):
        # a constant condition selects one side, which keeps the shape if the other side
        # is a constant too (or if the shapes say so)
        chosen, other = (args[1], args[2]) if store.value[args[0]] != 0 else (args[2], args[1])
        shapes = [store.shape[k] for k in args]
        if c(other) or None not in shapes and store.shape[chosen] == broadcast_shapes(*shapes):
            return chosen
        return None
    if op == "sum_to":
        t, x, like = args
        if sop[t] == "neg":
            return store.apply("neg", (store.apply("sum_to", (sargs[t][0],) + args[1:]),))
        # sums are linear: summing each term saves the elementwise add where a real
        # reduction happens, and a constant factor multiplies the (smaller) sum; chains of
        # adds are left whole (no recursion), and so are terms with a constant, which
        # carries no shape of its own
        st, sx = store.shape[t], store.shape[x]
        if sop[t] in ("add", "sub") and (st is None or sx is None or st != sx) and \
                t >= store.kept and all(sop[a] not in ("add", "sub", "const") for a in sargs[t]):
            a, b = sargs[t]
            return store.apply(sop[t], (store.apply("sum_to", (a, x, like)),
                                        store.apply("sum_to", (b, x, like))))
        if sop[t] in ("mul", "div") and t >= store.kept:
            # a constant or known-scalar factor (or divisor) scales the (smaller) sum instead
            for k, p in ((0, 1), (1, 0)) if sop[t] == "mul" else ((1, 0),):
                f, rest = sargs[t][k], sargs[t][p]
                if c(f) or (store.shape[f] == () and store.shape[rest] not in (None, ())):
                    summed = store.apply("sum_to", (rest, x, like))
                    return store.apply(sop[t], (summed, f) if sop[t] == "div" else (f, summed))
        # reshaping to a shape t already has: sum_to(sum_to(u, y, _), x, x) where x also
        # has y's shape
        if x == like and _shape_source(store, t) == _shape_source(store, x) is not None:
            return t
        return _static_sum_to(store, t, x, like)
    if len(args) != 2:
        return None
    x, y = args
    # each rule below starts by asking for a negation, a product or a constant among the
    # arguments: asked once here, since most nodes have none of them
    ox, oy = sop[x], sop[y]
    if store.simplify >= 2:
        found = None
        if ox == "neg" or oy == "neg":
            found = _move_negation(store, op, x, y)
        if found is None and op in _PRODUCTS and (ox in _PRODUCTS or oy in _PRODUCTS):
            found = _collect_scalars(store, op, x, y)
            if found is None and op == "mul":
                found = _scalars_first(store, x, y)
        if found is None and op == "mul" and x == y:
            found = _known_square(store, x)
        if found is not None:
            return found
    if op == "mul" and ox != "const" and oy != "const" and ox != "div" and oy != "div":
        return None
    if op == "add":
        return y if c(x, 0.0) else x if c(y, 0.0) else None
    # results that drop an operand keep the shape only if that operand is a known scalar
    scalar = store.shape
    if op == "sub":
        if c(y, 0.0):
            return x
        if x == y and scalar[x] == ():
            return store.const(0.0)
        return store.apply("neg", (y,)) if c(x, 0.0) else None
    if op == "mul":
        if c(x, 0.0) and scalar[y] == () or c(y, 0.0) and scalar[x] == ():
            return store.const(0.0)
        if c(x, 1.0) or c(y, 1.0):
            return y if c(x, 1.0) else x
        if c(x, -1.0) or c(y, -1.0):
            return store.apply("neg", (y if c(x, -1.0) else x,))
        for a, b in ((x, y), (y, x)):
            if sop[b] == "div" and c(sargs[b][0], 1.0):
                return store.apply("div", (a, sargs[b][1]))
            if c(a) and sop[b] == "mul" and c(sargs[b][0]):
                k = store.const(store.value[a] * store.value[sargs[b][0]])
                return store.apply("mul", (k, sargs[b][1]))
        return None
    if op == "div":
        return x if c(y, 1.0) else None
    if op == "pow":
        return x if c(y, 1.0) else store.const(1.0) if c(y, 0.0) and scalar[x] == () else None
    return None


_PRODUCTS = ("mul", "div")


def _move_negation(store: Store, op: str, x: int, y: int) -> int | None:
    """(-a)*b, a*(-b), (-a)/b, a/(-b) -> -(a*b) or -(a/b);  a + -b -> a - b;
    -a + b -> b - a;  a - -b -> a + b;  (-a)*s, (-a)/s -> a*(-s), a/(-s) for a known
    scalar s.  Exact in floating point."""
    sop, sargs = store.op, store.args
    nx, ny = sop[x] == "neg", sop[y] == "neg"
    if op in ("mul", "div") and (nx or ny):
        if nx != ny:  # a negated known scalar stays where negating it is cheap
            negated, other = (x, y) if nx else (y, x)
            shape = store.shape
            if shape[sargs[negated][0]] == () and shape[other] not in (None, ()):
                return None
            # and a negated array times (or over) a known scalar negates the scalar
            if shape[other] == () and shape[negated] not in (None, ()) and \
                    (op == "mul" or other == y):
                neg_s = store.apply("neg", (other,))
                inner = sargs[negated][0]
                return store.apply(op, (inner, neg_s) if other == y else (neg_s, inner))
        a = sargs[x][0] if nx else x
        b = sargs[y][0] if ny else y
        inner = store.apply(op, (a, b))
        return inner if nx and ny else store.apply("neg", (inner,))
    if op == "add" and ny:
        return store.apply("sub", (x, sargs[y][0]))
    if op == "add" and nx:
        return store.apply("sub", (y, sargs[x][0]))
    if op == "sub" and ny:
        return store.apply("add", (x, sargs[y][0]))
    return None


def _collect_scalars(store: Store, op: str, x: int, y: int) -> int | None:
    """(a*s)*t, (a*s)/t, (a/s)*t, (a/s)/t -> a*(s*t), a*(s/t), a*(t/s), a/(s*t) for an
    array a and known scalars s, t: the scalar factors of a product meet in one scalar.
    Without it the adjoint of w_L*...*w_1*x rebuilds its product of scalars at every
    layer (a*(b*s) -> (a*b)*s moves one factor out at a time), and a chain of L layers
    costs L**2 lines; with it, one array and one scalar operation per layer."""
    shape = store.shape
    if op == "mul" and shape[x] == ():
        x, y = y, x  # mul commutes: t*(a*s) is (a*s)*t
    if shape[y] != () or x < store.kept or store.op[x] not in ("mul", "div"):
        return None
    inner = store.op[x]
    a, s = store.args[x]
    if inner == "mul" and shape[a] == ():
        a, s = s, a
    if shape[s] != () or shape[a] in (None, ()):
        return None
    if _factors(store, s) + _factors(store, y) > _MAX_FACTORS:
        # a product of many weights, computed apart from the array it scales, overflows
        # (6**450) where the array's product underflows: inf*0 = nan where a loop gives
        # 0; so scalar factors meet in bounded runs, and the array takes each run (which
        # `_scalars_first` then leaves inside: see `_sealed`)
        return None
    if inner == "mul":
        return store.apply("mul", (a, store.apply(op, (s, y))))
    if op == "mul":
        return store.apply("mul", (a, store.apply("div", (y, s))))
    return store.apply("div", (a, store.apply("mul", (s, y))))


# the most scalar factors `_collect_scalars` multiplies together before they meet an array
_MAX_FACTORS = 8


def _factors(store: Store, s: int) -> int:
    """How many known scalars multiply (or divide) into s, counted up to _MAX_FACTORS
    along its chain of products; iterative."""
    count, sop, shape = 1, store.op, store.shape
    while count < _MAX_FACTORS and sop[s] in ("mul", "div") and shape[s] == ():
        a, b = store.args[s]
        s = a if sop[a] in ("mul", "div") and shape[a] == () else b
        count += 1
    return count


def _sealed(store: Store, s: int) -> bool:
    """A run of scalar factors as long as `_collect_scalars` makes them: it stays with the
    array it scales (moving it out again would rebuild every later product, L**2 lines)."""
    return _factors(store, s) >= _MAX_FACTORS


def _scalars_first(store: Store, x: int, y: int) -> int | None:
    """s*(c*z) -> (s*c)*z when s is known to be a scalar: one array operation, not two;
    and a*(b*s) -> (a*b)*s, a*(b/s) -> (a*b)/s for arrays a, b and a known scalar s, so
    that a sum of the product can take s outside (see sum_to's identities).  A product
    or quotient that is computed anyway (`Store.kept`) is not taken apart."""
    shape = store.shape
    for s, other in ((x, y), (y, x)):
        if other < store.kept:
            continue
        if shape[s] == () and store.op[other] == "mul":
            c, z = store.args[other]
            if store.op[c] == "const" and shape[z] != ():
                return store.apply("mul", (store.apply("mul", (s, c)), z))
        if shape[s] not in (None, ()) and store.op[other] == "mul":
            for k in (0, 1):
                scalar, array = store.args[other][k], store.args[other][1 - k]
                if shape[scalar] == () and shape[array] not in (None, ()) and \
                        store.op[scalar] != "const" and not _sealed(store, scalar):
                    inner = (s, array) if s == x else (array, s)
                    return store.apply("mul", (store.apply("mul", inner), scalar))
        if shape[s] not in (None, ()) and store.op[other] == "div":
            array, scalar = store.args[other]
            if shape[scalar] == () and shape[array] not in (None, ()) and \
                    not _sealed(store, scalar):
                inner = (s, array) if s == x else (array, s)
                return store.apply("div", (store.apply("mul", inner), scalar))
    return None


def _negate_scalar_factor(store: Store, a: int) -> int | None:
    """-(c*z) -> (-c)*z for a constant c;  -(p*(-s)) -> p*s and -(p/(-s)) -> p/s: a
    negation that moved onto a scalar factor (see `_move_negation`) cancels there."""
    sop = store.op
    if sop[a] not in ("mul", "div"):
        return None
    x, y = store.args[a]
    if sop[a] == "mul" and sop[x] == "const":  # -(c*z) -> (-c)*z: the sign folds
        return store.apply("mul", (store.const(-store.value[x]), y))
    if sop[y] == "neg" and store.shape[y] == ():
        return store.apply(sop[a], (x, store.args[y][0]))
    if sop[a] == "mul" and sop[x] == "neg" and store.shape[x] == ():
        return store.apply("mul", (store.args[x][0], y))
    return None


def _known_square(store: Store, x: int) -> int | None:
    """x*x -> the x**2 already built, so a derivative reuses the primal's square."""
    two = store._ids.get(("const", (2.0).hex()))
    return None if two is None else store._ids.get(("pow", (x, two), ()))


def _static_sum_to(store: Store, t: int, x: int, like: int) -> int | None:
    """sum_to with all shapes known: nothing, or the exact sums (np.sum with axes)."""
    st, sx, sl = store.shape[t], store.shape[x], store.shape[like]
    if st is None or sx is None or sl is None or store.op[t] == "const":
        return None  # a constant gradient needs _sum_to to take x's dtype and shape
    full = broadcast_shapes(st, sl, sx)
    if full == sx:
        return t if st == sx else store.apply("broadcast_like", (t, x), _BROADCAST_DEFAULTS)
    if st != full:
        if st == ():
            # a broadcast scalar sums to itself times the count: no array at all
            if sx != () or None in full:
                return None  # left to _sum_to, which knows the count when it runs
            return store.apply("mul", (t, store.const(float(math.prod(full)))))
        t = store.apply("broadcast_like", (t, like), _BROADCAST_DEFAULTS)
    lead = len(full) - len(sx)
    if lead:
        t = store.apply("sum", (t,), (("axis", tuple(range(lead))), ("keepdims", False)))
    inner = tuple(i for i, d in enumerate(sx) if d == 1 and full[lead + i] != 1)
    if inner:
        t = store.apply("sum", (t,), (("axis", inner), ("keepdims", True)))
    return t


_BROADCAST_DEFAULTS = (("axis", None), ("keepdims", False), ("mean", False))


def _shape_source(store: Store, i: int) -> int | None:
    """The input whose shape node i is known to have (through sum_to), else None."""
    while store.op[i] == "sum_to":
        i = store.args[i][1]
    return i if store.op[i] == "input" else None


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) or (
        isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "fiu")


class Graph:
    """An expression as a DAG of primitives: inputs, constants and primitive applications.

    Graphs are immutable values: operators and `gd.sin(...)` return new graphs that share
    storage with their operands.  `g.nodes` lists the nodes in evaluation order (inputs
    first, v1 = first input, then operations as written), `g.nx` is the networkx view,
    and `g(**values)` evaluates with NumPy broadcasting.

    >>> import graphdiff as gd
    >>> g = gd.parse("x1*x2 + sin(x1)")
    >>> float(g(x1=2.0, x2=3.0))
    6.909297426825682
    """

    __slots__ = ("_store", "_roots", "_declared", "_nodes", "_nx", "_key", "_ids", "_hints",
                 "_outputs", "_stable", "_inputs")
    __array_ufunc__ = None  # numpy arrays defer to Graph's reflected operators

    def __init__(self, store: Store, roots: Iterable[int], inputs: Iterable[str] | None = None,
                 hints: dict[int, str] | None = None):
        self._store = store
        self._roots = tuple(roots)
        self._declared = None if inputs is None else tuple(inputs)
        # preferred names of store ids (v4, bar_v3, dot_v5, ...) for derivative graphs whose
        # nodes should keep the primal's numbering when printed or compiled
        self._hints = hints
        self._nodes: tuple[Node, ...] | None = None
        self._ids: list[int] | None = None  # store id of each node
        self._nx = None
        self._key = None
        self._stable: Graph | None = None
        self._inputs: tuple[str, ...] | None = None

    def with_shapes(self, shapes: Mapping[str, Any]) -> Graph:
        """The same expression with the named inputs' shapes declared, as if they had been
        built with `tensor(name, shape)`; every node then has a static shape where the
        shape rules can tell.  A shape that does not fit raises ValueError naming both."""
        store = Store()
        with paused_gc():
            ids = copy_nodes(self, store, shapes)
        old = self.hints
        hints = {ids[n.index]: old[n.index] for n in self.nodes if old[n.index]}
        return Graph(store, [ids[i] for i in self.outputs], inputs=self.inputs,
                     hints=hints or None)

    # --- building ------------------------------------------------------------------------
    def apply(self, op: str, *args: Any, **params: Any) -> Graph:
        """A new graph: primitive `op` applied to `args` (graphs or numbers)."""
        prim = lookup(op)
        resolved = prim.resolve_params(params) if (params or prim.params) else {}
        prim.check_count(len(args), resolved)
        params_t = tuple(sorted(resolved.items()))
        # the common case (derivative rules, the parser): single-output graphs of one store
        store = self._store
        ids = []
        for a in args:
            if type(a) is not Graph or a._store is not store or len(a._roots) != 1:
                break
            ids.append(a._roots[0])
        else:
            return Graph(store, (store.apply(prim.name, tuple(ids), params_t),))
        store = None
        for a in args:
            if isinstance(a, Graph):
                if store is None:
                    store = a._store
                elif a._store is not store and len(a._store) > len(store):
                    store = a._store  # copy the smaller graph into the larger store
        ids = []
        for a in args:
            if isinstance(a, Graph):
                ids.append(a._roots[0] if a._store is store and len(a._roots) == 1
                           else a._root_in(store))
            elif _is_number(a):
                ids.append(store.const(float(a)))
            else:
                raise TypeError(f"{prim.name}() cannot take {type(a).__name__} "
                                f"{a!r}; use a number or a graph")
        return Graph(store, (store.apply(prim.name, tuple(ids), params_t),))

    def _root_in(self, store: Store) -> int:
        """This single-output graph's root in `store`, copying nodes over if needed."""
        if len(self._roots) != 1:
            raise ValueError(f"a graph with {len(self._roots)} outputs cannot be an operand")
        if self._store is store:
            return self._roots[0]
        return copy_nodes(self, store)[self.outputs[0]]

    def __add__(self, other): return self.apply("add", self, other)
    def __radd__(self, other): return self.apply("add", other, self)
    def __sub__(self, other): return self.apply("sub", self, other)
    def __rsub__(self, other): return self.apply("sub", other, self)
    def __mul__(self, other): return self.apply("mul", self, other)
    def __rmul__(self, other): return self.apply("mul", other, self)
    def __truediv__(self, other): return self.apply("div", self, other)
    def __rtruediv__(self, other): return self.apply("div", other, self)
    def __pow__(self, other): return self.apply("pow", self, other)
    def __rpow__(self, other): return self.apply("pow", other, self)
    def __matmul__(self, other): return self.apply("matmul", self, other)
    def __rmatmul__(self, other): return self.apply("matmul", other, self)
    def __mod__(self, other): return self.apply("mod", self, other)
    def __rmod__(self, other): return self.apply("mod", other, self)
    def __neg__(self): return self.apply("neg", self)
    def __pos__(self): return self
    def __abs__(self): return self.apply("abs", self)
    # comparisons build boolean graphs (usable in `where`); `==` and `!=` stay structural
    # equality of graphs (hashing and tests rely on it): use gd.equal / gd.not_equal
    def __lt__(self, other): return self.apply("less", self, other)
    def __le__(self, other): return self.apply("less_equal", self, other)
    def __gt__(self, other): return self.apply("greater", self, other)
    def __ge__(self, other): return self.apply("greater_equal", self, other)

    def __getitem__(self, key: Any) -> Graph:
        """x[0], x[:, 1:3], x[..., None] (a basic index), or x[i] for a graph i of
        integers or booleans (a mask, such as x[x > 0])."""
        if isinstance(key, Graph):
            return self.apply("take", self, key)
        if isinstance(key, np.ndarray) or (isinstance(key, tuple) and any(
                isinstance(k, (Graph, np.ndarray, list)) for k in key)) or isinstance(key, list):
            raise TypeError("an index array must be a single graph (gd.symbols('i')), not "
                            "a list or NumPy array or part of a tuple")
        return self.apply("getitem", self, index=normalize_index(key))

    # --- NumPy's array methods -----------------------------------------------------------
    def reshape(self, *shape: Any) -> Graph:
        """x.reshape(2, 3) or x.reshape((2, 3)), one -1 inferred."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self.apply("reshape", self, shape=tuple(shape))

    def transpose(self, *axes: Any) -> Graph:
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return self.apply("transpose", self, axes=tuple(axes) if axes else None)

    def ravel(self) -> Graph: return self.apply("ravel", self)
    def squeeze(self, axis: Any = None) -> Graph: return self.apply("squeeze", self, axis=axis)
    def swapaxes(self, axis1: int, axis2: int) -> Graph:
        return self.apply("swapaxes", self, axis1=axis1, axis2=axis2)
    def sum(self, axis: Any = None, keepdims: bool = False) -> Graph:
        return self.apply("sum", self, axis=axis, keepdims=keepdims)
    def mean(self, axis: Any = None, keepdims: bool = False) -> Graph:
        return self.apply("mean", self, axis=axis, keepdims=keepdims)
    def max(self, axis: Any = None, keepdims: bool = False) -> Graph:
        return self.apply("max", self, axis=axis, keepdims=keepdims)
    def min(self, axis: Any = None, keepdims: bool = False) -> Graph:
        return self.apply("min", self, axis=axis, keepdims=keepdims)
    def prod(self, axis: Any = None, keepdims: bool = False) -> Graph:
        return self.apply("prod", self, axis=axis, keepdims=keepdims)
    def var(self, axis: Any = None, ddof: float = 0, keepdims: bool = False) -> Graph:
        return self.apply("var", self, axis=axis, ddof=ddof, keepdims=keepdims)
    def std(self, axis: Any = None, ddof: float = 0, keepdims: bool = False) -> Graph:
        return self.apply("std", self, axis=axis, ddof=ddof, keepdims=keepdims)
    def cumsum(self, axis: Any = None) -> Graph:
        return self.apply("cumsum", self, axis=axis)
    def clip(self, lo: Any, hi: Any) -> Graph: return self.apply("clip", self, lo, hi)
    def split(self, sections: Any, axis: int = 0) -> tuple[Graph, ...]:
        """np.split: `sections` equal parts, or cut at the given indices; one split node per
        part (sizes read when it runs where the shape is unknown)."""
        return tuple(self.apply("split", self, sections=sections, axis=axis, part=k)
                     for k in range(lookup("split").parts(
                         **lookup("split").resolve_params({"sections": sections}))))

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Graph:
        return self.apply("diagonal", self, offset=offset, axis1=axis1, axis2=axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Graph:
        """The sum of a diagonal, NumPy's a.trace() (gd.trace is the lecture's table)."""
        return self.apply("trace", self, offset=offset, axis1=axis1, axis2=axis2)

    # --- structure -----------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[Node, ...]:
        """All nodes in evaluation order: inputs (v1, v2, ...) first, then as written."""
        if self._nodes is None:
            self._build_nodes()
        return self._nodes

    @property
    def inputs(self) -> tuple[str, ...]:
        """Input names, in order of first appearance (or as declared)."""
        found = getattr(self, "_inputs", None)  # (a graph pickled before it was kept)
        if found is None:
            found = self._inputs = tuple(n.name for n in self.nodes if n.op == "input")
        return found

    @property
    def outputs(self) -> tuple[int, ...]:
        """Indices (into `nodes`) of the graph's outputs."""
        if self._nodes is None:
            self._build_nodes()
        return self._outputs

    @property
    def shape(self) -> Any:
        """The static shape of a single-output graph (None if unknown: any shape works)."""
        if len(self._roots) != 1:
            raise ValueError(f"a graph with {len(self._roots)} outputs has no single shape")
        return self._store.shape[self._roots[0]]

    @property
    def T(self) -> Graph:
        """The transpose, as in NumPy."""
        return self.apply("transpose", self)

    @property
    def output(self) -> Node:
        """The output node of a single-output graph."""
        (i,) = self.outputs
        return self.nodes[i]

    def _build_nodes(self) -> None:
        with paused_gc():
            self._build_nodes_now()

    def _build_nodes_now(self) -> None:
        st = self._store
        order = postorder(st.args, self._roots)
        used = [i for i in order if st.op[i] == "input"]
        if self._declared is None:
            inputs = used
        else:
            names = {st.value[i]: i for i in used}
            declared = set(self._declared)
            missing = [n for n in names if n not in declared]
            if missing:
                raise ValueError(f"the graph uses input(s) {', '.join(missing)} "
                                 f"not among the declared inputs {self._declared}")
            if len(declared) != len(self._declared):
                raise ValueError(f"declared inputs repeat a name: {self._declared}")
            inputs = [names.get(n) if n in names else st.input(n) for n in self._declared]
        ops = st.op
        ids = inputs + [i for i in order if ops[i] != "input"]
        pos = {sid: k for k, sid in enumerate(ids)}  # not a list as long as the store
        where = pos.__getitem__
        sargs, sparams, svalue, sorigin = st.args, st.params, st.value, st.origin
        sshape = st.shape
        new = tuple.__new__  # NamedTuple's own constructor costs a Python call per node
        nodes = []
        append = nodes.append
        count = 0
        for k, sid in enumerate(ids):
            op = ops[sid]
            if op == "const":
                append(new(Node, (k, op, (), (), None, None, svalue[sid], sorigin[sid], ())))
            elif op == "input":
                count += 1
                append(new(Node, (k, op, (), sparams[sid], f"v{count}", svalue[sid], None,
                                  None, sshape[sid])))
            else:
                count += 1
                append(new(Node, (k, op, tuple(map(where, sargs[sid])), sparams[sid],
                                  f"v{count}", None, None, None, sshape[sid])))
        self._ids = ids
        self._nodes = tuple(nodes)
        self._outputs = tuple(pos[r] for r in self._roots)

    @property
    def hints(self) -> list[str | None]:
        """The preferred name of each node (None where there is none); see `__init__`."""
        if self._nodes is None:
            self._build_nodes()
        if not self._hints:
            return [None] * len(self._ids)
        get = self._hints.get
        return [get(sid) for sid in self._ids]

    def node_graph(self, i: int) -> Graph:
        """Node `i` of this graph as a graph of its own (a handle sharing this storage)."""
        if self._nodes is None:
            self._build_nodes()
        return Graph(self._store, (self._ids[i],))

    @property
    def nx(self):
        """The graph as a `networkx.DiGraph`.

        Nodes are keyed "v1", "v2", ... (constants "c1", ...) and carry `op`, `args` (the
        argument keys, in order), `params`, `name` (an input's name) and `value` (a
        constant's); an edge u -> v carries `argpos`, the argument positions u fills in v.
        """
        if self._nx is None:
            import networkx as nx

            g = nx.DiGraph()
            keys = node_keys(self.nodes)
            for n in self.nodes:
                key = keys[n.index]
                g.add_node(key, op=n.op, args=tuple(keys[a] for a in n.args),
                           params=dict(n.params), name=n.name, value=n.value,
                           var=n.var, index=n.index, shape=n.shape,
                           output=n.index in self.outputs)
                for pos, a in enumerate(n.args):
                    if g.has_edge(keys[a], key):
                        g.edges[keys[a], key]["argpos"].append(pos)
                    else:
                        g.add_edge(keys[a], key, argpos=[pos])
            self._nx = g
        return self._nx

    # --- evaluation ----------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Evaluate with NumPy; inputs by keyword or by position in `inputs` order.

        Compositions that overflow are computed in their stable forms, as `trace` and
        `compile` compute them (log(sigmoid(x)) as -softplus(-x): see graphdiff.stable);
        `evaluate` computes every node as written."""
        g = self.stable_form()
        values = g.evaluate(g.bind(args, kwargs))
        # the caller owns every result: none shares memory with an input or another result
        held = [values[n.index] for n in g.nodes if n.op == "input"]
        outs = []
        for i in g.outputs:
            v = values[i]
            if isinstance(v, np.ndarray) and v.ndim and (not v.flags.writeable or any(
                    np.may_share_memory(v, h) for h in held if isinstance(h, np.ndarray))):
                v = v.copy()
            held.append(v)
            outs.append(_unwrap(v))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def stable_form(self) -> Graph:
        """This graph with the stability rewrites applied (itself when none applies)."""
        if self._stable is None:
            self._stable = self
            if any(n.op in _STABLE_ROOTS for n in self.nodes):
                store = Store(stable=True)
                with paused_gc():
                    ids = copy_nodes(self, store)
                if store.rewrites:
                    self._stable = Graph(store, [ids[i] for i in self.outputs],
                                         inputs=self.inputs)
        return self._stable

    def bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """Map positional and keyword arguments to input names, with clear errors."""
        return bind(self.inputs, args, kwargs)

    def evaluate(self, values: dict[str, Any]) -> list[Any]:
        """The value of every node, in node order, given the inputs' values."""
        out: list[Any] = [None] * len(self.nodes)
        arrays = dict(zip(values, as_arrays(list(values.values()))))
        for n in self.nodes:
            if n.op == "input":
                out[n.index] = arrays[n.name]
            elif n.op == "const":
                out[n.index] = n.value
            else:
                prim = REGISTRY[n.op]
                out[n.index] = prim.impl(*[out[a] for a in n.args], **dict(n.params))
        return out

    # --- equality, printing, SymPy -------------------------------------------------------
    def _structure(self) -> tuple:
        if self._key is None:
            self._key = (tuple((n.op, n.args, n.params, n.name,
                                None if n.value is None else n.value.hex(),
                                n.shape if n.op == "input" else None)
                               for n in self.nodes), self.outputs)
        return self._key

    def equals(self, other: Graph) -> bool:
        """Structural equality: the same operations on the same inputs, in the same order."""
        return isinstance(other, Graph) and self._structure() == other._structure()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.equals(other)

    def __hash__(self) -> int:
        return hash(self._structure())

    def to_string(self, limit: int = 1_000_000) -> str | None:
        """The graph as a Python-syntax expression that `parse` reads back, or None if the
        text would exceed `limit` characters (shared subexpressions are written out again)."""
        outs = []
        for i in self.outputs:
            text = format_expression(self.nodes, i, limit)
            if text is None:
                return None
            outs.append(text)
        return outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ")"

    def __str__(self) -> str:
        text = self.to_string()
        return text if text is not None else self._summary()

    def _summary(self) -> str:
        ops = sum(1 for n in self.nodes if n.op not in ("input", "const"))
        return f"<Graph: {len(self.inputs)} inputs, {ops} operations, {len(self.outputs)} outputs>"

    def __repr__(self) -> str:
        text = self.to_string(limit=2_000)
        if text is None:
            return self._summary()
        return f"Graph({', '.join(self.inputs)} -> {text})"

    def to_dot(self) -> str:
        """The graph in Graphviz DOT, nodes labelled with the trace table's v-numbers."""
        from .render import graph_to_dot

        return graph_to_dot(self)

    # Jupyter: the drawing and the table, from graphdiff.draw looked up by name, so the
    # core imports no printer
    def _repr_html_(self) -> str:
        return importlib.import_module("graphdiff.draw").graph_html(self)

    def _repr_svg_(self) -> str | None:
        draw = importlib.import_module("graphdiff.draw")
        return draw.graph_svg(self) if len(self.nodes) <= draw.MAX_DRAWN_NODES else None

    def to_sympy(self):
        """The graph as a SymPy expression (a tuple of them for several outputs)."""
        import sympy as sp

        vals: list[Any] = []
        for n in self.nodes:
            if n.op == "input":
                vals.append(sp.Symbol(n.name))
            elif n.op == "const":
                vals.append(_sympy_const(sp, n.value))
            else:
                prim = REGISTRY[n.op]
                args = [vals[a] for a in n.args]
                params = {k: _sympy_const(sp, v) if isinstance(v, float) else v
                          for k, v in n.params}
                if callable(prim.sympy):
                    vals.append(prim.sympy(sp, *args, **params))
                else:
                    vals.append(getattr(sp, prim.sympy)(*args, **params))
        outs = [vals[i] for i in self.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)


def bind(names: tuple[str, ...], args: tuple, kwargs: dict) -> dict[str, Any]:
    """Map positional and keyword arguments to the input `names`, with clear errors."""
    if len(args) > len(names):
        raise TypeError(f"expected at most {len(names)} positional values "
                        f"({', '.join(names)}), got {len(args)}")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"unknown input {key!r}; the inputs are "
                            f"{', '.join(names) or '(none)'}")
        if key in bound:
            raise TypeError(f"input {key!r} given twice")
        bound[key] = value
    missing = [n for n in names if n not in bound]
    if missing:
        raise TypeError(f"missing value for input{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)}")
    return bound


def _sympy_const(sp, value: float):
    if value == math.pi:
        return sp.pi
    if value == math.e:
        return sp.E
    if value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.Float(value)


def _unwrap(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v[()]
    if isinstance(v, float):
        return np.float64(v)
    return v


def as_arrays(values: list[Any]) -> list[np.ndarray]:
    """Input values as arrays, with Python numbers weakly typed as in NumPy and JAX: they
    take the floating type of the arrays they meet (float32 stays float32), float64 alone."""
    arrays = [None if _weak(v) else as_array(v) for v in values]
    if len(arrays) == sum(a is not None for a in arrays):
        return arrays
    dtype = np.result_type(*[a for a in arrays if a is not None], 0.0)
    return [np.asarray(v, dtype=dtype) if a is None else a for v, a in zip(values, arrays)]


def _weak(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def as_array(v: Any) -> np.ndarray:
    """An input value as an array; integers and booleans become float64, floats keep their dtype."""
    a = np.asarray(v)
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    elif a.dtype.kind == "c":
        raise TypeError(f"cannot use a complex value (dtype {a.dtype}) as an input: "
                        f"graphdiff differentiates real functions of real inputs")
    elif a.dtype.kind != "f":
        raise TypeError(f"cannot use a value of dtype {a.dtype} as an input")
    return a


def postorder(args: list[tuple[int, ...]], roots: Iterable[int]) -> list[int]:
    """Store ids reachable from `roots`, arguments before users, left to right; iterative.
    Its cost is the graph's size, not the store's (a trace builds thousands of small graphs
    in one store)."""
    seen: set[int] = set()
    add = seen.add
    order: list[int] = []
    append = order.append
    for r in roots:
        stack = [r]
        pop, push = stack.pop, stack.append
        while stack:
            n = stack[-1]
            if n in seen:
                pop()
                continue
            # the first unseen argument goes on top, so it is numbered first; one and two
            # arguments (nearly every node) without building a list
            a = args[n]
            if len(a) == 2:
                x, y = a
                if y not in seen and (y != x or x in seen):
                    push(y)
                if x not in seen:
                    push(x)
            elif len(a) == 1:
                if a[0] not in seen:
                    push(a[0])
            else:
                pending = [k for k in a if k not in seen]
                pending.reverse()
                stack.extend(pending)
            if stack[-1] == n:
                add(n)
                append(n)
                pop()
    return order


def copy_nodes(g: Graph, store: Store, shapes: Mapping[str, Any] | None = None) -> list[int]:
    """Copy `g`'s nodes into `store`, inputs named in `shapes` taking the shape given
    there; returns the new store id of each node of `g`."""
    if not shapes and not len(store) and not store.simplify:
        return _copy_into_empty(g, store)
    ids: list[int] = []
    shapes = shapes or {}
    for n in g.nodes:
        if n.op == "input":
            ids.append(store.input(n.name, shapes.get(n.name, n.shape)))
        elif n.op == "const":
            ids.append(store.const(n.value, n.origin))
        else:
            ids.append(store.apply(n.op, tuple(ids[a] for a in n.args), n.params))
    return ids


def _copy_into_empty(g: Graph, store: Store) -> list[int]:
    """copy_nodes into an empty store that does not simplify: g's nodes were built by a
    store's own rules, so each is appended as it is (only an operation of constants, or
    one a stability rule may rewrite, goes through `Store.apply`)."""
    ids: list[int] = []
    found = store._ids.get
    for n in g.nodes:
        op = n.op
        if op == "input":
            key, args, value, origin = ("input", n.name), (), n.name, None
        elif op == "const":
            key, args, value, origin = ("const", n.value.hex()), (), n.value, n.origin
        else:
            args = tuple([ids[a] for a in n.args])
            if (store.stable and op in _STABLE_ROOTS) or all(
                    store.op[a] == "const" for a in args):
                ids.append(store.apply(op, args, n.params))
                continue
            key, value, origin = (op, args, n.params), None, None
        i = found(key)
        if i is None:
            i = store._ids[key] = len(store.op)
            store.op.append(op)
            store.args.append(args)
            store.params.append(n.params)
            store.value.append(value)
            store.origin.append(origin)
            store.shape.append(n.shape)
        ids.append(i)
    return ids


def node_keys(nodes: tuple[Node, ...]) -> list[str]:
    """The networkx key of each node: its v-number, or c1, c2, ... for constants."""
    keys, c = [], 0
    for n in nodes:
        if n.var is None:
            c += 1
            keys.append(f"c{c}")
        else:
            keys.append(n.var)
    return keys


def format_number(value: float) -> tuple[str, int]:
    """A constant in Python syntax, with its precedence."""
    if math.isnan(value):
        return "nan", PREC_ATOM
    if math.isinf(value):
        return ("inf", PREC_ATOM) if value > 0 else ("-inf", PREC_UNARY)
    if value == 0 and math.copysign(1.0, value) < 0:
        return "-0.0", PREC_UNARY  # str(int(-0.0)) would lose the sign (1/-0.0 is -inf)
    text = str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return text, (PREC_UNARY if text.startswith("-") else PREC_ATOM)


def format_call(op: str, args: list[tuple[str, int]], params: tuple = ()) -> tuple[str, int]:
    """Python syntax for op(args) given each argument's text and precedence, with
    parentheses only where Python's precedence needs them (or where they aid reading)."""
    prim = REGISTRY[op]
    if prim.syntax is not None:  # x[1:3]: the indexed operand binds tightest
        texts = [f"({a})" if k == 0 and p < PREC_ATOM else a for k, (a, p) in enumerate(args)]
        return prim.syntax(*texts, **dict(params)), PREC_ATOM
    if prim.symbol is None:
        defaults = dict(prim.params)
        extra = [f"{k}={format_number(v)[0] if isinstance(v, float) else repr(v)}"
                 for k, v in params if v != defaults.get(k) or isinstance(v, float)]
        return f"{prim.name}({', '.join([a for a, _ in args] + extra)})", PREC_ATOM
    if prim.arity == 1:
        (a, p), = args
        return ("-" + (f"({a})" if p <= PREC_UNARY else a)), PREC_UNARY
    (left, lp), (right, rp) = args
    me = prim.prec
    if op == "pow":
        left = f"({left})" if lp <= PREC_POW else left
        right = f"({right})" if rp < PREC_POW else right
        return f"{left}**{right}", PREC_POW
    # the parser groups x - y - z as (x - y) - z, so an equal-precedence right operand
    # needs parentheses; a negated right operand gets them for the reader's sake;
    # comparisons never chain, so a comparison inside one is always parenthesized
    left = f"({left})" if lp < me or lp == me == PREC_CMP else left
    right = f"({right})" if rp <= me or rp == PREC_UNARY else right
    sep = f" {prim.symbol} " if me <= PREC_ADD or op == "matmul" else prim.symbol
    return f"{left}{sep}{right}", me


def _precedence(n: Node) -> int:
    if n.op == "input":
        return PREC_ATOM
    if n.op == "const":
        return format_number(n.value)[1]
    prim = REGISTRY[n.op]
    if prim.symbol is None:
        return PREC_ATOM
    return PREC_UNARY if prim.arity == 1 else prim.prec


def format_expression(nodes: tuple[Node, ...], root: int, limit: int) -> str | None:
    """Python-syntax text of node `root` (the same parentheses as `format_call`), written
    token by token without recursion, so the work is linear in the text; None once the text
    passes `limit` characters (shared subexpressions are written out each time)."""
    out: list[str] = []
    size = 0
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            size += len(item)
            if size > limit:
                return None
            continue
        n = nodes[item]
        if n.op == "input":
            stack.append(n.name)
        elif n.op == "const":
            stack.append(format_number(n.value)[0])
        else:
            stack.extend(reversed(_pieces(n, [_precedence(nodes[a]) for a in n.args])))
    return "".join(out)


def _pieces(n: Node, precs: list[int]) -> list[Any]:
    """op(args) as strings and argument indices, parenthesized as in `format_call`."""
    prim = REGISTRY[n.op]
    def wrapped(a: int, paren: bool) -> list[Any]:
        return ["(", a, ")"] if paren else [a]
    if prim.syntax is not None:
        # the text with each argument's place marked, split back into pieces
        marks = [f"\0{k}\0" for k in range(len(n.args))]
        items: list[Any] = []
        for k, piece in enumerate(prim.syntax(*marks, **dict(n.params)).split("\0")):
            if k % 2 == 0:
                items += [piece] if piece else []
            else:
                a = int(piece)
                items += wrapped(n.args[a], a == 0 and precs[a] < PREC_ATOM)
        return items
    if prim.symbol is None:
        defaults = dict(prim.params)
        extra = [f"{k}={format_number(v)[0] if isinstance(v, float) else repr(v)}"
                 for k, v in n.params if v != defaults.get(k) or isinstance(v, float)]
        items: list[Any] = [f"{prim.name}("]
        for k, a in enumerate(n.args):
            items += ([", "] if k else []) + [a]
        for e in extra:
            items.append(", " + e)
        return items + [")"]
    if prim.arity == 1:
        return ["-"] + wrapped(n.args[0], precs[0] <= PREC_UNARY)
    (left, right), (lp, rp), me = n.args, precs, prim.prec
    if n.op == "pow":
        return wrapped(left, lp <= PREC_POW) + ["**"] + wrapped(right, rp < PREC_POW)
    sep = f" {prim.symbol} " if me <= PREC_ADD or n.op == "matmul" else prim.symbol
    return wrapped(left, lp < me or lp == me == PREC_CMP) + [sep] + \
        wrapped(right, rp <= me or rp == PREC_UNARY)
