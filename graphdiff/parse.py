"""Front ends that build graphs: the safe text parser, SymPy input, and `symbols`.

The parser is a regular-expression tokenizer feeding an iterative precedence-climbing
(shunting-yard) parser, so input length and nesting depth are limited only by memory.
No user text ever reaches eval, exec, sympify or parse_expr.
"""

from __future__ import annotations

import keyword
import re
from typing import Any, Iterable

from .graph import Graph, Store, copy_nodes, paused_gc
from .primitives import (CONSTANTS, PREC_ADD, PREC_CMP, PREC_MUL, PREC_POW, PREC_UNARY, is_known,
                         lookup)

__all__ = ["ParseError", "parse", "outputs", "symbols", "tensor", "from_sympy"]


class ParseError(ValueError):
    """Text that is not an expression graphdiff accepts; names the token and its column."""

    def __init__(self, message: str, column: int | None = None, token: str | None = None):
        self.column, self.token = column, token
        super().__init__(message if column is None else f"{message} at column {column}")


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[^\W\d]\w*)
  | (?P<string>'[^'\\\n]*'|"[^"\\\n]*")
  | (?P<op>\*\*|<=|>=|==|!=|\.\.\.|[-+*/@%(),=<>\[\]:])
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)

_HINTS = {
    ".": " (attribute access is not supported)",
    "'": " (strings are not supported)",
    '"': " (strings are not supported)",
    "^": " (use ** for powers)",
}

# Binary operators: precedence and right-associativity, as in Python.
_BINARY = {"+": ("add", PREC_ADD, False), "-": ("sub", PREC_ADD, False),
           "*": ("mul", PREC_MUL, False), "/": ("div", PREC_MUL, False),
           "@": ("matmul", PREC_MUL, False), "%": ("mod", PREC_MUL, False),
           "**": ("pow", PREC_POW, True),
           "<": ("less", PREC_CMP, False), "<=": ("less_equal", PREC_CMP, False),
           ">": ("greater", PREC_CMP, False), ">=": ("greater_equal", PREC_CMP, False),
           "==": ("equal", PREC_CMP, False), "!=": ("not_equal", PREC_CMP, False)}
# keywords that are values: parameter values only (sum(x, keepdims=True)), and None in
# subscripts (a new axis)
_LITERALS = {"True": True, "False": False, "None": None}
_UNARY = {"-": "neg", "+": None}
_PARSER_CONSTANTS = {**CONSTANTS, "inf": float("inf"), "nan": float("nan")}


class _Tok:
    __slots__ = ("kind", "text", "col")

    def __init__(self, kind: str, text: str, col: int):
        self.kind, self.text, self.col = kind, text, col

    def describe(self) -> str:
        return {"number": f"number {self.text}", "name": f"name {self.text!r}",
                "end": "end of input"}.get(self.kind, repr(self.text))


def _tokenize(text: str) -> list[_Tok]:
    toks = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "space":
            continue
        col = m.start() + 1
        s = m.group()
        if kind == "bad":
            raise ParseError(f"unexpected character {s!r}{_HINTS.get(s, '')}", col, s)
        if kind == "name" and s in _LITERALS:
            kind = "literal"
        elif kind == "name" and keyword.iskeyword(s):
            raise ParseError(f"keyword {s!r} cannot be used in an expression", col, s)
        if kind == "name" and s.startswith("__"):
            raise ParseError(f"names starting with '__' are reserved: {s!r}", col, s)
        toks.append(_Tok(kind, s, col))
    toks.append(_Tok("end", "", len(text) + 1))
    return toks


class _Frame:
    """An open parenthesis (plain grouping, a tuple, or a function call collecting its
    arguments) or an open '[' holding an index array; `base` is the subscripted operand."""

    __slots__ = ("tok", "func", "args", "kwargs", "key", "base", "listed")

    def __init__(self, tok: _Tok, func: _Tok | None, base: Graph | None = None,
                 listed: bool = False):
        self.tok, self.func, self.base, self.listed = tok, func, base, listed
        self.args: list[Any] = []
        self.kwargs: dict[str, Any] = {}
        self.key: _Tok | None = None


class _Literal:
    """True, False, None or a tuple of integers: a parameter's value, not an operand; or a
    list (or tuple) of expressions, the operands of a join (`graphs`)."""

    __slots__ = ("graphs", "tok", "value")

    def __init__(self, value: Any, tok: _Tok, graphs: list[Graph] | None = None):
        self.value, self.tok, self.graphs = value, tok, graphs

    def what(self) -> str:
        if self.graphs is not None:
            return "a list of expressions"
        if isinstance(self.value, str):
            return f"a string ({self.tok.text})"
        return "a tuple" if isinstance(self.value, tuple) else f"keyword {self.tok.text!r}"


_FULL_SLICE = ("slice", None, None, None)


def parse(source: Any, inputs: Iterable[str] | None = None) -> Graph:
    """Build a graph from text, a SymPy expression, or a graph (returned as is); text with
    top-level commas ("a*b, a + b") or a list of expressions gives several outputs.

    `inputs` fixes the order of the inputs (default: order of first appearance).

    >>> import graphdiff as gd
    >>> gd.parse("-x**2 + y").inputs
    ('x', 'y')
    """
    if inputs is not None:
        inputs = tuple(check_name(n, "declared input ") for n in inputs)
    if isinstance(source, Graph):
        return source if inputs is None else Graph(source._store, source._roots, inputs)
    if isinstance(source, (list, tuple)):  # several outputs
        return outputs(*source, inputs=inputs)
    if not isinstance(source, str):
        if type(source).__module__.split(".")[0] == "sympy":
            return from_sympy(source, inputs)
        raise TypeError(f"parse() takes a string, a SymPy expression or a Graph, "
                        f"not {type(source).__name__}")
    with paused_gc():  # a long text makes many small objects and no cycles
        g = _Parser(source).run()
    return g if inputs is None else Graph(g._store, g._roots, inputs)


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.store = Store()
        self.operands: list[Graph] = []
        # operator stack entries: (kind, token, payload); kind in {"bin", "un", "frame"}
        self.ops: list[tuple[str, _Tok, Any]] = []
        self.outputs: list[Graph] = []  # outputs before a top-level comma

    def run(self) -> Graph:
        toks = self.toks
        if toks[0].kind == "end":
            raise ParseError("empty expression", 1, "")
        expect_operand = True
        i = 0
        while True:
            tok = toks[i]
            nxt = toks[i + 1] if i + 1 < len(toks) else tok
            if expect_operand:
                if tok.kind == "number":
                    self.operands.append(self._number(tok))
                    expect_operand = False
                elif tok.kind == "name" and nxt.text == "(" and nxt.kind == "op":
                    self._function(tok)
                    self.ops.append(("frame", nxt, _Frame(nxt, tok)))
                    i += 1
                    if toks[i + 1].text == ")" and toks[i + 1].kind == "op":
                        i += 1
                        self._close(toks[i], empty=True)
                        expect_operand = False
                elif tok.kind == "name" and nxt.text == "=" and self._in_call():
                    frame = self.ops[-1][2]
                    params = dict(lookup(frame.func.text).params)
                    if tok.text not in params:
                        raise ParseError(f"{frame.func.text}() has no parameter {tok.text!r}"
                                         f"; it takes {', '.join(params) or 'none'}",
                                         tok.col, tok.text)
                    if tok.text in frame.kwargs:
                        raise ParseError(f"parameter {tok.text!r} given twice", tok.col,
                                         tok.text)
                    frame.key = tok
                    i += 1
                elif tok.kind == "name":
                    self.operands.append(self._name(tok))
                    expect_operand = False
                elif tok.kind == "literal":
                    self.operands.append(_Literal(_LITERALS[tok.text], tok))
                    expect_operand = False
                elif tok.kind == "string":  # einsum(a, b, spec='ij,jk->ik')
                    self.operands.append(_Literal(tok.text[1:-1], tok))
                    expect_operand = False
                elif tok.text == ")" and tok.kind == "op" and self._in_tuple():
                    self._close(tok, empty=True)  # (0, 1,): a trailing comma
                    expect_operand = False
                elif tok.text == "(":
                    self.ops.append(("frame", tok, _Frame(tok, None)))
                elif tok.text in _UNARY:
                    if _UNARY[tok.text] is not None:
                        self.ops.append(("un", tok, "neg"))
                elif tok.text == "[":  # a list: concatenate([a, b]), split(x, [1, 3])
                    self.ops.append(("frame", tok, _Frame(tok, None, listed=True)))
                    if nxt.text == "]" and nxt.kind == "op":
                        raise ParseError("empty list '[]'", tok.col, "[")
                else:
                    what = "expected a number, a name or '('"
                    raise ParseError(f"unexpected {tok.describe()}: {what}", tok.col, tok.text)
            else:
                if tok.kind == "op" and tok.text in _BINARY:
                    op, prec, right = _BINARY[tok.text]
                    if prec == PREC_CMP:
                        self._no_chain(tok)
                    self._reduce(prec, right)
                    self.ops.append(("bin", tok, op))
                    expect_operand = True
                elif tok.text == "," and tok.kind == "op":
                    self._argument(tok)
                    expect_operand = True
                elif tok.text == ")" and tok.kind == "op":
                    self._close(tok)
                elif tok.text == "[" and tok.kind == "op":
                    i, expect_operand = self._subscript(i)
                    continue
                elif tok.text == "]" and tok.kind == "op":
                    self._close_subscript(tok)
                elif tok.kind == "end":
                    self._reduce(-1, False)
                    if self.ops:
                        open_tok = self.ops[-1][1]
                        raise ParseError(f"unclosed {open_tok.text!r}", open_tok.col,
                                         open_tok.text)
                    (g,) = self.operands
                    if isinstance(g, _Literal) and g.graphs is not None and g.tok.text == "[":
                        raise ParseError("a list holds the operands of a join, as in "
                                         "concatenate([a, b]); subscripts follow an operand, "
                                         "as in x[0]", g.tok.col, "[")
                    if isinstance(g, _Literal) and g.graphs is not None and not self.outputs:
                        # "(a*b, a + b)": several outputs, as such a graph prints
                        *self.outputs, g = g.graphs
                    for o in self.outputs + [g]:
                        if isinstance(o, _Literal):
                            raise ParseError(f"{o.what()} can only be a parameter value",
                                             o.tok.col, o.tok.text)
                    if self.outputs:
                        roots = [r for o in self.outputs + [g] for r in o._roots]
                        return Graph(self.store, roots)
                    return g
                else:
                    raise ParseError(f"unexpected {tok.describe()}: expected an operator, "
                                     f"',' or ')'", tok.col, tok.text)
            i += 1

    # --- operands ------------------------------------------------------------------------
    def _number(self, tok: _Tok) -> Graph:
        value = float(tok.text)
        if value == float("inf"):
            raise ParseError(f"number {tok.text} is too large for a float", tok.col, tok.text)
        return Graph(self.store, (self.store.const(value),))

    def _name(self, tok: _Tok) -> Graph:
        if tok.text in _PARSER_CONSTANTS:
            return Graph(self.store, (self.store.const(_PARSER_CONSTANTS[tok.text],
                                                       tok.text),))
        if is_known(tok.text):
            raise ParseError(f"function {tok.text!r} needs arguments in parentheses",
                             tok.col, tok.text)
        return Graph(self.store, (self.store.input(tok.text),))

    def _function(self, tok: _Tok) -> None:
        if not is_known(tok.text):
            if tok.text in _PARSER_CONSTANTS:
                raise ParseError(f"constant {tok.text!r} is not a function", tok.col, tok.text)
            raise ParseError(f"unknown function {tok.text!r}", tok.col, tok.text)

    def _in_call(self) -> bool:
        return bool(self.ops) and self.ops[-1][0] == "frame" and self.ops[-1][2].func is not None

    # --- operators -----------------------------------------------------------------------
    def _reduce(self, prec: int, right_assoc: bool) -> None:
        """Apply stacked operators that bind at least as tightly as an incoming one."""
        ops, operands = self.ops, self.operands
        while ops and ops[-1][0] != "frame":
            kind, tok, op = ops[-1]
            top = PREC_UNARY if kind == "un" else _BINARY[tok.text][1]
            if top < prec or (top == prec and right_assoc):
                break
            ops.pop()
            if kind == "un":
                operands.append(self._apply(op, tok, [operands.pop()]))
            else:
                b = operands.pop()
                a = operands.pop()
                operands.append(self._apply(op, tok, [a, b]))

    def _apply(self, op: str, tok: _Tok, args: list[Graph], params: dict | None = None) -> Graph:
        for a in args:
            if isinstance(a, _Literal) and a.graphs is not None:
                raise ParseError("a list of expressions can only hold the operands of a join, "
                                 "as in concatenate([a, b], axis=1)", a.tok.col, a.tok.text)
            if isinstance(a, _Literal):
                raise ParseError(f"{a.what()} can only be a parameter value, as in "
                                 f"sum(x, axis=(0, 1), keepdims=True)", a.tok.col, a.tok.text)
        try:
            return args[0].apply(op, *args, **(params or {}))
        except (TypeError, ValueError) as exc:
            raise ParseError(str(exc), tok.col, tok.text) from None

    def _argument(self, tok: _Tok) -> None:
        self._reduce(-1, False)
        if self.ops and self.ops[-1][0] == "frame" and self.ops[-1][2].base is not None:
            raise ParseError("an index array is one expression: x[i] (use x[i][:, 0] for "
                             "more)", tok.col, ",")
        if not self.ops:  # "a*b, a+b": a graph with several outputs
            self.outputs.append(self.operands.pop())
            return
        if self.ops[-1][0] != "frame":
            raise ParseError("unexpected ',' outside a function call", tok.col, ",")
        frame = self.ops[-1][2]
        if frame.func is None:  # (0, 1) or [a, b]: a parameter's value, or a join's operands
            frame.args.append(self.operands.pop())
            return
        self._collect(frame)

    def _in_tuple(self) -> bool:
        return bool(self.ops) and self.ops[-1][0] == "frame" and \
            self.ops[-1][2].func is None and self.ops[-1][2].base is None and \
            bool(self.ops[-1][2].args)

    def _no_chain(self, tok: _Tok) -> None:
        """a < b < c means (a < b) and (b < c) in Python: refused rather than misread."""
        for kind, t, _ in reversed(self.ops):
            if kind == "frame":
                return
            if kind == "bin" and _BINARY[t.text][1] == PREC_CMP:
                raise ParseError("comparisons cannot be chained; write (a < b) * (b < c) "
                                 "or use parentheses", tok.col, tok.text)

    def _subscript(self, i: int) -> tuple[int, bool]:
        """x[...] at token i: a basic index of integer constants, ':' and '...' becomes a
        getitem node; anything else opens a frame for an index array (x[i], x[x > 0]).
        Returns the next token's position and whether an operand is expected."""
        open_tok = self.toks[i]
        base = self.operands.pop()
        j = i + 1
        static = []
        while self.toks[j].text != "]" or self.toks[j].kind != "op":
            t = self.toks[j]
            if not (t.kind == "number" or t.text == "None" or t.kind == "op"
                    and t.text in ("-", ":", ",", "...")):
                static = None
                break
            static.append(t)
            j += 1
        if static is None or not static:
            if static is not None:
                raise ParseError("empty subscript '[]'", open_tok.col, "[")
            self.ops.append(("frame", open_tok, _Frame(open_tok, None, base)))
            return i + 1, True
        key = self._basic_index(static, open_tok)
        if isinstance(base, Graph) and len(base._roots) > 1:
            # split(x, 3)[1]: one of several outputs (an integer or a slice of them)
            if len(key) != 1 or key[0] is None or key[0] is Ellipsis:
                raise ParseError("a result of several parts takes one integer or slice, as "
                                 "in split(x, 3)[1]", open_tok.col, "[")
            item = key[0]
            roots = base._roots
            try:
                picked = roots[slice(*item[1:])] if isinstance(item, tuple) else (roots[item],)
            except IndexError:
                raise ParseError(f"part {item} of {len(roots)}", open_tok.col, "[") from None
            self.operands.append(Graph(self.store, tuple(picked)))
            return j + 1, False
        self.operands.append(self._apply("getitem", open_tok, [base], {"index": key}))
        return j + 1, False

    def _basic_index(self, toks: list[_Tok], open_tok: _Tok) -> tuple:
        items = _split(toks, ",")
        if len(items) > 1 and not items[-1]:
            items.pop()  # x[0,]: a trailing comma
        key = []
        for item in items:
            texts = [t.text for t in item]
            if texts == ["..."]:
                key.append(Ellipsis)
            elif texts == ["None"]:
                key.append(None)
            elif ":" in texts:
                parts = _split(item, ":")
                if len(parts) > 3:
                    raise ParseError("a slice has at most two ':'", item[0].col, ":")
                bounds = [self._index_number(p, open_tok) for p in parts]
                key.append(("slice", *(bounds + [None] * (3 - len(bounds)))))
            else:
                key.append(self._index_number(item, open_tok))
        return tuple(key)

    def _index_number(self, toks: list[_Tok], open_tok: _Tok) -> int | None:
        if not toks:
            return None
        sign = -1 if toks[0].text == "-" else 1
        rest = toks[1:] if toks[0].text == "-" else toks
        if len(rest) != 1 or rest[0].kind != "number":
            t = rest[0] if rest else toks[0]
            raise ParseError(f"unexpected {t.describe()} in a subscript: expected an "
                             f"integer, ':', '...' or None", t.col, t.text)
        value = float(rest[0].text)
        if not value.is_integer():
            raise ParseError(f"indices must be integers, got {rest[0].text}", rest[0].col,
                             rest[0].text)
        return sign * int(value)

    def _sequence(self, items: list[Any], tok: _Tok) -> _Literal:
        """A tuple or list: of constants, a parameter's value; with an expression among
        them, the operands of a join such as concatenate([a, b])."""
        if all(isinstance(a, _Literal) and a.graphs is None or not isinstance(a, _Literal)
               and a.output.op == "const" for a in items):
            return _Literal(tuple(self._constant(a, tok) for a in items), tok)
        for a in items:
            if isinstance(a, _Literal):
                raise ParseError(f"{a.what()} cannot be an operand in a list of expressions",
                                 a.tok.col, a.tok.text)
        return _Literal(None, tok, list(items))

    def _close_subscript(self, tok: _Tok) -> None:
        self._reduce(-1, False)
        if self.ops and self.ops[-1][0] == "frame" and self.ops[-1][2].listed:
            _, open_tok, frame = self.ops.pop()
            frame.args.append(self.operands.pop())
            self.operands.append(self._sequence(frame.args, open_tok))
            return
        if not self.ops or self.ops[-1][2].base is None:
            raise ParseError("unmatched ']'", tok.col, "]")
        _, open_tok, frame = self.ops.pop()
        index = self.operands.pop()
        self.operands.append(self._apply("take", open_tok, [frame.base, index]))

    def _collect(self, frame: _Frame) -> None:
        value = self.operands.pop()
        if frame.key is None:
            if frame.kwargs:
                raise ParseError("positional argument after a keyword argument",
                                 frame.tok.col, "(")
            frame.args.append(value)
            return
        frame.kwargs[frame.key.text] = self._constant(value, frame.key)
        frame.key = None

    def _constant(self, value: Any, key: _Tok) -> Any:
        """A parameter's value: a constant expression, True, False, None or a tuple."""
        if isinstance(value, _Literal):
            if value.graphs is not None:
                raise ParseError("a list of expressions can only hold the operands of a join, "
                                 "as in concatenate([a, b], axis=1)", value.tok.col,
                                 value.tok.text)
            return value.value
        node = value.output
        if node.op != "const":
            raise ParseError(f"parameter {key.text!r} must be a constant", key.col, key.text)
        return node.value

    def _close(self, tok: _Tok, empty: bool = False) -> None:
        """Close the innermost '(' ; unless the call is empty, an argument is pending."""
        self._reduce(-1, False)
        if not self.ops:
            raise ParseError("unmatched ')'", tok.col, ")")
        if self.ops[-1][2].base is not None:
            raise ParseError("unclosed '['", self.ops[-1][1].col, "[")
        _, _, frame = self.ops.pop()
        if frame.listed:
            raise ParseError("unclosed '['", frame.tok.col, "[")
        if frame.func is None:
            if frame.args:  # a tuple
                if not empty:
                    frame.args.append(self.operands.pop())
                self.operands.append(self._sequence(frame.args, frame.tok))
            return
        if not empty:
            self._collect(frame)
        self.operands.append(self._call(frame))

    def _call(self, frame: _Frame) -> Graph:
        func = frame.func
        prim = lookup(func.text)
        args = list(frame.args)
        names = [k for k, _ in prim.params]
        strings = [k for k, v in prim.params if isinstance(v, str) and k not in frame.kwargs]
        if args and isinstance(args[0], _Literal) and isinstance(args[0].value, str) \
                and strings:  # einsum("ij,jk->ik", a, b): NumPy writes the spec first
            frame.kwargs[strings[0]] = args.pop(0).value
            names.remove(strings[0])
        least = prim.arity
        if prim.variadic and args and isinstance(args[0], _Literal) and \
                args[0].graphs is not None:  # concatenate([a, b, c], 1)
            operands = args.pop(0).graphs
            least = len(operands)
            args = operands + args
        elif prim.variadic:
            least = len(args)  # concatenate(a, b, c): every positional one an operand
        # extra positional constants fill a primitive's parameters: isru(x, 0.5)
        while len(args) > least and names:
            extra = args.pop(least)
            if not isinstance(extra, _Literal) and extra.output.op != "const":
                raise ParseError(f"{prim.name}() parameter {names[0]!r} must be a constant",
                                 func.col, func.text)
            key = names.pop(0)
            if key in frame.kwargs:
                raise ParseError(f"parameter {key!r} given twice", func.col, func.text)
            frame.kwargs[key] = self._constant(extra, func)
        if len(args) != least and not prim.variadic:
            raise ParseError(f"{func.text}() takes {prim.arity} argument"
                             f"{'s' if prim.arity != 1 else ''}, got {len(args)}",
                             func.col, func.text)
        if prim.parts is not None and "part" not in frame.kwargs:
            # split(x, 3): every part, a graph of several outputs; split(x, 3)[1] is one
            try:
                given = {k: v for k, v in prim.resolve_params(frame.kwargs).items()
                         if k != "part"}
            except (TypeError, ValueError) as exc:
                raise ParseError(str(exc), func.col, func.text) from None
            parts = [self._apply(prim.name, func, args, {**frame.kwargs, "part": k})
                     for k in range(prim.parts(**given))]
            return Graph(self.store, tuple(p._roots[0] for p in parts))
        return self._apply(prim.name, func, args, frame.kwargs)


def _split(toks: list[_Tok], sep: str) -> list[list[_Tok]]:
    """Tokens in runs between separators (',' between a subscript's items, ':' in a slice)."""
    runs: list[list[_Tok]] = [[]]
    for t in toks:
        if t.text == sep:
            runs.append([])
        else:
            runs[-1].append(t)
    return runs


def symbols(names: str, shape: tuple | None = None) -> Graph | tuple[Graph, ...]:
    """Input variables for building graphs with Python operators, like `sympy.symbols`.

    `shape` (e.g. `(None, 784)`, None for a symbolic batch size) declares tensors whose
    shapes are checked as the graph is built; without it an input takes any shape.

    >>> import graphdiff as gd
    >>> x1, x2 = gd.symbols("x1 x2")
    >>> (x1*x2 + gd.sin(x1)).inputs
    ('x1', 'x2')
    """
    parts = names.replace(",", " ").split()
    if not parts:
        raise ValueError("symbols() needs at least one name")
    store = Store()
    out = []
    for p in parts:
        out.append(Graph(store, (store.input(check_name(p), shape),)))
    return out[0] if len(out) == 1 else tuple(out)


def check_name(name: Any, what: str = "") -> str:
    """`name` if the text grammar reads it back as the same input, else a ValueError
    (keywords, reserved '__' names, and the names of constants and functions)."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
            or name.startswith("__"):
        raise ValueError(f"{what}{name!r} is not a valid variable name")
    if name in _PARSER_CONSTANTS or is_known(name):
        raise ValueError(f"{what}{name!r} names a constant or function; pick another name")
    return name


def outputs(*exprs: Any, inputs: Iterable[str] | None = None) -> Graph:
    """One graph whose outputs are the given expressions (text, SymPy or graphs), which
    share their inputs and common subexpressions; the same as parsing "f1, f2".

    >>> import graphdiff as gd
    >>> gd.outputs("a*b", "a + b")(a=2.0, b=3.0)
    (np.float64(6.0), np.float64(5.0))
    """
    if not exprs:
        raise ValueError("outputs() needs at least one expression")
    graphs = [parse(e) for e in exprs]
    store = max((g._store for g in graphs), key=len)
    roots = [r for g in graphs for r in (g._roots if g._store is store
                                         else [copy_nodes(g, store)[i] for i in g.outputs])]
    return parse(Graph(store, roots), inputs)


def tensor(name: str, shape: tuple) -> Graph:
    """One input with a static shape (None entries are symbolic sizes such as the batch).

    >>> import graphdiff as gd
    >>> X, W = gd.tensor("X", (None, 3)), gd.tensor("W", (3, 2))
    >>> (X @ W).shape
    (None, 2)
    """
    if shape is None:
        raise ValueError("tensor() needs a shape; use symbols() for inputs of any shape")
    return symbols(name, shape)


# SymPy classes whose graphdiff counterpart is not simply the primitive of the same name.
_SYMPY_NAMES = {"Abs": "abs", "Min": "minimum", "Max": "maximum", "Heaviside": "binary_step",
                "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh",
                "acosh": "arccosh", "atanh": "arctanh", "atan2": "arctan2",
                "ceiling": "ceil", "Mod": "mod"}


def from_sympy(expr: Any, inputs: Iterable[str] | None = None) -> Graph:
    """A graph from a SymPy expression, walking SymPy's tree iteratively."""
    import sympy as sp

    store = Store()
    done: dict[Any, int] = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        if e in done:
            stack.pop()
            continue
        pending = [a for a in e.args if a not in done] if _sympy_has_args(sp, e) else []
        if pending:
            stack.extend(reversed(pending))
            continue
        stack.pop()
        done[e] = _from_sympy_node(sp, store, e, [done[a] for a in e.args]
                                   if _sympy_has_args(sp, e) else [])
    return Graph(store, (done[expr],), inputs)


def _sympy_has_args(sp, e) -> bool:
    return not (e.is_Symbol or e.is_Number or e.is_NumberSymbol or isinstance(e, sp.Piecewise))


def _from_sympy_node(sp, store: Store, e, args: list[int]) -> int:
    if e.is_Symbol:
        return store.input(check_name(e.name, "SymPy symbol "))
    if e is sp.pi:
        return store.const(float(e), "pi")
    if e is sp.E:
        return store.const(float(e), "e")
    if e.is_Number or e.is_NumberSymbol:
        if not (e.is_extended_real or e is sp.nan):  # oo and nan, like the text's inf, nan
            raise ValueError(f"SymPy number {e} is not real")
        return store.const(float(e))
    name = type(e).__name__
    if isinstance(e, sp.Add):
        return _from_sympy_add(sp, store, e, args)
    if isinstance(e, sp.Mul):
        return _from_sympy_mul(sp, store, e, args)
    if isinstance(e, sp.Pow):
        base, exponent = e.args
        if exponent == sp.Rational(1, 2):
            return store.apply("sqrt", (args[0],))
        return store.apply("pow", tuple(args))
    if isinstance(e, sp.exp):
        return store.apply("exp", tuple(args))
    if isinstance(e, sp.log):
        if len(args) == 2:
            return store.apply("div", (store.apply("log", (args[0],)),
                                       store.apply("log", (args[1],))))
        return store.apply("log", tuple(args))
    if isinstance(e, sp.jn):  # jn(n, z), the spherical Bessel function: n a parameter
        order = e.args[0]
        if not (order.is_Integer and order >= 0):
            raise ValueError(f"SymPy {e}: spherical_jn takes an order n = 0, 1, 2, ...")
        return store.apply("spherical_jn", (args[1],), (("n", int(order)),))
    if isinstance(e, sp.sinc):  # SymPy's sinc is sin(u)/u; NumPy's is sin(pi u)/(pi u)
        return store.apply("sinc", (store.apply("div", (args[0], store.const(float(sp.pi),
                                                                            "pi"))),))
    if isinstance(e, sp.Heaviside):
        return store.apply("binary_step", (args[0],))
    if isinstance(e, sp.Piecewise):
        return _from_sympy_piecewise(sp, store, e)
    # graphs are real: SymPy writes Abs(exp(u)) as exp(re(u)) for its complex symbols
    if isinstance(e, (sp.re, sp.conjugate)):
        return args[0]
    if isinstance(e, sp.im):
        return store.const(0.0)
    op = _SYMPY_NAMES.get(name, name)
    if not is_known(op):
        raise ValueError(f"SymPy function {name!r} has no graphdiff primitive")
    prim = lookup(op)
    if prim.arity == 2 and len(args) > 2:
        return _fold(store, prim.name, args)
    if len(args) != prim.arity:
        raise ValueError(f"SymPy {name} with {len(args)} arguments has no graphdiff primitive")
    return store.apply(prim.name, tuple(args))


def _from_sympy_piecewise(sp, store: Store, e) -> int:
    """Piecewise((a, cond), ..., (z, True)) as where(indicator, a, ...): what to_sympy makes
    of leaky_relu, prelu and where.  An indicator is nonzero exactly where its condition
    holds: u >= v is binary_step(u - v), u > v is 1 - binary_step(v - u), Ne(u, v) is u - v."""
    *pieces, (last, otherwise) = e.args
    if otherwise is not sp.true:
        raise ValueError(f"SymPy Piecewise {e} is undefined where no condition holds")
    acc = _sympy_subgraph(sp, store, last)
    for value, cond in reversed(pieces):
        acc = store.apply("where", (_sympy_indicator(sp, store, cond),
                                    _sympy_subgraph(sp, store, value), acc))
    return acc


def _sympy_indicator(sp, store: Store, cond, binary: bool = False) -> int:
    """A node that is nonzero exactly where `cond` holds (0 or 1 if `binary`)."""
    def step(u, v):  # 1 where u >= v, else 0
        return store.apply("binary_step", (_sympy_subgraph(sp, store, u - v),))

    def nodes(conds):
        return [_sympy_indicator(sp, store, c, True) for c in conds]

    if cond is sp.true or cond is sp.false:
        return store.const(1.0 if cond is sp.true else 0.0)
    if isinstance(cond, (sp.Eq, sp.Ne)):
        u, v = cond.args
        if isinstance(cond, sp.Ne) and not binary:
            return _sympy_subgraph(sp, store, u - v)
        equal = store.apply("mul", (step(u, v), step(v, u)))
        return equal if isinstance(cond, sp.Eq) else store.apply("sub", (store.const(1.0), equal))
    if isinstance(cond, (sp.GreaterThan, sp.LessThan)):  # u >= v, u <= v
        u, v = cond.args if isinstance(cond, sp.GreaterThan) else reversed(cond.args)
        return step(u, v)
    if isinstance(cond, (sp.StrictGreaterThan, sp.StrictLessThan)):  # u > v, u < v
        u, v = cond.args if isinstance(cond, sp.StrictGreaterThan) else reversed(cond.args)
        return store.apply("sub", (store.const(1.0), step(v, u)))
    if isinstance(cond, sp.Not):
        return store.apply("sub", (store.const(1.0), nodes(cond.args)[0]))
    if isinstance(cond, (sp.And, sp.Or)):
        return _fold(store, "mul" if isinstance(cond, sp.And) else "maximum", nodes(cond.args))
    if isinstance(cond, sp.ITE):
        return store.apply("where", tuple(nodes(cond.args)))
    raise ValueError(f"SymPy condition {cond} has no graphdiff primitive")


def _from_sympy_add(sp, store: Store, e, args: list[int]) -> int:
    # terms with a minus sign are subtracted, as a person would write them
    terms = sorted(zip(e.args, args), key=lambda t: t[0].could_extract_minus_sign())
    acc = None
    for term, i in terms:
        if acc is None:
            acc = i
        elif term.could_extract_minus_sign():
            acc = store.apply("sub", (acc, _sympy_subgraph(sp, store, -term)))
        else:
            acc = store.apply("add", (acc, i))
    return acc


def _from_sympy_mul(sp, store: Store, e, args: list[int]) -> int:
    # -1*x becomes -x, and factors x**-1 become divisions, as a person would write them
    factors = list(zip(e.args, args))
    negate = False
    if factors and factors[0][0] == -1:
        negate = True
        factors = factors[1:]
    num, den = [], []
    for f, i in factors:
        if isinstance(f, sp.Pow) and f.args[1].is_Number and f.args[1] < 0:
            den.append(f.args[0] ** -f.args[1])
        else:
            num.append(i)
    den_ids = [_sympy_subgraph(sp, store, d) for d in den]
    top = _fold(store, "mul", num) if num else store.const(1.0)
    if den_ids:
        top = store.apply("div", (top, _fold(store, "mul", den_ids)))
    return store.apply("neg", (top,)) if negate else top


def _sympy_subgraph(sp, store: Store, e) -> int:
    g = from_sympy(e)
    from .graph import copy_nodes

    return copy_nodes(g, store)[g.outputs[0]]


def _fold(store: Store, op: str, ids: list[int]) -> int:
    acc = ids[0]
    for i in ids[1:]:
        acc = store.apply(op, (acc, i))
    return acc
